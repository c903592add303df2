"""The background writer: an in-memory queue, one thread that batches it into the
store, and one guard thread that keeps what waits in memory on disk too.

Producers (Run.log and friends) only append a tuple to a deque: no lock, no I/O.
The writer thread wakes at least every `flush_interval` seconds (0.2 s; at once when a
full batch waits), takes the oldest records and writes them in one transaction per batch.

A process can be killed at any moment (kill -9, OOM), so what waits in memory must not
wait there long: the guard thread wakes every 0.1 s, and every record that has waited
more than `spill_age` seconds (0.5 s) without being stored, the batch in flight
included, is appended to the local spool file, in order, straight to the OS. A writer
that keeps up stores every record well before that (it wakes every 0.2 s), so the spool
is written only while the store falls behind: a burst, an outage. When the
store has everything in a spool file, the file is deleted; after a kill,
`trackboard sync` (or the next run) delivers it, and since points are upserted with
"later call wins" by wall time, and batches that rewrite stored steps recompute their
roll-ups from the stored points, a record both stored and spooled is never counted
twice. So a kill loses at most the last ~0.6 s of records, also during a burst that
the store cannot keep up with.

When the store is locked too long or unreachable, or the backlog in memory passes
`max_pending_points`, records go to the spool only (and leave memory); the writer
retries with backoff and delivers spool files when the store is back. A batch the
store rejects for any other reason is split until only the offending records are set
aside (storage/write/delivery.py). Trouble is reported once per episode: an outage is said
once when it starts and once when the store has stayed healthy for `settle_s` seconds,
however often it flaps in between.
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
from trackboard.storage.db.engine import WRITER_SQLITE_CACHE_MIB, build_engine
from trackboard.storage.db.migrate import check_schema, check_sqlite_file
from trackboard.storage.db.urls import mask_text, mask_url, parse_url, resolve_url
from trackboard.storage.errors import TrackboardError
from trackboard.storage.write import spool
from trackboard.storage.write.delivery import Delivery, Interrupted, is_outage, one_line
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import POINTS, RUN, STATUS, Batch, Record

log = logging.getLogger("trackboard")

_FLUSH = object()  # queue marker: (_FLUSH, event)
_DISK = object()  # staged marker: the records before it wait in closed spool files
HEARTBEAT_INTERVAL = 10.0  # seconds between heartbeats of runs that log nothing
# Seconds a record may wait in memory before it is also spooled. Longer than the
# writer's wake-up interval, or a writer that keeps up would spool half of everything
# (measured: 212 of 390 records of a steady 100-calls/s loop, with 0.25 s and 0.5 s).
SPILL_AGE = 0.5
GUARD_TICK = 0.1  # seconds between the guard thread's looks at what waits
SETTLE_S = 5.0  # seconds the store must stay healthy before an outage is over
_EPISODE_KINDS = ("outage", "spool-error", "spill", "replay")  # said once per episode


def _is_outage(exc: BaseException) -> bool:  # kept for callers of the old name
    return is_outage(exc)


class _Chunk:
    """Records staged together: `since` is a time before any of them was queued;
    `segment` is the spool file they were also written to (None: memory only)."""

    __slots__ = ("records", "points", "markers", "since", "segment", "end")

    def __init__(self, records: list[Record], points: int, markers: int, since: float,
                 segment: spool.SpoolWriter | None = None, end: int = 0) -> None:
        self.records = records
        self.points = points
        self.markers = markers
        self.since = since
        self.segment = segment
        self.end = end  # records in `segment` up to the last of these


class Writer:
    """Moves records from producers to one store. One per (process, store URL)."""

    def __init__(self, store: str | None = None, *, flush_interval: float = 0.2,
                 max_pending_points: int = 1_000_000, batch_points: int = 100_000,
                 spool_directory: Path | None = None, max_backoff: float = 10.0,
                 busy_timeout_ms: int | None = None, spill_age: float = SPILL_AGE,
                 settle_s: float = SETTLE_S) -> None:
        self.url = resolve_url(store)
        parse_url(self.url)  # a malformed URL fails here, in the caller, with a clear message
        check_sqlite_file(self.url)  # so does a file that is not a trackboard store
        self.flush_interval = flush_interval
        self.max_pending_points = max_pending_points
        self.batch_points = batch_points
        self.max_backoff = max_backoff
        self.spill_age = spill_age
        self.settle_s = settle_s
        self._engine_options: dict[str, Any] = {"cache_mib": WRITER_SQLITE_CACHE_MIB}
        if busy_timeout_ms is not None:
            self._engine_options["busy_timeout_ms"] = busy_timeout_ms
        self.spool_directory = spool_directory or spool.spool_dir(self.url)
        self._queue: deque[Record] = deque()
        self._produced = 0   # points queued (producer threads only)
        # Points that left the waiting line: taken by the writer thread or moved to disk
        # (under _lock). Staging does not count: the guard stages every 0.1 s, and if that
        # reset the producers' count, a full batch would wait for the guard's next tick
        # instead of waking the writer at once.
        self._consumed = 0
        self._runs: dict[str, dict[str, Any]] = {}
        self._live: set[str] = set()  # runs started here and not finished yet
        self._last_beat = 0.0
        # Staging: under _lock, the queue is moved into chunks that the writer thread
        # takes batches from and the guard thread spools once they are old.
        self._lock = threading.Lock()
        self._staged: deque[Any] = deque()  # _Chunk or _DISK
        self._staged_points = 0
        self._inflight: list[_Chunk] = []
        self._last_stage = time.monotonic()
        self._journal: spool.SpoolWriter | None = None
        # Files the backlog was moved to (overflow): kept open until the writer gets to
        # them, so that it can still note in them what of the batch in flight it stored.
        self._retired: list[spool.SpoolWriter] = []
        self._wake = threading.Event()
        self._guard_wake = threading.Event()
        self._ready = threading.Event()  # the first connection attempt is over
        self._woken = False  # a full-batch wake-up is pending (saves producers Event.set calls)
        self._guard_woken = False
        self._closing = False
        self._stopping = False
        self._engine: Engine | None = None
        self._ingestor: Ingestor | None = None
        self._delivery: Delivery | None = None
        self._outage_since: float | None = None  # the store fails now
        self._episode_since: float | None = None  # first failure of the current episode
        self._healthy_since: float | None = None
        self._episode_delivered = 0
        self._retry_at = 0.0
        self._backoff = 0.25
        self._reported: set[str] = set()
        self.points_spooled = 0
        self.points_lost = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run_thread, name="trackboard-writer",
                                        daemon=True)
        self._guard = threading.Thread(target=self._guard_thread, name="trackboard-spool-guard",
                                       daemon=True)
        self._thread.start()
        self._guard.start()

    # -- producer side (the training loop) -----------------------------------------

    def submit(self, record: Record, points: int = 0) -> None:
        """Queue one record. Never blocks on I/O, never raises on storage trouble."""
        if record[0] == RUN:
            self._runs[record[1]["uid"]] = record[1]
            self._live.add(record[1]["uid"])
        elif record[0] == STATUS:
            self._live.discard(record[1])
        self._queue.append(record)
        self._produced += points
        pending = self._produced - self._consumed
        if pending >= self.batch_points:
            if not self._woken:
                # A full batch is waiting: write it now rather than at the next tick.
                self._woken = True
                self._wake.set()
            if pending > self.max_pending_points and not self._guard_woken:
                self._guard_woken = True  # the backlog is too big to keep in memory
                self._guard_wake.set()

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
            return not self._queue and not self._staged
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
        self._stopping = True
        self._guard_wake.set()
        self._guard.join(timeout)
        with self._lock:
            self._stage_locked()
            # What the thread did not finish in time stays on disk.
            left = [c for c in (*self._inflight, *self._staged) if c is not _DISK]
            if left:
                self._to_disk_locked(left)
            self._close_retired_locked()
            path = None
            if self._journal is not None:
                keep = self._journal.keep or self._journal.unconfirmed > 0
                path = self._journal.close(keep=keep)
                self._journal = None
        waiting = spool.pending_files(self.spool_directory)
        if path is not None or (waiting and not self.healthy):
            self._report("left", f"trackboard: {self.points_spooled} points could not reach "
                         f"{mask_url(self.url)} and wait in {path or self.spool_directory}; "
                         "they are delivered by `trackboard sync` or the next run that logs "
                         "to this store")
        if self._delivery is not None:
            rejected = self._delivery.close()
            if rejected is not None and self._delivery.rejections > 1:
                self._report("rejected-total", f"trackboard: {self._delivery.rejected_records} "
                             f"record(s) ({self._delivery.rejected_points} points) the store "
                             f"refused are set aside in {rejected}")
        if self.points_lost:
            self._report("lost", f"trackboard: {self.points_lost} points were lost "
                         f"({self.last_error})")
        if self._engine is not None:
            self._engine.dispose()

    @property
    def healthy(self) -> bool:
        return self._outage_since is None

    @property
    def points_written(self) -> int:
        """Points stored so far (from memory and from spool files), counted as they go."""
        return self._delivery.delivered if self._delivery is not None else 0

    @property
    def points_rejected(self) -> int:
        """Points the store refused (set aside in the spool folder's rejected/)."""
        return self._delivery.rejected_points if self._delivery is not None else 0

    def _run_header(self) -> list[Record]:
        return [(RUN, r) for r in list(self._runs.values())]

    # -- staging (under _lock) -------------------------------------------------------

    def _stage_locked(self) -> None:
        """Move what producers queued into a chunk (no producer ever waits for this)."""
        now = time.monotonic()
        q = self._queue
        n = len(q)
        since, self._last_stage = self._last_stage, now
        if not n:
            return
        pop = q.popleft
        records = [pop() for _ in range(n)]
        points = markers = 0
        for rec in records:
            op = rec[0]
            if op == POINTS:
                points += len(rec[4])
            elif op is _FLUSH:
                markers += 1
        self._staged.append(_Chunk(records, points, markers, since))
        self._staged_points += points

    def _take_locked(self) -> Any:
        """The next batch: a list of chunks (at most `batch_points` points, ending at the
        first flush marker), _DISK, or an empty list."""
        self._stage_locked()
        taken: list[_Chunk] = []
        points = 0
        staged = self._staged
        while staged and points < self.batch_points:
            item = staged[0]
            if item is _DISK:
                if taken:
                    break
                staged.popleft()
                return _DISK
            need = self.batch_points - points
            if not item.markers and item.points <= need:
                staged.popleft()
                taken.append(item)
                points += item.points
                self._staged_points -= item.points
                continue
            cut, got, marker = len(item.records), 0, False
            for i, rec in enumerate(item.records):
                op = rec[0]
                if op is _FLUSH:
                    cut, marker = i + 1, True
                    break
                if op == POINTS:
                    got += len(rec[4])
                    if got >= need:
                        cut = i + 1
                        break
            if cut == len(item.records):
                staged.popleft()
                taken.append(item)
            else:
                item.records, head = item.records[cut:], item.records[:cut]
                item.points -= got
                item.markers -= int(marker)
                taken.append(_Chunk(head, got, int(marker), item.since, item.segment,
                                    item.end - (len(item.records) - item.markers)))
            points += got
            self._staged_points -= got
            if marker:
                break
        self._consumed += points
        return taken

    def _journal_locked(self, chunks: list[_Chunk]) -> bool:
        """Append chunks (in order) to the current spool file. False if it failed."""
        if self._journal is None:
            self._journal = spool.SpoolWriter(self.spool_directory, self._run_header)
        journal = self._journal
        records = [r for c in chunks for r in c.records if r[0] is not _FLUSH]
        end = journal.records
        try:
            bad = journal.append(records)
        except OSError as exc:
            self.last_error = f"spool: {exc}"
            self._report("spool-error", f"trackboard: cannot write the spool file in "
                         f"{self.spool_directory}: {exc}")
            return False
        if bad:
            self.points_lost += sum(len(r[4]) for r in bad if r[0] == POINTS)
            self._report("unspoolable", f"trackboard: {len(bad)} record(s) hold values "
                         "that are not plain data and cannot be spooled; they are dropped")
        for c in chunks:
            end += len(c.records) - c.markers
            c.segment, c.end = journal, end
            journal.unconfirmed += len(c.records)
        return True

    def _to_disk_locked(self, chunks: list[_Chunk]) -> None:
        """These chunks leave memory: they must be (and stay) in a spool file."""
        fresh = [c for c in chunks if c.segment is None]
        if fresh and not self._journal_locked(fresh):
            self.points_lost += sum(c.points for c in fresh)
            chunks = [c for c in chunks if c.segment is not None]
        for c in chunks:
            segment = c.segment
            assert segment is not None
            segment.keep = True
            start = c.end - (len(c.records) - c.markers)
            if segment.mark_limit is None or start < segment.mark_limit:
                segment.mark_limit = start
            self.points_spooled += c.points

    def _confirm_locked(self, chunks: list[_Chunk]) -> None:
        """The store has these chunks: a spool file whose every record is stored goes;
        in any other, a note says how far the store has it."""
        ends: dict[spool.SpoolWriter, int] = {}
        for c in chunks:
            if c.segment is not None:
                c.segment.unconfirmed -= len(c.records)
                if len(c.records) > c.markers:  # flush markers alone prove nothing
                    ends[c.segment] = max(ends.get(c.segment, 0), c.end)
        journal = self._journal
        if journal is not None and journal.unconfirmed <= 0 and not journal.keep:
            journal.close(keep=False)
            self._journal = None
        for segment, end in ends.items():
            if segment is self._journal or segment in self._retired:
                # Stored in order, so everything in the file up to here is stored: a
                # replay starts after it (rewriting stored points costs far more).
                try:
                    segment.mark_stored(end)
                except OSError:
                    pass  # the replay rewrites these points again: slower, still exact

    def _close_retired_locked(self) -> None:
        for segment in self._retired:
            segment.close(keep=True)
        self._retired = []

    # -- the guard thread --------------------------------------------------------------

    def _guard_thread(self) -> None:
        while not self._stopping:
            self._guard_wake.wait(GUARD_TICK)
            self._guard_wake.clear()
            self._guard_woken = False
            try:
                with self._lock:
                    self._stage_locked()
                    self._protect_locked()
                    full = self._staged_points >= self.batch_points
                if full and not self._woken:
                    # Staging here resets the producers' count of what waits, which is
                    # what wakes the writer for a full batch: wake it in their stead.
                    self._woken = True
                    self._wake.set()
            except Exception as exc:  # a bug of ours must not kill the thread silently
                log.debug("trackboard spool guard error", exc_info=True)
                self._report("bug", f"trackboard: writer error: {mask_text(repr(exc))}")

    def _protect_locked(self) -> None:
        """Spool every record that has waited more than `spill_age` without being
        stored (oldest first, the batch in flight included); past `max_pending_points`,
        spool everything and let it leave memory."""
        over = self._staged_points > self.max_pending_points
        limit = time.monotonic() - self.spill_age
        todo = [c for c in self._inflight if c.segment is None and (over or c.since <= limit)]
        for item in self._staged:
            if item is _DISK or item.segment is not None:
                continue
            if not (over or item.since <= limit):
                break  # the rest is younger still
            todo.append(item)
        if todo and not self._journal_locked(todo):
            return
        if over:
            self._overflow_locked()

    def _overflow_locked(self) -> None:
        """The backlog is past `max_pending_points`: it is all in the spool file now,
        so let it go from memory; the writer delivers the file when it gets there."""
        markers: list[Record] = []
        chunks = [c for c in self._staged if c is not _DISK]
        for c in chunks:
            if c.markers:
                markers.extend(r for r in c.records if r[0] is _FLUSH)
        self._to_disk_locked(chunks)
        if self._journal is not None:
            # New records go to a new file: the writer delivers this one from disk.
            self._retired.append(self._journal)
            self._journal = None
        self._staged = deque([_DISK])
        if markers:
            self._staged.append(_Chunk(markers, 0, len(markers), time.monotonic()))
        self._consumed += self._staged_points
        self._staged_points = 0
        self._report("spill", "trackboard: logging outpaces the store; records wait in "
                     f"the spool ({self.spool_directory}) and are delivered as it catches up",
                     level=logging.INFO)

    # -- the writer thread -------------------------------------------------------------

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
            if self._closing and not self._queue and not self._staged:
                return
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._woken = False

    def _cycle(self) -> None:
        while True:
            with self._lock:
                batch = self._take_locked()
                if batch is not _DISK:
                    self._inflight = batch
            if batch is _DISK:
                with self._lock:
                    self._close_retired_locked()  # the batch in flight is done: noted
                if self._outage_since is None and self._ingestor is not None:
                    self._deliver_spool()
                continue
            if not batch:
                break
            try:
                self._deliver(batch)
            finally:
                with self._lock:
                    self._inflight = []
        self._heartbeat()
        if self._outage_since is not None and time.monotonic() >= self._retry_at:
            self._try_connect()
            if self._ingestor is not None and self._outage_since is None:
                with self._lock:
                    self._close_retired_locked()
                    if self._journal is not None and self._journal.keep:
                        self._journal.close(keep=True)  # so that it can be delivered
                        self._journal = None
                self._deliver_spool()
        self._settle()

    def _deliver(self, chunks: list[_Chunk]) -> None:
        records: list[Record] = []
        markers: list[threading.Event] = []
        for c in chunks:
            if c.markers:
                for rec in c.records:
                    if rec[0] is _FLUSH:
                        markers.append(rec[1])
                    else:
                        records.append(rec)
            else:
                records.extend(c.records)
        try:
            if not records:
                with self._lock:
                    self._confirm_locked(chunks)  # flush markers only
                return
            if self._outage_since is not None or self._delivery is None:
                with self._lock:
                    self._to_disk_locked(chunks)
                return
            now = time.time()
            try:
                self._delivery.deliver(records, self._runs, heartbeat=now)
            except Interrupted as exc:
                self._start_outage(exc.cause)
                with self._lock:
                    # Also what was stored before the outage hit: delivering it again
                    # is harmless, telling it apart is not worth the risk.
                    self._to_disk_locked(chunks)
                return
            self._last_beat = now
            with self._lock:
                self._confirm_locked(chunks)
        finally:
            for done in markers:
                done.set()

    def _heartbeat(self) -> None:
        """Keep quiet runs from looking crashed: a heartbeat at least every 10 s."""
        now = time.time()
        if (now - self._last_beat < HEARTBEAT_INTERVAL or not self._live
                or self._ingestor is None or self._outage_since is not None):
            return
        poisoned = self._delivery.poisoned_runs if self._delivery is not None else set()
        batch = Batch(runs={u: self._runs[u] for u in list(self._live)
                            if u in self._runs and u not in poisoned})
        try:
            self._ingestor.apply(batch, heartbeat=now)
            self._last_beat = now
        except Exception as exc:
            if is_outage(exc):
                self._start_outage(exc)
            else:
                self._last_beat = now  # not worth retrying every cycle
                self._report("heartbeat", f"trackboard: heartbeat refused: {one_line(exc)}")

    def _release_markers(self) -> None:
        """After an unexpected error, don't leave flush() callers waiting forever."""
        with self._lock:
            self._stage_locked()
            for item in self._staged:
                if item is not _DISK and item.markers:
                    for rec in item.records:
                        if rec[0] is _FLUSH:
                            rec[1].set()

    # -- outages and their episodes -------------------------------------------------

    def _start_outage(self, exc: BaseException) -> None:
        self.last_error = one_line(exc)
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
        self._healthy_since = None
        if self._episode_since is None:
            self._episode_since = now
            self._episode_delivered = self.points_written
            self._report("outage", f"trackboard: {mask_url(self.url)} is unavailable "
                         f"({self.last_error}); logging continues into the local spool "
                         f"{self.spool_directory} and is delivered when it is back")
        self._retry_at = now + self._backoff
        # Not reset while the episode lasts: a store that flaps is retried less and less.
        self._backoff = min(self._backoff * 2, self.max_backoff)

    def _settle(self) -> None:
        """End the episode once the store has stayed healthy for `settle_s` seconds:
        say once that it is back, and let the next episode's trouble be said again."""
        if (self._episode_since is None or self._healthy_since is None
                or time.monotonic() - self._healthy_since < self.settle_s):
            return
        log.warning("trackboard: %s is back (unavailable for %.1f s, stable since); %d points "
                    "delivered since the trouble began", mask_url(self.url),
                    self._healthy_since - self._episode_since,
                    self.points_written - self._episode_delivered)
        self._episode_since = None
        self._backoff = 0.25
        self._reported.difference_update(_EPISODE_KINDS)

    def _try_connect(self) -> None:
        try:
            if self._engine is None:
                self._engine = build_engine(self.url, **self._engine_options)
            if self._ingestor is None:
                check_schema(self._engine)
                self._ingestor = Ingestor(self._engine)
                self._delivery = Delivery(self._ingestor, self.spool_directory, self._report,
                                          self._run_header)
            else:
                self._probe()
        except Exception as exc:
            if isinstance(exc, TrackboardError) and not is_outage(exc):
                self._report("schema", f"trackboard: {exc}")
            self._start_outage(exc)
            return
        if self._outage_since is not None:
            self._outage_since = None
            self._healthy_since = time.monotonic()

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
        assert self._delivery is not None
        for path, fh in spool.claimable(self.spool_directory):
            try:
                result = self._delivery.deliver_file(path, self.batch_points)
            finally:
                fh.close()
            if result.outcome == "rejected":
                log.warning("trackboard: spool file %s: %s; moved to %s", path.name,
                            result.reason, path.parent / spool.REJECTED)
            if result.outcome == "waiting":
                if isinstance(result.cause, BaseException):
                    self._start_outage(result.cause)
                else:
                    self._report("replay", f"trackboard: spool file {path}: {result.reason}")
                return

    def _report(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        """Say each kind of trouble once per episode (once per writer for most), not
        once per point or per retry."""
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
