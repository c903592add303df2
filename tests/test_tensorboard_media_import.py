"""Histograms, images and texts of logdirs written by torch, tensorboardX, tf.summary and
Keras' TensorBoard callback (TensorFlow backend) -> `trackboard import tensorboard`.

What is stored must be what TensorBoard shows: bucket for bucket as TensorBoard's reader
(EventAccumulator, and the migration its Histograms tab applies to legacy histograms)
and its server with default flags give them, image files byte for byte, texts per step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.storage import Store
from trackboard.storage.interchange.tensorboard import import_tensorboard
from trackboard.storage.interchange.tensorboard.importer import (
    EventFileWarning,
    find_runs,
    run_uid,
)

from tests.support.servers import tensorboard_server

pytestmark = pytest.mark.slow  # real writers, TensorFlow and TensorBoard's own reader

TF_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np, tensorflow as tf, keras
    rng = np.random.default_rng(5)
    with tf.summary.create_file_writer(os.path.join(sys.argv[1], "tf")).as_default():
        for step in range(4):
            tf.summary.histogram("weights", rng.normal(size=300), step=step)
            tf.summary.histogram("zeros", np.zeros(8), step=step, buckets=10)
            tf.summary.histogram("nothing", np.zeros(0), step=step)
            tf.summary.image("strip", rng.random((3, 6, 5, 3)), step=step, max_outputs=3)
            tf.summary.image("grey", rng.random((1, 4, 7, 1)), step=step)
            tf.summary.text("notes", f"step **{step}**", step=step)
    x = rng.random((64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(
                  log_dir=os.path.join(sys.argv[1], "keras"), histogram_freq=1,
                  write_images=True)])
    print("backend", keras.backend.backend())
""")


