"""Turning what users log into what the store holds (pure helpers, no I/O).

Tensors of torch, JAX and TensorFlow are recognised by duck typing, so this
module never imports a framework.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np

MAX_KEY_LENGTH = 250
MAX_STEP = 2**53 - 1  # steps travel through float64 in places; beyond this they'd round


def check_key(key: Any) -> str:
    """A metric, param or tag name: a non-empty string of at most 250 characters.

    >>> check_key("val/acc")
    'val/acc'
    >>> check_key("")
    Traceback (most recent call last):
    ...
    ValueError: empty key: name every metric, param and tag with a non-empty string
    """
    if not isinstance(key, str):
        raise ValueError(f"key {key!r} is a {type(key).__name__}; keys must be strings "
                         "such as 'loss' or 'val/acc'")
    if not key or key.isspace():
        raise ValueError("empty key: name every metric, param and tag with a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key {key[:40]!r}... is {len(key)} characters long; use at most "
                         f"{MAX_KEY_LENGTH}")
    if any(ord(c) < 32 for c in key):
        raise ValueError(f"key {key!r} contains control characters; remove them")
    return check_text(key, "key")


def check_text(text: str, what: str) -> str:
    """Text the store can hold on every backend: encodable as UTF-8 (no lone
    surrogates such as "\\ud800", which both databases refuse) and free of NUL
    characters (PostgreSQL refuses them; SQLite would store them).

    >>> check_text("ok", "notes")
    'ok'
    >>> check_text("a\\x00b", "notes")
    Traceback (most recent call last):
    ...
    ValueError: notes 'a\\x00b' contains a NUL character ('\\x00'); remove it, e.g. text.replace('\\x00', '')
    """
    if "\x00" in text:
        raise ValueError(f"{what} {_short(text)} contains a NUL character ('\\x00'); remove "
                         "it, e.g. text.replace('\\x00', '')")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} {_short(text)} cannot be stored as UTF-8 ({exc.reason} at "
                         f"position {exc.start}); decode bytes with errors='replace' or "
                         "remove the lone surrogate") from None
    return text


def check_step(step: Any) -> int:
    """A step: a non-negative integer (numpy integers and integral tensors too)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        if hasattr(step, "item") and getattr(step, "ndim", 1) == 0:
            return check_step(step.item())
        raise ValueError(f"step {step!r} is not an integer; pass a whole number such as "
                         "step=12, or leave it out to count up from the last step")
    step = int(step)
    if step < 0:
        raise ValueError(f"step {step} is negative; steps start at 0")
    if step > MAX_STEP:
        raise ValueError(f"step {step} is too large; steps must be below 2**53")
    return step


def check_wall_time(wall_time: Any) -> float:
    """A wall time: seconds since the Unix epoch as a finite float (time.time() style).

    >>> check_wall_time(1700000000)
    1700000000.0
    >>> check_wall_time("now")
    Traceback (most recent call last):
    ...
    ValueError: wall_time 'now' is not a number; pass seconds since the epoch, e.g. time.time()
    """
    if isinstance(wall_time, (bool, np.bool_)) or not isinstance(wall_time, numbers.Real):
        raise ValueError(f"wall_time {wall_time!r} is not a number; pass seconds since the "
                         "epoch, e.g. time.time()")
    wall = float(wall_time)
    if not math.isfinite(wall) or wall < 0:
        raise ValueError(f"wall_time {wall_time!r} must be a finite, non-negative number of "
                         "seconds since the epoch, e.g. time.time()")
    return wall


def to_float(key: str, value: Any) -> float:
    """A metric value as float64: ints, floats, numpy scalars, one-element arrays and
    tensors (torch, JAX, TensorFlow); bools and text are rejected.

    >>> to_float("loss", np.float32(0.5))
    0.5
    >>> to_float("ok", True)
    Traceback (most recent call last):
    ...
    ValueError: metric 'ok' is a bool; log 1.0/0.0 or a count instead (float(True) would hide a bug)
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"metric {key!r} is a bool; log 1.0/0.0 or a count instead "
                         "(float(True) would hide a bug)")
    if isinstance(value, (float, int, np.floating, np.integer)):
        return float(value)
    if isinstance(value, numbers.Real):  # Decimal is not Real; Fraction is
        return float(value)
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return _tensor_to_float(key, value)
    raise ValueError(f"metric {key!r} has a {type(value).__name__} value {_short(value)}; "
                     "log a number (int, float, numpy scalar or one-element tensor)")


def _tensor_to_float(key: str, value: Any) -> float:
    shape = tuple(value.shape)
    size = math.prod(int(d) for d in shape) if shape else 1
    if size != 1:
        raise ValueError(f"metric {key!r} is a tensor of shape {shape}; log one number, "
                         "e.g. loss.mean().item() or a per-element key")
    dtype = str(value.dtype)
    if "bool" in dtype:
        raise ValueError(f"metric {key!r} is a boolean tensor; log 1.0/0.0 instead")
    if "complex" in dtype:
        raise ValueError(f"metric {key!r} is complex; log its real part or magnitude")
    if hasattr(value, "detach"):     # torch: leave the graph, move to host
        value = value.detach()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        try:                          # TensorFlow eager tensors (and torch CPU tensors)
            value = value.numpy()
        except Exception:             # torch on GPU: .item() below copies to host
            pass
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metric {key!r}: cannot convert {type(value).__name__} to a "
                         f"number ({exc})") from None


def flatten(d: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts flattened to dotted keys.

    >>> flatten({"opt": {"lr": 0.1, "betas": [0.9, 0.99]}, "seed": 3})
    {'opt.lr': 0.1, 'opt.betas': [0.9, 0.99], 'seed': 3}
    """
    out: dict[str, Any] = {}
    for k, v in d.items():
        if not isinstance(k, str):
            k = str(k)
        name = f"{prefix}{sep}{k}" if prefix else k
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, name, sep))
        else:
            out[name] = v
    return out


def param_value(value: Any, *, strict: bool = True) -> Any:
    """A config value as plain JSON data; with strict=False unknown objects become repr().

    >>> param_value((1, np.int64(2)))
    [1, 2]
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Enum):
        return param_value(value.value, strict=strict)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [param_value(v, strict=strict) for v in value]
    if isinstance(value, Mapping):
        return {str(k): param_value(v, strict=strict) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.size <= 1000:
        return value.tolist()
    if hasattr(value, "shape") and hasattr(value, "tolist") and getattr(value, "ndim", 1) == 0:
        return value.tolist()
    if strict:
        raise ValueError(f"config value {_short(value)} ({type(value).__name__}) cannot be "
                         "stored; pass numbers, strings, bools, None, lists or dicts of "
                         "those (e.g. str(value))")
    return repr(value)


def param_json(value: Any, *, strict: bool = True) -> str:
    """JSON text for the params table (NaN and infinities allowed, as Python writes them)."""
    return json.dumps(param_value(value, strict=strict), ensure_ascii=False)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
