"""What a histogram, an image and a text may be: one rule for the loggers (a clear
ValueError at the call), the importers and the ingest (which sets aside a record that
breaks them, e.g. one from a damaged spool file). Pure functions, no I/O.

The limits keep one logged value far below what a spool frame, a batch and a
database row can carry: 16 MiB of pixels per image (4096 x 4096 grey, 2364 x 2364
RGB), 10,000 buckets per histogram, 1 MiB of UTF-8 per text, 1,000 images per
key and step.
"""

from __future__ import annotations

from typing import Any

MAX_IMAGE_BYTES = 16 * 2**20  # pixels (height x width x channels, one byte each)
MAX_ENCODED_BYTES = MAX_IMAGE_BYTES  # an already encoded PNG/JPEG/WebP file
MAX_BUCKETS = 10_000
MAX_TEXT_BYTES = 2**20
MAX_IMAGES_PER_STEP = 1_000
CHANNELS = (1, 3, 4)  # grey, RGB, RGBA


def check_buckets(n: Any, what: str) -> int:
    """A bucket count: an int from 1 to 10,000.

    >>> check_buckets(64, "bins")
    64
    >>> check_buckets(20_000, "bins")
    Traceback (most recent call last):
    ...
    ValueError: bins=20000 is more than 10000 buckets; use fewer (64 is plenty for a chart)
    """
    if isinstance(n, bool) or not isinstance(n, int):
        if hasattr(n, "__index__") and not isinstance(n, bool):
            n = n.__index__()
        else:
            raise ValueError(f"{what}={n!r} must be a whole number of buckets, e.g. {what}=64")
    if n < 1:
        raise ValueError(f"{what}={n} must be at least 1")
    if n > MAX_BUCKETS:
        raise ValueError(f"{what}={n} is more than {MAX_BUCKETS} buckets; use fewer "
                         "(64 is plenty for a chart)")
    return n


def check_image_size(height: int, width: int, channels: int) -> None:
    """Raise ValueError unless an image of this shape can be stored.

    >>> check_image_size(28, 28, 1)
    >>> check_image_size(5000, 5000, 3)
    Traceback (most recent call last):
    ...
    ValueError: image of 5000 x 5000 x 3 is 75000000 bytes of pixels, over the limit of 16777216 (16 MiB); resize it, e.g. to 1024 x 1024
    """
    if channels not in CHANNELS:
        raise ValueError(f"image has {channels} channels; use 1 (grey), 3 (RGB) or 4 (RGBA)")
    if height < 1 or width < 1:
        raise ValueError(f"image of {height} x {width} pixels is empty; log an image "
                         "with at least one pixel")
    size = height * width * channels
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"image of {height} x {width} x {channels} is {size} bytes of "
                         f"pixels, over the limit of {MAX_IMAGE_BYTES} (16 MiB); resize it, "
                         "e.g. to 1024 x 1024")


def check_text_size(text: str, what: str) -> str:
    """Text of at most 1 MiB as UTF-8 (the caller checks it is storable text)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"{what} is {size} bytes of UTF-8, over the limit of "
                         f"{MAX_TEXT_BYTES} (1 MiB); log a shorter text or split it by step")
    return text