def _write_torch(logdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(3)
    with SummaryWriter(str(logdir / "torch")) as w:
        for step in range(4):
            w.add_histogram("weights", rng.normal(size=500), step)
            w.add_histogram("bias", np.zeros(6), step)  # a constant: one bucket
            w.add_histogram("relu", np.array([-1.0, 0.0, 0.0]), step)  # max on an edge
            w.add_histogram("auto", rng.uniform(size=50), step, bins="auto")
            w.add_histogram_raw("raw", min=-1.0, max=2.0, num=6, sum=3.0, sum_squares=7.0,
                                bucket_limits=[0.0, 1.0, 2.0], bucket_counts=[1, 3, 2],
                                global_step=step)
            w.add_image("input", rng.random((3, 8, 6)), step)
            w.add_images("batch", rng.random((2, 3, 5, 4)), step)
            w.add_text("notes", f"torch step {step}", step)
        fig = plt.figure(figsize=(1, 1), dpi=20)
        plt.plot([0, 1], [1, 0])
        w.add_figure("figure", fig, 9)


def _write_tensorboardx(logdir: Path) -> None:
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(4)
    with SummaryWriter(str(logdir / "tbx")) as w:
        for step in range(4):
            w.add_histogram("weights", rng.normal(size=400), step)
            w.add_image("input", rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), step,
                        dataformats="HWC")
            w.add_text("notes", f"tbx step {step}", step)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media") / "logs"
    _write_torch(root)
    _write_tensorboardx(root)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", TF_SCRIPT, str(root)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "backend tensorflow" in proc.stdout, proc.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def imported(logdir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'trackboard.db'}"
    result = CliRunner().invoke(cli, ["import", "tensorboard", str(logdir), "--store", url,
                                      "--project", "media"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    return url


# -- what TensorBoard's reader sees ------------------------------------------------------


def _shown_by_reader(run_dir: Path) -> dict[str, dict]:
    """kind -> tag -> step -> what TensorBoard's EventAccumulator gives, as its plugins
    show it: histograms as [k, 3] buckets (legacy ones migrated as the Histograms tab
    migrates them, float32) with the raw legacy proto, image files, texts."""
    from tensorboard import data_compat
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(run_dir), size_guidance={
        "histograms": 0, "images": 0, "tensors": 0}).Reload()
    out: dict[str, dict] = {"histogram": {}, "image": {}, "text": {}}
    for tag in acc.Tags()["histograms"]:
        for e in acc.Histograms(tag):
            proto = _histogram_proto(e.histogram_value)
            value = data_compat.migrate_value(summary_pb2.Summary.Value(tag=tag, histo=proto))
            out["histogram"].setdefault(tag, {})[e.step] = (
                tensor_util.make_ndarray(value.tensor), proto, e.wall_time)
    for tag in acc.Tags()["images"]:
        for e in acc.Images(tag):
            out["image"].setdefault(tag, {})[e.step] = ([e.encoded_image_string], e.wall_time)
    for tag in acc.Tags()["tensors"]:
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        for e in acc.Tensors(tag):
            arr = tensor_util.make_ndarray(e.tensor_proto)
            if plugin == "histograms":
                out["histogram"].setdefault(tag, {})[e.step] = (arr, None, e.wall_time)
            elif plugin == "images":
                out["image"].setdefault(tag, {})[e.step] = (list(arr[2:]), e.wall_time)
            elif plugin == "text":
                out["text"].setdefault(tag, {})[e.step] = (arr.reshape(-1)[0].decode(),
                                                            e.wall_time)
    return out


def _histogram_proto(h: object) -> object:
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.HistogramProto(min=h.min, max=h.max, num=h.num, sum=h.sum,
                                      sum_squares=h.sum_squares,
                                      bucket_limit=h.bucket_limit, bucket=h.bucket)


def _expected_buckets(shown: np.ndarray, proto: object | None) -> np.ndarray:
    """TensorBoard's [k, 3] buckets with trackboard's two documented departures: a
    bucket of no width (the maximum on an edge) ends at its own limit, and a histogram
    of one value is one bucket of width 1 around it; no count at all, no bucket."""
    shown = np.array(shown, np.float64)
    if not len(shown) or shown[:, 2].sum() == 0 and shown[0, 0] == shown[-1, 1]:
        return np.zeros((0, 3))
    if shown[0, 0] == shown[-1, 1]:
        v = shown[0, 0]
        return np.array([[v - 0.5, v + 0.5, shown[:, 2].sum()]])
    if proto is not None:
        start = int(np.flatnonzero(np.array(proto.bucket) > 0)[0])
        for i in np.flatnonzero(shown[:, 0] == shown[:, 1]):
            shown[i, 1] = proto.bucket_limit[start + i]
    return shown


def _stored(store: Store, uid: str) -> dict[str, dict]:
    out: dict[str, dict] = {"histogram": {}, "image": {}, "text": {}}
    for r in store.histograms(uid).itertuples(index=False):
        buckets = np.stack([r.edges[:-1], r.edges[1:], r.counts], 1) if len(r.counts) \
            else np.zeros((0, 3))
        out["histogram"].setdefault(r.key, {})[r.step] = (buckets, r)
    for (key, step), rows in store.images(uid).groupby(["key", "step"], sort=True):
        rows = rows.sort_values("index")
        out["image"].setdefault(key, {})[step] = (
            [store.image_bytes(h) for h in rows["hash"]], rows["wall_time"].iloc[0])
    for r in store.texts(uid).itertuples(index=False):
        out["text"].setdefault(r.key, {})[r.step] = (r.text, r.wall_time)
    return out


def test_import_matches_eventaccumulator(logdir: Path, imported: str) -> None:
    store = Store(imported)
    runs = dict(find_runs(logdir))
    assert {"torch", "tbx", "tf", "keras/train", "keras/validation"} <= set(runs)
    seen = {"legacy": 0, "tensor": 0, "zero width": 0, "constant": 0, "empty": 0}
    for rel in runs:
        want, got = _shown_by_reader(logdir / rel), _stored(store, run_uid(logdir, rel))
        for kind in ("histogram", "image", "text"):
            assert sorted(got[kind]) == sorted(want[kind]), (rel, kind)
            for tag, steps in want[kind].items():
                assert sorted(got[kind][tag]) == sorted(steps), (rel, tag)
        for tag, steps in want["histogram"].items():
            for step, (shown, proto, wall) in steps.items():
                buckets, row = got["histogram"][tag][step]
                expected = _expected_buckets(shown, proto)
                seen["legacy" if proto is not None else "tensor"] += 1
                seen["constant"] += len(expected) == 1 and expected[0, 1] - expected[0, 0] == 1
                seen["empty"] += not len(expected)
                if proto is not None:  # TensorBoard migrates legacy buckets to float32
                    seen["zero width"] += bool(np.any(shown[:, 0] == shown[:, 1])) and len(
                        shown) > 1
                    assert buckets.astype(np.float32).tolist() == \
                        expected.astype(np.float32).tolist(), (rel, tag, step)
                    assert (row.count, row.min, row.max, row.sum, row.sum_squares) == (
                        proto.num, proto.min, proto.max, proto.sum, proto.sum_squares)
                else:  # tensors: float64 buckets exactly
                    assert buckets.tolist() == expected.tolist(), (rel, tag, step)
                    assert row.count == shown[:, 2].sum()
                assert row.wall_time == wall
        for tag, steps in want["image"].items():
            for step, (files, wall) in steps.items():
                assert got["image"][tag][step] == (files, wall), (rel, tag, step)
        for tag, steps in want["text"].items():
            for step, (text, wall) in steps.items():
                assert got["text"][tag][step] == (text, wall), (rel, tag, step)
    # Every departure from TensorBoard's buckets the docs name was exercised.
    assert all(seen.values()), seen
    keras = store.media_keys(run_uid(logdir, "keras/train"))
    assert {"hidden/kernel/histogram", "out/bias/histogram"} <= {
        k.removeprefix("sequential/") for k in keras["key"]}, list(keras["key"])
    assert set(keras["kind"]) == {"histogram", "image"}


def test_import_matches_tensorboard_server_default_flags(logdir: Path, imported: str,
                                                          tmp_path: Path) -> None:
    """The Histograms tab's buckets and the Images tab's files, through TensorBoard's API.

    The default loader reads a legacy histogram more literally than EventAccumulator's
    migration: it keeps the empty outer buckets (left out here) and starts the first
    filled bucket at its left limit, where the migration (and trackboard) start it at
    the minimum, which lies inside it."""
    store = Store(imported)

    def get(url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.read()

    with tensorboard_server(logdir, tmp_path / "tb.log") as base:
        deadline = time.time() + 90
        while True:
            tags = json.loads(get(f"{base}/data/plugin/histograms/tags"))
            if len(tags.get("keras/validation", {})) >= 4 or time.time() > deadline:
                break
            time.sleep(1)
        checked = 0
        for run, run_tags in tags.items():
            uid = run_uid(logdir, run)
            for tag in run_tags:
                q = urllib.parse.urlencode({"run": run, "tag": tag})
                rows = json.loads(get(f"{base}/data/plugin/histograms/histograms?{q}"))
                stored = {r.step: r for r in store.histograms(uid, keys=[tag]).itertuples()}
                assert sorted(stored) == [r[1] for r in rows], (run, tag)
                for wall, step, buckets in rows:
                    shown = np.array(buckets, np.float64).reshape(-1, 3)
                    filled = np.flatnonzero(shown[:, 2])
                    r = stored[step]
                    if len(filled) and run in ("torch", "tbx"):  # legacy histograms
                        shown = shown[filled[0]:filled[-1] + 1]
                        assert shown[0, 0] <= r.min <= shown[0, 1]
                        shown[0, 0] = r.min
                    want = _expected_buckets(shown, None)
                    got = np.stack([r.edges[:-1], r.edges[1:], r.counts], 1) \
                        if len(r.counts) else np.zeros((0, 3))
                    zero = (shown[:, 0] == shown[:, 1]) if len(want) > 1 else np.zeros(0, bool)
                    # float64, exactly; a bucket of no width ends at its own limit instead
                    assert got[~zero].tolist() == want[~zero].tolist(), (run, tag, step)
                    assert got[zero, 0].tolist() == want[zero, 0].tolist()
                    assert wall == r.wall_time
                    checked += 1
        assert checked >= 40
        images = json.loads(get(f"{base}/data/plugin/images/tags"))
        for run, run_tags in images.items():
            uid = run_uid(logdir, run)
            for tag, info in run_tags.items():
                frame = store.images(uid, keys=[tag])
                for sample in range(info["samples"]):
                    q = urllib.parse.urlencode({"run": run, "tag": tag, "sample": sample})
                    for item in json.loads(get(f"{base}/data/plugin/images/images?{q}")):
                        data = get(f"{base}/data/plugin/images/individualImage?"
                                   f"{item['query']}")
                        row = frame[(frame.step == item["step"]) & (frame["index"] == sample)]
                        assert store.image_bytes(row["hash"].iloc[0]) == data, (run, tag)


def test_import_again_changes_nothing(logdir: Path, tmp_path: Path) -> None:
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'again.db'}"
    first = import_tensorboard(logdir / "torch", url, progress=False)
    assert (first.histograms, first.images, first.texts) == (20, 9, 4)  # add_images: a grid
    assert "20 histograms, 9 images, 4 texts" in first.summary()

    def dump() -> dict[str, list]:
        with Store(url).engine.connect() as conn:
            return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()),
                              key=repr)
                    for t in ("media_series", "histograms", "images", "texts", "blobs")}

    before = dump()
    import_tensorboard(logdir / "torch", url, progress=False)
    assert dump() == before


