"""Apply one writer batch to the store in one transaction.

Hot path: records become numpy columns without Python code per point
(columns.py), sorted by (run, key, step) so each series' points go in together.
Steps past a series' last stored step are appended: into its head straight through
the driver (multi-row INSERTs on SQLite, multirow.py; binary COPY on PostgreSQL,
pgcopy.py), and a head that reaches CHUNK_POINTS is sealed into chunks with the batch
(storage/db/point_chunks.py). Anything else rewrites the series' tail: taken out,
merged in numpy, put back as chunks and head. Roll-up buckets and the per-(run, key)
summary are computed in numpy from the batch; the database folds in the one
boundary bucket per level already stored. A batch that rewrites steps already stored
(resumed runs, spool replays) recomputes the touched buckets from the stored
points instead, so roll-ups stay exact whatever the delivery order (rollup_writer.py).
This module holds the rest of a batch: runs (new and resumed), keys, params, tags,
notes, status, heartbeats and purges; histograms, images and texts go through
media_ingest.py (checked and encoded before the transaction, written inside it).

"The later call wins": the order of log() calls decides, never the wall time the
caller passed (that is data). A writer delivers its records in call order, so a batch
keeps the last record of a step (arrival order), a stored point is simply replaced,
and a purge removes every stored point it covers; points that arrive with or after a
purge are judged by their call stamps. Records read back from a spool file
(`replay=True`: after an outage, a crash, `trackboard sync`) may arrive after newer
records of another process, which the store cannot tell apart by order: there a point
replaces a stored one only if its wall time is not older, and a purge removes only
stored points with older wall times (exact as long as callers never pass wall_time=;
docs/logging.md says what holds).
"""

from __future__ import annotations

import json
import math
import threading
import time
from array import array
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine
from trackboard.storage.db.point_chunks import CHUNK_POINTS, PointLayout
from trackboard.storage.write import door, pgcopy
from trackboard.storage.write.columns import KeySets, point_columns
from trackboard.storage.write.multirow import (
    MultiRowInsert,
    driver_cursor,
    replace_clause,
    write_rows,
)
from trackboard.storage.write.media_ingest import MediaIngest, Prepared
from trackboard.storage.write.records import Batch
from trackboard.storage.write.rollup_writer import IN_CHUNK, SERIES_SHIFT, RollupWriter

_POINT_COLS = ("run_id", "key_id", "step", "wall_time", "value")


