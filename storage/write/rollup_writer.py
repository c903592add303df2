"""The roll-up rows and series summaries that ingest writes with a batch's points.

Roll-up buckets and the per-(run, key) summary of appended points are computed in
numpy from the batch; the database folds in the one boundary bucket per level already
stored (_MERGE_BUCKET), so the writer never reads a bucket before writing. A batch that
rewrites steps already stored (resumed runs, spool replays), and a purge, recompute the
touched buckets from the stored points instead, so roll-ups stay exact whatever the
delivery order. The bucket arithmetic itself is storage/db/rollup.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from trackboard.storage.db import rollup
from trackboard.storage.db.point_chunks import PointLayout
from trackboard.storage.db.rollup import Buckets
from trackboard.storage.db.schema import BUCKET_SHIFTS
from trackboard.storage.write import pgcopy
from trackboard.storage.write.multirow import (
    MultiRowInsert,
    driver_cursor,
    replace_clause,
    write_rows,
)

SERIES_SHIFT = 32  # series id = run_id << 32 | key_id
IN_CHUNK = 500  # names per IN (...) list: well under SQLite's variable limit

_BUCKET_COLS = ("run_id", "key_id", "level", "bucket", "count", "min_step", "min_wall",
                "min_value", "max_step", "max_wall", "max_value")
_BUCKET_KEY = _BUCKET_COLS[:4]
_SUMMARY_COLS = ("run_id", "key_id", "count", "first_step", "last_step", "last_wall",
                 "last_value", "min_step", "min_value", "max_step", "max_value")
_SUMMARY_KEY = _SUMMARY_COLS[:2]


def _merge_extreme(side: str, better: str) -> str:
    """SET items folding a new bucket's min or max point into the stored one's, in SQL,
    as rollup.aggregate picks within a batch: the more extreme value wins, a value
    beats NULL (all NaN), a tie keeps the stored (earlier) point."""
    new, old = f"excluded.{side}_value", f"point_buckets.{side}_value"
    take = f"({new} {better} {old} OR ({old} IS NULL AND {new} IS NOT NULL))"
    return ", ".join(f"{side}_{c} = CASE WHEN {take} THEN excluded.{side}_{c} "
                     f"ELSE point_buckets.{side}_{c} END" for c in ("step", "wall", "value"))


# An appending batch's first bucket per series and level may already be stored:
# merged by the database, so the writer never has to read it first.
_MERGE_BUCKET = (f"ON CONFLICT ({', '.join(_BUCKET_KEY)}) DO UPDATE SET "
                 f"count = point_buckets.count + excluded.count, "
                 f"{_merge_extreme('min', '<')}, {_merge_extreme('max', '>')}")


@dataclass
class Rollups:
    """The roll-up rows of a batch of appended points, by itself, ready to write."""

    heads: list[tuple]  # each series' first bucket per level: may merge into a stored one
    head_keys: list[tuple[int, int, int]]  # (series, level, bucket) of each head
    rows: list[tuple]  # the other buckets (PostgreSQL: only those the payload cannot hold)
    payload: bytes | None  # PostgreSQL: binary COPY of the other buckets with no NaN
    # per series: (series, count, first step, last step, last wall, last value,
    # (min step, min value), (max step, max value))
    summaries: list[tuple]


class RollupWriter:
    """Writes the roll-up buckets and summaries of one store's series."""

    def __init__(self, dialect: str, mark: str) -> None:
        self.dialect = dialect
        self._layout = PointLayout(dialect)
        self._bucket_insert = MultiRowInsert("point_buckets", _BUCKET_COLS, mark=mark)
        self._bucket_merge = MultiRowInsert("point_buckets", _BUCKET_COLS, mark=mark,
                                            on_conflict=_MERGE_BUCKET)
        self._bucket_replace = MultiRowInsert(
            "point_buckets", _BUCKET_COLS, mark=mark,
            on_conflict=replace_clause(_BUCKET_KEY, _BUCKET_COLS))
        self._summary_replace = MultiRowInsert(
            "metric_summaries", _SUMMARY_COLS, mark=mark,
            on_conflict=replace_clause(_SUMMARY_KEY, _SUMMARY_COLS))

    def stored_summaries(self, conn: Connection,
                         series: np.ndarray) -> dict[int, dict[str, Any]]:
        """The stored summary of each of these series that has one, by series id."""
        out: dict[int, dict[str, Any]] = {}
        by_run: dict[int, list[int]] = {}
        for s in series.tolist():
            by_run.setdefault(s >> SERIES_SHIFT, []).append(s & 0xFFFFFFFF)
        # Only the batch's series: every row fetched costs a GIL hand-over (multirow.py).
        select = text(f"SELECT {', '.join(_SUMMARY_COLS)} FROM metric_summaries "
                      "WHERE run_id = :r AND key_id IN :k").bindparams(
                          bindparam("k", expanding=True))
        for rid, kids in by_run.items():
            for i in range(0, len(kids), IN_CHUNK):
                for row in conn.execute(select, {"r": rid, "k": kids[i:i + IN_CHUNK]}).mappings():
                    out[(rid << SERIES_SHIFT) | row["key_id"]] = dict(row)
        return out

    def append(self, conn: Connection, series: np.ndarray, step: np.ndarray,
               wall: np.ndarray, value: np.ndarray, existing: dict[int, dict[str, Any]]) -> None:
        """Roll-ups and summaries of points appended past each series' last stored step
        (`existing`: the stored summaries)."""
        r = _rollups(series, step, wall, value, binary=self.dialect == "postgresql")
        # The bucket holding each stored series' last step, at every level: the only
        # buckets an appending batch can find already stored (only a series' first
        # bucket per level can be one). The database folds those in (_MERGE_BUCKET),
        # so nothing is counted twice; the rest are new.
        boundary = {(s, level, int(existing[s]["last_step"]) >> shift)
                    for s in existing for level, shift in enumerate(BUCKET_SHIFTS, start=1)}
        at = [key in boundary for key in r.head_keys]
        new_rows = r.rows + [row for row, b in zip(r.heads, at) if not b]
        if r.payload is not None:
            with driver_cursor(conn) as cur:
                pgcopy.copy_binary(cur, "point_buckets", _BUCKET_COLS, r.payload)
        write_rows(conn, self._bucket_insert, new_rows)
        write_rows(conn, self._bucket_merge, [row for row, b in zip(r.heads, at) if b])

        summary_rows = []
        for (s, cnt, first, last, last_wall, last_value, mn, mx) in r.summaries:
            old = existing.get(s)
            if old is not None:
                cnt += int(old["count"])
                first = min(first, int(old["first_step"]))
                mn = _extreme(mn, (old["min_step"], old["min_value"]), min)
                mx = _extreme(mx, (old["max_step"], old["max_value"]), max)
            summary_rows.append((s >> SERIES_SHIFT, s & 0xFFFFFFFF, cnt, first, last, last_wall,
                                 _sql_float(last_value), mn[0], _sql_float(mn[1]),
                                 mx[0], _sql_float(mx[1])))
        write_rows(conn, self._summary_replace, summary_rows)

    def rebuild_series(self, conn: Connection, s: int, touched: np.ndarray) -> None:
        """Recompute buckets over the touched steps and the summary from stored data."""
        rid, kid = s >> SERIES_SHIFT, s & 0xFFFFFFFF
        args = {"r": rid, "k": kid}
        prev_shift = 0
        for level, shift in enumerate(BUCKET_SHIFTS, start=1):
            affected = np.unique(touched >> shift)
            lo, hi = int(affected[0]) << shift, ((int(affected[-1]) + 1) << shift) - 1
            if level == 1:
                with driver_cursor(conn) as cur:
                    st, wa, va = self._layout.read(cur, rid, kid, lo, hi)
                src = Buckets.of_points(np.full(len(st), s, np.int64), st, wa, va)
                src_bucket = src.min_step >> shift
            else:
                rows = conn.execute(text(
                    "SELECT bucket, count, min_step, min_wall, min_value, max_step, max_wall, "
                    "max_value FROM point_buckets WHERE run_id = :r AND key_id = :k AND "
                    "level = :l AND bucket BETWEEN :lo AND :hi ORDER BY bucket"),
                    {**args, "l": level - 1, "lo": lo >> prev_shift,
                     "hi": hi >> prev_shift}).all()
                c = _columns(rows, 8)
                src = Buckets(np.full(len(rows), s, np.int64), c[0].astype(np.int64),
                              c[1].astype(np.int64), c[2].astype(np.int64), c[3], c[4],
                              c[5].astype(np.int64), c[6], c[7])
                src_bucket = src.bucket >> (shift - prev_shift)
            keep = np.isin(src_bucket, affected)
            agg = rollup.aggregate(src.take(keep), src_bucket[keep])
            write_rows(conn, self._bucket_replace, _bucket_tuples(agg, level))
            prev_shift = shift
        top = conn.execute(text(
            "SELECT bucket, count, min_step, min_wall, min_value, max_step, max_wall, max_value "
            "FROM point_buckets WHERE run_id = :r AND key_id = :k AND level = :l ORDER BY bucket"),
            {**args, "l": len(BUCKET_SHIFTS)}).all()
        c = _columns(top, 8)
        src = Buckets(np.full(len(top), s, np.int64), c[0].astype(np.int64),
                      c[1].astype(np.int64), c[2].astype(np.int64), c[3], c[4],
                      c[5].astype(np.int64), c[6], c[7])
        total = rollup.aggregate(src, np.zeros(len(top), np.int64))
        with driver_cursor(conn) as cur:
            edges = self._layout.edges(cur, rid, kid)
        assert edges is not None, "a series rebuilt after a rewrite holds points"
        first, last = edges
        write_rows(conn, self._summary_replace, [(
            rid, kid, int(total.count[0]), int(first), int(last[0]), float(last[1]),
            _sql_float(last[2]), int(total.min_step[0]), _sql_float(total.min_value[0]),
            int(total.max_step[0]), _sql_float(total.max_value[0]))])

    def rebuild_after_purge(self, conn: Connection, s: int, from_step: int) -> None:
        """Roll-ups and summary of a series after its points at >= from_step were
        (partly) deleted: buckets from from_step's on go, the ones still holding
        points are recomputed, exactly as rebuild_series does after a rewrite."""
        rid, kid = s >> SERIES_SHIFT, s & 0xFFFFFFFF
        args = {"r": rid, "k": kid}
        for level, shift in enumerate(BUCKET_SHIFTS, start=1):
            conn.execute(text("DELETE FROM point_buckets WHERE run_id = :r AND key_id = :k "
                              "AND level = :l AND bucket >= :b"),
                         {**args, "l": level, "b": from_step >> shift})
        with driver_cursor(conn) as cur:
            if self._layout.edges(cur, rid, kid) is None:
                conn.execute(text("DELETE FROM metric_summaries WHERE run_id = :r AND "
                                  "key_id = :k"), args)
                return
            # Survivors at >= from_step: points logged after the purge (normally none).
            later = self._layout.read(cur, rid, kid, from_step)[0]
        touched = np.array(sorted({max(from_step - 1, 0), *later.tolist()}), np.int64)
        self.rebuild_series(conn, s, touched)


