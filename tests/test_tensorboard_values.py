"""The pure rules behind the adapters' media calls (no framework imported): TensorBoard's
reading of a legacy histogram, torch's `bins` / `max_bins` / `dataformats` and pixel
rules, TensorFlow's image rule (clu), and the demo's risk maps. The adapters' own
tests (test_adapter_media_*.py, slow) run them inside real frameworks."""

from __future__ import annotations

import numpy as np
import pytest
from trackboard.loggers.demo_media import GRID, MAP_AXES, SCALE, risk_grids, risk_pixels
from trackboard.loggers.tensorboard_values import (
    merge_buckets,
    raw_histogram,
    tf_images,
    torch_histogram,
    torch_images,
)
from trackboard.storage.media.tensorboard_buckets import legacy_buckets

RNG = np.random.default_rng(3)


def _pixels(image) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.frombuffer(image.data, np.uint8).reshape(image.height, image.width,
                                                       image.channels)


def _torch_layout(values: np.ndarray, bins: object) -> tuple[list[float], list[float]]:
    """torch's make_histogram (np.histogram, then empty buckets at both ends trimmed
    but for one on the left), the legacy proto TensorBoard then reads."""
    counts, limits = np.histogram(values, bins=bins)
    filled = np.flatnonzero(counts)
    start, end = filled[0], filled[-1] + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    return limits[start:end + 1].tolist(), counts.tolist()


def test_legacy_histograms_are_read_as_tensorboard_reads_them() -> None:
    from tensorboard import data_compat
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
    from tensorboard.util.tensor_util import make_ndarray

    for n in range(40):
        values = RNG.normal(RNG.normal(), 1 + RNG.random(), 1 + int(RNG.integers(0, 300)))
        limits, counts = _torch_layout(values, int(RNG.integers(1, 40)) if n % 2 else "auto")
        proto = HistogramProto(min=values.min(), max=values.max(), num=len(values),
                               sum=values.sum(), sum_squares=values.dot(values),
                               bucket_limit=limits, bucket=counts)
        migrated = data_compat.migrate_value(Summary.Value(tag="h", histo=proto))
        tb = make_ndarray(migrated.tensor)  # (left, right, count) per bucket, float32
        edges, got = legacy_buckets(proto.min, proto.max, proto.bucket_limit, proto.bucket)
        if len(tb) == 1 and tb[0, 0] == tb[0, 1]:  # one value: TensorBoard's bucket has
            assert edges.tolist() == [values[0] - 0.5, values[0] + 0.5]  # no width; ours 1
        else:
            assert edges[:-1] == pytest.approx(tb[:, 0], rel=1e-6)
            assert edges[1:] == pytest.approx(tb[:, 1], rel=1e-6)
        assert got.tolist() == tb[:, 2].tolist() and got.sum() == len(values)
        assert np.all(np.diff(edges) > 0)


@pytest.mark.parametrize("lo, hi, limits, counts, edges, kept", [
    # the largest value exactly on an edge: TensorBoard's last bucket would have no width
    (0.0, 2.0, [1.0, 2.0, 3.0], [1, 0, 2], [0.0, 1.0, 2.0, 3.0], [1, 0, 2]),
    # min at or beyond the first right edge: the bucket's own left limit
    (2.5, 4.0, [1.0, 2.0, 3.0, 4.0], [0, 3, 0, 1], [1.0, 2.0, 3.0, 4.0], [3, 0, 1]),
    # unknown min and max (NaN): the limits, and one bucket's width to the left
    (float("nan"), None, [1.0, 2.0, 3.0], [2, 1, 1], [0.0, 1.0, 2.0, 3.0], [2, 1, 1]),
    # everything in one bucket: min to max, or +-0.5 around one value
    (5.0, 5.0, [4.0, 6.0], [0, 3], [4.5, 5.5], [3]),
    # nothing counted: one empty bucket
    (0.0, 1.0, [0.5, 1.0], [0, 0], [0.0, 1.0], [0]),
])
def test_legacy_buckets_always_have_width(lo: float, hi: float, limits: list[float],
                                          counts: list[int], edges: list[float],
                                          kept: list[int]) -> None:
    got_edges, got_counts = legacy_buckets(lo, hi, limits, counts)
    assert got_edges.tolist() == edges and got_counts.tolist() == kept
    with pytest.raises(ValueError, match="2 bucket limits for 3 bucket counts"):
        legacy_buckets(0, 1, [0.5, 1.0], [1, 2, 3])


