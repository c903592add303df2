"""Apply one writer batch to the store in one transaction.

Hot path: records become numpy columns without Python code per point
(columns.py), sorted by (run, key, step) so each series' rows go in together.
Steps past a series' last stored step are plain inserts straight through the
driver: multi-row INSERTs on SQLite (multirow.py), binary COPY on PostgreSQL
(pgcopy.py); anything else is an upsert. Roll-up buckets and the per-(run, key)
summary are computed in numpy from the batch; the database folds in the one
boundary bucket per level already stored. A batch that rewrites steps already stored
(resumed runs, spool replays) recomputes the touched buckets from the stored
points instead, so roll-ups stay exact whatever the delivery order.

"Later value wins" is decided by wall time (stamped when log() was called), not
by delivery order: a spool replayed after newer data cannot overwrite it.
"""

from __future__ import annotations

import json
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine
from trackboard.storage.db import rollup
from trackboard.storage.db.rollup import Buckets
from trackboard.storage.db.schema import BUCKET_SHIFTS
from trackboard.storage.write import pgcopy
from trackboard.storage.write.columns import KeySets, point_columns
from trackboard.storage.write.multirow import MultiRowInsert
from trackboard.storage.write.records import Batch

_SERIES_SHIFT = 32  # series id = run_id << 32 | key_id
_IN_CHUNK = 500  # names per IN (...) list: well under SQLite's variable limit

_POINT_COLS = ("run_id", "key_id", "step", "wall_time", "value")
_BUCKET_COLS = ("run_id", "key_id", "level", "bucket", "count", "min_step", "min_wall",
                "min_value", "max_step", "max_wall", "max_value")
_BUCKET_KEY = _BUCKET_COLS[:4]
_SUMMARY_COLS = ("run_id", "key_id", "count", "first_step", "last_step", "last_wall",
                 "last_value", "min_step", "min_value", "max_step", "max_value")
_SUMMARY_KEY = _SUMMARY_COLS[:2]


def _replace(key: tuple[str, ...], cols: tuple[str, ...], where: str = "") -> str:
    """ON CONFLICT clause that overwrites the stored row with the new one.

    >>> _replace(("k",), ("k", "v"))
    'ON CONFLICT (k) DO UPDATE SET v = excluded.v'
    """
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key)
    return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}{where}"


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


