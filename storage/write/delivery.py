"""Putting records into the store so that one bad record costs only itself.

The writer and `trackboard sync` both deliver through `Delivery`. A batch the store
rejects for a reason waiting cannot fix (a value the database refuses, a record of a run
that was never started, a malformed record from a damaged spool file) is split, by run
and then in halves, until only the offending records are left; those are set aside
("dead-lettered") in the spool folder's rejected/ sub-folder, counted, and reported once.
Everything else is stored. An outage (server gone, database locked) stops the delivery
instead, handing back what is not stored yet so it can wait in the spool.
"""

from __future__ import annotations

import logging
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from trackboard.storage.errors import TrackboardError, one_line
from trackboard.storage.write import spool
from trackboard.storage.write.door import NameRefused, RecordRefused
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import (
    PARAMS,
    POINTS,
    RUN,
    Batch,
    Record,
    count_media,
    describe_count,
    record_weight,
)

log = logging.getLogger("trackboard")

Report = Callable[[str, str], None]  # (kind, message): said once per episode by the caller


def is_outage(exc: BaseException) -> bool:
    """Errors worth waiting out (server gone, database locked, disk full), as opposed
    to records the store will never take."""
    if isinstance(exc, (OperationalError, PoolTimeoutError, OSError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    try:
        import psycopg

        if isinstance(exc, DBAPIError) and isinstance(exc.orig, psycopg.OperationalError):
            return True
        if isinstance(exc, psycopg.OperationalError):
            return True
    except ImportError:
        pass
    return isinstance(exc, TrackboardError)


class Interrupted(Exception):
    """The store became unavailable mid-delivery; `remaining` holds every record that
    is not known to be stored (in order)."""

    def __init__(self, remaining: list[Record], cause: BaseException) -> None:
        super().__init__(one_line(cause))
        self.remaining = remaining
        self.cause = cause


def record_points(rec: Any) -> int:
    """Points in a record (0 for anything else, malformed records included)."""
    try:
        return len(rec[4]) if rec[0] == POINTS else 0
    except (TypeError, IndexError, KeyError):
        return 0


def record_uid(rec: Any) -> str | None:
    if type(rec) is not tuple:
        return None
    try:
        uid = rec[1]["uid"] if rec[0] == RUN else rec[1]
    except (TypeError, IndexError, KeyError):
        return None
    return uid if isinstance(uid, str) else None


@dataclass
class FileResult:
    path: Path
    points: int = 0  # delivered
    media: dict[str, int] = field(default_factory=dict)  # media records delivered, by kind
    rejected_records: int = 0
    rejected_points: int = 0
    outcome: str = "delivered"  # delivered | rejected | waiting
    reason: str = ""  # why rejected or waiting; what was odd about a delivered file
    notes: list[str] = field(default_factory=list)
    cause: BaseException | None = None  # the outage that keeps it waiting


class Delivery:
    """Applies record lists to one store with poison isolation."""

    def __init__(self, ingestor: Ingestor, directory: Path, report: Report,
                 header: Callable[[], list[Record]] = lambda: []) -> None:
        self.ingestor = ingestor
        self.directory = directory  # the spool folder; rejects go to its rejected/
        self._report = report
        self._header = header
        self._rejected: spool.SpoolWriter | None = None
        self.rejected_points = 0
        self.rejected_records = 0
        self.rejections = 0  # how many times records were set aside
        self.delivered = 0  # points stored through this delivery, as they are
        self.delivered_media: dict[str, int] = {}  # media records stored, by kind
        self.poisoned_runs: set[str] = set()  # runs whose own record the store refuses
        self.poisoned_keys: set[tuple[str, ...]] = set()  # key tuples the store refuses

    # -- records -------------------------------------------------------------------

    def deliver(self, records: list[Record], runs: dict[str, dict[str, Any]],
                heartbeat: float | None = None, *, replay: bool = False) -> int:
        """Store `records` (their runs' records come from `runs`); returns the points
        stored. Poison is set aside; raises Interrupted on an outage. `replay`: the
        records were read back from a spool file (Ingestor.apply says what changes)."""
        if self.poisoned_runs or self.poisoned_keys:
            records = self._drop_poisoned(records)
        work: deque[list[Record]] = deque([records])
        written = 0
        while work:
            part = work.popleft()
            if self.poisoned_keys:
                part = self._drop_poisoned(part)
            batch, bad = self._batch(part, runs)
            if bad:
                self.set_aside(bad, "malformed record")
                gone = {id(r) for r in bad}
                part = [r for r in part if id(r) not in gone]  # never judged twice
            if not batch:
                continue
            try:
                n = self.ingestor.apply(batch, heartbeat=heartbeat, replay=replay)
                written += n
                self.delivered += n
                if batch.media:
                    count_media(batch.media, self.delivered_media)
                continue
            except Exception as exc:  # noqa: BLE001 - sorted into outage or poison below
                if is_outage(exc):
                    rest = [r for p in (part, *work) for r in p]
                    raise Interrupted(rest, exc) from exc
                error = exc
            try:
                pieces = self._split(part, runs, error, heartbeat)
            except Interrupted as exc:
                raise Interrupted([r for p in (part, *work) for r in p], exc.cause) from exc
            work.extendleft(reversed(pieces))
        return written

    def _split(self, part: list[Record], runs: dict[str, dict[str, Any]], error: BaseException,
               heartbeat: float | None) -> list[list[Record]]:
        """The pieces to try next after `part` was rejected (poison set aside here)."""
        groups: dict[str | None, list[Record]] = {}
        for rec in part:
            groups.setdefault(record_uid(rec), []).append(rec)
        if len(groups) > 1:
            return list(groups.values())
        uid = next(iter(groups))
        if uid is not None and not self._run_accepted(uid, runs, heartbeat):
            self.poisoned_runs.add(uid)
            self.set_aside(part, f"the store refuses run {uid!r} itself ({one_line(error)})")
            return []
        if len(part) == 1:
            rec = part[0]
            if _canonical_points(rec) and (isinstance(error, NameRefused) or not isinstance(
                    error, RecordRefused)):
                # A well-formed points record that the database refuses, or whose key
                # names the rules refuse, is refused for its run (tested above) or its
                # keys: every later record with these keys would be too. (One the rules
                # refuse for its step or time says nothing about its keys.)
                self.poisoned_keys.add(rec[4])
            self.set_aside(part, one_line(error))
            return []
        half = len(part) // 2
        return [part[:half], part[half:]]

    def _run_accepted(self, uid: str, runs: dict[str, dict[str, Any]],
                      heartbeat: float | None) -> bool:
        """Whether the run itself can be stored (or already is): if not, none of its
        records can, and testing them one by one would take a transaction each."""
        probe = Batch(params=[(PARAMS, uid, {})])  # names the run, writes nothing
        if uid in runs:
            probe.runs[uid] = runs[uid]
        try:
            self.ingestor.apply(probe, heartbeat=heartbeat)
            return True
        except Exception as exc:  # noqa: BLE001
            if is_outage(exc):
                raise Interrupted([], exc) from exc  # the caller's own part is re-raised
            return False

    def _batch(self, records: list[Record],
               runs: dict[str, dict[str, Any]]) -> tuple[Batch, list[Record]]:
        batch = Batch()
        bad: list[Record] = []
        for rec in records:
            try:
                if type(rec) is not tuple or (rec[0] == RUN and not isinstance(
                        rec[1].get("uid"), str)):
                    raise ValueError("not a record")
                batch.add(rec)
            except (TypeError, ValueError, IndexError, KeyError, AttributeError):
                bad.append(rec)
        try:
            uids = batch.uids()
        except (TypeError, IndexError):  # an unhashable or missing run id somewhere
            uids = set()
            for group in (batch.points, batch.params, batch.tags, batch.status, batch.notes,
                          batch.media):
                ok = [r for r in group if record_uid(r) is not None]
                bad.extend(r for r in group if record_uid(r) is None)
                group[:] = ok
                uids.update(record_uid(r) for r in ok)  # type: ignore[misc]
        for uid in uids:
            if uid in runs:
                batch.runs.setdefault(uid, runs[uid])
        return batch, bad

    def _drop_poisoned(self, records: list[Record]) -> list[Record]:
        keep, bad = [], []
        runs, keys = self.poisoned_runs, self.poisoned_keys
        for rec in records:
            if record_uid(rec) in runs or (keys and _canonical_points(rec) and rec[4] in keys):
                bad.append(rec)
            else:
                keep.append(rec)
        if bad:
            self.set_aside(bad, "the store refused an earlier record of the same run or keys")
        return keep

    def set_aside(self, records: list[Record], why: str) -> None:
        """Set records the store refuses aside in rejected/ (readable spool files),
        count and report them (`why`: one line). Used for what a batch's bisection
        isolates, and by callers that know a record breaks the store's rules already
        (the TensorBoard importer's refused tags)."""
        points = sum(record_points(r) for r in records)
        self.rejected_points += points
        self.rejected_records += len(records)
        self.rejections += 1
        where: Path | str = "nowhere (the rejected/ folder cannot be written)"
        try:
            if self._rejected is None:
                self._rejected = spool.SpoolWriter(self.directory / spool.REJECTED, self._header)
            unwritable = self._rejected.append(records)
            if self._rejected.path is not None:
                where = self._rejected.path
            if unwritable:
                why += f"; {len(unwritable)} of them are not plain data and were dropped"
        except OSError as exc:
            where = f"nowhere ({exc})"
        self._report("rejected", f"trackboard: the store refused {len(records)} record(s) "
                     f"({points} points): {why}; set aside in {where}. Everything else is "
                     "stored")

    def forget_inherited_files(self) -> None:
        """In a forked child: the rejected/ file being written is the parent's."""
        if self._rejected is not None:
            self._rejected.forget_inherited()
            self._rejected = None

    def close(self) -> Path | None:
        """Close the rejected/ file of this delivery; returns its path if it has records."""
        if self._rejected is None:
            return None
        return self._rejected.close(keep=True)

    # -- files ---------------------------------------------------------------------

    def deliver_file(self, path: Path, batch_points: int,
                     batch_records: int | None = None) -> FileResult:
        """Deliver one spool file (already locked by the caller). On success it is
        removed; a damaged or foreign file is moved to rejected/ after what it holds
        that can be read is delivered; on an outage it stays where it is (delivering
        it again later is harmless: points are upserted, later call wins).

        Records go to the store in batches of at most `batch_points` of weight (points;
        a media record by its bytes, records.record_weight) and `batch_records` records
        (default: as many as points), each filled a spool frame at a time, so memory
        stays bounded also for a file of millions of records without points or of
        images."""
        batch_records = batch_records or batch_points
        result = FileResult(path)
        reader = spool.SpoolReader(path)
        runs: dict[str, dict[str, Any]] = {}
        pending: list[Record] = []
        weight = 0
        rejected_before = (self.rejected_records, self.rejected_points)
        media_before = dict(self.delivered_media)
        try:
            for chunk in reader:
                for rec in chunk:
                    if type(rec) is tuple and len(rec) > 1 and rec[0] == RUN and \
                            isinstance(rec[1], dict) and isinstance(rec[1].get("uid"), str):
                        runs[rec[1]["uid"]] = rec[1]
                    weight += record_weight(rec)
                pending.extend(chunk)
                if weight >= batch_points or len(pending) >= batch_records:
                    result.points += self.deliver(pending, runs, replay=True)
                    pending, weight = [], 0
                    if reader.counted:  # past damage, positions no longer line up
                        _note_progress(path, reader.position, reader.torn_at)
            if pending:
                result.points += self.deliver(pending, runs, replay=True)
        except Interrupted as exc:
            result.outcome, result.reason = "waiting", f"store unavailable: {exc}"
            result.cause = exc.cause
        except ValueError as exc:  # not a spool file at all, or a legacy pickle
            result.outcome, result.reason = "rejected", str(exc)
        except OSError as exc:
            result.outcome, result.reason = "waiting", f"cannot read it: {exc}"
        result.media = {k: n - media_before.get(k, 0) for k, n in self.delivered_media.items()
                        if n > media_before.get(k, 0)}
        if result.outcome == "waiting":
            return result
        result.rejected_records = self.rejected_records - rejected_before[0]
        result.rejected_points = self.rejected_points - rejected_before[1]
        if reader.damage and result.outcome == "delivered":
            result.outcome = "rejected"
            result.reason = (f"damaged: {reader.damage}; the "
                             f"{describe_count(result.points, result.media)} of its "
                             "intact frames were delivered")
        if reader.torn:
            result.notes.append(f"its last {reader.torn_bytes} bytes were cut short by a "
                                "crash mid-write and are ignored")
        if result.outcome == "rejected":
            spool.set_aside(path, result.reason)
        else:
            path.unlink(missing_ok=True)
        return result


def _note_progress(path: Path, position: int, torn_at: int | None) -> None:
    """Killed halfway through a file, the next delivery skips what this one stored
    (rewriting stored points costs several times more than writing new ones)."""
    try:
        spool.mark_stored(path, position, torn_at)
    except OSError:
        pass  # then the next delivery rewrites them: slower, still exact


def _canonical_points(rec: Any) -> bool:
    """A points record exactly as Run builds it."""
    return (type(rec) is tuple and len(rec) == 6 and rec[0] == POINTS
            and type(rec[1]) is str and type(rec[2]) is int and type(rec[3]) is float
            and type(rec[4]) is tuple and type(rec[5]) is array and len(rec[4]) == len(rec[5])
            and all(type(k) is str for k in rec[4]))
