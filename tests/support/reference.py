"""Brute-force reference for roll-ups and summaries, computed from the points table."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from trackboard.storage.db.schema import BUCKET_SHIFTS


def _nan(v: Any) -> float:
    return math.nan if v is None else float(v)


def _agg(points: list[tuple[int, float, float]]) -> dict[str, Any]:
    """count, min/max (NaN ignored, earliest step on ties) of (step, wall, value) by step."""
    finite = [p for p in points if not math.isnan(p[2])]
    if finite:
        lo = min(finite, key=lambda p: (p[2], p[0]))
        hi = min(finite, key=lambda p: (-p[2], p[0]))
    else:
        lo = hi = points[0]
    return {"count": len(points), "min_step": lo[0], "min_value": _nan(lo[2]) if finite else math.nan,
            "max_step": hi[0], "max_value": _nan(hi[2]) if finite else math.nan}


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def stored_points(conn: Any) -> list[tuple[int, int, int, float, Any]]:
    """Every stored point as (run id, key id, step, wall time, value), by series and
    step, read through the `points` view (chunks and head alike)."""
    return conn.execute(text(
        "SELECT r.id, k.id, p.step, p.wall_time, p.value FROM points p "
        "JOIN runs r ON r.uid = p.run_id JOIN metric_keys k ON k.name = p.key "
        "ORDER BY r.id, k.id, p.step")).all()


def check_rollups(engine: Engine) -> int:
    """Assert every bucket and summary equals a recomputation from the points; returns
    the number of series checked."""
    with engine.connect() as conn:
        pts = stored_points(conn)
        buckets = conn.execute(text("SELECT run_id, key_id, level, bucket, count, min_step, "
                                    "min_value, max_step, max_value FROM point_buckets")).all()
        summaries = conn.execute(text("SELECT run_id, key_id, count, first_step, last_step, "
                                      "last_value, min_step, min_value, max_step, max_value "
                                      "FROM metric_summaries")).all()
    series: dict[tuple[int, int], list[tuple[int, float, float]]] = {}
    for r, k, s, w, v in pts:
        series.setdefault((r, k), []).append((s, w, _nan(v)))
    expected_buckets = {}
    for sk, points in series.items():
        for level, shift in enumerate(BUCKET_SHIFTS, start=1):
            groups: dict[int, list] = {}
            for p in points:
                groups.setdefault(p[0] >> shift, []).append(p)
            for b, members in groups.items():
                expected_buckets[(*sk, level, b)] = _agg(members)
    got_buckets = {(r, k, lv, b): {"count": c, "min_step": ms, "min_value": _nan(mv),
                                   "max_step": xs, "max_value": _nan(xv)}
                   for r, k, lv, b, c, ms, mv, xs, xv in buckets}
    assert set(got_buckets) == set(expected_buckets), "bucket keys differ"
    for key, exp in expected_buckets.items():
        got = got_buckets[key]
        assert got["count"] == exp["count"], (key, got, exp)
        for f in ("min_value", "max_value"):
            assert _same(got[f], exp[f]), (key, f, got, exp)
        for f in ("min_step", "max_step"):
            assert got[f] == exp[f], (key, f, got, exp)
    got_summary = {(r, k): row for r, k, *row in summaries}
    assert set(got_summary) == set(series)
    for sk, points in series.items():
        count, first, last, last_value, min_step, min_value, max_step, max_value = got_summary[sk]
        exp = _agg(points)
        assert count == len(points) and first == points[0][0] and last == points[-1][0]
        assert _same(_nan(last_value), points[-1][2])
        assert _same(_nan(min_value), exp["min_value"]) and _same(_nan(max_value), exp["max_value"])
        assert (min_step, max_step) == (exp["min_step"], exp["max_step"]), (sk, exp)
    return len(series)
