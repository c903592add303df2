"""Importing a TensorBoard logdir goes through the writer's delivery (issue 18, item 9):
a record the store refuses is set aside in rejected/ and reported, and everything else
of the logdir is imported. The import runs as the command a user types, with
TensorBoard's own pure-Python reader (TensorFlow is left out: importing it alone takes
longer than the core suite may)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from trackboard.storage import Store
from trackboard.storage.interchange.tensorboard.importer import run_uid
from trackboard.storage.write.records import POINTS, RUN
from trackboard.storage.write.spool import REJECTED, SpoolReader, spool_dir

NO_TF = "import sys; sys.modules['tensorflow'] = None  # the reader TensorBoard has without it\n"
WRITE = NO_TF + r"""
import time
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

def scalars(step, **values):
    return event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=t.replace("_NUL_", "\x00").replace("_", "/"),
                                         simple_value=v) for t, v in values.items()]))

w = EventFileWriter(sys.argv[1] + "/good")
for step in range(10):
    w.add_event(scalars(step, train_loss=1.0 / (step + 1)))
w.close()
w = EventFileWriter(sys.argv[1] + "/mixed")
w.add_event(scalars(-5, neg=3.0))                    # a step the store refuses
for step in range(20):
    # one tag the store refuses (a NUL in its name) in the same events as good ones
    w.add_event(scalars(step, acc=step / 20, bad_NUL_tag=7.0))
w.close()
"""
CLI = NO_TF + "from trackboard.dashboard.cli import main; main()"


def test_a_record_the_store_refuses_is_set_aside_and_the_rest_imported(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    env = {**os.environ}
    subprocess.run([sys.executable, "-c", WRITE, str(logdir)], check=True, env=env, timeout=120)
    url = f"sqlite:///{tmp_path / 't.db'}"
    t0 = time.time()
    done = subprocess.run([sys.executable, "-c", CLI, "import", "tensorboard", str(logdir),
                           "--store", url, "--project", "imp"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.time() - t0 < 60
    out = done.stdout + done.stderr
    assert "imported 2 run(s), 30 points" in out, out
    assert "set aside 21 record(s) (21 points) the store refused" in out, out
    assert "warning: trackboard: the store refused" in out, out  # said at once, too

    store = Store(url)
    good, mixed = run_uid(logdir, "good"), run_uid(logdir, "mixed")
    assert sorted(store.history([good])["step"]) == list(range(10))
    hist = store.history([mixed], max_points=10**6)
    assert set(hist["key"]) == {"acc"} and sorted(hist["step"]) == list(range(20))
    assert store.run(mixed)["status"] == "finished"

    (rejected,) = (spool_dir(url) / REJECTED).glob("*.spool")
    records = [r for chunk in SpoolReader(rejected) for r in chunk]
    assert {r[1]["uid"] for r in records if r[0] == RUN} >= {mixed}  # deliverable alone
    points = [r for r in records if r[0] == POINTS]
    assert sorted((r[2], r[4]) for r in points) == [
        (-5, ("neg",)), *[(s, ("bad\x00tag",)) for s in range(20)]]