class Ingestor:
    """Writes batches into one store; caches run and key ids between batches."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        m = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._run_ids: dict[str, int] = {}
        self._key_ids: dict[str, int] = {}
        self._key_sets = KeySets()
        self._resumed: dict[str, float] = {}  # uid -> resumed_at of the resume applied
        # Purges seen, per run: (from_step, before_wall). Points logged before a purge
        # may reach this process after it (a batch split up on a retry, a spool frame
        # read in another order): they are dropped on arrival, not only at the purge.
        self._purged: dict[str, list[tuple[int, float]]] = {}
        self._points_insert = MultiRowInsert("points", _POINT_COLS, mark=m)
        self._points_upsert = MultiRowInsert(
            "points", _POINT_COLS, mark=m, on_conflict=_replace(
                _POINT_COLS[:3], _POINT_COLS, " WHERE excluded.wall_time >= points.wall_time"))
        self._key_insert = MultiRowInsert("metric_keys", ("name",), mark=m,
                                          on_conflict="ON CONFLICT (name) DO NOTHING")
        self._bucket_insert = MultiRowInsert("point_buckets", _BUCKET_COLS, mark=m)
        self._bucket_merge = MultiRowInsert("point_buckets", _BUCKET_COLS, mark=m,
                                            on_conflict=_MERGE_BUCKET)
        self._bucket_replace = MultiRowInsert("point_buckets", _BUCKET_COLS, mark=m,
                                              on_conflict=_replace(_BUCKET_KEY, _BUCKET_COLS))
        self._summary_replace = MultiRowInsert(
            "metric_summaries", _SUMMARY_COLS, mark=m,
            on_conflict=_replace(_SUMMARY_KEY, _SUMMARY_COLS))
        self._kv_upsert = {table: MultiRowInsert(table, ("run_id", "key", "value"), mark=m,
                                                 on_conflict=_replace(("run_id", "key"),
                                                                      ("run_id", "key", "value")))
                           for table in ("params", "tags")}

    # -- public ------------------------------------------------------------------

    def apply(self, batch: Batch, *, heartbeat: float | None = None) -> int:
        """Write `batch` in one transaction; returns the number of points written."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                # Take the write lock up front: a read lock upgraded later can fail
                # with SQLITE_BUSY without the busy handler ever waiting.
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                try:
                    return self._apply(conn, batch, heartbeat)
                except BaseException:
                    # Ids cached during a transaction that rolls back may not exist.
                    self._run_ids.clear()
                    self._key_ids.clear()
                    self._key_sets.clear()
                    self._resumed.clear()
                    raise

    # -- steps -----------------------------------------------------------------------

    def _apply(self, conn: Connection, batch: Batch, heartbeat: float | None) -> int:
        for uid, record in batch.runs.items():
            resumed_at = record.get("resumed_at")
            if uid not in self._run_ids or (
                    resumed_at is not None and self._resumed.get(uid) != resumed_at):
                # A resume record reopens the run once, also when this process
                # already wrote the run before (finish, then Run(id=...) again).
                self._run_ids[uid] = self._ensure_run(conn, record)
                if resumed_at is not None:
                    self._resumed[uid] = resumed_at
        for uid in batch.uids():
            if uid not in self._run_ids:
                rid = conn.execute(text("SELECT id FROM runs WHERE uid = :u"), {"u": uid}).scalar()
                if rid is None:
                    raise LookupError(f"records for run {uid} arrived without the run itself")
                self._run_ids[uid] = rid
        points = batch.points
        for _, uid, from_step, before in batch.purges:
            self._purged.setdefault(uid, []).append((from_step, before))
        if self._purged and points:
            points = self._drop_purged(points)
        if batch.purges:
            if self.dialect == "postgresql":
                # Every run of the batch, in id order, as _write_points takes them:
                # taking the purged run's lock first could deadlock with another writer.
                for rid in sorted({self._run_ids[r[1]] for r in (*batch.purges, *points)}):
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                 {"k": 0x7B000000 + rid})
            self._purge_stored(conn, batch.purges)
        written = self._write_points(conn, points) if points else 0
        for _, uid, values in batch.params:
            self._upsert_kv(conn, "params", self._run_ids[uid], values)
        for _, uid, values in batch.tags:
            self._upsert_kv(conn, "tags", self._run_ids[uid], values)
        for _, uid, notes in batch.notes:
            conn.execute(text("UPDATE runs SET notes = :n WHERE id = :r"),
                         {"n": notes, "r": self._run_ids[uid]})
        for _, uid, status, ended in batch.status:
            conn.execute(text("UPDATE runs SET status = :s, ended_at = :e, heartbeat_at = :h "
                              "WHERE id = :r"),
                         {"s": status, "e": ended, "h": ended or time.time(),
                          "r": self._run_ids[uid]})
        if heartbeat is not None:
            live = [self._run_ids[u] for u in batch.uids()]
            if live:
                conn.execute(text("UPDATE runs SET heartbeat_at = :h WHERE id = :r "
                                  "AND status = 'running'"),
                             [{"h": heartbeat, "r": r} for r in live])
        return written

    def _ensure_run(self, conn: Connection, rec: dict[str, Any]) -> int:
        # Few statements: next to a busy training loop each one costs the writer a
        # wait for the GIL. (No RETURNING: SQLite has it only since 3.35.)
        row = {k: rec.get(k) for k in ("uid", "name", "framework", "host", "git_commit",
                                       "command", "created_at", "status")}
        row["status"] = row["status"] or "running"
        row["heartbeat_at"] = rec.get("created_at")
        row["pid"] = self._ensure_project(conn, rec["project"])
        insert = ("INSERT INTO runs (uid, project_id, name, status, framework, host, "
                  "git_commit, command, created_at, heartbeat_at) VALUES (:uid, :pid, :name, "
                  ":status, :framework, :host, :git_commit, :command, :created_at, "
                  ":heartbeat_at) ")
        resumed_at = rec.get("resumed_at")
        if resumed_at is None:
            # A new run (or its record again, e.g. in a spool file's header).
            conn.execute(text(insert + "ON CONFLICT (uid) DO NOTHING"), row)
        else:
            # A resume: the stored run continues. created_at and project stay; the
            # name changes only when one was given. A run that ended after this
            # resume (a spool file delivered late, after a later finish) stays ended.
            row.update(resumed_at=float(resumed_at), rename=bool(rec.get("rename")))
            conn.execute(text(
                insert + "ON CONFLICT (uid) DO UPDATE SET status = 'running', ended_at = NULL, "
                "heartbeat_at = :resumed_at, "
                "name = CASE WHEN :rename THEN excluded.name ELSE runs.name END, "
                "framework = COALESCE(excluded.framework, runs.framework), "
                "host = excluded.host, git_commit = excluded.git_commit, "
                "command = excluded.command "
                "WHERE runs.ended_at IS NULL OR runs.ended_at <= :resumed_at"), row)
        return int(conn.execute(text("SELECT id FROM runs WHERE uid = :u"),
                                {"u": rec["uid"]}).scalar_one())

    def _ensure_project(self, conn: Connection, name: str) -> int:
        pid = conn.execute(text("SELECT id FROM projects WHERE name = :n"), {"n": name}).scalar()
        if pid is None:
            conn.execute(text("INSERT INTO projects (name, created_at) VALUES (:n, :t) "
                              "ON CONFLICT (name) DO NOTHING"), {"n": name, "t": time.time()})
            pid = conn.execute(text("SELECT id FROM projects WHERE name = :n"),
                               {"n": name}).scalar_one()
        return int(pid)

    def _resolve_keys(self, conn: Connection, names: list[str]) -> dict[str, int]:
        """Ids of metric key names, creating the new ones. Each statement moves one
        row (the ids come back as one JSON object): next to a busy training loop
        every row stepped costs the writer a wait for the GIL."""
        missing = [n for n in dict.fromkeys(names) if n not in self._key_ids]
        if not missing:
            return self._key_ids
        self._write_rows(conn, self._key_insert, [(n,) for n in missing])
        agg = "json_group_object" if self.dialect == "sqlite" else "json_object_agg"
        select = text(f"SELECT {agg}(name, id) FROM metric_keys WHERE name IN :names"
                      ).bindparams(bindparam("names", expanding=True))
        for i in range(0, len(missing), _IN_CHUNK):
            found = conn.execute(select, {"names": missing[i:i + _IN_CHUNK]}).scalar()
            if isinstance(found, str):  # SQLite returns the text, psycopg decodes it
                found = json.loads(found)
            self._key_ids.update((name, int(kid)) for name, kid in (found or {}).items())
        return self._key_ids

    def _upsert_kv(self, conn: Connection, table: str, run_id: int, values: dict[str, str]) -> None:
        self._write_rows(conn, self._kv_upsert[table], [(run_id, k, v) for k, v in values.items()])

    # -- purge -----------------------------------------------------------------------

    def _drop_purged(self, points: list[tuple]) -> list[tuple]:
        """The batch's points minus those a purge of their run removes (see _purge_stored)."""
        purged = self._purged
        if not any(rec[1] in purged for rec in points):
            return points
        out: list[tuple] = []
        for rec in points:
            cuts = purged.get(rec[1])
            out.extend([rec] if cuts is None else _purged_record(rec, cuts))
        return out

    def _purge_stored(self, conn: Connection, purges: list[tuple]) -> None:
        """Apply PURGE records to the store: remove the run's non-system points at steps
        >= from_step logged before the purge (wall time < before_wall), then rebuild the
        touched series' roll-ups and summaries. Wall time decides, not arrival: a spool
        file delivered late cannot lose points logged after the purge."""
        for _, uid, from_step, before in purges:
            rid = self._run_ids[uid]
            # Only series with a point at or past from_step (their summary says so).
            kids = conn.execute(text(
                "SELECT s.key_id FROM metric_summaries s JOIN metric_keys k ON k.id = s.key_id "
                "WHERE s.run_id = :r AND s.last_step >= :s AND k.name NOT LIKE 'system/%' "
                "ORDER BY s.key_id"), {"r": rid, "s": from_step}).scalars().all()
            for kid in kids:
                args = {"r": rid, "k": kid, "s": from_step}
                gone = conn.execute(text(
                    "DELETE FROM points WHERE run_id = :r AND key_id = :k AND step >= :s "
                    "AND wall_time < :w"), {**args, "w": before}).rowcount
                if gone:
                    self._rebuild_after_purge(conn, (rid << _SERIES_SHIFT) | kid, from_step)

    def _rebuild_after_purge(self, conn: Connection, s: int, from_step: int) -> None:
        """Roll-ups and summary of a series after its points at >= from_step were
        (partly) deleted: buckets from from_step's on go, the ones still holding
        points are recomputed, exactly as _rebuild_series does after a rewrite."""
        rid, kid = s >> _SERIES_SHIFT, s & 0xFFFFFFFF
        args = {"r": rid, "k": kid}
        for level, shift in enumerate(BUCKET_SHIFTS, start=1):
            conn.execute(text("DELETE FROM point_buckets WHERE run_id = :r AND key_id = :k "
                              "AND level = :l AND bucket >= :b"),
                         {**args, "l": level, "b": from_step >> shift})
        if conn.execute(text("SELECT 1 FROM points WHERE run_id = :r AND key_id = :k LIMIT 1"),
                        args).first() is None:
            conn.execute(text("DELETE FROM metric_summaries WHERE run_id = :r AND key_id = :k"),
                         args)
            return
        # Survivors at >= from_step: points logged after the purge (normally none).
        later = conn.execute(text("SELECT step FROM points WHERE run_id = :r AND key_id = :k "
                                  "AND step >= :s"), {**args, "s": from_step}).scalars().all()
        touched = np.array(sorted({max(from_step - 1, 0), *later}), np.int64)
        self._rebuild_series(conn, s, touched)

    # -- points --------------------------------------------------------------------

    def _write_points(self, conn: Connection, records: list[tuple]) -> int:
        run_id, key_id, step, wall, value = point_columns(
            records, self._run_ids, self._key_sets, lambda names: self._resolve_keys(conn, names))
        if not len(value):
            return 0
        series = (run_id << _SERIES_SHIFT) | key_id
        order = np.argsort(series, kind="stable")
        series, step, wall, value = series[order], step[order], wall[order], value[order]
        if len(step) > 1:
            same = series[1:] == series[:-1]
            if np.any(same & (step[1:] <= step[:-1])):
                series, step, wall, value = _dedupe(series, step, wall, value)

        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        ends = np.r_[starts[1:], len(series)]
        if self.dialect == "postgresql":
            # Serialise writers of the same run (a spool replay racing the live
            # writer) for this transaction; different runs never wait on each other.
            for rid in sorted(set((series[starts] >> _SERIES_SHIFT).tolist())):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x7B000000 + rid})
        existing = self._load_summaries(conn, series[starts])
        append = np.ones(len(series), bool)
        rewrite: list[tuple[int, np.ndarray]] = []
        for s, a, b in zip(series[starts].tolist(), starts.tolist(), ends.tolist()):
            old = existing.get(s)
            if old is not None and step[a] <= old["last_step"]:
                append[a:b] = False
                rewrite.append((s, step[a:b]))
        with _driver_cursor(conn) as cur:
            if append.all():
                self._insert_points(cur, series, step, wall, value, fresh=True)
                self._append_rollups(conn, series, step, wall, value, existing)
            else:
                keep = ~append
                self._insert_points(cur, series[keep], step[keep], wall[keep], value[keep],
                                    fresh=False)
                if append.any():
                    self._insert_points(cur, series[append], step[append], wall[append],
                                        value[append], fresh=True)
                    self._append_rollups(conn, series[append], step[append], wall[append],
                                         value[append], existing)
        for s, touched in rewrite:
            self._rebuild_series(conn, s, touched)
        return len(series)

    def _insert_points(self, cur: Any, series: np.ndarray, step: np.ndarray, wall: np.ndarray,
                       value: np.ndarray, *, fresh: bool) -> None:
        """`fresh`: every step is past the series' last stored step, so no row can
        conflict and a plain INSERT (or COPY) does, faster than an upsert. The check
        is race-free: SQLite's BEGIN IMMEDIATE and PostgreSQL's per-run advisory
        lock (taken in _write_points) keep two writers of one run from interleaving."""
        if len(series) == 0:
            return
        run_id, key_id = series >> _SERIES_SHIFT, series & 0xFFFFFFFF
        if self.dialect == "postgresql":
            if fresh:
                pgcopy.copy_points(cur, "points", run_id, key_id, step, wall, value)
            else:
                pgcopy.upsert_points(cur, run_id, key_id, step, wall, value)
            return
        writer = self._points_insert if fresh else self._points_upsert
        writer.write_columns(cur, (run_id, key_id, step, wall, value))

    def _load_summaries(self, conn: Connection, series: np.ndarray) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        by_run: dict[int, list[int]] = {}
        for s in series.tolist():
            by_run.setdefault(s >> _SERIES_SHIFT, []).append(s & 0xFFFFFFFF)
        # Only the batch's series: every row fetched costs a GIL hand-over (multirow.py).
        select = text(f"SELECT {', '.join(_SUMMARY_COLS)} FROM metric_summaries "
                      "WHERE run_id = :r AND key_id IN :k").bindparams(
                          bindparam("k", expanding=True))
        for rid, kids in by_run.items():
            for i in range(0, len(kids), _IN_CHUNK):
                for row in conn.execute(select, {"r": rid, "k": kids[i:i + _IN_CHUNK]}).mappings():
                    out[(rid << _SERIES_SHIFT) | row["key_id"]] = dict(row)
        return out

    def _append_rollups(self, conn: Connection, series: np.ndarray, step: np.ndarray,
                        wall: np.ndarray, value: np.ndarray,
                        existing: dict[int, dict[str, Any]]) -> None:
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
            with _driver_cursor(conn) as cur:
                pgcopy.copy_binary(cur, "point_buckets", _BUCKET_COLS, r.payload)
        self._write_rows(conn, self._bucket_insert, new_rows)
        self._write_rows(conn, self._bucket_merge, [row for row, b in zip(r.heads, at) if b])

        summary_rows = []
        for (s, cnt, first, last, last_wall, last_value, mn, mx) in r.summaries:
            old = existing.get(s)
            if old is not None:
                cnt += int(old["count"])
                first = min(first, int(old["first_step"]))
                mn = _extreme(mn, (old["min_step"], old["min_value"]), min)
                mx = _extreme(mx, (old["max_step"], old["max_value"]), max)
            summary_rows.append((s >> _SERIES_SHIFT, s & 0xFFFFFFFF, cnt, first, last, last_wall,
                                 _sql_float(last_value), mn[0], _sql_float(mn[1]),
                                 mx[0], _sql_float(mx[1])))
        self._write_rows(conn, self._summary_replace, summary_rows)

    def _rebuild_series(self, conn: Connection, s: int, touched: np.ndarray) -> None:
        """Recompute buckets over the touched steps and the summary from stored data."""
        rid, kid = s >> _SERIES_SHIFT, s & 0xFFFFFFFF
        args = {"r": rid, "k": kid}
        prev_shift = 0
        for level, shift in enumerate(BUCKET_SHIFTS, start=1):
            affected = np.unique(touched >> shift)
            lo, hi = int(affected[0]) << shift, ((int(affected[-1]) + 1) << shift) - 1
            if level == 1:
                rows = conn.execute(text(
                    "SELECT step, wall_time, value FROM points WHERE run_id = :r AND "
                    "key_id = :k AND step BETWEEN :lo AND :hi ORDER BY step"),
                    {**args, "lo": lo, "hi": hi}).all()
                st, wa, va = _columns(rows, 3)
                src = Buckets.of_points(np.full(len(st), s, np.int64), st.astype(np.int64),
                                        wa, va)
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
            self._write_rows(conn, self._bucket_replace, _bucket_tuples(agg, level))
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
        first = conn.execute(text("SELECT step FROM points WHERE run_id = :r AND key_id = :k "
                                  "ORDER BY step LIMIT 1"), args).scalar_one()
        last = conn.execute(text("SELECT step, wall_time, value FROM points WHERE run_id = :r "
                                 "AND key_id = :k ORDER BY step DESC LIMIT 1"), args).one()
        self._write_rows(conn, self._summary_replace, [(
            rid, kid, int(total.count[0]), int(first), int(last[0]), float(last[1]),
            last[2], int(total.min_step[0]), _sql_float(total.min_value[0]),
            int(total.max_step[0]), _sql_float(total.max_value[0]))])

    def _write_rows(self, conn: Connection, writer: MultiRowInsert, rows: list[tuple]) -> None:
        if rows:
            with _driver_cursor(conn) as cur:
                writer.write_rows(cur, rows)


