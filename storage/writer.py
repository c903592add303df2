"""The background writer: a bounded in-memory queue and one thread that batches it
into the store.

Producers (Run.log and friends) only append a tuple to a deque: no lock, no I/O.
The thread wakes at least every `flush_interval` seconds, drains the queue and
writes it in one transaction per batch. When the store is locked too long or
unreachable, batches go to a local spool file and the thread retries with
backoff; when the store is back, spool files are delivered. When producers
outrun the thread, the queue stops growing at `max_pending_points` and further
records go straight to the spool file (buffered, so still no blocking I/O in the
common case), to be delivered as soon as the thread catches up.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from trackboard.storage import spool
from trackboard.storage.engine import WRITER_SQLITE_CACHE_MIB, build_engine
from trackboard.storage.errors import TrackboardError
from trackboard.storage.ingest import Ingestor
from trackboard.storage.migrate import check_schema, check_sqlite_file
from trackboard.storage.records import POINTS, RUN, STATUS, Batch, Record
from trackboard.storage.urls import mask_text, mask_url, parse_url, resolve_url

log = logging.getLogger("trackboard")

_FLUSH = object()  # queue marker: (_FLUSH, event)
HEARTBEAT_INTERVAL = 10.0  # seconds between heartbeats of runs that log nothing


def _is_outage(exc: BaseException) -> bool:
    """Errors worth waiting out (server gone, database locked), as opposed to bugs."""
    if isinstance(exc, (OperationalError, PoolTimeoutError, OSError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    try:
        import psycopg

        if isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.OperationalError):
            return True
    except ImportError:
        pass
    return isinstance(exc, TrackboardError)


class Writer:
    """Moves records from producers to one store. One per (process, store URL)."""

    def __init__(self, store: str | None = None, *, flush_interval: float = 0.5,
                 max_pending_points: int = 1_000_000, batch_points: int = 100_000,
                 spool_directory: Path | None = None, max_backoff: float = 10.0,
                 busy_timeout_ms: int | None = None) -> None:
        self.url = resolve_url(store)
        parse_url(self.url)  # a malformed URL fails here, in the caller, with a clear message
        check_sqlite_file(self.url)  # so does a file that is not a trackboard store
        self.flush_interval = flush_interval
        self.max_pending_points = max_pending_points
        self.batch_points = batch_points
        self.max_backoff = max_backoff
        self._engine_options: dict[str, Any] = {"cache_mib": WRITER_SQLITE_CACHE_MIB}
        if busy_timeout_ms is not None:
            self._engine_options["busy_timeout_ms"] = busy_timeout_ms
        self.spool_directory = spool_directory or spool.spool_dir(self.url)
        self._queue: deque[Record] = deque()
        self._produced = 0   # points queued (producer threads only)
        self._consumed = 0   # points taken off the queue (writer thread only)
        self._runs: dict[str, dict[str, Any]] = {}
        self._live: set[str] = set()  # runs started here and not finished yet
        self._last_beat = 0.0
        self._spool = spool.SpoolWriter(self.spool_directory, self._run_header)
        self._spilling = False
        self._wake = threading.Event()
        self._ready = threading.Event()  # the first connection attempt is over
        self._woken = False  # a full-batch wake-up is pending (saves producers Event.set calls)
        self._closing = False
        self._engine: Engine | None = None
        self._ingestor: Ingestor | None = None
        self._outage_since: float | None = None
        self._retry_at = 0.0
        self._backoff = 0.25
        self._reported: set[str] = set()
        self.points_written = 0
        self.points_spooled = 0
        self.points_lost = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run_thread, name="trackboard-writer",
                                        daemon=True)
        self._thread.start()

    # -- producer side (the training loop) -----------------------------------------

    def submit(self, record: Record, points: int = 0) -> None:
        """Queue one record. Never blocks on I/O, never raises on storage trouble."""
        if record[0] == RUN:
            self._runs[record[1]["uid"]] = record[1]
            self._live.add(record[1]["uid"])
        elif record[0] == STATUS:
            self._live.discard(record[1])
        pending = self._produced - self._consumed
        if self._spilling or pending > self.max_pending_points:
            self._spill(record)
            return
        self._produced += points
        self._queue.append(record)
        if pending >= self.batch_points and not self._woken:
            # A full batch is waiting: write it now rather than at the next tick.
            self._woken = True
            self._wake.set()

    def _spill(self, record: Record) -> None:
        if not self._spilling:
            self._spilling = True
            self._report("spill", "trackboard: logging outpaces the store; records wait in "
                         f"the spool ({self.spool_directory}) and are delivered as it catches up",
                         level=logging.INFO)
        try:
            self._spool.append([record])
            if record[0] == POINTS:
                self.points_spooled += len(record[4])
        except OSError as exc:
            if record[0] == POINTS:
                self.points_lost += len(record[4])
            self._report("spool-error", f"trackboard: cannot write the spool file: {exc}; "
                         "points are being dropped")

    def wait_ready(self, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until the thread has tried its first
        connection, whatever came of it. A training loop that keeps the interpreter
        busy slows every step of connecting twentyfold (the thread waits up to a
        switch interval for the GIL after each network round trip: 0.4 s instead of
        0.02 s to PostgreSQL), so Run waits for this before handing control back."""
        return self._ready.wait(timeout)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until everything queued so far is in the store (or spooled, during an
        outage). Returns False on timeout."""
        if not self._thread.is_alive():
            return not self._queue
        done = threading.Event()
        self._queue.append((_FLUSH, done))
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is pending (bounded by `timeout`), then stop. Idempotent."""
        if self._closing:
            return
        self.flush(timeout)
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._queue:  # the thread did not finish in time: keep the rest on disk
            self._spool_records(self._drain_all())
        path = self._spool.close()
        if path is not None:
            self._report("left", f"trackboard: {self.points_spooled} points could not reach "
                         f"{mask_url(self.url)} and wait in {path}; they are delivered by "
                         "`trackboard sync` or the next run that logs to this store")
        if self.points_lost:
            self._report("lost", f"trackboard: {self.points_lost} points were lost "
                         f"({self.last_error})")
        if self._engine is not None:
            self._engine.dispose()

    @property
    def healthy(self) -> bool:
        return self._outage_since is None

    def _run_header(self) -> list[Record]:
        return [(RUN, r) for r in list(self._runs.values())]

    # -- the thread ------------------------------------------------------------------

    def _run_thread(self) -> None:
        try:
            self._try_connect()
            self._ready.set()
            if self._ingestor is not None:
                self._deliver_spool()  # left behind by runs that ended during an outage
        except Exception as exc:
            log.debug("trackboard writer error", exc_info=True)
            self._report("bug", f"trackboard: writer error: {mask_text(repr(exc))}")
        self._ready.set()
        while True:
            try:
                self._cycle()
            except Exception as exc:  # a bug of ours must not kill the thread silently
                log.debug("trackboard writer error", exc_info=True)
                self.last_error = repr(exc)
                self._report("bug", f"trackboard: writer error: {mask_text(repr(exc))}")
                self._release_markers()
            if self._closing and not self._queue:
                return
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._woken = False

    def _cycle(self) -> None:
        while self._queue:
            records, markers = self._drain(self.batch_points)
            if records:
                self._deliver(records)
            if markers:
                if self._spilling:
                    self._unspill()
                for done in markers:
                    done.set()
        if self._spilling and not self._queue:
            self._unspill()
        self._heartbeat()
        if self._outage_since is not None and time.monotonic() >= self._retry_at:
            self._try_connect()
            if self._ingestor is not None and self._outage_since is None:
                self._spool.close()
                self._deliver_spool()
        self._spool.flush()

    def _heartbeat(self) -> None:
        """Keep quiet runs from looking crashed: a heartbeat at least every 10 s."""
        now = time.time()
        if (now - self._last_beat < HEARTBEAT_INTERVAL or not self._live
                or self._ingestor is None or self._outage_since is not None):
            return
        batch = Batch(runs={u: self._runs[u] for u in list(self._live) if u in self._runs})
        try:
            self._ingestor.apply(batch, heartbeat=now)
            self._last_beat = now
        except Exception as exc:
            self._failed([], exc)

    def _drain(self, limit: int) -> tuple[list[Record], list[threading.Event]]:
        records: list[Record] = []
        markers: list[threading.Event] = []
        points = 0
        q = self._queue
        while q and points < limit:
            rec = q.popleft()
            if rec[0] is _FLUSH:
                markers.append(rec[1])
                break  # everything before the marker is in `records`
            if rec[0] == POINTS:
                points += len(rec[4])
            records.append(rec)
        self._consumed += points
        return records, markers

    def _release_markers(self) -> None:
        """After an unexpected error, don't leave flush() callers waiting forever."""
        for rec in list(self._queue):
            if rec[0] is _FLUSH:
                rec[1].set()

    def _drain_all(self) -> list[Record]:
        out = []
        while self._queue:
            rec = self._queue.popleft()
            if rec[0] is not _FLUSH:
                out.append(rec)
        return out

    def _deliver(self, records: list[Record]) -> None:
        if self._outage_since is not None or self._ingestor is None:
            self._spool_records(records)
            return
        batch = Batch()
        for rec in records:
            batch.add(rec)
        for uid in batch.uids():
            if uid in self._runs:
                batch.runs.setdefault(uid, self._runs[uid])
        try:
            now = time.time()
            self.points_written += self._ingestor.apply(batch, heartbeat=now)
            self._last_beat = now
            self._backoff = 0.25
        except Exception as exc:
            self._failed(batch.records(), exc)

    def _failed(self, records: list[Record], exc: BaseException) -> None:
        self.last_error = mask_text(f"{type(exc).__name__}: {exc}").splitlines()[0]
        if _is_outage(exc):
            self._start_outage()
            self._spool_records(records)
        else:
            # Not something waiting fixes: keep the records in a side file for inspection.
            n = sum(len(r[4]) for r in records if r[0] == POINTS)
            self.points_lost += n
            path = self._dead_letter(records)
            self._report("rejected", f"trackboard: the store rejected {n} points "
                         f"({self.last_error}); kept in {path}")

    def _start_outage(self) -> None:
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            self._report("outage", f"trackboard: {mask_url(self.url)} is unavailable "
                         f"({self.last_error}); logging continues into the local spool "
                         f"{self.spool_directory} and is delivered when it is back")
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.max_backoff)

    def _spool_records(self, records: list[Record]) -> None:
        if not records:
            return
        try:
            self._spool.append(records)
            self.points_spooled += sum(len(r[4]) for r in records if r[0] == POINTS)
        except OSError as exc:
            self.points_lost += sum(len(r[4]) for r in records if r[0] == POINTS)
            self.last_error = f"spool: {exc}"
            self._report("spool-error", f"trackboard: cannot write the spool file: {exc}")

    def _unspill(self) -> None:
        """The thread caught up: deliver what producers spilled while it was behind."""
        self._spilling = False
        if self._outage_since is None:
            self._spool.close()
            self._deliver_spool()

    def _try_connect(self) -> None:
        try:
            if self._engine is None:
                self._engine = build_engine(self.url, **self._engine_options)
            if self._ingestor is None:
                check_schema(self._engine)
                self._ingestor = Ingestor(self._engine)
            else:
                self._probe()
        except Exception as exc:
            self.last_error = mask_text(f"{type(exc).__name__}: {exc}").splitlines()[0]
            if isinstance(exc, TrackboardError) and not _is_outage(exc):
                self._report("schema", f"trackboard: {exc}")
            self._start_outage()
            return
        if self._outage_since is not None:
            log.warning("trackboard: %s is back after %.1f s; delivering the spool",
                        mask_url(self.url), time.monotonic() - self._outage_since)
        self._outage_since = None
        self._backoff = 0.25

    def _probe(self) -> None:
        """Raise unless the store takes writes again (on SQLite a read would succeed
        while another process still holds the write lock)."""
        assert self._engine is not None
        with self._engine.connect() as conn:
            if self._engine.dialect.name == "sqlite":
                with conn.execution_options(sqlite_begin="IMMEDIATE").begin():
                    pass
            else:
                conn.execute(text("SELECT 1"))

    def _deliver_spool(self) -> None:
        """Deliver every spool file of this store that no live writer holds."""
        assert self._ingestor is not None
        for path, fh in spool.claimable(self.spool_directory):
            try:
                if not self._deliver_file(path):
                    return
                path.unlink()
            finally:
                fh.close()

    def _deliver_file(self, path: Path) -> bool:
        assert self._ingestor is not None
        batch = Batch()
        runs: dict[str, dict[str, Any]] = {}
        points = 0
        for chunk in spool.read_spool(path):
            for rec in chunk:
                if rec[0] == RUN:
                    runs[rec[1]["uid"]] = rec[1]
                elif rec[0] == POINTS:
                    points += len(rec[4])
                batch.add(rec)
            if points >= self.batch_points:
                if not self._apply_replay(batch, runs):
                    return False
                batch, points = Batch(), 0
        return self._apply_replay(batch, runs) if batch else True

    def _apply_replay(self, batch: Batch, runs: dict[str, dict[str, Any]]) -> bool:
        assert self._ingestor is not None
        for uid in batch.uids():
            if uid in runs:
                batch.runs.setdefault(uid, runs[uid])
        try:
            self._ingestor.apply(batch)
            self.points_written += batch.point_count()
            return True
        except Exception as exc:
            self.last_error = mask_text(f"{type(exc).__name__}: {exc}").splitlines()[0]
            if _is_outage(exc):
                self._start_outage()
            else:
                self._report("replay", f"trackboard: could not deliver a spool file: "
                             f"{self.last_error}")
            return False

    def _dead_letter(self, records: list[Record]) -> Path | None:
        try:
            dead = spool.SpoolWriter(self.spool_directory / "rejected", self._run_header)
            dead.append(records)
            return dead.close()
        except OSError:
            return None

    def _report(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        """Say each kind of trouble once per writer, not once per point."""
        if kind in self._reported:
            return
        self._reported.add(kind)
        log.log(level, mask_text(message))


# -- one writer per (process, store) ------------------------------------------------

_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()


def writer_for(store: str | None = None, **kwargs: Any) -> Writer:
    """The shared writer of this process for a store URL (started on first use)."""
    url = resolve_url(store)
    with _writers_lock:
        w = _writers.get(url)
        if w is None or w._closing:
            w = _writers[url] = Writer(url, **kwargs)
        return w


def close_all(timeout: float = 30.0) -> None:
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for w in writers:
        w.close(timeout)


def _forget_after_fork() -> None:
    # A forked child (e.g. a DataLoader worker) has the parent's writers but not
    # their threads: it starts its own on first use.
    _writers.clear()


atexit.register(close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
