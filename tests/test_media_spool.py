"""Media take the same road as scalars: the spool file format, a kill -9 with media
queued and then `trackboard sync` (each media record stored once), and poison
isolation (a bad media record is set aside alone) (issue 20, item 3)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from array import array
from pathlib import Path

import numpy as np
import pytest
from trackboard.loggers import Histogram, Image, Run, Text
from trackboard.storage import Store
from trackboard.storage.media.images import decode_image
from trackboard.storage.write import spool
from trackboard.storage.write.records import HISTOGRAM, IMAGE, RUN, TEXT
from trackboard.storage.write.spool import frames
from trackboard.storage.write.writer import Writer

from tests.support.sqlite_lock import write_lock_held


def _media_records(uid: str) -> list[tuple]:
    h = Histogram([1.0, 2.0, np.nan], bins=2)
    img = Image(np.arange(24, dtype=np.uint8).reshape(2, 4, 3), caption="c")
    return [h.record(uid, 3, 1.5, "h"), img.record(uid, 3, 1.5, "img", 1, 2),
            (TEXT, uid, 3, 1.5, "t", "text ✓")]


def test_media_records_are_plain_msgpack_in_spool_frames() -> None:
    recs = _media_records("r1")
    back = frames.decode_records(frames.encode_records(recs))
    assert back == tuple(recs)
    assert isinstance(back[0][5], array) and isinstance(back[1][12], bytes)


def test_frames_are_cut_by_the_bytes_of_media(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames, "FRAME_BYTES", 50)
    img = Image(np.zeros((4, 5), np.uint8))  # 20 bytes of pixels
    recs = [img.record("r1", s, 1.0, "img") for s in range(7)]
    writer = spool.SpoolWriter(tmp_path, lambda: [])
    assert writer.append(recs) == []
    path = writer.close(keep=True)
    assert path is not None
    chunks = list(spool.SpoolReader(path))
    assert [len(c) for c in chunks] == [0, 3, 3, 1]  # header, then 60 + 60 + 20 bytes
    assert [r for c in chunks for r in c] == recs


# -- kill -9 with media queued, then `trackboard sync` --------------------------------

_LOCKED_CHILD = """
import os, sys, time
import numpy as np
from trackboard.loggers import Histogram, Image, Run, Text
from trackboard.storage.write.writer import Writer
url, steps = sys.argv[1], int(sys.argv[2])
writer = Writer(url, flush_interval=0.1, busy_timeout_ms=200)
run = Run(name="doomed", store=url, writer=writer, system_metrics=False)
print(run.id, flush=True)
for step in range(steps):
    run.log({"h": Histogram(np.arange(step + 1.0), bins=4),
             "img": [Image(np.full((3, 4, 3), step % 7, np.uint8)), Image(np.eye(3) * 0.5)],
             "t": Text(f"step {step}"), "x": float(step)}, step=step)
deadline = time.time() + 60
while writer.points_spooled < steps and time.time() < deadline:
    time.sleep(0.1)
time.sleep(0.5)
os.kill(os.getpid(), 9)
"""


def _sync(url: str) -> None:
    out = subprocess.run([sys.executable, "-m", "trackboard.dashboard.cli", "sync", "--store",
                          url], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def _assert_each_step_once(store: Store, run_id: str, steps: int) -> None:
    h = store.histograms(run_id)
    assert h.step.tolist() == list(range(steps))
    assert [c.sum() for c in h.counts] == [float(s + 1) for s in range(steps)]
    t = store.texts(run_id)
    assert t.text.tolist() == [f"step {s}" for s in range(steps)]
    img = store.images(run_id)
    assert img[["step", "index"]].values.tolist() == [[s, i] for s in range(steps)
                                                      for i in range(2)]
    first = img[img["index"] == 0]
    for row in first.iloc[::5].itertuples():
        pixels = decode_image(store.image_bytes(row.hash), 3)
        assert (pixels == row.step % 7).all()
    assert img.hash.nunique() == min(steps, 7) + 1
    keys = store.media_keys(run_id)
    assert keys["count"].tolist() == [steps] * 3


@pytest.mark.slow
def test_media_queued_at_a_kill_are_delivered_once_by_sync(tmp_path: Path) -> None:
    db = tmp_path / "media.db"
    url = f"sqlite:///{db}"
    Store(url).close()
    steps = 40
    with write_lock_held(db, 120) as holder:
        child = subprocess.run([sys.executable, "-c", _LOCKED_CHILD, url, str(steps)],
                               capture_output=True, text=True, timeout=120)
        assert child.returncode == -9, child.stderr
        holder.kill()
    run_id = child.stdout.strip()
    store = Store(url)
    assert store.media_keys(run_id).empty  # everything waits in the spool
    _sync(url)
    _sync(url)  # a second sync finds nothing left to deliver
    _assert_each_step_once(store, run_id, steps)


_BURST_CHILD = """
import sys, time
import numpy as np
from trackboard.loggers import Histogram, Image, Run, Text
run = Run(name="burst", store=sys.argv[1], system_metrics=False)
print(run.id, flush=True)
marks = open(sys.argv[2], "w", buffering=1)
step = 0
while True:
    marks.write(f"{step} {time.time()}\\n")
    run.log({"h": Histogram(np.arange(step + 1.0), bins=4),
             "img": [Image(np.full((3, 4, 3), step % 7, np.uint8)), Image(np.eye(3) * 0.5)],
             "t": Text(f"step {step}"), "x": float(step)}, step=step)
    step += 1
    time.sleep(0.002)
