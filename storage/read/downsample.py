"""Reading metric histories at the resolution a chart needs.

A series with few points in the requested step range is read raw. A larger one
is read raw and reduced in numpy to max_points/2 buckets, each giving its min
and max point. A series too long to read raw is served from the stored roll-up
level with the most buckets that still fit, so the cost of a read grows with
the points returned, not with the length of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from trackboard.storage.db import rollup
from trackboard.storage.db.rollup import Buckets
from trackboard.storage.db.schema import BUCKET_SHIFTS

# Read raw and reduce in numpy while the range holds at most this many points per
# point returned; beyond, the roll-ups are cheaper than reading everything.
RAW_FACTOR = 25


@dataclass
class Series:
    run_id: int
    key_id: int
    count: int
    first_step: int
    last_step: int


@dataclass
class Plan:
    """How to read one series: 'raw', 'reduce' (raw + numpy) or 'level' (roll-ups)."""

    how: str
    lo: int
    hi: int
    level: int = 0
    buckets: int = 0


def plan(series: Series, max_points: int | None,
         step_range: tuple[int | None, int | None] | None = None) -> Plan | None:
    """Decide how to read a series; None when the range holds no steps of it."""
    lo, hi = series.first_step, series.last_step
    if step_range is not None:
        if step_range[0] is not None:
            lo = max(lo, int(step_range[0]))
        if step_range[1] is not None:
            hi = min(hi, int(step_range[1]))
    if lo > hi:
        return None
    if max_points is None:
        return Plan("raw", lo, hi)
    span = series.last_step - series.first_step + 1
    estimate = series.count if (lo, hi) == (series.first_step, series.last_step) else int(
        series.count * (hi - lo + 1) / span) + 1
    if estimate <= max_points:
        return Plan("raw", lo, hi)
    half = max(1, max_points // 2)
    if estimate <= RAW_FACTOR * max_points:
        return Plan("reduce", lo, hi, buckets=half)
    for level, shift in enumerate(BUCKET_SHIFTS, start=1):
        if (hi >> shift) - (lo >> shift) + 1 <= half:
            return Plan("level", lo, hi, level=level)
    return Plan("level", lo, hi, level=len(BUCKET_SHIFTS))


def reduce_points(step: np.ndarray, wall: np.ndarray, value: np.ndarray, lo: int, hi: int,
                  buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max downsampling of raw points (sorted by step) into `buckets` equal step ranges."""
    if len(step) == 0:
        return step, wall, value
    _, s, w, v = rollup.as_points(reduce_buckets(step, wall, value, lo, hi, buckets))
    return s, w, v


def reduce_buckets(step: np.ndarray, wall: np.ndarray, value: np.ndarray, lo: int, hi: int,
                   buckets: int) -> Buckets:
    """Raw points (sorted by step) grouped into `buckets` equal step ranges of [lo, hi]."""
    width = hi - lo + 1
    bucket = ((step - lo) * buckets) // width
    return rollup.aggregate(Buckets.of_points(np.zeros(len(step), np.int64), step, wall,
                                              value), bucket)


def level_points(rows: list[tuple[Any, ...]], lo: int, hi: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of stored roll-up rows (bucket, min_step, min_wall, min_value, max_step,
    max_wall, max_value), kept inside [lo, hi]."""
    if not rows:
        e = np.empty(0)
        return e.astype(np.int64), e, e
    _, s, w, v = rollup.as_points(level_buckets(rows))
    keep = (s >= lo) & (s <= hi)
    return s[keep], w[keep], v[keep]


def level_buckets(rows: list[tuple[Any, ...]]) -> Buckets:
    """Buckets of stored roll-up rows (bucket, min_step, min_wall, min_value, max_step,
    max_wall, max_value)."""
    arr = np.array(rows, dtype=np.float64).reshape(-1, 7)
    n = len(arr)
    return Buckets(np.zeros(n, np.int64), arr[:, 0].astype(np.int64), np.zeros(n, np.int64),
                   arr[:, 1].astype(np.int64), arr[:, 2], arr[:, 3],
                   arr[:, 4].astype(np.int64), arr[:, 5], arr[:, 6])


def reduce_spans(b: Buckets, lo: int, hi: int, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last step of each bucket of reduce_buckets (equal ranges of [lo, hi]).

    >>> b = reduce_buckets(np.arange(10), np.zeros(10), np.ones(10), 0, 9, 3)
    >>> [a.tolist() for a in reduce_spans(b, 0, 9, 3)]
    [[0, 4, 7], [3, 6, 9]]
    """
    width = hi - lo + 1
    k = b.bucket
    return lo - (-k * width // buckets), lo - (-(k + 1) * width // buckets) - 1


def level_spans(b: Buckets, level: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last step of each stored roll-up bucket of `level`.

    >>> b = level_buckets([(2, 130, 0., 1., 140, 0., 2.)])
    >>> [a.tolist() for a in level_spans(b, 1)]
    [[128], [191]]
    """
    shift = BUCKET_SHIFTS[level - 1]
    start = b.bucket << shift
    return start, start + (1 << shift) - 1


def envelope(b: Buckets, spans: tuple[np.ndarray, np.ndarray], lo: int, hi: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One point per bucket: (step, wall, low, high). The step is the middle of the
    bucket's steps inside [lo, hi], so runs of the same length line up (a group's
    mean does not jump where one run's last point ends earlier); the wall time is
    halfway between the min and max points; low and high are their values.

    >>> b = Buckets(*[np.array(v) for v in ([0, 0], [0, 1], [4, 4], [2, 9], [2., 9.],
    ...             [-1., 5.], [0, 8], [0., 8.], [3., 6.])])
    >>> [a.tolist() for a in envelope(b, (np.array([0, 5]), np.array([4, 9])), 0, 8)]
    [[2, 6], [1.0, 8.5], [-1.0, 5.0], [3.0, 6.0]]
    """
    start, end = spans
    step = (np.maximum(start, lo) + np.minimum(end, hi)) // 2
    return step, (b.min_wall + b.max_wall) / 2, b.min_value, b.max_value
