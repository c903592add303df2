"""The image codec: raw pixels to the bytes the store keeps, and back.

Encoding happens on the writer's side (the ingest of a batch), never in the training
loop. Colour images (RGB, RGBA) become lossless WebP at its fastest setting, grey ones
PNG: measured on 256 x 256 images (bench/media.py), lossless WebP at method 0 was both
smaller and 3-5x faster than PNG at zlib level 1 on photos, noise and gradients, and
within 5% of PNG's size on plots; for grey images PNG keeps one byte a pixel where
WebP would store three. `exact=True` keeps the colour under fully transparent pixels,
so what decodes is what was logged, pixel for pixel. WebP cannot hold a side over
16,383 pixels: such images are PNG too.

Files that arrive encoded (`Image.from_encoded`, the TensorBoard importer) are kept as
they are: PNG, JPEG, WebP or GIF, recognised by their first bytes. Pillow is imported
on first use only, so a training process that logs no image never loads it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

WEBP_MAX_SIDE = 16383
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"),
               (b"GIF87a", "gif"), (b"GIF89a", "gif"))
MIME_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg",
              "gif": "image/gif"}


def sniff_format(data: bytes) -> str | None:
    """The format of an encoded image file from its first bytes, or None.

    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff_format(b"RIFF\\x00\\x00\\x00\\x00WEBPVP8L")
    ('png', 'webp')
    >>> sniff_format(b"hello") is None
    True
    """
    head = bytes(data[:16])
    for signature, fmt in _SIGNATURES:
        if head.startswith(signature):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def encode_pixels(pixels: np.ndarray) -> tuple[str, bytes]:
    """(format, bytes) of a height x width x channels uint8 array, losslessly."""
    from PIL import Image  # noqa: PLC0415 - only processes that store images pay for it

    height, width, channels = pixels.shape
    # Pillow infers L, RGB or RGBA from the shape of a uint8 array.
    image = Image.fromarray(np.ascontiguousarray(pixels).reshape(
        (height, width) if channels == 1 else pixels.shape))
    out = io.BytesIO()
    if channels > 1 and max(height, width) <= WEBP_MAX_SIDE:
        image.save(out, "WEBP", lossless=True, quality=0, method=0, exact=True)
        return "webp", out.getvalue()
    image.save(out, "PNG", compress_level=1)
    return "png", out.getvalue()


def encoded_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, channels) of an encoded file, read from its header by Pillow
    (ValueError when Pillow cannot read it)."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(io.BytesIO(data)) as image:
            bands = len(image.getbands())
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not an image file Pillow can read ({exc})") from None
    return width, height, {1: 1, 2: 4, 3: 3, 4: 4}.get(bands, 3)


def decode_image(data: bytes, channels: int | None = None) -> np.ndarray:
    """The pixels of stored image bytes as a height x width x channels uint8 array
    (`channels` as stored: 1, 3 or 4; None keeps what the file holds).

    >>> px = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    >>> fmt, data = encode_pixels(px)
    >>> bool((decode_image(data, 3) == px).all())
    True
    """
    from PIL import Image  # noqa: PLC0415

    with Image.open(io.BytesIO(bytes(data))) as image:
        mode: Any = _MODES.get(channels or 0)
        if mode is None:
            mode = image.mode if image.mode in ("L", "RGB", "RGBA") else (
                "RGBA" if "A" in image.getbands() else "RGB")
        pixels = np.asarray(image.convert(mode))
    return pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
