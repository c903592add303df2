"""Values as torch's and clu's writers take them, where Run.log is stricter.

torch's SummaryWriter turns a scalar into float(np.array(value)) and a step into
int(step); clu's writers cast to float32 / int64. So bools, numeric strings and
float steps are fine there, and a drop-in must take them too. The writers try
Run.log first (the fast, strict path) and only on its ValueError convert with
these helpers, so the common case costs nothing extra.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from trackboard.loggers.values import to_float
from trackboard.storage.rules import check_step


def lenient_step(step: Any) -> int:
    """A global_step as torch stores it: int(step), so floats are truncated and
    numeric strings parsed; negative steps are refused (the store starts at 0).

    >>> lenient_step(3.0), lenient_step("7"), lenient_step(np.int64(2)), lenient_step(True)
    (3, 7, 2, 1)
    >>> lenient_step("ten")
    Traceback (most recent call last):
    ...
    ValueError: step 'ten' is not a whole number; pass e.g. 12, or leave it out to count up
    """
    if isinstance(step, (bool, np.bool_)):
        step = int(step)
    if not isinstance(step, (int, np.integer)):
        try:
            step = int(step)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"step {step!r} is not a whole number; pass e.g. 12, or "
                             "leave it out to count up") from None
    return check_step(step)


def lenient_scalar(key: str, value: Any) -> float:
    """A scalar as torch's add_scalar takes it: bools count as 1.0 / 0.0 and numeric
    strings are parsed, where Run.log refuses both.

    >>> lenient_scalar("ok", True), lenient_scalar("lr", "0.5"), lenient_scalar("n", np.bool_(0))
    (1.0, 0.5, 0.0)
    >>> lenient_scalar("loss", "high")
    Traceback (most recent call last):
    ...
    ValueError: metric 'loss' is the text 'high'; this takes a number, a one-element tensor or a numeric string
    """
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (str, np.str_)):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"metric {key!r} is the text {value!r}; this takes a "
                             "number, a one-element tensor or a numeric string") from None
    dtype = str(getattr(value, "dtype", ""))
    if "bool" in dtype and hasattr(value, "item"):
        try:
            return float(value.item())
        except (RuntimeError, ValueError):  # more than one element: to_float says so
            pass
    return to_float(key, value)
