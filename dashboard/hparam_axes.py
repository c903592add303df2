"""Axes of the hyperparameter view (pure): which params read on a log scale, and one
parallel-coordinates axis per param, with its ticks, for any mix of numbers, text
and missing values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from trackboard.dashboard.number_format import readable
from trackboard.dashboard.tables import shown

# Positive values whose max / min reaches this span two decades: a log axis reads them.
LOG_RATIO = 100.0
MISSING = "(missing)"
# Numeric axes with at most this many distinct values get one tick per value.
MAX_VALUE_TICKS = 8


@dataclass(frozen=True)
class Axis:
    """One axis: a position per run (log10 of the value on a log axis, a category's
    index for text) and what each run has there as people read it, the ticks to
    label, and the span [low, high] it draws."""

    title: str
    values: list[float]
    texts: list[str]
    tickvals: list[float]
    ticktext: list[str]
    low: float
    high: float

    def unit(self, value: float) -> float:
        """`value` (on this axis's scale) as a height from 0 (low) to 1 (high)."""
        return (value - self.low) / ((self.high - self.low) or 1.0)


def numbers(values: Sequence[object]) -> np.ndarray | None:
    """Float array (NaN for missing) when every present value is a number, else None.

    >>> numbers([1, None, 2.5]).tolist(), numbers([1, "adam"]), numbers([True])
    ([1.0, nan, 2.5], None, None)
    """
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        out[i] = float(v)
    return out


def wants_log(values: Sequence[object]) -> bool:
    """Whether numeric values span decades (all positive, max / min >= LOG_RATIO).

    >>> wants_log([1e-4, 1e-3, 1e-2]), wants_log([0.01, 0.02]), wants_log([0, 1, 1000])
    (True, False, False)
    """
    nums = numbers(values)
    if nums is None:
        return False
    nums = nums[np.isfinite(nums)]
    return bool(len(nums) and (nums > 0).all() and nums.max() / nums.min() >= LOG_RATIO)


def axis(name: str, values: Sequence[object], log_ok: bool = True) -> Axis:
    """The axis of one param (or, with `log_ok=False`, the metric): numbers on a
    linear or log10 scale, anything else as sorted categories; a missing value sits
    on its own "(missing)" tick: below the numbers, after the categories.

    >>> a = axis("opt", ["sgd", None, "adam"])
    >>> a.values, a.ticktext
    ([1, 2, 0], ['adam', 'sgd', '(missing)'])
    >>> axis("lr", [1e-4, 1e-2]).title, axis("lr", [1e-4, 1e-2]).values
    ('lr (log)', [-4.0, -2.0])
    """
    nums = numbers(values)
    if nums is None:
        texts = [shown(v) or MISSING for v in values]
        cats = sorted(set(texts) - {MISSING}) + ([MISSING] if MISSING in texts else [])
        code = {c: i for i, c in enumerate(cats)}
        return Axis(name, [code[t] for t in texts], texts, list(range(len(cats))), cats,
                    -0.5, len(cats) - 0.5)
    log = log_ok and wants_log(values)
    present = np.isfinite(nums)
    shown_as = [readable(v) if p else MISSING for v, p in zip(values, present)]
    if not present.any():
        return Axis(name, [0.0] * len(nums), shown_as, [0.0], [MISSING], -0.5, 0.5)
    scaled = np.where(present, np.log10(np.where(present & (nums > 0), nums, 1.0)) if log
                      else nums, np.nan)
    lo, hi = float(np.nanmin(scaled)), float(np.nanmax(scaled))
    span = (hi - lo) or 1.0
    distinct = np.unique(scaled[present])
    if len(distinct) <= MAX_VALUE_TICKS:
        ticks = distinct.tolist()
    elif log:
        ticks = [float(d) for d in range(math.floor(lo), math.ceil(hi) + 1) if lo <= d <= hi]
    else:
        ticks = np.linspace(lo, hi, 5).tolist()
    texts = [readable(10 ** t if log else t) for t in ticks]
    low, high = lo - 0.05 * span, hi + 0.05 * span
    if not present.all():
        gap = lo - 0.15 * span
        scaled = np.where(present, scaled, gap)
        ticks, texts, low = [gap, *ticks], [MISSING, *texts], gap - 0.05 * span
    return Axis(f"{name} (log)" if log else name, scaled.tolist(), shown_as, ticks, texts,
                low, high)