"""


@pytest.mark.slow
def test_a_kill_mid_logging_loses_at_most_the_last_second_of_media(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'burst.db'}"
    marks = tmp_path / "marks.txt"
    child = subprocess.Popen([sys.executable, "-c", _BURST_CHILD, url, str(marks)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    time.sleep(3.0)
    killed_at = time.time()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    _sync(url)
    store = Store(url)
    steps = len(store.texts(run_id))
    logged = [(int(s), float(t)) for s, t in (ln.split() for ln in marks.read_text().splitlines())]
    must = max(s for s, t in logged if t <= killed_at - 1.0)
    assert steps > must > 100
    _assert_each_step_once(store, run_id, steps)  # a prefix, each step once


# -- poison isolation ------------------------------------------------------------------

def _bad_media(uid: str) -> list[tuple]:
    good_img = Image(np.zeros((2, 2), np.uint8)).record(uid, 50, time.time(), "img")
    return [
        (IMAGE, *good_img[1:12], b"\x00" * 3),  # 3 bytes of pixels for 2 x 2 x 1
        (IMAGE, *good_img[1:9], 5000, 5000, 3, b""),  # over 16 MiB
        (IMAGE, *good_img[1:8], "png", 0, 0, 0, b"\x89PNG\r\n\x1a\n damaged"),
        (HISTOGRAM, uid, 50, time.time(), "h", array("d", [1.0, 0.0]), array("d", [2.0]),
         2.0, 0, 0, 0, None, None, None, None),  # decreasing edges
        (TEXT, uid, 50, time.time(), "t", "a\x00b"),
        (TEXT, "ghost-run", 50, time.time(), "t", "no such run"),
    ]


def test_a_bad_media_record_is_set_aside_alone(store_url: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    writer = Writer(store_url, flush_interval=60.0)  # one batch, written at flush
    runs = [Run(name=f"r{i}", store=store_url, writer=writer, system_metrics=False)
            for i in range(3)]
    planted: list[tuple] = []
    with caplog.at_level(logging.WARNING, logger="trackboard"):
        for step in range(100):
            for run in runs:
                run.log({"loss": float(step), "h": Histogram([step, step + 1.0], bins=2),
                         "img": Image(np.full((2, 2), step, np.uint8)),
                         "t": Text(str(step))}, step=step)
            if step == 50:
                planted = _bad_media(runs[1].id)
                for rec in planted:
                    writer.submit(rec)
        for run in runs:
            run.finish()
        writer.close()
    store = Store(store_url)
    for run in runs:
        assert store.histograms(run.id).step.tolist() == list(range(100))
        assert store.images(run.id).step.tolist() == list(range(100))
        assert store.texts(run.id).text.tolist() == [str(s) for s in range(100)]
        assert len(store.history(run.id)) == 100
    files = list((writer.spool_directory / spool.REJECTED).glob("*.spool"))
    assert len(files) == 1
    rejected = [r for chunk in spool.SpoolReader(files[0]) for r in chunk if r[0] != RUN]
    assert sorted(map(repr, rejected)) == sorted(map(repr, planted))
    assert writer.points_rejected == 0 and writer.points_lost == 0
    assert any("refused" in r.getMessage() for r in caplog.records)