def _restarted(logdir: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(logdir)) as w:
        for step in range(8):
            w.add_histogram("w", np.full(3, float(step)), step)
            w.add_image("img", np.full((3, 2, 2), step / 10), step)
            w.add_text("t", f"first {step}", step)
    time.sleep(1.1)  # torch names event files by the second: the resumed file sorts last
    with SummaryWriter(str(logdir), purge_step=5) as w:
        for step in range(5, 7):
            w.add_histogram("w", np.full(3, 100.0 + step), step)
            w.add_text("t", f"again {step}", step)


@pytest.mark.parametrize("hold", [None, 2])
def test_restart_drops_the_media_it_supersedes(tmp_path: Path, hold: int | None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's purge_step drops every tag's values at steps >= 5 logged before it, as
    EventAccumulator shows; also when the media were already handed to the store."""
    logdir = tmp_path / "logs"
    _restarted(logdir)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    kwargs = {"batch_points": 1, "hold_points": hold} if hold else {}
    if hold:  # a tiny media bound: every event's media go to the store at once
        import trackboard.storage.interchange.tensorboard.run_reader as run_reader

        monkeypatch.setattr(run_reader, "HOLD_MEDIA_BYTES", 1)
    result = import_tensorboard(logdir, url, progress=False, **kwargs)
    assert result.warnings == []
    store = Store(url)
    uid = next(iter(result.runs))
    hist = store.histograms(uid)
    assert dict(zip(hist["step"], hist["min"])) == {
        **{s: float(s) for s in range(5)}, 5: 105.0, 6: 106.0}
    assert store.images(uid)["step"].tolist() == [0, 1, 2, 3, 4]
    texts = store.texts(uid)
    assert dict(zip(texts["step"], texts["text"])) == {
        **{s: f"first {s}" for s in range(5)}, 5: "again 5", 6: "again 6"}
    want = _shown_by_reader(logdir)  # EventAccumulator applies the START alike ...
    assert sorted(want["image"]["img"]) == [0, 1, 2, 3, 4]
    assert {s: v[1].min for s, v in want["histogram"]["w"].items()} == dict(
        zip(hist["step"], hist["min"]))
    # ... but to legacy values only: it still shows the text of step 7 from before.
    assert sorted(want["text"]["t/text_summary"]) == list(range(8))


def test_records_that_cannot_be_stored_warn_and_the_rest_is_kept(tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter
    from tensorboardX.proto import event_pb2, summary_pb2

    logdir = tmp_path / "bad"
    with SummaryWriter(str(logdir)) as w:
        for step in range(3):
            w.add_histogram("good", np.arange(10.0), step)
            bmp = summary_pb2.Summary.Image(height=1, width=1, colorspace=3,
                                            encoded_image_string=b"BM" + b"\0" * 60)
            w.file_writer.add_event(event_pb2.Event(step=step, wall_time=1e9 + step,
                                                    summary=summary_pb2.Summary(value=[
                                                        summary_pb2.Summary.Value(
                                                            tag="bmp", image=bmp)])))
            w.add_histogram("x" * 300, np.arange(3.0), step)  # a tag too long to store
            w.add_text("ok", "fine", step)
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = import_tensorboard(logdir, url, progress=False)
    messages = [str(c.message) for c in caught if issubclass(c.category, EventFileWarning)]
    assert len(messages) == 2, messages  # once per tag, naming run, tag and step
    assert any("'bmp' at step 0" in m and "not a PNG, JPEG, GIF or WebP" in m
               for m in messages)
    assert any("'xxxx" in m and "at step 0" in m for m in messages)
    store = Store(url)
    keys = store.media_keys(next(iter(result.runs)))
    assert dict(zip(keys["key"], keys["count"])) == {"good": 3, "ok/text_summary": 3}
