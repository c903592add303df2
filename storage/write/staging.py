"""What waits between the producers and the store: the queue staged into chunks, the
batches the writer thread takes from them, and the spool journal that keeps on disk
too what has waited in memory longer than a moment (writer.py tells the whole story).

Producers never take the staging lock: they only append to `queue`. The writer thread
(taking a batch, confirming or spooling it) and the spool guard thread (staging,
spilling, overflow) take it in every public method here; the `_locked` methods expect
it held.

When the spool's disk refuses a write (full), nothing is half-written (the spool file is
cut back, spool/writer.py) and what could not be spooled stays in memory and is tried
again, with a backoff, until the disk or the store takes it. Memory then holds at most
`max_pending_points`: while neither the store nor the disk takes anything, older records
beyond that are dropped, counted in `points_lost` and `media_lost` and said at once (and
the total at exit). Nothing is dropped without a count.

The budgets (`batch_points`, `max_pending_points`) count records by their weight
(records.record_weight): a points record its points, a media record its payload's
bytes / POINT_BYTES (32), so that a batch and the backlog are bounded in bytes too and
a burst of images leaves memory for the spool as a burst of points does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trackboard.storage.write import spool
from trackboard.storage.write.link import StoreLink
from trackboard.storage.write.records import (
    MEDIA_KIND,
    POINTS,
    Record,
    count_media,
    record_weight,
)

FLUSH = object()  # queue marker: (FLUSH, event)
DISK = object()  # staged marker: the records before it wait in closed spool files
_FIRST_SPOOL_BACKOFF = 0.25  # seconds before trying a refused spool write again
_MAX_SPOOL_BACKOFF = 2.0


class Chunk:
    """Records staged together: `points` they hold, their `weight` in the budgets
    (points plus the media records' weight), `media` records among them, flush
    `markers`; `since` is a time before any of them was queued; `segment` is the spool
    file they were also written to (None: memory only)."""

    __slots__ = ("records", "points", "weight", "media", "markers", "since", "segment", "end")

    def __init__(self, records: list[Record], points: int, weight: int, media: int,
                 markers: int, since: float, segment: spool.SpoolWriter | None = None,
                 end: int = 0) -> None:
        self.records = records
        self.points = points
        self.weight = weight
        self.media = media
        self.markers = markers
        self.since = since
        self.segment = segment
        self.end = end  # records in `segment` up to the last of these


class Staging:
    """The records of one writer between `Writer.submit` and the store."""

    def __init__(self, queue: deque[Record], spool_directory: Path, link: StoreLink,
                 header: Callable[[], list[Record]], *, batch_points: int, max_pending_points: int,
                 spill_age: float) -> None:
        self.queue = queue  # producers append here (no lock)
        self.spool_directory = spool_directory
        self.link = link  # says trouble once per episode; holds the last error
        self._header = header  # run records every new spool file starts with
        self.batch_points = batch_points
        self.max_pending_points = max_pending_points
        self.spill_age = spill_age
        # Weight that left the waiting line: taken by the writer thread or moved to disk
        # (under the lock). Staging does not count: the guard stages every 0.1 s, and if
        # that reset the producers' count, a full batch would wait for the guard's next
        # tick instead of waking the writer at once.
        self.consumed = 0
        self.points_spooled = 0
        self.points_lost = 0
        self.media_spooled: dict[str, int] = {}  # media records, by kind
        self.media_lost: dict[str, int] = {}
        self._lock = threading.Lock()
        self.staged: deque[Any] = deque()  # Chunk or DISK
        self.staged_weight = 0
        self._inflight: list[Chunk] = []
        self._last_stage = time.monotonic()
        self._journal: spool.SpoolWriter | None = None
        # Files the backlog was moved to (overflow): kept open until the writer gets to
        # them, so that it can still note in them what of the batch in flight it stored.
        self._retired: list[spool.SpoolWriter] = []
        # After the disk refused a spool write: no new try before this (monotonic) time.
        self._spool_retry_at = 0.0
        self._spool_backoff = _FIRST_SPOOL_BACKOFF
        self.spool_refusals = 0  # spool writes the disk refused

    # -- the writer thread ------------------------------------------------------------

    def take(self) -> Any:
        """The next batch, now in flight: a list of chunks (at most `batch_points` of
        weight, or one record heavier than that; ending at the first flush marker),
        DISK, or an empty list."""
        with self._lock:
            batch = self._take_locked()
            if batch is not DISK:
                self._inflight = batch
            return batch

    def landed(self) -> None:
        """The batch in flight is stored or spooled (or failed on a bug of ours)."""
        with self._lock:
            self._inflight = []

    def confirm(self, chunks: list[Chunk]) -> None:
        """The store has these chunks: a spool file whose every record is stored goes;
        in any other, a note says how far the store has it."""
        with self._lock:
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

    def to_disk(self, chunks: list[Chunk]) -> bool:
        """These chunks leave memory: they must be (and stay) in a spool file. If the
        disk refuses them, they go back to the head of what waits in memory instead
        (their flush markers are released: nothing is gained by waiting for a full
        disk) and False is returned."""
        with self._lock:
            if self._to_disk_locked(chunks):
                return True
            for c in reversed(chunks):
                if c.markers:
                    for rec in c.records:
                        if rec[0] is FLUSH:
                            rec[1].set()
                    c.records = [r for r in c.records if r[0] is not FLUSH]
                    c.markers = 0
                if c.records:
                    self.staged.appendleft(c)
                    self.staged_weight += c.weight
            return False

    def close_retired(self, *, journal_too: bool = False) -> None:
        """Close the files the backlog was moved to (the batch in flight is noted in
        them); with `journal_too`, also a journal holding records that left memory, so
        that it can be delivered from disk now that the store is back."""
        with self._lock:
            self._close_retired_locked()
            if journal_too and self._journal is not None and self._journal.keep:
                self._journal.close(keep=True)
                self._journal = None

    def release_markers(self) -> None:
        """After an unexpected error, don't leave flush() callers waiting forever."""
        with self._lock:
            self._stage_locked()
            for item in self.staged:
                if item is not DISK and item.markers:
                    for rec in item.records:
                        if rec[0] is FLUSH:
                            rec[1].set()

    # -- the spool guard thread -------------------------------------------------------

    def guard(self) -> bool:
        """Stage what producers queued and spool what has waited too long. Returns
        whether a full batch waits."""
        with self._lock:
            self._stage_locked()
            self._protect_locked()
            return self.staged_weight >= self.batch_points

    def forget_inherited_files(self) -> None:
        """In a forked child: the spool files are the parent's (see fork.py)."""
        for segment in (self._journal, *self._retired):
            if segment is not None:
                segment.forget_inherited()

    # -- closing ----------------------------------------------------------------------

    def close(self) -> Path | None:
        """What the writer thread did not finish in time stays on disk. Returns the
        journal's path if it is kept (records wait in it)."""
        with self._lock:
            self._stage_locked()
            left = [c for c in (*self._inflight, *self.staged) if c is not DISK]
            if left and not self._to_disk_locked(left, now=True):
                for c in left:
                    if c.segment is None:
                        self._count_lost(c)
                    else:  # on disk already: it must stay there
                        c.segment.keep = True
            self._close_retired_locked()
            path = None
            if self._journal is not None:
                keep = self._journal.keep or self._journal.unconfirmed > 0
                path = self._journal.close(keep=keep)
                self._journal = None
            return path

    # -- under the lock ---------------------------------------------------------------

    def _stage_locked(self) -> None:
        """Move what producers queued into a chunk (no producer ever waits for this)."""
        now = time.monotonic()
        q = self.queue
        n = len(q)
        since, self._last_stage = self._last_stage, now
        if not n:
            return
        pop = q.popleft
        records = [pop() for _ in range(n)]
        points = heavy = media = markers = 0
        for rec in records:
            op = rec[0]
            if op == POINTS:
                points += len(rec[4])
            elif op is FLUSH:
                markers += 1
            elif op in MEDIA_KIND:
                heavy += record_weight(rec)
                media += 1
        self.staged.append(Chunk(records, points, points + heavy, media, markers, since))
        self.staged_weight += points + heavy

    def _take_locked(self) -> Any:
        self._stage_locked()
        taken: list[Chunk] = []
        weight = 0
        staged = self.staged
        while staged and weight < self.batch_points:
            item = staged[0]
            if item is DISK:
                if taken:
                    break
                staged.popleft()
                return DISK
            need = self.batch_points - weight
            if not item.markers and item.weight <= need:
                staged.popleft()
                taken.append(item)
                weight += item.weight
                self.staged_weight -= item.weight
                continue
            cut, got, points, media, marker = len(item.records), 0, 0, 0, False
            for i, rec in enumerate(item.records):
                op = rec[0]
                if op is FLUSH:
                    cut, marker = i + 1, True
                    break
                if op == POINTS:
                    n = len(rec[4])
                    got += n
                    points += n
                elif op in MEDIA_KIND:
                    got += record_weight(rec)
                    media += 1
                else:
                    continue
                if got >= need:
                    cut = i + 1
                    break
            if cut == len(item.records):
                staged.popleft()
                taken.append(item)
            else:
                item.records, head = item.records[cut:], item.records[:cut]
                item.points -= points
                item.weight -= got
                item.media -= media
                item.markers -= int(marker)
                taken.append(Chunk(head, points, got, media, int(marker), item.since,
                                   item.segment, item.end - (len(item.records) - item.markers)))
            weight += got
            self.staged_weight -= got
            if marker:
                break
        self.consumed += weight
        return taken

    def _count_lost(self, chunk: Chunk) -> None:
        self.points_lost += chunk.points
        if chunk.media:
            count_media(chunk.records, self.media_lost)

    def _journal_locked(self, chunks: list[Chunk], *, now: bool = False) -> bool:
        """Append chunks (in order) to the current spool file. False if the disk
        refused them (nothing of them is in the file then) or refused the last try
        less than a backoff ago (unless `now`)."""
        if not now and time.monotonic() < self._spool_retry_at:
            return False
        if self._journal is not None and self._journal.broken is not None:
            self._journal.close(keep=True)  # what it holds is whole; new records go elsewhere
            self._journal = None
        if self._journal is None:
            self._journal = spool.SpoolWriter(self.spool_directory, self._header)
        journal = self._journal
        records = [r for c in chunks for r in c.records if r[0] is not FLUSH]
        end = journal.records
        try:
            bad = journal.append(records)
        except OSError as exc:
            self.link.last_error = f"spool: {exc}"
            self.link.report("spool-error", f"trackboard: cannot write the spool file in "
                             f"{self.spool_directory}: {exc}; what waits stays in memory "
                             "and is written when the disk has room again")
            self.spool_refusals += 1
            self._spool_retry_at = time.monotonic() + self._spool_backoff
            self._spool_backoff = min(self._spool_backoff * 2, _MAX_SPOOL_BACKOFF)
            return False
        self._spool_backoff = _FIRST_SPOOL_BACKOFF
        if bad:
            self.points_lost += sum(len(r[4]) for r in bad if r[0] == POINTS)
            count_media(bad, self.media_lost)
            self.link.report("unspoolable", f"trackboard: {len(bad)} record(s) hold values "
                             "that are not plain data and cannot be spooled; they are dropped")
        for c in chunks:
            end += len(c.records) - c.markers
            c.segment, c.end = journal, end
            journal.unconfirmed += len(c.records)
        return True

    def _to_disk_locked(self, chunks: list[Chunk], *, now: bool = False) -> bool:
        """Keep these chunks on disk (spooling those that are not yet). False, with
        nothing changed, when the disk refuses them."""
        fresh = [c for c in chunks if c.segment is None]
        if fresh and not self._journal_locked(fresh, now=now):
            return False
        for c in chunks:
            segment = c.segment
            assert segment is not None
            segment.keep = True
            start = c.end - (len(c.records) - c.markers)
            if segment.mark_limit is None or start < segment.mark_limit:
                segment.mark_limit = start
            self.points_spooled += c.points
            if c.media:
                count_media(c.records, self.media_spooled)
        return True

    def _close_retired_locked(self) -> None:
        for segment in self._retired:
            segment.close(keep=True)
        self._retired = []

    def _protect_locked(self) -> None:
        """Spool every record that has waited more than `spill_age` without being
        stored (oldest first, the batch in flight included); past `max_pending_points`,
        spool everything and let it leave memory."""
        over = self.staged_weight > self.max_pending_points
        limit = time.monotonic() - self.spill_age
        todo = [c for c in self._inflight if c.segment is None and (over or c.since <= limit)]
        for item in self.staged:
            if item is DISK or item.segment is not None:
                continue
            if not (over or item.since <= limit):
                break  # the rest is younger still
            todo.append(item)
        refusals = self.spool_refusals
        if todo and not self._journal_locked(todo):
            if over and self.spool_refusals > refusals and not self.link.healthy:
                # Tried and refused (the disk is full) while the store is away: nothing
                # takes records. (A store that is only behind takes them soon.)
                self._shed_locked()
            return
        if over:
            self._overflow_locked()

    def _shed_locked(self) -> None:
        """Neither the store nor the disk takes records and memory holds more than
        `max_pending_points` of weight: drop the oldest (not the batch in flight) down
        to that, counted in `points_lost` and `media_lost` and said now; flush markers
        among them are released."""
        dropped = 0
        kept: deque[Any] = deque()
        markers: list[Record] = []
        excess = self.staged_weight - self.max_pending_points
        for item in self.staged:
            if item is DISK or excess <= 0 or item.segment is not None:
                kept.append(item)
                continue
            markers.extend(r for r in item.records if r[0] is FLUSH)
            dropped += item.weight
            excess -= item.weight
            self._count_lost(item)
        if not dropped:
            return
        self.staged = kept
        self.staged_weight -= dropped
        self.consumed += dropped
        for rec in markers:
            rec[1].set()
        self.link.report("shed", f"trackboard: the store is unavailable and the spool's disk "
                         f"is full ({self.link.last_error}): what waits in memory beyond "
                         f"{self.max_pending_points} points (an image counting as its bytes "
                         "/ 32) is dropped, oldest first, until one of them takes records "
                         "again (the count is reported at exit)")

    def _overflow_locked(self) -> None:
        """The backlog is past `max_pending_points`: it is all in the spool file now,
        so let it go from memory; the writer delivers the file when it gets there."""
        markers: list[Record] = []
        chunks = [c for c in self.staged if c is not DISK]
        for c in chunks:
            if c.markers:
                markers.extend(r for r in c.records if r[0] is FLUSH)
        self._to_disk_locked(chunks)
        if self._journal is not None:
            # New records go to a new file: the writer delivers this one from disk.
            self._retired.append(self._journal)
            self._journal = None
        self.staged = deque([DISK])
        if markers:
            self.staged.append(Chunk(markers, 0, 0, 0, len(markers), time.monotonic()))
        self.consumed += self.staged_weight
        self.staged_weight = 0
        self.link.report("spill", "trackboard: logging outpaces the store; records wait in "
                         f"the spool ({self.spool_directory}) and are delivered as it catches "
                         "up", level=logging.INFO)