def _rollups(series: np.ndarray, step: np.ndarray, wall: np.ndarray, value: np.ndarray,
             *, binary: bool) -> Rollups:
    """Roll-ups of points sorted by (series, step), at every level, and each series'
    summary. `binary`: buckets without NaN go into one PostgreSQL COPY stream (NULL
    would break its fixed row size), the rest stay tuples."""
    if not len(series):
        return Rollups([], [], [], None, [])
    rows = Buckets.of_points(series, step, wall, value)
    heads: list[tuple] = []
    head_keys: list[tuple[int, int, int]] = []
    others: list[Buckets] = []
    other_levels: list[np.ndarray] = []
    prev_shift = 0
    for level, shift in enumerate(BUCKET_SHIFTS, start=1):
        rows = rollup.aggregate(rows, rows.bucket >> (shift - prev_shift))
        prev_shift = shift
        head = np.r_[True, rows.series[1:] != rows.series[:-1]]
        heads.extend(_bucket_tuples(rows.take(head), level))
        head_keys.extend(zip(rows.series[head].tolist(), [level] * int(head.sum()),
                             rows.bucket[head].tolist()))
        others.append(rows.take(~head))
        other_levels.append(np.full(len(others[-1]), level, np.int16))
    rest, rest_level = Buckets.concat(others), np.concatenate(other_levels)
    payload = None
    tuples: list[tuple] = []
    if binary and len(rest):
        nan = np.isnan(rest.min_value) | np.isnan(rest.max_value)
        if nan.any():
            tuples = _bucket_tuples(rest.take(nan), rest_level[nan])
            rest, rest_level = rest.take(~nan), rest_level[~nan]
        payload = pgcopy.binary_payload([
            (rest.series >> SERIES_SHIFT, ">i4"), (rest.series & 0xFFFFFFFF, ">i4"),
            (rest_level, ">i2"), (rest.bucket, ">i8"), (rest.count, ">i8"),
            (rest.min_step, ">i8"), (rest.min_wall, ">f8"), (rest.min_value, ">f8"),
            (rest.max_step, ">i8"), (rest.max_wall, ">f8"), (rest.max_value, ">f8")])
    else:
        tuples = _bucket_tuples(rest, rest_level)

    # Summary: one more aggregation over the coarsest level gives one row per series.
    total = rollup.aggregate(rows, np.zeros(len(rows), np.int64))
    last = np.r_[np.flatnonzero(series[1:] != series[:-1]), len(series) - 1]
    first = np.r_[0, last[:-1] + 1]
    summaries = list(zip(
        total.series.tolist(), total.count.tolist(), step[first].tolist(), step[last].tolist(),
        wall[last].tolist(), value[last].tolist(),
        zip(total.min_step.tolist(), total.min_value.tolist()),
        zip(total.max_step.tolist(), total.max_value.tolist())))
    return Rollups(heads, head_keys, tuples, payload, summaries)


