"""TensorBoard's histograms, images and texts <-> trackboard's media record fields (pure).

The expected values come from TensorBoard's own code: its summary writers
(`summary_v2.histogram_pb`, `image_pb`) and its reader's migration of legacy histograms
(`data_compat.migrate_value`, what its Histograms tab shows).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from tensorboard import data_compat
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.histogram import summary_v2 as histogram_summary
from tensorboard.util import tensor_util
from trackboard.storage.interchange.tensorboard.media_values import (
    STATS,
    histogram_tensor,
    images_tensor,
    legacy_histogram,
    legacy_image,
    tensor_histogram,
    tensor_images,
    tensorboard_file,
)
from trackboard.storage.media.images import decode_image, encode_pixels
from trackboard.storage.write.media_checks import check_media_record
from trackboard.storage.write.records import HISTOGRAM


def _legacy(values: np.ndarray, bins: np.ndarray) -> summary_pb2.HistogramProto:
    """A HistogramProto as torch's and tensorboardX's `add_histogram` build it: one empty
    bucket before the first filled one, the buckets up to the last filled one."""
    counts, limits = np.histogram(values, bins=bins)
    filled = np.flatnonzero(counts)
    start, end = filled[0], filled[-1] + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    return summary_pb2.HistogramProto(
        min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
        sum_squares=values.dot(values), bucket_limit=bins[start:end + 1].tolist(),
        bucket=counts.tolist())


def _tensorboard_buckets(histo: summary_pb2.HistogramProto) -> np.ndarray:
    """[k, 3] buckets as TensorBoard's Histograms tab reads a legacy histogram."""
    value = data_compat.migrate_value(summary_pb2.Summary.Value(tag="h", histo=histo))
    return tensor_util.make_ndarray(value.tensor)


def _record(fields: tuple) -> tuple:
    return (HISTOGRAM, "run", 3, 1.0, "h", *fields)


TF_BINS = np.array(sorted([-1.1 ** i * 1e-12 for i in range(580)] + [0.0]
                          + [1.1 ** i * 1e-12 for i in range(580)]))


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).normal(size=1000),
    np.random.default_rng(1).uniform(0.5, 9.0, size=300),
    np.array([-3.0, 7.0, 7.0, 2.5]),
])
def test_legacy_histogram_is_what_tensorboard_shows(values: np.ndarray) -> None:
    histo = _legacy(values, TF_BINS)
    fields = legacy_histogram(histo)
    check_media_record(_record(fields))
    shown = _tensorboard_buckets(histo)  # float32, as TensorBoard migrates it
    edges, counts = np.asarray(fields[0]), np.asarray(fields[1])
    assert counts.tolist() == shown[:, 2].tolist()
    assert edges[:-1].astype(np.float32).tolist() == shown[:, 0].tolist()
    assert edges[1:].astype(np.float32).tolist() == shown[:, 1].tolist()
    assert (edges[0], edges[-1]) == (values.min(), values.max())  # float64, not rounded
    assert fields[2:] == (len(values), 0, 0, 0, values.min(), values.max(), values.sum(),
                          values.dot(values))


def test_legacy_histogram_buckets_of_no_width() -> None:
    # TensorBoard shows the last bucket of [-1, 0] as [0, 0] (the maximum sits on an
    # edge) and a constant tensor as one bucket [0, 0]: stored edges must increase, so
    # that bucket ends at its own limit, and a constant is one bucket of width 1.
    fields = legacy_histogram(_legacy(np.array([-1.0, 0.0]), TF_BINS))
    shown = _tensorboard_buckets(_legacy(np.array([-1.0, 0.0]), TF_BINS))
    assert shown[-1].tolist() == [0.0, 0.0, 1.0]
    edges = np.asarray(fields[0])
    assert edges[-2:].tolist() == [0.0, 1e-12] and fields[1][-1] == 1.0
    assert edges[:-1].astype(np.float32).tolist() == shown[:, 0].tolist()
    check_media_record(_record(fields))
    fields = legacy_histogram(_legacy(np.zeros(10), TF_BINS))
    assert (list(fields[0]), list(fields[1]), fields[6:8]) == ([-0.5, 0.5], [10.0], (0.0, 0.0))


@pytest.mark.parametrize("data,edges,counts", [
    (np.array([0.0, 1.0, 1.0, 4.0]), None, None),
    (np.full(7, 2.5), [2.0, 3.0], [7.0]),  # TensorFlow: 30 buckets [2.5, 2.5]
    (np.zeros(0), [], []),  # no data: 30 buckets [0, 0] of count 0
])
def test_tensor_histogram_as_tf_summary_writes_it(data: np.ndarray, edges: list | None,
                                                  counts: list | None) -> None:
    value = histogram_summary.histogram_pb("h", data).value[0]
    buckets = tensor_util.make_ndarray(value.tensor)
    fields = tensor_histogram(value.tensor)
    check_media_record(_record(fields))
    if edges is None:  # the buckets as they are
        edges = buckets[:, 0].tolist() + [buckets[-1, 1]]
        counts = buckets[:, 2].tolist()
    assert (list(fields[0]), list(fields[1])) == (edges, counts)
    assert fields[2] == len(data)
    if len(data):
        assert fields[6:8] == (data.min(), data.max())


