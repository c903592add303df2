"""The arguments of TensorBoard writers' histogram and image calls, as trackboard
`Histogram` and `Image` values (pure helpers; no framework is imported).

torch's `SummaryWriter` (and Lightning's `logger.experiment`, which is one) and clu's
writers take values in their own conventions; these functions keep each
convention's meaning, so what a user logs lands as TensorBoard would show it:

- `torch_histogram(values, bins, max_bins)`: torch's `bins` ("tensorflow", an int,
  a numpy bin rule such as "auto", or the edges) and `max_bins` (adjacent buckets
  merged, as torch merges them). "tensorflow" (torch's default: ~1,500 fixed
  exponential limits from +-1e-12 to +-1e20, trimmed to the values) becomes 64 equal
  buckets from the smallest to the largest value: the same count, min, max, sum and
  sum of squares in a layout a chart can draw.
- `raw_histogram(...)`: `add_histogram_raw`'s counts, read as TensorBoard reads them
  (storage/media/tensorboard_buckets.py).
- `torch_images(tensor, dataformats)`: `add_image` / `add_images` layouts ("CHW",
  "HWC", "HW", "NCHW", "NHWC", any order of those letters) and torch's pixel rule:
  uint8 as it is, anything else times 255, clipped to 0-255 and truncated, so the
  stored pixels are TensorBoard's.
- `tf_images(array)`: clu's `write_images` ([N, H, W, C] or [H, W, C]) and
  TensorFlow's `tf.summary.image` pixel rule for floats (clipped to [0, 1], then
  `convert_image_dtype`: times 255.5, truncated).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from trackboard.loggers.media import Histogram, Image
from trackboard.storage.media.limits import CHANNELS, MAX_BUCKETS
from trackboard.storage.media.tensorboard_buckets import legacy_buckets

TENSORFLOW_BINS = 64  # what torch's default "tensorflow" bins become (Histogram's default)


def torch_histogram(values: Any, bins: Any = "tensorflow",
                    max_bins: int | None = None) -> Histogram:
    """A Histogram of `values` with torch's `bins` and `max_bins` meaning.

    >>> h = torch_histogram([0.0, 1.0, 2.0, 3.0], bins=2)
    >>> h.edges.tolist(), h.counts.tolist()
    ([0.0, 1.5, 3.0], [2.0, 2.0])
    >>> torch_histogram(np.arange(10.0), bins=10, max_bins=4).counts.tolist()  # torch's merge
    [2.0, 2.0, 2.0, 2.0, 2.0]
    >>> torch_histogram([0.2, 0.7, 5.0], bins=[0.0, 0.5, 1.0]).edges.tolist()  # one bucket more
    [0.0, 0.5, 1.0, 5.0]
    """
    cap = None if max_bins is None else _whole(max_bins, "max_bins")
    values = _bools_as_numbers(values)  # torch counts booleans as 0.0 and 1.0
    if isinstance(bins, str) and bins == "tensorflow":
        bins = TENSORFLOW_BINS
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        n = int(bins)
        if n < 1:
            raise ValueError(f"bins={n} must be at least 1")
        if n <= MAX_BUCKETS and (cap is None or n <= cap):
            return Histogram(values, bins=n)  # numpy's equal buckets, counted fast
    # numpy's bin rules and explicit edges: numpy draws the edges, as in torch.
    stats = Histogram(values, bins=1)  # count, NaN/inf, min, max, sums
    finite = _finite(values)
    if not finite.size:
        return stats
    edges = np.histogram_bin_edges(finite, bins=bins)
    counts = np.histogram(finite, bins=edges)[0].astype(np.float64)
    edges, counts = _cover(edges, counts, finite)
    if cap is not None:
        edges, counts = merge_buckets(edges, counts, cap)
    edges, counts = merge_buckets(edges, counts, MAX_BUCKETS)
    return Histogram.from_counts(edges, counts, min=stats.min, max=stats.max, sum=stats.sum,
                                 sum_squares=stats.sum_squares, nan_count=stats.nan_count,
                                 posinf_count=stats.posinf_count,
                                 neginf_count=stats.neginf_count)


def merge_buckets(edges: np.ndarray, counts: np.ndarray,
                  max_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's `max_bins`: more than `max_bins` buckets are merged in runs of
    `len(counts) // max_bins` adjacent ones (the last run may be shorter).

    >>> e, c = merge_buckets(np.arange(6.0), np.ones(5), 2)
    >>> e.tolist(), c.tolist()
    ([0.0, 2.0, 4.0, 5.0], [2.0, 2.0, 1.0])
    """
    n = len(counts)
    if n <= max_bins:
        return edges, counts
    run = n // max_bins
    starts = np.arange(0, n, run)
    return np.append(edges[:-1][starts], edges[-1]), np.add.reduceat(counts, starts)


def raw_histogram(min: Any, max: Any, num: Any, sum: Any, sum_squares: Any,  # noqa: A002
                  bucket_limits: Any, bucket_counts: Any) -> Histogram:
    """`add_histogram_raw`'s arguments as a Histogram: `bucket_limits` are right edges,
    read as TensorBoard reads them. `num` is not stored: the count is the sum of the
    bucket counts (what TensorBoard draws).

    >>> h = raw_histogram(0.1, 0.9, 5, 2.5, 1.5, [0.5, 1.0], [3, 2])
    >>> h.edges.tolist(), h.counts.tolist(), h.count
    ([0.1, 0.5, 0.9], [3.0, 2.0], 5.0)
    """
    limits, counts = _numbers(bucket_limits), _numbers(bucket_counts)
    if len(limits) != len(counts):  # torch's own check, its message
        raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
    edges, counts = legacy_buckets(min, max, limits, counts)
    return Histogram.from_counts(edges, counts, min=min, max=max, sum=sum,
                                 sum_squares=sum_squares)