def _extreme(new: tuple[int, float], old: tuple[int, Any], pick: Any) -> tuple[int, float]:
    """The more extreme of the batch's and the stored (step, value); NaN loses, and a
    tie keeps the stored one (the earlier step, as roll-ups do)."""
    ov = float("nan") if old[1] is None else float(old[1])
    if np.isnan(new[1]):
        return (int(old[0]), ov)
    if np.isnan(ov):
        return new
    return new if new[1] != ov and pick(new[1], ov) == new[1] else (int(old[0]), ov)


def _sql_float(v: Any) -> float | None:
    """NaN as NULL, so both backends store "no value" the same way in roll-ups."""
    f = float(v)
    return None if f != f else f


def _columns(rows: list, n: int) -> list[np.ndarray]:
    if not rows:
        return [np.empty(0, np.float64) for _ in range(n)]
    arr = np.array(rows, dtype=np.float64)  # None -> NaN
    return [arr[:, i] for i in range(n)]


def _bucket_tuples(b: Buckets, level: int | np.ndarray) -> list[tuple]:
    run_id = (b.series >> SERIES_SHIFT).tolist()
    key_id = (b.series & 0xFFFFFFFF).tolist()
    levels = [level] * len(b) if isinstance(level, int) else level.tolist()
    return list(zip(run_id, key_id, levels, b.bucket.tolist(), b.count.tolist(),
                    b.min_step.tolist(), b.min_wall.tolist(),
                    [_sql_float(v) for v in b.min_value.tolist()],
                    b.max_step.tolist(), b.max_wall.tolist(),
                    [_sql_float(v) for v in b.max_value.tolist()]))
