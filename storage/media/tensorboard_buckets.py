"""TensorBoard's legacy histogram (a `HistogramProto`, torch's `add_histogram_raw`) as
the edges and counts trackboard stores. Pure numpy; one rule for the adapters and
for importing event files.

A legacy histogram gives each bucket's *right* edge (`bucket_limit`) and count
(`bucket`), plus the `min` and `max` of the values. TensorBoard reads it this way
(tensorboard/data_compat.py, `_migrate_histogram_value`): empty buckets at both
ends are dropped, the first kept bucket starts at `min` and the last one ends at
`max` (TensorFlow's outermost limits are -DBL_MAX and DBL_MAX). `legacy_buckets`
does the same, and where that would give a bucket no width (a value exactly on an
edge, a `min` outside the first bucket) it keeps the bucket's own limit instead,
so the edges always increase.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from trackboard.storage.media.histograms import value_range


def legacy_buckets(lo: Any, hi: Any, limits: Any,
                   counts: Any) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of a legacy histogram: `limits` are the right edges of the
    buckets, `lo` and `hi` the min and max of the values (None or NaN: unknown).
    ValueError when `limits` and `counts` differ in length.

    >>> e, c = legacy_buckets(0.1, 0.9, [0.0, 0.5, 1.0], [0, 3, 2])   # torch's layout
    >>> e.tolist(), c.tolist()
    ([0.1, 0.5, 0.9], [3.0, 2.0])
    >>> e, c = legacy_buckets(2.0, 2.0, [2.5], [4])                     # one value
    >>> e.tolist(), c.tolist()
    ([1.5, 2.5], [4.0])
    """
    r = np.asarray(limits, dtype=np.float64).ravel()
    c = np.asarray(counts, dtype=np.float64).ravel()
    if len(r) != len(c):
        raise ValueError(f"{len(r)} bucket limits for {len(c)} bucket counts: give one "
                         "right edge per bucket")
    lo_f, hi_f = _known(lo), _known(hi)
    full = np.flatnonzero(c)
    if not len(full):  # nothing counted: one empty bucket over what is known
        a, b = (lo_f, hi_f) if lo_f is not None and hi_f is not None and lo_f <= hi_f \
            else ((r[0], r[-1]) if len(r) else (0.0, 0.0))
        return np.array(value_range(a, b), dtype=np.float64), np.zeros(1)
    start, end = int(full[0]), int(full[-1])
    inner = r[start:end]
    kept = c[start:end + 1]
    if not len(inner):  # one bucket holds everything
        a = lo_f if lo_f is not None else (r[start - 1] if start else r[start] - 1.0)
        b = hi_f if hi_f is not None and hi_f >= a else r[end]
        return np.array(value_range(a, b), dtype=np.float64), kept
    # TensorBoard's edges; where min or max would leave a bucket with no width (or a
    # backwards one), the bucket's own limit.
    if lo_f is not None and lo_f < inner[0]:
        left = lo_f
    elif start:
        left = r[start - 1]
    else:
        left = inner[0] - (inner[1] - inner[0] if len(inner) > 1 else 1.0)
    right = hi_f if hi_f is not None and hi_f > inner[-1] else r[end]
    return np.concatenate([[left], inner, [right]]), kept


def _known(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None
