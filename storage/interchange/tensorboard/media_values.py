"""TensorBoard's histograms, images and texts as the fields of trackboard's media records,
and back: the one place both directions of the TensorBoard interchange agree on them.

Histograms come in two layouts:
  - legacy `HistogramProto` (torch's `add_histogram`, tensorboardX, TF1): right edges
    and counts plus min and max; read as TensorBoard reads them
    (storage/media/tensorboard_buckets.py, the rule the adapters use too);
  - a float64 tensor of shape [k, 3] (left edge, right edge, count), the "histograms"
    plugin's format (`tf.summary.histogram`, Keras' TensorBoard callback, trackboard's
    export). TensorBoard shows its buckets as they are. All buckets of no width (every
    value the same; TensorFlow writes k buckets [v, v] then) is trackboard's constant
    histogram: one bucket of width 1 around v, min and max v; all counts zero is a
    histogram of no finite value.
trackboard's export writes the tensor layout, which both of TensorBoard's loaders show
exactly (float64 edges): a legacy proto is shown in float32 by the Python loader and
with its empty outer buckets by the default one. What the tensor cannot say (the
count of every value with NaN and infinities, min, max, sum, sum of squares) rides in
the tensor's `int64_val` as the bits of those float64 numbers: TensorBoard and
TensorFlow read a DT_DOUBLE tensor from `tensor_content` or `double_val` only (even
with no bucket at all, where `double_val` would be read), so they never see it, and
trackboard's import brings it back (as the exact scalars in format.SCALAR_DTYPE).

Images: legacy `Summary.Image` (one encoded file) or the "images" plugin's string
tensor [width, height, file, file, ...] (a step's strip). Files are PNG, JPEG, GIF or
WebP, kept as they are; TensorBoard's image plugin serves PNG, JPEG, GIF and BMP only,
so the export turns trackboard's WebP into PNG, losslessly.
"""

from __future__ import annotations

import io
import math
from array import array
from typing import Any

import numpy as np
from trackboard.storage.media import images as codec
from trackboard.storage.media.histograms import value_range
from trackboard.storage.media.tensorboard_buckets import legacy_buckets

HISTOGRAMS_PLUGIN = "histograms"
IMAGES_PLUGIN = "images"
DT_DOUBLE = 2
# The statistics trackboard's export adds to a histogram tensor, in this order.
STATS = ("count", "nan_count", "posinf_count", "neginf_count", "min", "max", "sum",
         "sum_squares")
# Formats TensorBoard's image plugin serves with an image MIME type
# (tensorboard/util/img_mime_type_detector.py); anything else is sent as PNG.
TENSORBOARD_IMAGE_FORMATS = frozenset(("png", "jpeg", "gif"))

# (edges, counts, count, nan_count, posinf_count, neginf_count, min, max, sum,
#  sum_squares): a HISTOGRAM record after its key.
HistogramFields = tuple[Any, ...]


def legacy_histogram(histo: Any) -> HistogramFields:
    """A `HistogramProto` as record fields (storage/write/media_checks.py says whether
    they can be stored: the importer checks every record).

    >>> from tensorboard.compat.proto.summary_pb2 import HistogramProto
    >>> f = legacy_histogram(HistogramProto(min=0.1, max=0.9, num=5, sum=2.5, sum_squares=1.6,
    ...                                     bucket_limit=[0.0, 0.5, 1.0], bucket=[0, 3, 2]))
    >>> f[0].tolist(), f[1].tolist(), f[2:]
    ([0.1, 0.5, 0.9], [3.0, 2.0], (5.0, 0, 0, 0, 0.1, 0.9, 2.5, 1.6))
    """
    edges, counts = legacy_buckets(histo.min, histo.max, histo.bucket_limit, histo.bucket)
    return (_doubles(edges), _doubles(counts), float(histo.num), 0, 0, 0,
            _finite(histo.min), _finite(histo.max), _finite(histo.sum),
            _finite(histo.sum_squares))


