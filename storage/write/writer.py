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

Both budgets, `batch_points` and `max_pending_points`, count media records by their
bytes (records.record_weight: a 256 x 256 RGB image counts as 6,145 points), so a burst
of images wakes the writer, fills a batch and leaves memory for the spool as a burst of
points does.

This module holds the queue and the two threads; staging.py what waits (chunks, batches,
the spool journal); link.py the store's side (connecting, outages and their episodes,
heartbeats, replay of spool files); delivery.py the delivery of records and spool files
with poison isolation (dead letters); spool/ the files themselves.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from trackboard.storage.db.engine import WRITER_SQLITE_CACHE_MIB
from trackboard.storage.db.migrate import check_sqlite_file
from trackboard.storage.db.urls import mask_text, mask_url, parse_url, resolve_url
from trackboard.storage.write import spool
from trackboard.storage.write.fork import (
    InheritedByFork,
    after_fork_in_parent,
    before_fork,
    close_at_process_exit,
)
from trackboard.storage.write.link import HEARTBEAT_INTERVAL, SETTLE_S, StoreLink
from trackboard.storage.write.records import RUN, Record, describe_count
from trackboard.storage.write.staging import DISK, FLUSH, Chunk, Staging

log = logging.getLogger("trackboard")

# Seconds a record may wait in memory before it is also spooled. Longer than the
# writer's wake-up interval, or a writer that keeps up would spool half of everything
# (measured: 212 of 390 records of a steady 100-calls/s loop, with 0.25 s and 0.5 s).
SPILL_AGE = 0.5
GUARD_TICK = 0.1  # seconds between the guard thread's looks at what waits


