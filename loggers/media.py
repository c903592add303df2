"""Histograms, images and texts, logged through the same call as scalars.

>>> run.log({"weights/fc1": Histogram(w, bins=64), "samples": Image(x, caption="epoch 3"),
...          "loss": 0.3, "notes": Text("lr halved")}, step=s)        # doctest: +SKIP

Each value does its checking and its cheap work when it is built, on the caller's
thread (a clear ValueError for bad input, there and then): a Histogram counts its
values into buckets (histogram_values.py; the tensor is not kept), an Image copies
its pixels once (image_values.py). Encoding, hashing and all I/O happen on the
writer's side. A list of Images under one key is that step's strip. docs/media.md
tells users the rest; storage/write/records.py holds the records these become.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np
from trackboard.loggers.histogram_values import count_values
from trackboard.loggers.image_values import pixels_of
from trackboard.storage.media.images import sniff_format
from trackboard.storage.media.limits import (
    MAX_ENCODED_BYTES,
    MAX_IMAGES_PER_STEP,
    check_buckets,
    check_text_size,
)
from trackboard.storage.rules import check_text
from trackboard.storage.write.records import HISTOGRAM, IMAGE, TEXT, Record

__all__ = ["Histogram", "Image", "Text", "media_records"]


class Histogram:
    """The distribution of values at one step: `buckets` equal buckets from the smallest
    to the largest finite value, NaN, +inf and -inf counted apart.

    `values`: a numpy array, a torch/JAX/TensorFlow tensor (torch is counted with
    torch's own ops, on its device) or a sequence of numbers, any shape.

    >>> h = Histogram([1.0, 2.0, 2.0, float("inf")], bins=2)
    >>> h.edges.tolist(), h.counts.tolist(), h.posinf_count
    ([1.0, 1.5, 2.0], [1.0, 2.0], 1)
    """

    __slots__ = ("edges", "counts", "count", "nan_count", "posinf_count", "neginf_count",
                 "min", "max", "sum", "sum_squares")

    def __init__(self, values: Any, bins: int = 64) -> None:
        c = count_values(values, check_buckets(bins, "bins"))
        self.edges: np.ndarray = c.edges
        self.counts: np.ndarray = c.counts
        self.count: float = float(c.count)
        self.nan_count, self.posinf_count, self.neginf_count = (
            c.nan_count, c.posinf_count, c.neginf_count)
        self.min: float | None = c.min
        self.max: float | None = c.max
        self.sum: float | None = c.sum
        self.sum_squares: float | None = c.sum_squares

    @classmethod
    def from_counts(cls, edges: Any, counts: Any, *, min: float | None = None,  # noqa: A002
                    max: float | None = None, sum: float | None = None,  # noqa: A002
                    sum_squares: float | None = None, nan_count: int = 0,
                    posinf_count: int = 0, neginf_count: int = 0) -> Histogram:
        """A histogram already counted: `edges` (one more than buckets, increasing) and
        `counts` (not negative; whole numbers unless they are weights), e.g. from
        TensorBoard's add_histogram_raw. What is not given is stored as unknown.

        >>> Histogram.from_counts([0, 1, 2], [3, 4]).count
        7.0
        """
        e = _floats(edges, "edges")
        c = _floats(counts, "counts")
        check_buckets(len(c), "len(counts)")
        if len(e) != len(c) + 1:
            raise ValueError(f"{len(e)} edges for {len(c)} counts: give one edge more than "
                             "counts (the left edge of the first bucket and the right edge "
                             "of every bucket)")
        if not (np.all(np.isfinite(e)) and np.all(np.diff(e) > 0)):
            raise ValueError("edges must be finite and strictly increasing")
        if not (np.all(np.isfinite(c)) and np.all(c >= 0)):
            raise ValueError("counts must be finite and not negative")
        nonfinite = [_count(v, n) for v, n in ((nan_count, "nan_count"),
                                                (posinf_count, "posinf_count"),
                                                (neginf_count, "neginf_count"))]
        self = cls.__new__(cls)
        self.edges, self.counts = e, c
        self.count = float(c.sum()) + nonfinite[0] + nonfinite[1] + nonfinite[2]
        self.nan_count, self.posinf_count, self.neginf_count = nonfinite
        self.min, self.max, self.sum, self.sum_squares = (
            _optional(v, n) for v, n in ((min, "min"), (max, "max"), (sum, "sum"),
                                         (sum_squares, "sum_squares")))
        return self

    def __repr__(self) -> str:
        return (f"Histogram({len(self.counts)} buckets, {self.count:g} values, "
                f"min={self.min}, max={self.max})")

    def record(self, uid: str, step: int, wall: float, key: str) -> Record:
        return (HISTOGRAM, uid, step, wall, key, array("d", self.edges.astype("=f8").tobytes()),
                array("d", self.counts.astype("=f8").tobytes()), self.count, self.nan_count,
                self.posinf_count, self.neginf_count, self.min, self.max, self.sum,
                self.sum_squares)


class Image:
    """One image: an HWC/CHW/HW array or tensor (uint8, or float in [0, 1]), a PIL
    image or a matplotlib figure (drawn now). `layout` ("HWC", "CHW", "HW") settles
    an ambiguous shape; by default the last axis is channels when it can be (1, 3 or
    4 long), except for torch tensors, which are CHW when the first axis can be.
    At most 16 MiB of pixels.

    >>> import numpy as np
    >>> img = Image(np.zeros((28, 28), np.uint8), caption="a blank digit")
    >>> img.height, img.width, img.channels
    (28, 28, 1)
    """

    __slots__ = ("format", "height", "width", "channels", "data", "caption")

    def __init__(self, data: Any, caption: str | None = None, *,
                 layout: str | None = None) -> None:
        self.caption = _caption(caption)
        self.height, self.width, self.channels, self.data = pixels_of(data, layout)
        self.format = "raw"

    @classmethod
    def from_encoded(cls, data: bytes, caption: str | None = None) -> Image:
        """An image file's bytes (PNG, JPEG, WebP or GIF), stored as they are.

        >>> Image.from_encoded(b"not an image")
        Traceback (most recent call last):
        ...
        ValueError: these bytes are not a PNG, JPEG, WebP or GIF file; pass the file's bytes, or the pixels to Image(...)
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"from_encoded() takes the bytes of an image file, got "
                             f"{type(data).__name__}")
        data = bytes(data)
        fmt = sniff_format(data)
        if fmt is None:
            raise ValueError("these bytes are not a PNG, JPEG, WebP or GIF file; pass the "
                             "file's bytes, or the pixels to Image(...)")
        if len(data) > MAX_ENCODED_BYTES:
            raise ValueError(f"an image file of {len(data)} bytes is over the limit of "
                             f"{MAX_ENCODED_BYTES} (16 MiB)")
        from trackboard.storage.media.images import encoded_size  # noqa: PLC0415 (Pillow)
        from trackboard.storage.media.limits import check_image_size  # noqa: PLC0415

        self = cls.__new__(cls)
        self.caption = _caption(caption)
        self.width, self.height, self.channels = encoded_size(data)
        check_image_size(self.height, self.width, self.channels)
        self.format, self.data = fmt, data
        return self

    def __repr__(self) -> str:
        return f"Image({self.height} x {self.width} x {self.channels}, caption={self.caption!r})"

    def record(self, uid: str, step: int, wall: float, key: str, index: int = 0,
               strip: int = 1) -> Record:
        return (IMAGE, uid, step, wall, key, index, strip, self.caption, self.format,
                self.width, self.height, self.channels, self.data)


