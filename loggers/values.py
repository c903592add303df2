"""Metric values: turning what users log into what the store holds (pure helpers,
no I/O). Hyperparameter values are in param_values.py, the store's rules for
names, text and steps in trackboard.storage.rules.

Tensors of torch, JAX and TensorFlow are recognised by duck typing, so this
module never imports a framework.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from trackboard.loggers.param_values import _magnitude

__all__ = ["check_wall_time", "to_float"]


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
    try:
        wall = float(wall_time)
    except OverflowError:
        wall = math.inf
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
    try:
        if isinstance(value, (float, int, np.floating, np.integer)):
            return float(value)
        if isinstance(value, numbers.Real):  # Decimal is not Real; Fraction is
            return float(value)
    except OverflowError:
        raise ValueError(f"metric {key!r} is {_magnitude(int(value))}, beyond float64's range "
                         "(about 1.8e308); log a smaller number, e.g. its logarithm") from None
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



def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