def test_histogram_tensor_round_trip_keeps_what_buckets_cannot_hold() -> None:
    edges = np.array([-1.5, 0.1, 0.2, 7.0])
    counts = np.array([3.0, 0.0, 2.5])
    stats = (8.0, 2, 1, 0, -1.4, 6.9, 3.25, 40.5)
    tensor = histogram_tensor(edges, counts, stats)
    shown = tensor_util.make_ndarray(tensor)  # what TensorBoard reads: the buckets only
    assert shown.tolist() == [[-1.5, 0.1, 3.0], [0.1, 0.2, 0.0], [0.2, 7.0, 2.5]]
    fields = tensor_histogram(tensor)
    assert (list(fields[0]), list(fields[1])) == (edges.tolist(), counts.tolist())
    assert fields[2:] == stats
    # No finite value: no bucket, the counts of NaN and infinities still carried.
    empty = histogram_tensor(np.zeros(0), np.zeros(0),
                             (3.0, 2, 1, 0, np.nan, np.nan, np.nan, np.nan))
    assert tensor_util.make_ndarray(empty).shape == (0, 3)
    fields = tensor_histogram(empty)
    assert (len(fields[0]), len(fields[1])) == (0, 0)
    assert fields[2:] == (3.0, 2, 1, 0, None, None, None, None)


def test_histograms_that_cannot_be_stored_are_refused() -> None:
    backwards = tensor_util.make_tensor_proto(np.array([[0.0, 1.0, 1.0], [3.0, 2.0, 1.0]]))
    with pytest.raises(ValueError, match="not contiguous"):
        tensor_histogram(backwards)
    with pytest.raises(ValueError, match="shape"):
        tensor_histogram(tensor_util.make_tensor_proto(np.zeros((2, 2))))
    decreasing = tensor_util.make_tensor_proto(np.array([[2.0, 1.0, 1.0], [1.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="edges must be finite and increasing"):
        check_media_record(_record(tensor_histogram(decreasing)))  # the importer's check
    inf = summary_pb2.HistogramProto(min=-np.inf, max=1.0, num=2, bucket_limit=[0.0, 1.0],
                                     bucket=[1, 1])
    fields = legacy_histogram(inf)  # an unknown min: the bucket's own left edge
    assert np.all(np.isfinite(np.asarray(fields[0]))) and fields[6] is None


def test_images_tensor_in_tf_summary_image_layout() -> None:
    # tf.summary.image writes [width, height, png, png, ...] as a string tensor (its
    # writer needs TensorFlow; the slow import tests read real ones).
    strip = np.random.default_rng(2).integers(0, 256, (3, 5, 4, 3), dtype=np.uint8)
    files = [_png(x) for x in strip]
    tensor = tensor_util.make_tensor_proto([b"4", b"5", *files], dtype=np.object_)
    got = tensor_images(tensor)
    assert got == [("png", f) for f in files]
    for (_, data), want in zip(got, strip):
        assert (decode_image(data, 3) == want).all()
    written = images_tensor(files)
    assert tensor_util.make_ndarray(written).tolist() == [b"4", b"5", *files]
    assert tensor_images(written) == got
    with pytest.raises(ValueError, match="width and height"):
        tensor_images(tensor_util.make_tensor_proto([b"4"], dtype=np.object_))


def test_image_files_tensorboard_can_serve() -> None:
    rgba = np.random.default_rng(3).integers(0, 256, (6, 7, 4), dtype=np.uint8)
    fmt, webp = encode_pixels(rgba)
    assert fmt == "webp"
    png = tensorboard_file(webp, fmt, 4)
    assert png.startswith(b"\x89PNG") and (decode_image(png, 4) == rgba).all()
    grey = rgba[:, :, :1].copy()
    fmt, data = encode_pixels(grey)
    assert fmt == "png" and tensorboard_file(data, fmt, 1) is data
    bmp = io.BytesIO()
    from PIL import Image

    Image.fromarray(rgba[:, :, :3]).save(bmp, "BMP")
    with pytest.raises(ValueError, match="not a PNG, JPEG, GIF or WebP"):
        legacy_image(summary_pb2.Summary.Image(encoded_image_string=bmp.getvalue()))


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def test_stats_order_is_the_record_order() -> None:
    # HISTOGRAM records carry these fields in this order after edges and counts.
    assert STATS == ("count", "nan_count", "posinf_count", "neginf_count", "min", "max",
                     "sum", "sum_squares")
