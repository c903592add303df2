"""History reads of Store: metric points as a long DataFrame, downsampled.

Each (run, key) series is planned by downsample.py (full resolution, a roll-up
level, or a reduction of raw points) and read with the driver's cursor: the
cheapest path measured (bench/foundation.py history_read, bench/dashboard.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from trackboard.storage.gc_pause import gc_paused
from trackboard.storage.read import downsample
from trackboard.storage.read.store_base import StoreBase, query_text


class HistoryReads(StoreBase):
    """The point reads of Store (see Store for the whole API)."""

    def history(self, run_ids: str | Sequence[str], keys: Sequence[str] | None = None,
                max_points: int | None = None, *,
                step_range: tuple[int | None, int | None] | None = None,
                envelope: bool = False) -> pd.DataFrame:
        """Metric points as a long DataFrame: run_id, key, step, wall_time, value.

        With `max_points`, each (run, key) series returns at most that many points,
        chosen so every bucket's min and max survive (spikes stay visible).
        `step_range=(lo, hi)` limits the steps (inclusive; None for open ends), and
        a narrow enough range comes back at full resolution.

        With `envelope=True`, a downsampled series gives one row per bucket instead
        of its two points: columns `low` and `high` hold the bucket's min and max,
        `value` their middle, `step` the middle of the bucket's steps (so runs line
        up) and `wall_time` halfway between the two points (at most max_points // 2
        rows; a series read whole has low = high = value).
        Charts draw a line through the middles, not a zigzag through min and max.
        """
        if isinstance(run_ids, str):
            run_ids = [run_ids]
        query_text(run_ids, "run id")
        query_text(keys or (), "metric key")
        if max_points is not None and max_points < 2:
            raise ValueError("max_points must be at least 2 (each bucket keeps its min and max)")
        parts_step: list[np.ndarray] = []
        parts_wall: list[np.ndarray] = []
        parts_value: list[np.ndarray] = []
        parts_high: list[np.ndarray] = []
        labels: list[tuple[str, str, int]] = []
        with self._connect() as conn, gc_paused():
            series = self._series(conn, list(run_ids), keys)
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for uid, key, s in series:
                    p = downsample.plan(s, max_points, step_range)
                    if p is None:
                        continue
                    st, wa, va, hi = self._read_series(cur, s, p, envelope)
                    parts_step.append(st)
                    parts_wall.append(wa)
                    parts_value.append(va)
                    parts_high.append(hi)
                    labels.append((uid, key, len(st)))
            finally:
                cur.close()
        if not labels:
            empty = pd.DataFrame({"run_id": pd.Series(dtype=object),
                                  "key": pd.Series(dtype=object),
                                  "step": pd.Series(dtype=np.int64),
                                  "wall_time": pd.Series(dtype=np.float64),
                                  "value": pd.Series(dtype=np.float64)})
            return empty.assign(low=empty["value"], high=empty["value"]) if envelope else empty
        counts = [n for _, _, n in labels]
        value = np.concatenate(parts_value).astype(np.float64)
        columns = {"run_id": _label_column([u for u, _, _ in labels], counts),
                   "key": _label_column([k for _, k, _ in labels], counts),
                   "step": np.concatenate(parts_step).astype(np.int64),
                   "wall_time": np.concatenate(parts_wall).astype(np.float64),
                   "value": value}
        if envelope:
            high = np.concatenate(parts_high).astype(np.float64)
            columns |= {"value": (value + high) / 2, "low": value, "high": high}
        return pd.DataFrame(columns)

    def _series(self, conn: Connection, uids: list[str], keys: Sequence[str] | None
                ) -> list[tuple[str, str, downsample.Series]]:
        if not uids:
            return []
        sql = ("SELECT r.uid, k.name, s.run_id, s.key_id, s.count, s.first_step, s.last_step "
               "FROM metric_summaries s JOIN runs r ON r.id = s.run_id "
               "JOIN metric_keys k ON k.id = s.key_id WHERE r.uid IN :u")
        params: dict[str, Any] = {"u": uids}
        if keys is not None:
            sql += " AND k.name IN :k"
            params["k"] = list(keys) or [""]
        stmt = text(sql).bindparams(bindparam("u", expanding=True))
        if keys is not None:
            stmt = stmt.bindparams(bindparam("k", expanding=True))
        rows = conn.execute(stmt, params).all()
        order = {u: i for i, u in enumerate(uids)}
        key_order = {k: i for i, k in enumerate(keys)} if keys is not None else None
        rows.sort(key=lambda r: (order[r[0]], key_order[r[1]] if key_order else r[1]))
        return [(r[0], r[1], downsample.Series(r[2], r[3], r[4], r[5], r[6])) for r in rows]

    def _read_series(self, cur: Any, s: downsample.Series, p: downsample.Plan,
                     envelope: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(step, wall, value, high): the points, or with `envelope` one row per bucket
        with its min as value and its max as high (high is value when not enveloped)."""
        m = self._mark
        if p.how == "level":
            shift = downsample.BUCKET_SHIFTS[p.level - 1]
            cur.execute("SELECT bucket, min_step, min_wall, min_value, max_step, max_wall, "
                        f"max_value FROM point_buckets WHERE run_id = {m} AND key_id = {m} "
                        f"AND level = {m} AND bucket BETWEEN {m} AND {m} ORDER BY bucket",
                        (s.run_id, s.key_id, p.level, p.lo >> shift, p.hi >> shift))
            rows = cur.fetchall()
            if envelope:
                b = downsample.level_buckets(rows)
                return downsample.envelope(b, downsample.level_spans(b, p.level), p.lo, p.hi)
            st, wa, va = downsample.level_points(rows, p.lo, p.hi)
            return st, wa, va, va
        step, wall, value = self._layout.read(cur, s.run_id, s.key_id, p.lo, p.hi)
        if p.how == "reduce" and len(step):
            if envelope:
                b = downsample.reduce_buckets(step, wall, value, p.lo, p.hi, p.buckets)
                return downsample.envelope(
                    b, downsample.reduce_spans(b, p.lo, p.hi, p.buckets), p.lo, p.hi)
            step, wall, value = downsample.reduce_points(step, wall, value, p.lo, p.hi,
                                                         p.buckets)
        return step, wall, value, value


def _label_column(labels: list[str], counts: list[int]) -> pd.Series:
    """Each label repeated for its series' points, as an object column (as in the
    empty frame): inferring pandas' string dtype would copy every repeated label
    into Arrow, a fifth of a 100k-point read."""
    return pd.Series(np.repeat(np.array(labels, dtype=object), counts), dtype=object, copy=False)
