"""torch SummaryWriter's histogram, image, figure and text calls: what lands in the
store, against what torch's own writer puts in a real event file (the tee, read back
with TensorBoard's EventAccumulator) for the very same calls."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from trackboard.loggers import Run
from trackboard.loggers.torch import SummaryWriter
from trackboard.storage import Store
from trackboard.storage.media.images import decode_image

from tests.support.loggers import texts

pytestmark = pytest.mark.slow  # needs a framework

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _events(log_dir: Path) -> EventAccumulator:
    return EventAccumulator(str(log_dir), size_guidance={"histograms": 0, "images": 0,
                                                         "tensors": 0}).Reload()


def _tb_pixels(event: Any) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))


def _our_pixels(store: Store, run_id: str, key: str) -> list[np.ndarray]:
    """Each stored image of `key` (steps, then strip order) as RGB pixels."""
    out = []
    for row in store.images(run_id, keys=[key]).itertuples():
        pixels = decode_image(store.image_bytes(row.hash), row.channels)
        out.append(np.repeat(pixels, 3, axis=2) if row.channels == 1 else pixels)
    return out


def test_histograms_hold_what_tensorboard_holds(sqlite_url: str, tmp_path: Path) -> None:
    """Same count, min, max and sums as torch's event file; the buckets: numpy's for an
    int or a numpy rule (torch's file trims the empty ones at the ends), 64 equal
    buckets for torch's default "tensorflow" bins (~1,500 exponential limits there)."""
    torch.manual_seed(0)
    weights = torch.randn(3000) * 0.2
    ints = torch.randint(0, 50, (400,))
    with SummaryWriter(tmp_path / "h", project="media", store=sqlite_url,
                       tensorboard=True) as writer:
        writer.add_histogram("default", weights, 0)
        writer.add_histogram("twenty", weights, 1, bins=20)
        writer.add_histogram("auto", weights, 2, bins="auto")
        writer.add_histogram("ints", ints, 3, bins=10, max_bins=4)
        writer.add_histogram("bf16", weights.to(torch.bfloat16), 4)
        writer.add_histogram("flags", weights > 0, 5)  # booleans: 0.0 and 1.0, as torch
        run_id = writer.run.id
    with Store(sqlite_url) as store:
        ours = store.histograms(run_id).set_index("key")
    events = _events(tmp_path / "h")
    for key in ("default", "twenty", "auto", "ints", "bf16", "flags"):
        (tb,) = events.Histograms(key)
        h, tbh = ours.loc[key], tb.histogram_value
        assert [h["count"], h["min"], h["max"]] == pytest.approx([tbh.num, tbh.min, tbh.max])
        assert h["sum"] == pytest.approx(tbh.sum, rel=1e-5), key
        assert h["sum_squares"] == pytest.approx(tbh.sum_squares, rel=1e-5), key
        assert h["counts"].sum() == sum(tbh.bucket) == h["count"], key
        if key in ("twenty", "auto", "ints"):  # numpy's layout: TensorBoard's, untrimmed
            filled = np.flatnonzero(h["counts"])
            first, last = filled[0], filled[-1]
            assert h["counts"][first:last + 1].tolist() == list(tbh.bucket)[1:], key
            assert h["edges"][first:last + 2] == pytest.approx(list(tbh.bucket_limit)), key
    assert len(ours.loc["default", "counts"]) == 64
    assert len(ours.loc["twenty", "counts"]) == 20
    assert len(ours.loc["ints", "counts"]) == 5  # 10 buckets merged in runs of 10 // 4
    assert len(events.Histograms("default")[0].histogram_value.bucket) > 100


def test_add_histogram_raw_is_read_as_tensorboard_reads_it(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    # torch's own docstring example: 50 buckets of 0..49 values just right of each int
    values = np.concatenate([[i + 0.001] * i for i in range(50)])
    counts, limits = np.histogram(values, bins=np.arange(52))
    with SummaryWriter(tmp_path / "raw", project="media", store=sqlite_url,
                       tensorboard=True) as writer:
        writer.add_histogram_raw("raw", min=values.min(), max=values.max(), num=len(values),
                                 sum=values.sum(), sum_squares=values.dot(values),
                                 bucket_limits=limits[1:].tolist(),
                                 bucket_counts=counts.tolist(), global_step=0)
        with pytest.raises(ValueError, match=r"len\(bucket_limits\) != len\(bucket_counts\)"):
            writer.add_histogram_raw("bad", 0, 1, 1, 1, 1, [1.0, 2.0], [1], 1)
        run_id = writer.run.id
    from tensorboard import data_compat
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
    from tensorboard.util.tensor_util import make_ndarray

    (tb,) = _events(tmp_path / "raw").Histograms("raw")
    proto = HistogramProto(**{f: getattr(tb.histogram_value, f) for f in (
        "min", "max", "num", "sum", "sum_squares", "bucket_limit", "bucket")})
    shown = make_ndarray(data_compat.migrate_value(  # the buckets TensorBoard shows
        Summary.Value(tag="raw", histo=proto)).tensor)
    with Store(sqlite_url) as store:
        (h,) = store.histograms(run_id).itertuples()
        assert store.histograms(run_id, keys=["bad"]).empty
    assert h.edges[:-1] == pytest.approx(shown[:, 0]) and h.edges[1:] == pytest.approx(shown[:, 1])
    assert h.counts.tolist() == shown[:, 2].tolist() and h.count == len(values)


def test_images_are_tensorboards_pixels(sqlite_url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    chw = torch.from_numpy(rng.random((3, 6, 9)).astype(np.float32))
    chw[0, 0, 0] = 1.7  # clipped, as torch clips
    hwc = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    grey = rng.random((7, 8))
    batch = torch.from_numpy(rng.random((3, 3, 4, 5)).astype(np.float32))
    with SummaryWriter(tmp_path / "img", project="media", store=sqlite_url,
                       tensorboard=True) as writer:
        writer.add_image("chw", chw, 0)
        writer.add_image("hwc", hwc, 0, dataformats="HWC")
        writer.add_image("grey", grey, 0, dataformats="HW")
        writer.add_images("batch", batch, 0)
        writer.add_images("nhwc", batch.permute(0, 2, 3, 1).numpy(), 1, dataformats="NHWC")
        with pytest.raises(ValueError, match="dataformats='HWC' does not fit"):
            writer.add_image("wrong", grey, 2, dataformats="HWC")
        run_id = writer.run.id
    events = _events(tmp_path / "img")
    assert "wrong" not in events.Tags()["images"]  # refused before the tee got it
    with Store(sqlite_url) as store:
        for key in ("chw", "hwc", "grey"):
            (tb,) = events.Images(key)
            assert [p.tolist() for p in _our_pixels(store, run_id, key)] == [
                _tb_pixels(tb).tolist()], key
        stored = store.images(run_id)
        assert stored.set_index("key")["channels"].to_dict()["grey"] == 1  # grey stays grey
        assert store.images(run_id, keys=["wrong"]).empty
        # add_images: one image per item (TensorBoard draws them side by side in one grid)
        (grid,) = events.Images("batch")
        tiles = np.split(_tb_pixels(grid), 3, axis=1)
        assert [p.tolist() for p in _our_pixels(store, run_id, "batch")] == [
            t.tolist() for t in tiles]
        assert [p.tolist() for p in _our_pixels(store, run_id, "nhwc")] == [
            t.tolist() for t in tiles]
    assert stored.loc[stored.key == "batch", "index"].tolist() == [0, 1, 2]


def test_figures_are_tensorboards_pixels_and_closed(sqlite_url: str, tmp_path: Path) -> None:
    figure = plt.figure(figsize=(2, 1.5), dpi=50)
    plt.plot([0, 1, 0.5])
    with SummaryWriter(tmp_path / "fig", project="media", store=sqlite_url,
                       tensorboard=True) as writer:
        writer.add_figure("curve", figure, 3)
        run_id = writer.run.id
    assert not plt.fignum_exists(figure.number)
    (tb,) = _events(tmp_path / "fig").Images("curve")
    with Store(sqlite_url) as store:
        (ours,) = _our_pixels(store, run_id, "curve")
        row = store.images(run_id).iloc[0]
    assert (row.step, row.width, row.height, row.channels) == (3, 100, 75, 3)
    assert ours.tolist() == _tb_pixels(tb).tolist()


def test_text_is_kept_per_step(sqlite_url: str, tmp_path: Path) -> None:
    with SummaryWriter(tmp_path / "text", project="media", store=sqlite_url,
                       tensorboard=True) as writer:
        writer.add_text("notes", "**lr** 0.1", 0)
        writer.add_text("notes", "lr halved", 10, walltime=1_700_000_000.0)
        writer.add_text("auto", "first")   # no global_step: the tag's next step, as
        writer.add_text("auto", "second")  # for scalars (TensorBoard: step 0 twice)
        run_id = writer.run.id
    assert texts(sqlite_url, run_id) == {"auto": [(0, "first"), (1, "second")],
                                         "notes": [(0, "**lr** 0.1"), (10, "lr halved")]}
    with Store(sqlite_url) as store:
        assert store.texts(run_id, keys=["notes"])["wall_time"].iloc[1] == 1_700_000_000.0
        assert store.run(run_id)["tags"] == {}  # no longer a run tag
    tensors = _events(tmp_path / "text").Tensors("notes/text_summary")
    assert [t.step for t in tensors] == [0, 10]


def test_a_finished_run_passed_in_drops_media_with_a_warning(sqlite_url: str,
                                                            tmp_path: Path) -> None:
    run = Run(project="media", store=sqlite_url, system_metrics=False)
    writer = SummaryWriter(tmp_path / "mine", run=run)
    writer.add_histogram("w", torch.ones(3), 0)
    run.finish()
    with pytest.warns(RuntimeWarning, match="is finished; what this writer logs"):
        writer.add_histogram("w", torch.ones(3), 1)
        writer.add_image("img", torch.zeros(3, 2, 2), 1)
    writer.close()
    with Store(sqlite_url) as store:
        assert store.histograms(run.id)["step"].tolist() == [0]
        assert store.images(run.id).empty