def torch_images(tensor: Any, dataformats: str) -> list[Image]:
    """The images of an `add_image` / `add_images` call, one per N (none: one image),
    with torch's pixel rule.

    >>> [im.channels for im in torch_images(np.zeros((2, 3, 4, 5)), "NCHW")]
    [3, 3]
    >>> torch_images(np.zeros((4, 5)), "CHW")
    Traceback (most recent call last):
    ...
    ValueError: dataformats='CHW' does not fit an array of shape (4, 5): give one letter per axis (e.g. 'HW')
    """
    a = _array(tensor)
    fmt = _dataformats(dataformats, a.shape)
    order = [fmt.index(x) for x in "NHWC" if x in fmt]
    a = a.transpose(order)
    if "C" not in fmt:
        a = a[..., None]
    if "N" not in fmt:
        a = a[None]
    if a.shape[-1] not in CHANNELS:
        raise ValueError(f"an image with {a.shape[-1]} channels (dataformats="
                         f"{dataformats!r}, shape {np.shape(tensor)}): use 1, 3 or 4")
    if not len(a):
        raise ValueError("no images to log: the batch is empty")
    if a.dtype != np.uint8:  # torch: scale by 255, clip, truncate
        a = np.nan_to_num(a.astype(np.float32) * np.float32(255), nan=0.0)
        a = a.clip(0, 255).astype(np.uint8)
    return [Image(x, layout="HWC") for x in a]


def tf_images(value: Any) -> list[Image]:
    """The images of one clu `write_images` value: [N, H, W, C] or [H, W, C] (or H x W
    grey), uint8 as it is, floats as `tf.summary.image` converts them.

    >>> [im.height for im in tf_images(np.zeros((2, 4, 5, 3), np.uint8))]
    [4, 4]
    """
    a = _array(value)
    if a.ndim == 2:
        a = a[None, :, :, None]
    elif a.ndim == 3:
        a = a[None]
    elif a.ndim != 4:
        raise ValueError(f"images of shape {a.shape}: write [N, H, W, C] or [H, W, C]")
    if a.shape[-1] not in CHANNELS:
        raise ValueError(f"images of shape {a.shape} have {a.shape[-1]} channels: the last "
                         "axis must be 1, 3 or 4 (NHWC)")
    if not len(a):
        raise ValueError("no images to write: the batch is empty")
    if a.dtype.kind == "f":  # tf.image.convert_image_dtype(saturate=True): x * 255.5, clamped
        wide = np.float64 if a.dtype == np.float64 else np.float32
        a = np.nan_to_num(a.astype(wide), nan=0.0).clip(0, 1) * wide(255.5)
        a = a.astype(np.uint8)
    elif a.dtype.kind == "b":
        a = a.astype(np.uint8) * np.uint8(255)
    return [Image(x, layout="HWC") for x in a]


def figure_images(figure: Any) -> list[Image]:
    """A matplotlib figure or a list of them as RGB images, drawn as torch's
    `add_figure` draws them (its alpha channel dropped)."""
    figures = figure if isinstance(figure, list) else [figure]
    out = []
    for fig in figures:
        rgba = Image(fig)
        pixels = np.frombuffer(rgba.data, np.uint8).reshape(rgba.height, rgba.width, 4)
        out.append(Image(pixels[:, :, :3], layout="HWC"))
    return out


def _array(value: Any) -> np.ndarray:
    """torch's make_np, leniently: tensors of any device and dtype, arrays, scalars."""
    if hasattr(value, "detach"):
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        if str(getattr(value, "dtype", "")) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
    if not isinstance(value, np.ndarray) and hasattr(value, "numpy"):
        value = value.numpy()
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"an image of {a.dtype} values: pass numbers (uint8 0-255, or "
                         "floats in [0, 1])")
    return a


def _dataformats(dataformats: Any, shape: tuple[int, ...]) -> str:
    fmt = str(dataformats).upper()
    ok = (len(set(fmt)) == len(fmt) and set(fmt) <= set("NCHW") and {"H", "W"} <= set(fmt)
          and len(fmt) == len(shape))
    if not ok:
        hint = {2: "HW", 3: "CHW' or 'HWC", 4: "NCHW' or 'NHWC"}.get(len(shape), "CHW")
        raise ValueError(f"dataformats={dataformats!r} does not fit an array of shape "
                         f"{tuple(shape)}: give one letter per axis (e.g. '{hint}')")
    return fmt


def _bools_as_numbers(values: Any) -> Any:
    if str(getattr(values, "dtype", "")) in ("bool", "torch.bool"):
        return values.float() if hasattr(values, "float") else np.asarray(values, np.float32)
    return values


def _finite(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    elif hasattr(values, "numpy") and not isinstance(values, np.ndarray):
        values = values.numpy()
    a = np.asarray(values, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def _cover(edges: np.ndarray, counts: np.ndarray,
           finite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges the user gave may leave values out (numpy drops them): a bucket more on
    each side that needs one, so every value is counted."""
    below = float(np.count_nonzero(finite < edges[0]))
    above = float(np.count_nonzero(finite > edges[-1]))
    if below:
        edges = np.concatenate([[finite.min()], edges])
        counts = np.concatenate([[below], counts])
    if above:
        edges = np.concatenate([edges, [finite.max()]])
        counts = np.concatenate([counts, [above]])
    return edges, counts


def _numbers(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    try:
        return np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot read these as numbers ({exc})") from None


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what}={value!r} must be a whole number, 1 or more")
    return int(value)
