"""The points layout: sealed chunks plus a row-per-point head, read and rewritten.

A series (run, key) is stored in two places, each step in exactly one of them:

- `point_chunks`: sealed chunks, one row per (at most) CHUNK_POINTS points, keyed
  by (run_id, key_id, first_step) with the chunk's last_step and count beside it.
  Their step ranges never overlap. On SQLite a chunk is one compressed blob
  (chunk_codec.py: 5-6 bytes a point on float32-origin metrics); on PostgreSQL it is
  arrays (CHUNK_COLUMNS_PG below), which TOAST compresses and a plain SQL view can
  unnest for any client (docs/architecture.md, "Points").
- `points_head`: the live tail, one row per point, every step past the last sealed
  one, fewer than CHUNK_POINTS per series once a batch is written (Prometheus' head
  block; the spool is our write-ahead log).

Two moves keep that true, both inside the writer's transaction:

- appending (steps past everything stored): into the head; once the head and the
  batch hold CHUNK_POINTS points, the head is taken and sealed with the batch into
  full chunks, the rest (fewer than CHUNK_POINTS) staying in the head, unless the
  batch alone filled a chunk: then its rest is sealed too, as a shorter chunk;
- rewriting (a step at or before the last stored one, or a purge): `take_tail` takes
  every chunk whose range reaches the first touched step, and the whole head, out of
  the store; the caller edits those points in numpy and `put_sorted` writes them back
  as full chunks and a head. A rewrite therefore touches the series' tail only, and a
  later value wins inside a sealed chunk exactly as in the head.

Readers see chunks and head together (`read`), in step order; the view `points`
(migration 0005) shows the same rows to SQL.
"""

from __future__ import annotations

import json
import math
from itertools import chain
from typing import Any

import numpy as np
from trackboard.storage.db import chunk_codec
from trackboard.storage.db.chunk_codec import CHUNK_POINTS

# Steps are at most 2**53 - 1 (storage/rules.py): this is past every stored step.
AFTER_ALL = 2**62

_EMPTY = (np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64))