def _driver_cursor(conn: Connection) -> closing[Any]:
    """A cursor of the DBAPI connection under `conn`, for the bulk paths that bypass
    SQLAlchemy's per-statement work; closed on leaving the `with` block."""
    return closing(conn.connection.driver_connection.cursor())  # type: ignore[union-attr]


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
            (rest.series >> _SERIES_SHIFT, ">i4"), (rest.series & 0xFFFFFFFF, ">i4"),
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


def _purged_record(rec: tuple, cuts: list[tuple[int, float]]) -> list[tuple]:
    """A points record as purges (from_step, before_wall) of its run leave it: whole,
    with only its system/* values, or gone.

    >>> from array import array
    >>> rec = (0, "r", 5, 10.0, ("loss", "system/cpu"), array("d", [1.0, 2.0]))
    >>> _purged_record(rec, [(3, 11.0)])
    [(0, 'r', 5, 10.0, {'system/cpu': 2.0})]
    >>> len(_purged_record(rec, [(3, 9.0)])), len(_purged_record(rec, [(6, 11.0)]))
    (1, 1)
    """
    step, wall = rec[2], rec[3]
    if not any(step >= from_step and wall < before for from_step, before in cuts):
        return [rec]
    values = rec[4] if len(rec) == 5 else dict(zip(rec[4], rec[5]))
    kept = {k: v for k, v in values.items() if k.startswith("system/")}
    return [(rec[0], rec[1], step, wall, kept)] if kept else []


def _dedupe(series: np.ndarray, step: np.ndarray, wall: np.ndarray,
            value: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sort by (series, step, wall) and keep the latest-logged point of each step."""
    order = np.lexsort((wall, step, series))
    series, step, wall, value = series[order], step[order], wall[order], value[order]
    last = np.r_[(series[1:] != series[:-1]) | (step[1:] != step[:-1]), True]
    return series[last], step[last], wall[last], value[last]


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
    run_id = (b.series >> _SERIES_SHIFT).tolist()
    key_id = (b.series & 0xFFFFFFFF).tolist()
    levels = [level] * len(b) if isinstance(level, int) else level.tolist()
    return list(zip(run_id, key_id, levels, b.bucket.tolist(), b.count.tolist(),
                    b.min_step.tolist(), b.min_wall.tolist(),
                    [_sql_float(v) for v in b.min_value.tolist()],
                    b.max_step.tolist(), b.max_wall.tolist(),
                    [_sql_float(v) for v in b.max_value.tolist()]))