class Writer(InheritedByFork):
    """Moves records from producers to one store. One per (process, store URL).

    A producer that starts a run says so with `register_run(record)` (it queues the
    run's RUN record too) and `run_ended(uid)`; everything else it logs goes through
    `submit`. The writer keeps the registered runs' records to head every spool file
    and every batch that refers to them, and sends heartbeats for the live ones.

    >>> w = writer_for("sqlite:///runs.db")  # doctest: +SKIP
    >>> w.register_run({"uid": "r1", "project": "p", "name": "first", "framework": None,
    ...                 "host": "h", "git_commit": None, "command": "train.py",
    ...                 "created_at": time.time(), "status": "running"})  # doctest: +SKIP
    >>> w.submit((POINTS, "r1", 0, time.time(), ("loss",), array("d", [0.5])), 1)  # doctest: +SKIP
    >>> w.run_ended("r1"); w.submit((STATUS, "r1", "finished", time.time()))  # doctest: +SKIP
    >>> w.flush()  # doctest: +SKIP
    True
    """

    def __init__(self, store: str | None = None, *, flush_interval: float = 0.2,
                 max_pending_points: int = 1_000_000, batch_points: int = 100_000,
                 spool_directory: Path | None = None, max_backoff: float = 10.0,
                 busy_timeout_ms: int | None = None, spill_age: float = SPILL_AGE,
                 settle_s: float = SETTLE_S,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL) -> None:
        self.url = resolve_url(store)
        parse_url(self.url)  # a malformed URL fails here, in the caller, with a clear message
        check_sqlite_file(self.url)  # so does a file that is not a trackboard store
        self.flush_interval = flush_interval
        self.max_pending_points = max_pending_points
        self.batch_points = batch_points
        engine_options: dict[str, Any] = {"cache_mib": WRITER_SQLITE_CACHE_MIB}
        if busy_timeout_ms is not None:
            engine_options["busy_timeout_ms"] = busy_timeout_ms
        self.spool_directory = spool_directory or spool.spool_dir(self.url)
        self._runs: dict[str, dict[str, Any]] = {}  # registered runs' records, by uid
        self._live: set[str] = set()  # runs registered here and not ended yet
        self._parts = {"engine_options": engine_options, "max_backoff": max_backoff,
                       "settle_s": settle_s, "heartbeat_interval": heartbeat_interval,
                       "spill_age": spill_age}
        self._fresh()
        self._thread.start()
        self._guard.start()
        close_at_process_exit(self)
        _every_writer.add(self)

    def _fresh(self) -> None:
        """The queue, the store link, the staging, the two threads (not started)."""
        p = self._parts
        # Held while the writer thread is inside the store or its driver (see fork.py).
        self.fork_gate = threading.Lock()
        self._link = StoreLink(self.url, self.spool_directory, self._run_header,
                               engine_options=p["engine_options"], max_backoff=p["max_backoff"],
                               settle_s=p["settle_s"], heartbeat_interval=p["heartbeat_interval"],
                               gate=self.fork_gate)
        self._queue: deque[Record] = deque()
        self._produced = 0   # weight queued (producer threads only): records.record_weight
        self._staging = Staging(self._queue, self.spool_directory, self._link,
                                self._run_header, batch_points=self.batch_points,
                                max_pending_points=self.max_pending_points,
                                spill_age=p["spill_age"])
        self._wake = threading.Event()
        self._guard_wake = threading.Event()
        self._ready = threading.Event()  # the first connection attempt is over
        self._woken = False  # a full-batch wake-up is pending (saves producers Event.set calls)
        self._guard_woken = False
        self._closing = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run_thread, name="trackboard-writer",
                                        daemon=True)
        self._guard = threading.Thread(target=self._guard_thread, name="trackboard-spool-guard",
                                       daemon=True)

    def _adopt(self) -> None:
        """Become the shared writer of this process for its store (a forked child's
        inherited writer, once it starts: later Runs of the child share it)."""
        with _writers_lock:
            _writers.setdefault(self.url, self)

    # -- producer side (the training loop) -----------------------------------------

    def submit(self, record: Record, weight: int = 0) -> None:
        """Queue one record. Never blocks on I/O, never raises on storage trouble.
        `weight`: records.record_weight(record), which only decides how soon the writer
        wakes (what it takes and keeps in memory is weighed again as it stages)."""
        self._queue.append(record)
        self._produced += weight
        pending = self._produced - self._staging.consumed
        if pending >= self.batch_points:
            if not self._woken:
                # A full batch is waiting: write it now rather than at the next tick.
                self._woken = True
                self._wake.set()
            if pending > self.max_pending_points and not self._guard_woken:
                self._guard_woken = True  # the backlog is too big to keep in memory
                self._guard_wake.set()

    def register_run(self, record: dict[str, Any]) -> None:
        """A run starts (or resumes) here: queue its RUN record, put it at the head of
        every spool file and of every batch that refers to it (so each can be
        delivered alone), and keep it alive with heartbeats until `run_ended`.

        A RUN record that comes through `submit` is stored all the same, but gets
        none of this: submit stays a plain append (it is on the training loop's path).
        """
        self._runs[record["uid"]] = record
        self._live.add(record["uid"])
        self.submit((RUN, record))

    def run_ended(self, uid: str) -> None:
        """No more heartbeats for this run (its STATUS record says how it ended)."""
        self._live.discard(uid)

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
            return not self._queue and not self._staging.staged
        done = threading.Event()
        self._queue.append((FLUSH, done))
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
        path = self._staging.close()
        waiting = spool.pending_files(self.spool_directory)
        if path is not None or (waiting and not self.healthy):
            what = describe_count(self.points_spooled, self.media_spooled)
            self._link.report("left", f"trackboard: {what} could not "
                              f"reach {mask_url(self.url)} and wait in "
                              f"{path or self.spool_directory}; they are delivered by "
                              "`trackboard sync` or the next run that logs to this store")
        lost = self.points_lost + sum(self.media_lost.values())
        self._link.close(f"{describe_count(self.points_lost, self.media_lost)} "
                         f"{'was' if lost == 1 else 'were'} lost" if lost else None)

    @property
    def healthy(self) -> bool:
        return self._link.healthy

    @property
    def points_written(self) -> int:
        """Points stored so far (from memory and from spool files), counted as they go."""
        return self._link.points_written

    @property
    def points_rejected(self) -> int:
        """Points the store refused (set aside in the spool folder's rejected/)."""
        delivery = self._link.delivery
        return delivery.rejected_points if delivery is not None else 0

    @property
    def points_spooled(self) -> int:
        """Points written to the spool to be delivered from there (outage, overflow)."""
        return self._staging.points_spooled

    @property
    def points_lost(self) -> int:
        """Points that could be neither stored nor spooled (said once, at close)."""
        return self._staging.points_lost

    @property
    def media_spooled(self) -> dict[str, int]:
        """Media records written to the spool to be delivered from there, by kind
        ("image", "histogram", "text")."""
        return dict(self._staging.media_spooled)

    @property
    def media_lost(self) -> dict[str, int]:
        """Media records that could be neither stored nor spooled, by kind."""
        return dict(self._staging.media_lost)

    @property
    def last_error(self) -> str | None:
        return self._link.last_error

    def _run_header(self) -> list[Record]:
        return [(RUN, r) for r in list(self._runs.values())]

    # -- the spool guard thread --------------------------------------------------------

    def _guard_thread(self) -> None:
        while not self._stopping:
            self._guard_wake.wait(GUARD_TICK)
            self._guard_wake.clear()
            self._guard_woken = False
            try:
                full = self._staging.guard()
                if full and not self._woken:
                    # Staging here resets the producers' count of what waits, which is
                    # what wakes the writer for a full batch: wake it in their stead.
                    self._woken = True
                    self._wake.set()
            except Exception as exc:  # a bug of ours must not kill the thread silently
                log.debug("trackboard spool guard error", exc_info=True)
                self._link.report("bug", f"trackboard: writer error: {mask_text(repr(exc))}")

    # -- the writer thread -------------------------------------------------------------

    def _run_thread(self) -> None:
        link = self._link
        try:
            link.connect()
            self._ready.set()
            if link.ingestor is not None:
                link.replay_spool(self.batch_points)  # left by runs that ended in an outage
        except Exception as exc:
            log.debug("trackboard writer error", exc_info=True)
            link.report("bug", f"trackboard: writer error: {mask_text(repr(exc))}")
        self._ready.set()
        while True:
            stuck = False
            try:
                stuck = not self._cycle()
            except Exception as exc:  # a bug of ours must not kill the thread silently
                log.debug("trackboard writer error", exc_info=True)
                link.last_error = repr(exc)
                link.report("bug", f"trackboard: writer error: {mask_text(repr(exc))}")
                self._staging.release_markers()
            if self._closing and (stuck or (not self._queue and not self._staging.staged)):
                return  # stuck: neither the store nor the disk takes records; close() counts them
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._woken = False

    def _cycle(self) -> bool:
        """Deliver what waits, batch after batch. False when a batch could be neither
        stored nor spooled (it waits in memory for the next cycle)."""
        link, staging = self._link, self._staging
        moved = True
        while moved:
            batch = staging.take()
            if batch is DISK:
                staging.close_retired()  # the batch in flight is done: noted
                if link.healthy and link.ingestor is not None:
                    link.replay_spool(self.batch_points)
                continue
            if not batch:
                break
            try:
                moved = self._deliver(batch)
            finally:
                staging.landed()
        link.heartbeat(self._runs, self._live)
        if link.retry_due():
            link.connect()
            if link.ingestor is not None and link.healthy:
                staging.close_retired(journal_too=True)  # so that they can be delivered
                link.replay_spool(self.batch_points)
        link.settle()
        return moved

    def _deliver(self, chunks: list[Chunk]) -> bool:
        """Store the batch, or spool it in an outage. False if neither took it: it is
        back in memory (staging.to_disk)."""
        records: list[Record] = []
        markers: list[threading.Event] = []
        for c in chunks:
            if c.markers:
                for rec in c.records:
                    if rec[0] is FLUSH:
                        markers.append(rec[1])
                    else:
                        records.append(rec)
            else:
                records.extend(c.records)
        try:
            if not records:
                self._staging.confirm(chunks)  # flush markers only
            elif self._link.ready and self._link.deliver(records, self._runs):
                self._staging.confirm(chunks)
            else:
                # In an outage, also what was stored before it hit: delivering it again
                # is harmless, telling it apart is not worth the risk.
                return self._staging.to_disk(chunks)
        finally:
            for done in markers:
                done.set()
        return True


# -- one writer per (process, store) ------------------------------------------------

_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()
_every_writer: weakref.WeakSet[Writer] = weakref.WeakSet()  # for a fork: all, shared or not


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


def _after_fork_in_child() -> None:
    # A forked child has the parent's writers but not their threads: each starts
    # afresh on the child's first record (Writer._inherited_by_fork).
    global _writers_lock
    _writers_lock = threading.Lock()  # another thread may have held it at the fork
    _writers.clear()
    for w in list(_every_writer):
        w._inherited_by_fork()


atexit.register(close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=lambda: before_fork(_every_writer),
                        after_in_parent=after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