class Ingestor:
    """Writes batches into one store; caches run and key ids between batches."""

    def __init__(self, engine: Engine, *, gate: threading.Lock | None = None) -> None:
        self.engine = engine
        # Held while a batch is applied: a fork waits for it (storage/write/fork.py).
        self._gate = gate or threading.Lock()
        self.dialect = engine.dialect.name
        m = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._run_ids: dict[str, int] = {}
        self._key_ids: dict[str, int] = {}
        self._key_sets = KeySets()
        self._replay = False  # the batch being applied was read back from a spool file
        self._resumed: dict[str, float] = {}  # uid -> resumed_at of the resume applied
        # Purges seen, per run: (from_step, stamp). Points logged before a purge may
        # reach this process after it (a batch split up on a retry, a spool frame read
        # in another order): they are dropped on arrival (by call stamp), not only at
        # the purge.
        self._purged: dict[str, list[tuple[int, float]]] = {}
        self._points_insert = MultiRowInsert("points_head", _POINT_COLS, mark=m)
        self._layout = PointLayout(self.dialect)
        # Head rows per series as this process last wrote them: when to seal. Only a
        # hint (another process may write the run too): sealing reads the real head.
        self._head_counts: dict[int, int] = {}
        self._key_insert = MultiRowInsert("metric_keys", ("name",), mark=m,
                                          on_conflict="ON CONFLICT (name) DO NOTHING")
        self._rollups = RollupWriter(self.dialect, m)
        self._media = MediaIngest(self.dialect)
        self._kv_upsert = {table: MultiRowInsert(
            table, ("run_id", "key", "value"), mark=m,
            on_conflict=replace_clause(("run_id", "key"), ("run_id", "key", "value")))
            for table in ("params", "tags")}

    # -- public ------------------------------------------------------------------

    def apply(self, batch: Batch, *, heartbeat: float | None = None,
              replay: bool = False) -> int:
        """Write `batch` in one transaction; returns the number of points written.
        `replay`: the records were read back from a spool file, not delivered in call
        order (see the module docstring)."""
        # Media are checked, packed and encoded before the transaction (media_ingest.py).
        media = self._media.prepare(batch.media) if batch.media else None
        with self._gate, self.engine.connect() as conn:
            if self.dialect == "sqlite":
                # Take the write lock up front: a read lock upgraded later can fail
                # with SQLITE_BUSY without the busy handler ever waiting.
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                try:
                    self._replay = replay
                    return self._apply(conn, batch, heartbeat, media)
                except BaseException:
                    # Ids cached during a transaction that rolls back may not exist.
                    self._media.forget()
                    self._run_ids.clear()
                    self._key_ids.clear()
                    self._key_sets.clear()
                    self._resumed.clear()
                    self._head_counts.clear()
                    raise

    # -- steps -----------------------------------------------------------------------

    def _apply(self, conn: Connection, batch: Batch, heartbeat: float | None,
               media: Prepared | None = None) -> int:
        _check(batch)  # the store's rules at its door, before anything is written
        for uid, record in batch.runs.items():
            resumed_at = record.get("resumed_at")
            if uid not in self._run_ids or (
                    resumed_at is not None and self._resumed.get(uid) != resumed_at):
                # A resume record reopens the run once, also when this process
                # already wrote the run before (finish, then Run(id=...) again).
                door.check_run(record)
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
        if batch.media and self.dialect == "postgresql":
            # Media rows of a run are written after its points: every run of the batch
            # is locked now, in id order, as _write_points would (no deadlock between
            # two writers); taking a lock again in this transaction does not wait.
            for rid in sorted({self._run_ids[u] for u in batch.uids()}):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x7B000000 + rid})
        if batch.purges:
            if self.dialect == "postgresql":
                # Every run of the batch, in id order, as _write_points takes them:
                # taking the purged run's lock first could deadlock with another writer.
                for rid in sorted({self._run_ids[r[1]] for r in (*batch.purges, *points)}):
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                 {"k": 0x7B000000 + rid})
            self._purge_stored(conn, batch.purges)
            for _, uid, from_step, before in batch.purges:
                # As for points: in call order every stored record was logged before
                # the purge (those of this batch logged after it are written below),
                # so all media it covers go; read back from a spool file, only those
                # logged before it. (The TensorBoard import purges a restart with a
                # stamp of -inf, so that nothing it reads next is dropped.)
                self._media.purge(conn, self._run_ids[uid], from_step,
                                  before if self._replay else math.inf)
        written = self._write_points(conn, points) if points else 0
        if media:
            self._media.write(conn, media, self._run_ids, self._purged)
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
        door.check_names(missing)  # once per name: interned names are valid
        write_rows(conn, self._key_insert, [(n,) for n in missing])
        agg = "json_group_object" if self.dialect == "sqlite" else "json_object_agg"
        select = text(f"SELECT {agg}(name, id) FROM metric_keys WHERE name IN :names"
                      ).bindparams(bindparam("names", expanding=True))
        for i in range(0, len(missing), IN_CHUNK):
            found = conn.execute(select, {"names": missing[i:i + IN_CHUNK]}).scalar()
            if isinstance(found, str):  # SQLite returns the text, psycopg decodes it
                found = json.loads(found)
            self._key_ids.update((name, int(kid)) for name, kid in (found or {}).items())
        return self._key_ids

    def _upsert_kv(self, conn: Connection, table: str, run_id: int, values: dict[str, str]) -> None:
        write_rows(conn, self._kv_upsert[table], [(run_id, k, v) for k, v in values.items()])

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
        >= from_step logged before the purge, then rebuild the touched series' roll-ups
        and summaries. In call order everything stored was logged before the purge; a
        purge read back from a spool file (maybe a second time, after points logged
        after it were stored) removes only points with older wall times."""
        layout = self._layout
        for _, uid, from_step, before in purges:
            rid = self._run_ids[uid]
            # Only series with a point at or past from_step (their summary says so).
            kids = conn.execute(text(
                "SELECT s.key_id FROM metric_summaries s JOIN metric_keys k ON k.id = s.key_id "
                "WHERE s.run_id = :r AND s.last_step >= :s AND k.name NOT LIKE 'system/%' "
                "ORDER BY s.key_id"), {"r": rid, "s": from_step}).scalars().all()
            for kid in kids:
                with driver_cursor(conn) as cur:
                    step, wall, value = layout.take_tail(cur, rid, kid, from_step)
                    gone = step >= from_step
                    if self._replay:
                        gone &= wall < before
                    keep = ~gone
                    self._put_sorted(cur, rid, kid, step[keep], wall[keep], value[keep])
                self._head_counts.pop((rid << SERIES_SHIFT) | kid, None)
                if gone.any():
                    self._rollups.rebuild_after_purge(conn, (rid << SERIES_SHIFT) | kid, from_step)

    # -- points --------------------------------------------------------------------

    def _write_points(self, conn: Connection, records: list[tuple]) -> int:
        run_id, key_id, step, wall, value = point_columns(
            records, self._run_ids, self._key_sets, lambda names: self._resolve_keys(conn, names))
        if not len(value):
            return 0
        series = (run_id << SERIES_SHIFT) | key_id
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
            for rid in sorted(set((series[starts] >> SERIES_SHIFT).tolist())):
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x7B000000 + rid})
        existing = self._rollups.stored_summaries(conn, series[starts])
        append = np.ones(len(series), bool)
        rewrite: list[tuple[int, int, int]] = []
        for s, a, b in zip(series[starts].tolist(), starts.tolist(), ends.tolist()):
            old = existing.get(s)
            if old is not None and step[a] <= old["last_step"]:
                append[a:b] = False
                rewrite.append((s, a, b))
        with driver_cursor(conn) as cur:
            for s, a, b in rewrite:
                self._rewrite(cur, s, step[a:b], wall[a:b], value[a:b])
            if append.any():
                cols = ((series, step, wall, value) if append.all() else
                        (series[append], step[append], wall[append], value[append]))
                self._append(cur, *cols)
                self._rollups.append(conn, *cols, existing)
        for s, a, b in rewrite:
            self._rollups.rebuild_series(conn, s, step[a:b])
        return len(series)

    def _append(self, cur: Any, series: np.ndarray, step: np.ndarray, wall: np.ndarray,
                value: np.ndarray) -> None:
        """Points past every stored step of their series (sorted by series, step): into
        the head, and each series whose head and new points reach CHUNK_POINTS sealed
        into chunks with its head (storage/db/point_chunks.py). A plain INSERT (or COPY)
        can never conflict here: SQLite's BEGIN IMMEDIATE and PostgreSQL's per-run
        advisory lock (taken in _write_points) keep two writers of one run apart."""
        starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        ends = np.r_[starts[1:], len(series)]
        heads = self._head_counts
        unknown = [s for s in series[starts].tolist() if s not in heads]
        if unknown:
            by_run: dict[int, list[int]] = {}
            for s in unknown:
                by_run.setdefault(s >> SERIES_SHIFT, []).append(s & 0xFFFFFFFF)
            for rid, kids in by_run.items():
                found = self._layout.head_counts(cur, rid, kids)
                heads.update(((rid << SERIES_SHIFT) | k, found.get(k, 0)) for k in kids)
        to_head = np.ones(len(series), bool)
        chunks: list[tuple] = []
        rest: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        full: list[tuple[int, int, int]] = []  # series whose head this batch fills
        for s, a, b in zip(series[starts].tolist(), starts.tolist(), ends.tolist()):
            if heads[s] + (b - a) < CHUNK_POINTS:
                heads[s] += b - a
            else:
                full.append((s, a, b))
        # Their heads, taken out of the store per run in one go.
        taken: dict[int, tuple] = {}
        to_take: dict[int, list[int]] = {}
        for s, _, _ in full:
            to_take.setdefault(s >> SERIES_SHIFT, []).append(s & 0xFFFFFFFF)
        for rid, kids in to_take.items():
            taken.update(((rid << SERIES_SHIFT) | k, cols)
                         for k, cols in self._layout.take_heads(cur, rid, kids).items())
        for s, a, b in full:
            to_head[a:b] = False
            rid, kid = s >> SERIES_SHIFT, s & 0xFFFFFFFF
            old = taken[s]
            st, wa, va = (np.concatenate((old[0], step[a:b])), np.concatenate((old[1], wall[a:b])),
                          np.concatenate((old[2], value[a:b])))
            rows, sealed = self._layout.seal(rid, kid, st, wa, va)
            chunks += rows
            if b - a >= CHUNK_POINTS and sealed < len(st):
                # The batch filled a chunk by itself (a loop bound by the log call): its
                # rest is sealed too, as one shorter chunk, rather than written as head
                # rows that the next batch reads back and deletes (a fifth of the
                # writer's time, bench/chunks.py "Ingest").
                chunks.append(self._layout.chunk_row(rid, kid, st[sealed:], wa[sealed:],
                                                     va[sealed:]))
                sealed = len(st)
            rest.append((s, st[sealed:], wa[sealed:], va[sealed:]))
            heads[s] = len(st) - sealed
        if rest:
            to_head_idx = np.flatnonzero(to_head)
            series = np.concatenate([series[to_head_idx]] + [np.full(len(r[1]), r[0], np.int64)
                                                             for r in rest])
            step = np.concatenate([step[to_head_idx]] + [r[1] for r in rest])
            wall = np.concatenate([wall[to_head_idx]] + [r[2] for r in rest])
            value = np.concatenate([value[to_head_idx]] + [r[3] for r in rest])
        self._layout.write_chunks(cur, chunks)
        self._insert_head(cur, series, step, wall, value)

    def _rewrite(self, cur: Any, s: int, step: np.ndarray, wall: np.ndarray,
                 value: np.ndarray) -> None:
        """Points of one series (sorted, each step once) of which some reach back to
        stored steps: what they touch is taken out (the chunks they overlap, and the
        head when they reach past the last sealed step: PointLayout.take_range),
        merged (the batch wins a step; read back from a spool file only with a wall
        time that is not older) and written back."""
        rid, kid = s >> SERIES_SHIFT, s & 0xFFFFFFFF
        old, inner = self._layout.take_range(cur, rid, kid, int(step[0]), int(step[-1]))
        if len(old[0]):
            pos = np.searchsorted(old[0], step)
            hit = pos < len(old[0])
            hit[hit] = old[0][pos[hit]] == step[hit]
            new_wins = np.ones(len(step), bool)
            if self._replay:
                new_wins[hit] = wall[hit] >= old[1][pos[hit]]
            # Each step once: the stored point it replaces goes, and a batch point that
            # loses (replayed with an older wall time) is not taken.
            keep_old = np.ones(len(old[0]), bool)
            keep_old[pos[hit & new_wins]] = False
            st = np.concatenate((old[0][keep_old], step[new_wins]))
            order = np.argsort(st, kind="stable")
            step = st[order]
            wall = np.concatenate((old[1][keep_old], wall[new_wins]))[order]
            value = np.concatenate((old[2][keep_old], value[new_wins]))[order]
        if inner:  # below the head: chunks again, the head untouched
            self._layout.write_chunks(cur, self._layout.inner_rows(rid, kid, step, wall, value))
            return
        self._head_counts.pop(s, None)
        self._put_sorted(cur, rid, kid, step, wall, value)

    def _put_sorted(self, cur: Any, rid: int, kid: int, step: np.ndarray, wall: np.ndarray,
                    value: np.ndarray) -> None:
        """Points past everything still stored of the series, by step: full chunks,
        the rest into the head."""
        rows, sealed = self._layout.seal(rid, kid, step, wall, value)
        self._layout.write_chunks(cur, rows)
        n = len(step) - sealed
        self._insert_head(cur, np.full(n, (rid << SERIES_SHIFT) | kid, np.int64),
                          step[sealed:], wall[sealed:], value[sealed:])

    def _insert_head(self, cur: Any, series: np.ndarray, step: np.ndarray, wall: np.ndarray,
                     value: np.ndarray) -> None:
        """Rows that cannot conflict (see _append) into the head: multi-row INSERT on
        SQLite, binary COPY on PostgreSQL."""
        if len(series) == 0:
            return
        run_id, key_id = series >> SERIES_SHIFT, series & 0xFFFFFFFF
        if self.dialect == "postgresql":
            pgcopy.copy_points(cur, "points_head", run_id, key_id, step, wall, value)
        else:
            self._points_insert.write_columns(cur, (run_id, key_id, step, wall, value))

def _check(batch: Batch) -> None:
    """The store's rules for a batch's few non-point records (storage/write/door.py);
    points are checked as columns, their key names as they are interned."""
    for _, _, values in batch.params:
        door.check_values(values, "param")
    for _, _, values in batch.tags:
        door.check_values(values, "tag")
    for _, _, notes in batch.notes:
        door.check_notes(notes)
    for _, _, status, ended in batch.status:
        door.check_status(status, ended)
    for _, _, from_step, stamp in batch.purges:
        door.check_purge(from_step, stamp)


def _purged_record(rec: tuple, cuts: list[tuple[int, float]]) -> list[tuple]:
    """A points record as purges (from_step, stamp) of its run leave it: whole, with
    only its system/* values, or gone. The record's call stamp decides, never the wall
    time its caller passed.

    >>> from array import array
    >>> rec = (0, "r", 5, 10.0, ("loss", "system/cpu"), array("d", [1.0, 2.0]))
    >>> _purged_record(rec, [(3, 11.0)])
    [(0, 'r', 5, 10.0, ('system/cpu',), array('d', [2.0]))]
    >>> len(_purged_record(rec, [(3, 9.0)])), len(_purged_record(rec, [(6, 11.0)]))
    (1, 1)
    >>> _purged_record((*rec, 99.0), [(3, 11.0)])  # wall time 99.0, logged before the cut
    [(0, 'r', 5, 10.0, ('system/cpu',), array('d', [2.0]), 99.0)]
    """
    step, stamp = rec[2], rec[3]
    if not any(step >= from_step and stamp < before for from_step, before in cuts):
        return [rec]
    values = rec[4] if len(rec) == 5 else dict(zip(rec[4], rec[5]))
    kept = {k: v for k, v in values.items() if k.startswith("system/")}
    if not kept:
        return []
    out = (rec[0], rec[1], step, stamp, tuple(kept), array("d", kept.values()))
    return [out + rec[6:7]]


def _dedupe(series: np.ndarray, step: np.ndarray, wall: np.ndarray,
            value: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sort by (series, step) and keep the point of each step that arrived last: the
    batch holds its records in call order, so the later call wins (a stable sort keeps
    arrival order among equal steps; wall times do not take part).

    >>> s, st, w, v = _dedupe(np.array([1, 1, 1]), np.array([5, 4, 5]),
    ...                       np.array([9e9, 0.0, 1.0]), np.array([1.0, 2.0, 3.0]))
    >>> st.tolist(), v.tolist(), w.tolist()
    ([4, 5], [2.0, 3.0], [0.0, 1.0])
    """
    order = np.lexsort((step, series))  # stable: arrival order among equal keys
    series, step, wall, value = series[order], step[order], wall[order], value[order]
    last = np.r_[(series[1:] != series[:-1]) | (step[1:] != step[:-1]), True]
    return series[last], step[last], wall[last], value[last]