class PointLayout:
    """The chunk and head SQL of one backend, on DB-API cursors (the bulk paths use
    the driver directly, see storage/write/multirow.py)."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        m = "%s" if self.postgres else "?"
        self.mark = m
        # What a chunk's points are read from (decode() takes these columns).
        self.chunk_cols = cols = CHUNK_COLUMNS_PG if self.postgres else "data"
        # The chunks that reach step `lo` or later: the one holding `lo` (the last one
        # that starts at or before it) and every one after. Bounding first_step from
        # below keeps this a range of the key: `last_step >= lo` alone is no part of
        # the key, so SQLite checked every chunk row of the series from its first.
        self._reaching = (f"run_id = {m} AND key_id = {m} AND first_step >= COALESCE(("
                          f"SELECT first_step FROM point_chunks WHERE run_id = {m} AND "
                          f"key_id = {m} AND first_step <= {m} ORDER BY first_step DESC "
                          f"LIMIT 1), {m}) AND last_step >= {m}")
        self._select_chunks = (f"SELECT {cols} FROM point_chunks WHERE {self._reaching} "
                               f"AND first_step <= {m} ORDER BY first_step")
        self._select_head = (f"SELECT step, wall_time, value FROM points_head WHERE "
                             f"run_id = {m} AND key_id = {m} AND step BETWEEN {m} AND {m} "
                             "ORDER BY step")
        self._insert_chunk = (f"INSERT INTO point_chunks (run_id, key_id, first_step, "
                              f"last_step, count, data) VALUES ({', '.join([m] * 6)})")
        # PostgreSQL's arrays travel in binary, as numpy arrays both ways: through
        # psycopg's lists they cost most of the writer's time (pg_arrays.py).
        self._arrays = None
        if self.postgres:
            from trackboard.storage.db import pg_arrays

            self._arrays = pg_arrays

    # -- reading ---------------------------------------------------------------------

    def read(self, cur: Any, run_id: int, key_id: int, lo: int = -AFTER_ALL,
             hi: int = AFTER_ALL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step, wall, value) of the series' points with lo <= step <= hi, by step."""
        parts = [self.decode(row) for row in self._chunks(
            cur, self._select_chunks, (*self._reaching_args(run_id, key_id, lo), hi))]
        if parts:
            first, last = parts[0], parts[-1]
            if first[0][0] < lo:
                parts[0] = _cut(first, np.searchsorted(first[0], lo), None)
            if last[0][-1] > hi:
                parts[-1] = _cut(parts[-1], None, np.searchsorted(parts[-1][0], hi, "right"))
        cur.execute(self._select_head, (run_id, key_id, lo, hi))
        parts.append(_head_columns(cur.fetchall()))
        return _concat(parts)

    def edges(self, cur: Any, run_id: int, key_id: int) -> tuple[int, tuple] | None:
        """(first step, (last step, its wall time, its value)) of a series; None when it
        holds no point."""
        m = self.mark
        cur.execute(f"SELECT min(first_step) FROM point_chunks WHERE run_id = {m} AND "
                    f"key_id = {m}", (run_id, key_id))
        first_chunk = cur.fetchone()[0]
        cur.execute(f"SELECT min(step), max(step) FROM points_head WHERE run_id = {m} AND "
                    f"key_id = {m}", (run_id, key_id))
        head_lo, head_hi = cur.fetchone()
        if first_chunk is None and head_lo is None:
            return None
        first = min(x for x in (first_chunk, head_lo) if x is not None)
        if head_hi is not None:
            cur.execute(f"SELECT step, wall_time, value FROM points_head WHERE run_id = {m} "
                        f"AND key_id = {m} AND step = {m}", (run_id, key_id, head_hi))
            s, w, v = cur.fetchone()
            return int(first), (int(s), float(w), math.nan if v is None else float(v))
        s, w, v = self.decode(self._chunks(
            cur, f"SELECT {self.chunk_cols} FROM point_chunks WHERE run_id = {m} AND "
                 f"key_id = {m} ORDER BY first_step DESC LIMIT 1", (run_id, key_id))[0])
        return int(first), (int(s[-1]), float(w[-1]), float(v[-1]))

    def head_counts(self, cur: Any, run_id: int, key_ids: list[int]) -> dict[int, int]:
        """Head rows per key of one run (keys without any: absent)."""
        m = self.mark
        out: dict[int, int] = {}
        for i in range(0, len(key_ids), 500):
            part = key_ids[i:i + 500]
            cur.execute(f"SELECT key_id, count(*) FROM points_head WHERE run_id = {m} AND "
                        f"key_id IN ({', '.join([m] * len(part))}) GROUP BY key_id",
                        (run_id, *part))
            out.update((int(k), int(n)) for k, n in cur.fetchall())
        return out

    # -- rewriting -------------------------------------------------------------------

    def take_tail(self, cur: Any, run_id: int, key_id: int, from_step: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Remove and return every chunk whose range reaches `from_step` and the whole
        head: points by step, all past what stays stored (which may include points
        before `from_step`: the caller writes back what it keeps, as chunks and head)."""
        reaching = self._reaching_args(run_id, key_id, from_step)
        parts = [self.decode(row) for row in self._chunks(
            cur, f"SELECT {self.chunk_cols} FROM point_chunks WHERE {self._reaching} "
                 "ORDER BY first_step", reaching)]
        if parts:
            cur.execute(f"DELETE FROM point_chunks WHERE {self._reaching}", reaching)
        return _concat([*parts, self.take_head(cur, run_id, key_id)])

    @staticmethod
    def _reaching_args(run_id: int, key_id: int, lo: int) -> tuple:
        return (run_id, key_id, run_id, key_id, lo, lo, lo)

    def take_head(self, cur: Any, run_id: int, key_id: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Remove and return the series' head (take_tail past every sealed chunk,
        without looking at the chunks: a seal of appended points)."""
        head = self.read_head(cur, run_id, key_id)
        if len(head[0]):
            m = self.mark
            cur.execute(f"DELETE FROM points_head WHERE run_id = {m} AND key_id = {m}",
                        (run_id, key_id))
        return head

    def take_range(self, cur: Any, run_id: int, key_id: int, lo: int, hi: int
                   ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], bool]:
        """Remove and return what a rewrite of steps lo..hi must merge with, and
        whether that is the series' tail. Steps all at or before the last sealed one
        ("inner": a replay of old data, a value logged again long after): only the
        chunks overlapping lo..hi, to go back as inner_rows; anything reaching past
        it: take_tail(lo), to go back as chunks and head. So a rewrite costs the
        chunks it touches, not the rest of the series."""
        m = self.mark
        cur.execute(f"SELECT max(last_step) FROM point_chunks WHERE run_id = {m} AND "
                    f"key_id = {m}", (run_id, key_id))
        sealed_to = cur.fetchone()[0]
        if sealed_to is None or hi > sealed_to:
            return self.take_tail(cur, run_id, key_id, lo), False
        args = (*self._reaching_args(run_id, key_id, lo), hi)
        parts = [self.decode(row) for row in self._chunks(cur, self._select_chunks, args)]
        if parts:
            cur.execute(f"DELETE FROM point_chunks WHERE {self._reaching} AND "
                        f"first_step <= {m}", args)
        return _concat(parts), True

    def inner_rows(self, run_id: int, key_id: int, step: np.ndarray, wall: np.ndarray,
                   value: np.ndarray) -> list[tuple]:
        """Points taken by an inner take_range, merged, as chunk rows again: as few
        chunks as hold them at CHUNK_POINTS each, of near-equal size (they stay below
        the head, between the chunks left in place)."""
        k = -(-len(step) // CHUNK_POINTS)
        cuts = np.linspace(0, len(step), k + 1).round().astype(int)
        return [self.chunk_row(run_id, key_id, step[a:b], wall[a:b], value[a:b])
                for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist())]

    def take_heads(self, cur: Any, run_id: int, key_ids: list[int]
                   ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Remove and return the whole head of each of a run's series, by key id (a key
        without head rows: empty columns). The writer seals heads this way when a batch
        fills them. PostgreSQL: one DELETE ... RETURNING for the run (a select and a
        delete per series were a fifth of the writer's time); SQLite has RETURNING only
        since 3.35, so there it is take_head per series."""
        if not self.postgres:
            return {k: self.take_head(cur, run_id, k) for k in key_ids}
        cur.execute("DELETE FROM points_head WHERE run_id = %s AND key_id = ANY(%s) "
                    "RETURNING key_id, step, wall_time, value", (run_id, key_ids))
        rows = cur.fetchall()
        out = {k: _EMPTY for k in key_ids}
        if rows:
            flat = np.fromiter(chain.from_iterable(rows), np.float64, 4 * len(rows)
                               ).reshape(-1, 4)
            key = flat[:, 0].astype(np.int64)
            step = flat[:, 1].astype(np.int64)  # exact: steps are at most 2**53 - 1
            order = np.lexsort((step, key))
            key, step, wall, value = key[order], step[order], flat[order, 2], flat[order, 3]
            cuts = np.flatnonzero(np.r_[True, key[1:] != key[:-1], True])
            for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
                out[int(key[a])] = (step[a:b], wall[a:b], value[a:b])
        return out

    def read_head(self, cur: Any, run_id: int, key_id: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cur.execute(self._select_head, (run_id, key_id, -AFTER_ALL, AFTER_ALL))
        return _head_columns(cur.fetchall())

    def head_front(self, cur: Any, run_id: int, key_id: int, limit: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first `limit` head rows of a series, by step."""
        cur.execute(self._select_head + f" LIMIT {int(limit)}",
                    (run_id, key_id, -AFTER_ALL, AFTER_ALL))
        return _head_columns(cur.fetchall())

    def seal(self, run_id: int, key_id: int, step: np.ndarray, wall: np.ndarray,
             value: np.ndarray) -> tuple[list[tuple], int]:
        """Points sorted by step as chunk rows of CHUNK_POINTS each, and how many
        points (from the front) they hold; the rest belongs in the head."""
        full = len(step) // CHUNK_POINTS * CHUNK_POINTS
        if self.postgres:
            rows = [self.chunk_row(run_id, key_id, step[i:i + CHUNK_POINTS],
                                   wall[i:i + CHUNK_POINTS], value[i:i + CHUNK_POINTS])
                    for i in range(0, full, CHUNK_POINTS)]
            return rows, full
        blobs = chunk_codec.encode_many(step[:full], wall[:full], _sqlite_zero(value[:full]))
        firsts = step[:full:CHUNK_POINTS].tolist()
        lasts = step[CHUNK_POINTS - 1:full:CHUNK_POINTS].tolist()
        return [(run_id, key_id, a, b, CHUNK_POINTS, blob)
                for a, b, blob in zip(firsts, lasts, blobs)], full

    def chunk_row(self, run_id: int, key_id: int, step: np.ndarray, wall: np.ndarray,
                  value: np.ndarray) -> tuple:
        head = (run_id, key_id, int(step[0]), int(step[-1]), len(step))
        if self.postgres:
            return (*head, *compact_arrays(step, wall, value))
        return (*head, chunk_codec.encode(step, wall, _sqlite_zero(value)))

    def write_chunks(self, cur: Any, rows: list[tuple]) -> None:
        """Rows of chunk_row() into point_chunks: one binary COPY on PostgreSQL."""
        if not rows:
            return
        if self._arrays is not None:
            self._arrays.copy_chunks(cur, rows)
        else:
            cur.executemany(self._insert_chunk, rows)

    def _chunks(self, cur: Any, sql: str, params: tuple) -> list[tuple]:
        """The chunk columns a query selects; on PostgreSQL as numpy arrays."""
        if self._arrays is not None:
            self._arrays.numpy_arrays(cur)
            cur.execute(sql, params, binary=True)
        else:
            cur.execute(sql, params)
        return cur.fetchall()

    def decode(self, row: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step, wall, value) of a chunk from its `chunk_cols`."""
        if self.postgres:  # numpy arrays from _chunks, lists from other cursors
            return points_of_arrays(*row)
        return chunk_codec.decode(row[0])


# PostgreSQL: three arrays the view unnests in plain SQL (migration 0005), made small
# before TOAST's pglz sees them: `steps` is NULL when the steps are regular (first_step
# to last_step by a constant stride: every training loop), and the values are REAL[]
# (`vals4`, NULL `vals`) when each is a float32 exactly (every framework's losses and
# accuracies), else DOUBLE PRECISION[] (`vals`). Measured on 1,000-point chunks
# (bench/postgres_chunks.py, layouts): 9.7 bytes a point for float32-origin metrics
# against 13.3 with all three arrays stored, and a quarter of the server's CPU to write.
CHUNK_COLUMNS_PG = "first_step, last_step, count, steps, walls, vals, vals4"


def compact_arrays(step: np.ndarray, wall: np.ndarray, value: np.ndarray) -> tuple:
    """(steps or None, walls, vals or None, vals4 or None) of a PostgreSQL chunk.

    >>> s, w, v, v4 = compact_arrays(np.array([3, 5, 7]), np.zeros(3), np.array([0.5, -0.0, np.inf]))
    >>> s, v, v4.dtype.name
    (None, None, 'float32')
    >>> compact_arrays(np.array([1, 2, 4]), np.zeros(3), np.array([0.1, 0.0, 0.0]))[0::2]
    (array([1, 2, 4]), array([0.1, 0. , 0. ]))
    """
    gaps = np.diff(step)
    steps = None if len(step) == 1 or (gaps[0] > 0 and (gaps == gaps[0]).all()) else step
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = value.astype(np.float32)
    # Bit for bit (-0.0, NaN's payload and all): float32 -> float64 is exact both here
    # and in PostgreSQL's REAL -> DOUBLE PRECISION cast.
    if np.array_equal(narrow.astype(np.float64).view(np.int64), value.view(np.int64)):
        return steps, wall, None, narrow
    return steps, wall, value, None


def points_of_arrays(first: int, last: int, count: int, steps: Any, walls: Any, vals: Any,
                     vals4: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step, wall, value) of a PostgreSQL chunk's columns (CHUNK_COLUMNS_PG)."""
    if steps is None:
        stride = (last - first) // (count - 1) if count > 1 else 1
        # (np.arange sizes its result in float64: one step short past 2**53 / 2.)
        step = first + stride * np.arange(count, dtype=np.int64)
    else:
        step = np.asarray(steps, np.int64)
    value = np.asarray(vals4, np.float32).astype(np.float64) if vals is None else \
        np.asarray(vals, np.float64)
    return step, np.asarray(walls, np.float64), value


def chunk_json(data: bytes) -> str:
    """A SQLite chunk as JSON [[step, wall_time, value], ...] for the `points` view
    (json_each unnests it). NaN is null (SQLite's NaN), infinities 9e999 (JSON has
    none; SQLite reads them back as inf); repr round-trips every float exactly.

    >>> chunk_json(chunk_codec.encode(np.array([1, 2]), np.array([0.5, 1.5]),
    ...                               np.array([float("inf"), float("nan")])))
    '[[1,0.5,9e999],[2,1.5,null]]'
    """
    step, wall, value = chunk_codec.decode(data)
    return "[" + ",".join(f"[{s},{w!r},{_json_float(v)}]" for s, w, v in zip(
        step.tolist(), wall.tolist(), value.tolist())) + "]"


def _json_float(v: float) -> str:
    if v != v:
        return "null"
    if v in (math.inf, -math.inf):
        return "9e999" if v > 0 else "-9e999"
    return json.dumps(v)


def _sqlite_zero(value: np.ndarray) -> np.ndarray:
    """SQLite's REAL columns keep no sign of zero (the head, and the row-per-point
    layout before it, read -0.0 back as 0.0): a SQLite chunk does the same, so a value
    reads the same before and after its series is sealed.

    >>> _sqlite_zero(np.array([-0.0, 1.0, -2.0])).tolist()
    [0.0, 1.0, -2.0]
    """
    return np.where(value == 0, 0.0, value)


def _head_columns(rows: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head rows (step, wall_time, value) as columns. One flat float64 pass over the
    row tuples: the cheapest conversion measured (bench/foundation.py, history_read).
    NULL (SQLite's NaN) becomes NaN; steps are exact in float64 (at most 2**53 - 1,
    see storage/rules.py)."""
    if not rows:
        return _EMPTY
    flat = np.fromiter(chain.from_iterable(rows), np.float64, 3 * len(rows)).reshape(-1, 3)
    return flat[:, 0].astype(np.int64), flat[:, 1].copy(), flat[:, 2].copy()


def _cut(part: tuple, a: Any, b: Any) -> tuple:
    return part[0][a:b], part[1][a:b], part[2][a:b]


def _concat(parts: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return _EMPTY
    if len(parts) == 1:
        return parts[0]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))
