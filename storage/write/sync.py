"""Deliver spool files left behind by runs that ended (or were killed) while the store
was away or behind: what `trackboard sync` does.

Each file is delivered on its own: a damaged or foreign file, or a record the store
refuses, is set aside in the spool folder's rejected/ sub-folder with a one-line reason,
and every other file and record is still delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trackboard.storage.db.engine import WRITER_SQLITE_CACHE_MIB, build_engine
from trackboard.storage.db.migrate import check_schema
from trackboard.storage.db.urls import mask_text, mask_url, resolve_url
from trackboard.storage.errors import one_line
from trackboard.storage.write import spool
from trackboard.storage.write.delivery import Delivery, FileResult
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import describe_count

BATCH_POINTS = 100_000


@dataclass
class SyncResult:
    url: str
    delivered_points: int = 0
    delivered_files: int = 0
    delivered_media: dict[str, int] = field(default_factory=dict)  # by kind
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    rejected_records: int = 0
    rejected_points: int = 0
    rejected_in: str | None = None  # where refused records were set aside
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    notes: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> list[str]:
        """Spool files still waiting to be delivered."""
        return [f for f, _ in self.waiting]

    @property
    def problem(self) -> str | None:
        """One line when anything was set aside or is left waiting (`trackboard sync`
        then exits 1), else None.

        >>> SyncResult("sqlite:///t.db", rejected=[("a.spool", "damaged")]).problem
        'not everything was delivered: 1 spool file(s) set aside in rejected/ (see above)'
        """
        parts = []
        if self.rejected_records:
            parts.append(f"{self.rejected_records} record(s) the store refused set aside")
        if self.rejected:
            parts.append(f"{len(self.rejected)} spool file(s) set aside in rejected/")
        if self.waiting:
            parts.append(f"{len(self.waiting)} spool file(s) still waiting")
        if not parts:
            return None
        return f"not everything was delivered: {', '.join(parts)} (see above)"

    def summary(self) -> str:
        """What happened, one line per fact, e.g.

        >>> print(SyncResult("sqlite:///t.db", 500, 1).summary())
        delivered 500 points from 1 spool file(s) to sqlite:///t.db
        """
        lines = [f"delivered {describe_count(self.delivered_points, self.delivered_media)} "
                 f"from {self.delivered_files} spool file(s) to {mask_url(self.url)}"]
        lines += [f"note: {n}" for n in self.notes]
        if self.rejected_records:
            lines.append(f"set aside {self.rejected_records} record(s) "
                         f"({self.rejected_points} points) the store refused, in "
                         f"{self.rejected_in}")
        lines += [f"rejected {f}: {why}" for f, why in self.rejected]
        lines += [f"still waiting {f}: {why}" for f, why in self.waiting]
        return "\n".join(mask_text(line) for line in lines)


def deliver_spool(store: str | None = None, *, spool_directory: Path | None = None,
                  batch_points: int = BATCH_POINTS,
                  batch_records: int | None = None) -> SyncResult:
    """Deliver every spool file of `store` that no running process holds; returns what
    was delivered, set aside and left waiting (and why). Batches hold at most
    `batch_points` points and `batch_records` records (default: as many as points)."""
    url = resolve_url(store)
    directory = spool_directory or spool.spool_dir(url)
    result = SyncResult(url)
    for path, why in spool.odd_entries(directory):  # never opened: a FIFO would block
        moved = spool.set_aside(path, why)
        result.rejected.append((str(path), f"{why}; moved to {moved}" if moved else
                                f"{why}; could not be moved aside"))
    files = spool.pending_files(directory)
    if not files:
        return result
    engine = build_engine(url, cache_mib=WRITER_SQLITE_CACHE_MIB)
    try:
        try:
            check_schema(engine)
            delivery = Delivery(Ingestor(engine), directory, lambda kind, message: None)
        except Exception as exc:  # noqa: BLE001 - every file waits, for this one reason
            why = f"store unavailable: {one_line(exc)}"
            result.waiting = [(str(p), why) for p in files]
            return result
        outage: str | None = None
        for path, fh in spool.claimable(directory):
            try:
                if outage is not None:
                    result.waiting.append((str(path), outage))
                    continue
                one = delivery.deliver_file(path, batch_points, batch_records)
            finally:
                fh.close()
            _count(result, one)
            if one.outcome == "waiting" and one.cause is not None:
                outage = one.reason  # the rest would fail the same way
        claimed = {f for f, _ in result.waiting} | {f for f, _ in result.rejected}
        for path in spool.pending_files(directory):
            if str(path) not in claimed:
                result.waiting.append((str(path), "in use by a running process (or "
                                       "delivered meanwhile by another)"))
        result.rejected_records = delivery.rejected_records
        result.rejected_points = delivery.rejected_points
        rejected_file = delivery.close()
        result.rejected_in = str(rejected_file) if rejected_file else None
    finally:
        engine.dispose()
    return result


def _count(result: SyncResult, one: FileResult) -> None:
    result.delivered_points += one.points
    for kind, n in one.media.items():
        result.delivered_media[kind] = result.delivered_media.get(kind, 0) + n
    name = str(one.path)
    result.notes += [f"{one.path.name}: {n}" for n in one.notes]
    if one.outcome == "delivered" or one.points or one.media:
        result.delivered_files += 1  # files records came from, a damaged one too
    if one.outcome == "delivered":
        pass
    elif one.outcome == "rejected":
        moved = one.path.parent / spool.REJECTED / one.path.name
        result.rejected.append((name, f"{one.reason}; moved to {moved}"))
    else:
        result.waiting.append((name, one.reason))
