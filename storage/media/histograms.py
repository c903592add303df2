"""Histogram arithmetic shared by every path: the bucket edges `Histogram` uses (and the
store recognises, to keep them as three numbers), and TensorBoard's percentile bands
(the Distributions view). Pure numpy.
"""

from __future__ import annotations

import numpy as np

# TensorBoard's compression points, in basis points (1/100 of a percent): the bands of
# a normal distribution at -inf, -1.5, -1, -0.5, 0, 0.5, 1, 1.5 and +inf sigma
# (tensorboard/plugins/distribution/compressor.py, NORMAL_HISTOGRAM_BPS).
BASIS_POINTS: tuple[int, ...] = (0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000)
BAND_COLUMNS: tuple[str, ...] = tuple(f"bp{b}" for b in BASIS_POINTS)


def uniform_edges(lo: float, hi: float, buckets: int) -> np.ndarray:
    """`buckets + 1` evenly spaced float64 edges from `lo` to `hi`, both exact; the same
    numbers on every machine (plain IEEE arithmetic), so the store can keep them as
    (lo, hi, buckets). Works across the whole float64 range.

    >>> uniform_edges(0.0, 1.0, 4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> e = uniform_edges(-1.7e308, 1.7e308, 2); bool(np.isfinite(e).all())
    True
    """
    lo, hi = float(lo), float(hi)
    width = hi - lo
    if np.isfinite(width):
        edges = lo + np.arange(buckets + 1, dtype=np.float64) * (width / buckets)
    else:  # beyond float64 (e.g. -1e308 .. 1e308): the halves do not overflow
        half = hi / 2 - lo / 2
        edges = (lo / 2 + np.arange(buckets + 1, dtype=np.float64) * (half / buckets)) * 2
    edges[-1] = hi
    return edges


def value_range(lo: float, hi: float) -> tuple[float, float]:
    """The range to bucket values from `lo` to `hi`: the same, or +-0.5 around a single
    value (numpy's rule, so a constant tensor still gets a bucket of some width).

    >>> value_range(2.0, 2.0)
    (1.5, 2.5)
    """
    if lo == hi:
        return lo - 0.5, hi + 0.5
    return lo, hi


def percentile_bands(edges: np.ndarray, counts: np.ndarray, lo: float | None,
                     hi: float | None) -> np.ndarray:
    """The values at BASIS_POINTS of a histogram, interpolated linearly inside a bucket
    and clamped to the observed min and max (when they are not known, the span of the
    filled buckets): TensorBoard's compress_histogram, so the Distributions view draws
    the bands TensorBoard draws. NaN for a histogram without finite values.

    >>> percentile_bands(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0]), 0.0, 2.0).round(4).tolist()
    [0.0, 0.1336, 0.3174, 0.617, 1.0, 1.383, 1.6826, 1.8664, 2.0]
    """
    return percentile_bands_many([edges], [counts], [lo], [hi])[0]


def percentile_bands_many(edges: list[np.ndarray], counts: list[np.ndarray],
                          lo: list[float | None], hi: list[float | None]) -> np.ndarray:
    """percentile_bands of many histograms at once (one row each): histograms with the
    same number of buckets are done together in numpy, so 1,000 steps of one key cost
    a few numpy calls, not a Python loop per step and basis point."""
    out = np.full((len(counts), len(BASIS_POINTS)), np.nan)
    groups: dict[int, list[int]] = {}
    for row, c in enumerate(counts):
        if len(c):
            groups.setdefault(len(c), []).append(row)
    for rows in groups.values():
        out[rows] = _bands(np.array([edges[r] for r in rows], np.float64),
                           np.array([counts[r] for r in rows], np.float64),
                           [lo[r] for r in rows], [hi[r] for r in rows])
    return out


def _bands(edges: np.ndarray, counts: np.ndarray, lo_in: list[float | None],
           hi_in: list[float | None]) -> np.ndarray:
    """TensorBoard's compress_histogram_proto over rows of equal bucket count, with its
    arithmetic in its order (bucket * 10000 / total, then the running sum)."""
    m, n = counts.shape
    total = counts.sum(axis=1)
    good = total > 0
    filled = counts > 0
    first = np.argmax(filled, axis=1)
    last = n - 1 - np.argmax(filled[:, ::-1], axis=1)
    rows = np.arange(m)
    lo = np.array([np.nan if v is None else v for v in lo_in], np.float64)
    hi = np.array([np.nan if v is None else v for v in hi_in], np.float64)
    lo = np.where(np.isnan(lo), edges[rows, first], lo)  # not known: the filled span
    hi = np.where(np.isnan(hi), edges[rows, last + 1], hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        cum = np.cumsum(counts * BASIS_POINTS[-1] / np.where(good, total, 1.0)[:, None], axis=1)
        bps = np.array(BASIS_POINTS, np.float64)
        # The first bucket whose running sum passes the basis point (searchsorted's
        # "right"): its sum is above the one before it, so it is never an empty bucket.
        i = (cum[:, :, None] <= bps[None, None, :]).sum(axis=1)  # m x len(bps)
        inside = i < n
        ic = np.minimum(i, n - 1)
        at = cum[rows[:, None], ic]
        prev = np.where(i > 0, cum[rows[:, None], np.maximum(i - 1, 0)], 0.0)
        left = np.where((i == 0) | (prev == 0.0), lo[:, None],
                        np.maximum(edges[rows[:, None], ic], lo[:, None]))
        right = np.minimum(edges[rows[:, None], ic + 1], hi[:, None])
        value = left + (bps[None, :] - prev) * (right - left) / (at - prev)  # TensorBoard's _lerp
    out = np.where(inside, value, hi[:, None])
    out[~good] = np.nan
    return out
