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
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if not len(counts) or not total > 0:
        return np.full(len(BASIS_POINTS), np.nan)
    if lo is None or hi is None:  # not known (Histogram.from_counts): the filled buckets' span
        filled = np.flatnonzero(counts)
        lo = float(edges[filled[0]]) if lo is None else lo
        hi = float(edges[filled[-1] + 1]) if hi is None else hi
    cum = np.cumsum(counts) * (BASIS_POINTS[-1] / total)
    out = np.empty(len(BASIS_POINTS))
    for j, bp in enumerate(BASIS_POINTS):
        i = int(np.searchsorted(cum, bp, side="right"))
        while i < len(cum):
            prev = cum[i - 1] if i > 0 else 0.0
            if cum[i] != prev:
                break
            i += 1
        if i >= len(cum):
            out[j] = hi
            continue
        prev = cum[i - 1] if i > 0 else 0.0
        left = lo if (i == 0 or prev == 0.0) else max(edges[i], lo)
        right = min(edges[i + 1], hi)
        out[j] = left + (bp - prev) * (right - left) / (cum[i] - prev)  # TensorBoard's _lerp
    return out