class Text:
    """Text at one step (TensorBoard's add_text): every step's text is kept. At most
    1 MiB as UTF-8.

    >>> Text("lr halved").text
    'lr halved'
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ValueError(f"Text() takes a str, got {type(text).__name__}; e.g. "
                             "Text(str(value))")
        self.text = check_text_size(check_text(text, "text"), "text")

    def __repr__(self) -> str:
        return f"Text({self.text[:40]!r}{'...' if len(self.text) > 40 else ''})"


def media_records(uid: str, step: int, wall: float, key: str, value: Any) -> list[Record] | None:
    """The records of one media value logged under `key` (a Histogram, Image, Text or a
    list of Images), or None when `value` is none of these."""
    if isinstance(value, Histogram):
        return [value.record(uid, step, wall, key)]
    if isinstance(value, Image):
        return [value.record(uid, step, wall, key)]
    if isinstance(value, Text):
        return [(TEXT, uid, step, wall, key, value.text)]
    if isinstance(value, (list, tuple)) and value and any(isinstance(v, Image) for v in value):
        return _strip(uid, step, wall, key, value)
    return None


def _strip(uid: str, step: int, wall: float, key: str, images: Sequence[Any]) -> list[Record]:
    if not all(isinstance(v, Image) for v in images):
        raise ValueError(f"{key!r}: a strip holds Images only; wrap each one, e.g. "
                         "[Image(x) for x in batch]")
    if len(images) > MAX_IMAGES_PER_STEP:
        raise ValueError(f"{key!r}: {len(images)} images in one step; log at most "
                         f"{MAX_IMAGES_PER_STEP}")
    n = len(images)
    return [img.record(uid, step, wall, key, i, n) for i, img in enumerate(images)]


def _caption(caption: Any) -> str | None:
    if caption is None:
        return None
    if not isinstance(caption, str):
        raise ValueError(f"caption must be a str, got {type(caption).__name__}")
    return check_text_size(check_text(caption, "caption"), "caption")


def _floats(values: Any, what: str) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu()
    try:
        a = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: cannot read as numbers ({exc})") from None
    return a


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what}={value!r} must be a whole number, 0 or more")
    return int(value)


def _optional(value: Any, what: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}={value!r} must be a number") from None
