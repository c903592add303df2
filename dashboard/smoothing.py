"""Smoothing of metric series for charts (pure numpy, no Streamlit).

`ema` is TensorBoard's scalar smoothing: an exponential moving average whose
start-up bias towards zero is divided out, so the first smoothed value equals the
first raw value. `moving_average` is a centred window mean. Both skip NaN and
infinite values (they pass through unchanged) so one bad point does not poison the
rest of the line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def ema(values: np.ndarray | list[float], weight: float = 0.6) -> np.ndarray:
    """TensorBoard's debiased exponential moving average.

    weight 0 returns the values unchanged; closer to 1 smooths more.

    >>> ema([1.0, 0.0, 0.0], weight=0.5).round(4).tolist()
    [1.0, 0.3333, 0.1429]
    >>> ema([2.0, float("nan"), 2.0], weight=0.9).tolist()
    [2.0, nan, 2.0]
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight {weight} must be in [0, 1)")
    v = np.asarray(values, dtype=np.float64)
    out = v.copy()
    if weight == 0.0 or len(v) == 0:
        return out
    ok = np.isfinite(v)
    if not ok.any():
        return out
    # pandas' adjusted EWM is the same estimator: sum(w^i x_{t-i}) / sum(w^i) equals
    # TensorBoard's last / (1 - w^n), computed in C instead of a Python loop.
    smoothed = pd.Series(v[ok]).ewm(alpha=1.0 - weight, adjust=True).mean().to_numpy()
    out[ok] = smoothed
    return out


def moving_average(values: np.ndarray | list[float], window: int = 5) -> np.ndarray:
    """Centred moving average over `window` points (odd; shrinks at the ends).

    >>> moving_average([1.0, 2.0, 3.0, 4.0, 5.0], window=3).tolist()
    [1.5, 2.0, 3.0, 4.0, 4.5]
    """
    if window < 1:
        raise ValueError(f"moving-average window {window} must be at least 1")
    v = np.asarray(values, dtype=np.float64)
    if window == 1 or len(v) == 0:
        return v.copy()
    ok = np.isfinite(v)
    clean = np.where(ok, v, 0.0)
    half = window // 2
    csum = np.concatenate([[0.0], np.cumsum(clean)])
    ccnt = np.concatenate([[0], np.cumsum(ok)])
    idx = np.arange(len(v))
    lo = np.clip(idx - half, 0, len(v))
    hi = np.clip(idx + half + 1, 0, len(v))
    count = ccnt[hi] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (csum[hi] - csum[lo]) / count
    return np.where(ok, out, v)


def smooth(values: np.ndarray | list[float], method: str, weight: float = 0.6,
           window: int = 5) -> np.ndarray:
    """Dispatch on the method name shown in the UI: "ema", "moving average" or "none".

    >>> smooth([1.0, 3.0], "none").tolist()
    [1.0, 3.0]
    """
    if method == "ema":
        return ema(values, weight)
    if method in ("moving average", "ma"):
        return moving_average(values, window)
    if method == "none":
        return np.asarray(values, dtype=np.float64).copy()
    raise ValueError(f"unknown smoothing {method!r}; use 'ema', 'moving average' or 'none'")
