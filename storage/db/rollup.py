"""Min/max roll-ups of metric series, in numpy (pure functions, no I/O).

A bucket keeps the count of points and the two points that matter for drawing:
the one with the smallest and the one with the largest value (NaN ignored, as
numpy's fmin/fmax do). Drawing both keeps every spike visible however far the
chart is zoomed out. The writer builds buckets at several resolutions; the
history reader downsamples raw points with the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Buckets:
    """Column arrays, one element per bucket, sorted by (series, bucket)."""

    series: np.ndarray
    bucket: np.ndarray
    count: np.ndarray
    min_step: np.ndarray
    min_wall: np.ndarray
    min_value: np.ndarray
    max_step: np.ndarray
    max_wall: np.ndarray
    max_value: np.ndarray

    def __len__(self) -> int:
        return len(self.series)

    def take(self, index: np.ndarray) -> Buckets:
        return Buckets(*(getattr(self, f)[index] for f in _FIELDS))

    @staticmethod
    def concat(parts: list[Buckets]) -> Buckets:
        return Buckets(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    @staticmethod
    def of_points(series: np.ndarray, step: np.ndarray, wall: np.ndarray,
                  value: np.ndarray) -> Buckets:
        """Each point as a bucket of one (bucket id = step), for aggregate()."""
        return Buckets(series, step, np.ones(len(series), np.int64), step, wall, value,
                       step, wall, value)


_FIELDS = ("series", "bucket", "count", "min_step", "min_wall", "min_value",
           "max_step", "max_wall", "max_value")


def _first_per_segment(mask: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Index of the first True of `mask` within each segment (each has one)."""
    idx = np.flatnonzero(mask)
    seg_of = seg[idx]
    keep = np.empty(len(idx), bool)
    keep[:1] = True
    np.not_equal(seg_of[1:], seg_of[:-1], out=keep[1:])
    return idx[keep]


def aggregate(rows: Buckets, bucket: np.ndarray) -> Buckets:
    """Group `rows` (sorted by series, then step) into coarser buckets.

    `bucket` gives each row's new bucket id and must be non-decreasing within a
    series. Counts add up; each group keeps its min and max point.

    >>> pts = Buckets.of_points(np.zeros(4, np.int64), np.arange(4), np.zeros(4),
    ...                         np.array([3.0, 9.0, -1.0, float("nan")]))
    >>> b = aggregate(pts, np.array([0, 0, 1, 1]))
    >>> b.count.tolist(), b.min_value.tolist(), b.max_step.tolist()
    ([2, 2], [3.0, -1.0], [1, 2])
    """
    n = len(rows)
    if n == 0:
        return rows
    change = np.empty(n, bool)
    change[0] = True
    np.logical_or(rows.series[1:] != rows.series[:-1], bucket[1:] != bucket[:-1],
                  out=change[1:])
    starts = np.flatnonzero(change)
    seg = np.cumsum(change) - 1
    count = np.add.reduceat(rows.count, starts)
    with np.errstate(invalid="ignore"):
        seg_min = np.fmin.reduceat(rows.min_value, starts)
        seg_max = np.fmax.reduceat(rows.max_value, starts)
        at_min = (rows.min_value == seg_min[seg]) | np.isnan(seg_min)[seg]
        at_max = (rows.max_value == seg_max[seg]) | np.isnan(seg_max)[seg]
    imin = _first_per_segment(at_min, seg)
    imax = _first_per_segment(at_max, seg)
    return Buckets(rows.series[starts], bucket[starts], count,
                   rows.min_step[imin], rows.min_wall[imin], rows.min_value[imin],
                   rows.max_step[imax], rows.max_wall[imax], rows.max_value[imax])


def as_points(b: Buckets) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The min and max point of each bucket as (series, step, wall, value), by step.

    A bucket whose min and max are the same point yields it once.
    """
    distinct = b.min_step != b.max_step
    series = np.concatenate([b.series, b.series[distinct]])
    step = np.concatenate([b.min_step, b.max_step[distinct]])
    wall = np.concatenate([b.min_wall, b.max_wall[distinct]])
    value = np.concatenate([b.min_value, b.max_value[distinct]])
    order = np.lexsort((step, series))
    return series[order], step[order], wall[order], value[order]