def test_torch_bins_keep_their_numpy_meaning() -> None:
    values = RNG.normal(size=5000)
    # an int: numpy's equal buckets from min to max (counted by trackboard's own rule)
    h = torch_histogram(values, bins=25)
    counts, edges = np.histogram(values, bins=25)
    assert h.edges == pytest.approx(edges, rel=1e-12) and h.counts.tolist() == counts.tolist()
    # numpy's rules and explicit edges: numpy's layout exactly
    for rule in ("auto", "fd", "sturges", "sqrt"):
        h = torch_histogram(values, bins=rule)
        counts, edges = np.histogram(values, bins=rule)
        assert h.edges.tolist() == edges.tolist() and h.counts.tolist() == counts.tolist()
    h = torch_histogram(values, bins=[-1.0, 0.0, 1.0])  # values beyond: a bucket each side
    assert h.edges.tolist() == [values.min(), -1.0, 0.0, 1.0, values.max()]
    assert h.counts.sum() == 5000
    # torch's default "tensorflow" bins: 64 equal buckets, nothing lost
    h = torch_histogram(np.append(values, [np.nan, np.inf]))
    assert (len(h.counts), h.count, h.nan_count, h.posinf_count) == (64, 5002, 1, 1)
    assert (h.min, h.max) == (values.min(), values.max())
    # max_bins merges adjacent buckets as torch does: 10 buckets in runs of 10 // 4
    h = torch_histogram(np.arange(10.0), bins=10, max_bins=4)
    assert h.edges.tolist() == [0.0, 1.8, 3.6, 5.4, 7.2, 9.0] and h.counts.tolist() == [2.0] * 5
    for bad in ({"bins": 0}, {"bins": "nonsense"}, {"max_bins": 0}, {"bins": [1.0, 0.0]}):
        with pytest.raises(ValueError):
            torch_histogram(values, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no values"):
        torch_histogram(np.zeros(0))
    flags = torch_histogram(np.array([True, False, True]), bins=2)  # torch: 1.0 and 0.0
    assert flags.edges.tolist() == [0.0, 0.5, 1.0] and flags.counts.tolist() == [1.0, 2.0]
    e, c = merge_buckets(np.arange(21.0), np.ones(20), 3)  # runs of 6: 6, 6, 6, 2
    assert e.tolist() == [0.0, 6.0, 12.0, 18.0, 20.0] and c.tolist() == [6.0, 6.0, 6.0, 2.0]


def test_raw_histograms_take_right_edges_and_check_lengths() -> None:
    h = raw_histogram(0.5, 3.5, 6, 12.0, 30.0, [1.0, 2.0, 3.0, 4.0], [0, 2, 3, 1])
    assert h.edges.tolist() == [0.5, 2.0, 3.0, 3.5] and h.counts.tolist() == [2, 3, 1]
    assert (h.count, h.min, h.max, h.sum, h.sum_squares) == (6, 0.5, 3.5, 12.0, 30.0)
    with pytest.raises(ValueError, match=r"len\(bucket_limits\) != len\(bucket_counts\)"):
        raw_histogram(0, 1, 1, 1, 1, [1.0], [1, 0])


def test_torch_dataformats_and_pixel_rule() -> None:
    chw = RNG.random((3, 5, 7)).astype(np.float32)
    chw[0, 0, 0], chw[1, 0, 0], chw[2, 0, 0] = -0.5, 1.7, np.nan  # clipped; NaN is 0
    expected = (chw.transpose(1, 2, 0) * np.float32(255))
    expected = np.nan_to_num(expected).clip(0, 255).astype(np.uint8)  # truncated, as torch
    assert expected[0, 0].tolist() == [0, 255, 0]
    for fmt, a in (("CHW", chw), ("HWC", chw.transpose(1, 2, 0)),
                   ("WHC", chw.transpose(2, 1, 0)), ("chw", chw)):
        (image,) = torch_images(a, fmt)
        assert _pixels(image).tolist() == expected.tolist(), fmt
    (grey,) = torch_images(np.full((4, 6), 200, np.uint8), "HW")  # uint8 as it is; grey
    assert (grey.channels, _pixels(grey).max()) == (1, 200)       # stays one channel
    strip = torch_images(np.stack([chw, chw]).transpose(0, 2, 3, 1), "NHWC")
    assert [_pixels(i).tolist() for i in strip] == [expected.tolist()] * 2
    with pytest.raises(ValueError, match=r"dataformats='CHW' does not fit an array of "
                                         r"shape \(5, 7\): .*'HW'"):
        torch_images(chw[0], "CHW")
    for fmt in ("CCW", "CHX", "NCH"):
        with pytest.raises(ValueError, match="does not fit"):
            torch_images(chw, fmt)
    with pytest.raises(ValueError, match="2 channels"):
        torch_images(np.zeros((2, 4, 4)), "CHW")
    with pytest.raises(ValueError, match="batch is empty"):
        torch_images(np.zeros((0, 3, 4, 4)), "NCHW")


def test_tensorflow_image_rule_for_clu() -> None:
    floats = np.array([[[0.0], [0.5], [0.999], [1.0], [1.5], [-1.0]]], np.float32)
    (image,) = tf_images(floats)  # [H, W, C]: one image; x * 255.5 truncated, clipped
    assert _pixels(image).ravel().tolist() == [0, 127, 255, 255, 255, 0]
    assert [i.channels for i in tf_images(np.zeros((3, 4, 4, 3), np.uint8))] == [3, 3, 3]
    assert tf_images(np.zeros((4, 5)))[0].channels == 1  # H x W: one grey image
    with pytest.raises(ValueError, match="last axis must be 1, 3 or 4"):
        tf_images(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="batch is empty"):
        tf_images(np.zeros((0, 3, 4, 3)))


def test_demo_risk_maps_colour_and_layout() -> None:
    grid = risk_grids(8)
    fx, fy = MAP_AXES[0]
    first = grid[:GRID * GRID]
    assert first[0, fx] == -2.0 and first[0, fy] == 2.0    # top left: low x, high y
    assert first[-1, fx] == 2.0 and first[-1, fy] == -2.0  # bottom right
    assert not np.delete(first, [fx, fy], axis=1).any()    # the other features at 0
    p = np.zeros(len(grid))
    p[GRID * GRID:] = 1.0
    p[GRID * GRID - 1] = 0.5
    low, high = risk_pixels(p)
    assert low[0, 0].tolist() == [59, 76, 192] and high[0, 0].tolist() == [180, 4, 38]
    assert low[-1, -1].tolist() == [247, 247, 247]          # 0.5 is white
    assert low.shape == (GRID * SCALE, GRID * SCALE, 3) and low.dtype == np.uint8