def tensor_histogram(tensor: Any) -> HistogramFields:
    """A "histograms" plugin tensor ([k, 3]: left, right, count) as record fields.

    >>> import numpy as np
    >>> from tensorboard.util import tensor_util
    >>> t = tensor_util.make_tensor_proto(np.array([[0.0, 1.0, 2.0], [1.0, 3.0, 1.0]]))
    >>> f = tensor_histogram(t)
    >>> f[0].tolist(), f[1].tolist(), f[2:]
    ([0.0, 1.0, 3.0], [2.0, 1.0], (3.0, 0, 0, 0, 0.0, 3.0, None, None))
    >>> f = tensor_histogram(tensor_util.make_tensor_proto(np.array([[2.0, 2.0, 0], [2.0, 2.0, 4]])))
    >>> f[0].tolist(), f[1].tolist(), f[2], f[6:8]
    ([1.5, 2.5], [4.0], 4.0, (2.0, 2.0))
    """
    from tensorboard.util import tensor_util

    buckets = np.asarray(tensor_util.make_ndarray(tensor), np.float64)
    if buckets.size == 0:
        buckets = buckets.reshape(0, 3)
    if buckets.ndim != 2 or buckets.shape[1] != 3:
        raise ValueError(f"a histogram tensor of shape {list(buckets.shape)}, not [k, 3]")
    lefts, rights, counts = buckets[:, 0], buckets[:, 1], buckets[:, 2]
    total = float(counts.sum())
    if not len(counts) or (total == 0 and lefts[0] == rights[-1]):
        edges, counts, lo, hi = np.zeros(0), np.zeros(0), None, None
    elif lefts[0] == rights[-1]:  # every value the same (TensorFlow's k buckets [v, v])
        lo = hi = float(lefts[0])
        edges, counts = np.array(value_range(lo, hi)), np.array([total])
    else:
        if not np.array_equal(rights[:-1], lefts[1:]):
            raise ValueError("the histogram's buckets are not contiguous")
        edges = np.append(lefts, rights[-1])
        lo, hi = float(edges[0]), float(edges[-1])
    fields = (_doubles(edges), _doubles(counts), total, 0, 0, 0, lo, hi, None, None)
    if tensor.dtype == DT_DOUBLE and len(tensor.int64_val) == len(STATS):
        # trackboard's own export: the statistics the buckets cannot hold.
        stats = np.array(tensor.int64_val, np.int64).view(np.float64).tolist()
        count, nan, posinf, neginf, lo_, hi_, sum_, squares = stats
        fields = fields[:2] + (count, int(nan), int(posinf), int(neginf), _finite(lo_),
                               _finite(hi_), _finite(sum_), _finite(squares))
    return fields


def histogram_tensor(edges: np.ndarray, counts: np.ndarray, stats: tuple[float, ...]) -> Any:
    """A stored histogram as the "histograms" plugin's [k, 3] float64 tensor, with `stats`
    (in STATS order, NaN for unknown) as float64 bits in its int64_val.

    >>> t = histogram_tensor(np.array([0.0, 1.0, 3.0]), np.array([2.0, 1.0]),
    ...                      (4, 1, 0, 0, 0.0, 3.0, 2.5, 9.5))
    >>> tensor_histogram(t)[2:]
    (4.0, 1, 0, 0, 0.0, 3.0, 2.5, 9.5)
    """
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2

    edges = np.asarray(edges, np.float64)
    counts = np.asarray(counts, np.float64)
    buckets = np.stack([edges[:-1], edges[1:], counts], axis=1) if len(counts) \
        else np.zeros((0, 3))
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n) for n in buckets.shape])
    return tensor_pb2.TensorProto(
        dtype=DT_DOUBLE, tensor_shape=shape,
        tensor_content=buckets.astype("<f8").tobytes(),
        int64_val=np.array(stats, np.float64).view(np.int64).tolist())


def legacy_image(image: Any) -> list[tuple[str, bytes]]:
    """A `Summary.Image` as [(format, file)] (ValueError for a file of another format)."""
    return [_encoded(image.encoded_image_string)]


def tensor_images(tensor: Any) -> list[tuple[str, bytes]]:
    """An "images" plugin tensor [width, height, file, ...] as [(format, file), ...]."""
    values = list(tensor.string_val)
    if len(values) < 2:
        raise ValueError("an image tensor without its width and height")
    return [_encoded(data) for data in values[2:]]


def images_tensor(files: list[bytes]) -> Any:
    """Files of one step (PNG, JPEG or GIF) as the "images" plugin's string tensor, with
    the first file's width and height as `tf.summary.image` writes them."""
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2

    width, height, _ = codec.encoded_size(files[0])
    values = [str(width).encode(), str(height).encode(), *files]
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))])
    return tensor_pb2.TensorProto(dtype=7, tensor_shape=shape,  # DT_STRING
                                  string_val=values)


def tensorboard_file(data: bytes, fmt: str, channels: int) -> bytes:
    """A stored image file as TensorBoard can serve it: PNG, JPEG and GIF as they are,
    anything else (trackboard's lossless WebP) as a PNG of the same pixels."""
    if fmt in TENSORBOARD_IMAGE_FORMATS:
        return data
    from PIL import Image  # noqa: PLC0415 - only exports with images pay for it

    pixels = codec.decode_image(data, channels)
    out = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(out, "PNG")
    return out.getvalue()


def tensor_text(tensor: Any) -> str:
    """A "text" plugin tensor as one string (a table's cells one per line)."""
    if len(tensor.string_val) == 1 and not tensor.tensor_shape.dim:
        return tensor.string_val[0].decode("utf-8", "replace")
    from tensorboard.util import tensor_util

    arr = tensor_util.make_ndarray(tensor)
    return "\n".join(x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
                     for x in arr.reshape(-1))


def _encoded(data: bytes) -> tuple[str, bytes]:
    fmt = codec.sniff_format(data)
    if fmt is None:
        raise ValueError("the image is not a PNG, JPEG, GIF or WebP file")
    return fmt, bytes(data)


def _doubles(values: np.ndarray) -> array:
    out = array("d")
    out.frombytes(np.ascontiguousarray(values, np.float64).tobytes())
    return out


def _finite(value: float) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None
