"""Pixels of what users log as an image, on the caller's thread: one copy, no encoding.

Arrays (numpy, torch, JAX, TensorFlow; recognised by duck typing, never imported) of
shape HW, HWC or CHW with 1, 3 or 4 channels, uint8 or float in [0, 1]; PIL images;
matplotlib figures (drawn here, since the figure may change after the call). The
result is a height x width x channels uint8 buffer in row order: what the writer
encodes (storage/media/images.py) on its own thread. For a 256 x 256 x 3 uint8 array
this is one memory copy (bench/media.py: the whole log call about 10 us).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from trackboard.storage.media.limits import CHANNELS, check_image_size

LAYOUTS = ("HWC", "CHW", "HW")
# PIL modes kept as they are, and what the others become (16-bit and float modes are
# refused: which 8 bits to keep is the user's call).
_PIL_KEEP = {"L": 1, "RGB": 3, "RGBA": 4}
_PIL_CONVERT = {"1": "L", "P": "RGBA", "PA": "RGBA", "LA": "RGBA", "La": "RGBA",
                "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB",
                "HSV": "RGB"}


def pixels_of(data: Any, layout: str | None = None) -> tuple[int, int, int, bytes]:
    """(height, width, channels, uint8 pixel bytes in HWC order) of an image.

    >>> pixels_of(np.zeros((2, 3), np.uint8))[:3]
    (2, 3, 1)
    >>> pixels_of(np.full((3, 2, 2), 1.0))  # CHW, float in [0, 1]
    (2, 2, 3, b'\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff')
    """
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: use 'HWC', 'CHW' or 'HW' (or leave it out)")
    module = type(data).__module__
    if module.startswith("PIL.") and hasattr(data, "mode") and hasattr(data, "tobytes"):
        return _pil_pixels(data)
    if hasattr(data, "savefig") and hasattr(data, "canvas"):
        return _figure_pixels(data)
    torch_like = module.startswith("torch") and hasattr(data, "detach")
    return _array_pixels(_to_numpy(data), layout, chw_first=torch_like)


def _to_numpy(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "detach"):  # torch: leave the graph, come to the host
        data = data.detach()
        if hasattr(data, "cpu"):
            data = data.cpu()
    if hasattr(data, "numpy"):
        try:
            return np.asarray(data.numpy())
        except Exception:  # noqa: BLE001 - np.asarray below says what is wrong
            pass
    try:
        return np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot read a {type(data).__name__} as an image ({exc}); pass an "
                         "array or tensor (HWC, CHW or HW), a PIL image or a matplotlib "
                         "figure") from None


def _array_pixels(a: np.ndarray, layout: str | None,
                  chw_first: bool) -> tuple[int, int, int, bytes]:
    if a.ndim == 4:
        raise ValueError(f"an image of shape {a.shape} is a batch of images; log them as a "
                         "strip: [Image(x) for x in batch]")
    if a.ndim not in (2, 3):
        raise ValueError(f"an image of shape {a.shape}: pass HWC, CHW or HW (2 or 3 "
                         "dimensions)")
    if layout is None:
        layout = "HW" if a.ndim == 2 else _guess_layout(a.shape, chw_first)
    if len(layout) != a.ndim:
        raise ValueError(f"layout={layout!r} does not fit an array of shape {a.shape}")
    if layout == "HW":
        a = a[:, :, None]
    elif layout == "CHW":
        a = a.transpose(1, 2, 0)
    height, width, channels = a.shape
    check_image_size(height, width, channels)
    kind = a.dtype.kind
    if kind == "b":
        raise ValueError("a boolean image: log x.astype(np.uint8) * 255 instead")
    if kind == "f":
        lo, hi = float(a.min()), float(a.max())
        if not (0.0 <= lo and hi <= 1.0):  # NaN fails both
            raise ValueError(f"a float image must hold values in [0, 1]; this one holds "
                             f"{lo} to {hi}; divide by its maximum, or log x.astype(np.uint8) "
                             "for 0-255 values")
        a = (a * 255.0 + 0.5).astype(np.uint8)  # rounded to the nearest level
    elif kind in "iu" and a.dtype != np.uint8:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"an integer image must hold values 0 to 255; this one holds "
                             f"{lo} to {hi}; scale it to uint8 first")
        a = a.astype(np.uint8)
    elif kind != "u":
        raise ValueError(f"an image of dtype {a.dtype}: use uint8 (0-255) or float (0-1)")
    return height, width, channels, np.ascontiguousarray(a).tobytes()


def _guess_layout(shape: tuple[int, ...], chw_first: bool) -> str:
    """HWC when the last axis can be channels, else CHW; torch tensors (CHW by
    convention) are read as CHW first."""
    last, first = shape[-1] in CHANNELS, shape[0] in CHANNELS
    if chw_first and first:
        return "CHW"
    if last:
        return "HWC"
    if first:
        return "CHW"
    raise ValueError(f"an image of shape {shape} has no axis of 1, 3 or 4 channels; pass "
                     "HWC, CHW or HW, or say which with layout=")


def _pil_pixels(image: Any) -> tuple[int, int, int, bytes]:
    mode = image.mode
    if mode not in _PIL_KEEP:
        target = _PIL_CONVERT.get(mode)
        if target is None:
            raise ValueError(f"a PIL image in mode {mode!r} (16-bit or float pixels); "
                             "convert it to 8 bits first, e.g. image.convert('L')")
        if mode == "P" and "transparency" not in image.info:
            target = "RGB"
        image = image.convert(target)
        mode = target
    width, height = image.size
    channels = _PIL_KEEP[mode]
    check_image_size(height, width, channels)
    return height, width, channels, image.tobytes()


def _figure_pixels(figure: Any) -> tuple[int, int, int, bytes]:
    canvas = figure.canvas
    if not hasattr(canvas, "buffer_rgba"):  # a canvas that cannot render to pixels
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415

        canvas = FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    height, width = rgba.shape[:2]
    check_image_size(height, width, 4)
    return height, width, 4, rgba.tobytes()
