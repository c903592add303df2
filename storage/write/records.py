"""What flows from a Run to the store: small tuples of plain values.

The same tuples sit in the writer's queue and in spool files, so they hold only
str/int/float/tuple/dict/None and array('d') (cheap to build in the training
loop, compact in memory, safe to unpickle). A points record keeps its values in
an array('d') and its keys in a tuple that Run reuses while the keys repeat, so a
queued point costs about 8 bytes plus a share of the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Operation codes: the first element of every record tuple.
POINTS = 0   # (POINTS, run_uid, step, wall_time, (key, ...), array('d', values))
             # or (POINTS, run_uid, step, wall_time, {key: float}) from importers
RUN = 1      # (RUN, {uid, project, name, framework, host, git_commit, command, created_at, status})
PARAMS = 2   # (PARAMS, run_uid, {key: json_text})
TAGS = 3     # (TAGS, run_uid, {key: str})
STATUS = 4   # (STATUS, run_uid, status, ended_at)
NOTES = 5    # (NOTES, run_uid, text)
PURGE = 6    # (PURGE, run_uid, from_step, before_wall): drop the run's points (not
             # system/*) at steps >= from_step logged before wall time before_wall

# A RUN record may also carry "resumed_at" (a time): the run continues a stored run
# of that uid (status back to running, name kept unless "rename" is true).

Record = tuple[Any, ...]


@dataclass
class Batch:
    """Records grouped for one transaction; run records for every run referenced."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: list[Record] = field(default_factory=list)
    params: list[Record] = field(default_factory=list)
    tags: list[Record] = field(default_factory=list)
    status: list[Record] = field(default_factory=list)
    notes: list[Record] = field(default_factory=list)
    # Applied before the batch's points: what a purge removes is decided by wall
    # time, so its place among the batch's other records does not matter.
    purges: list[Record] = field(default_factory=list)

    def add(self, rec: Record) -> None:
        op = rec[0]
        if op == POINTS:
            self.points.append(rec)
        elif op == RUN:
            self.runs[rec[1]["uid"]] = rec[1]
        elif op == PARAMS:
            self.params.append(rec)
        elif op == TAGS:
            self.tags.append(rec)
        elif op == STATUS:
            self.status.append(rec)
        elif op == NOTES:
            self.notes.append(rec)
        elif op == PURGE:
            self.purges.append(rec)
        else:
            raise ValueError(f"unknown record type {op!r}")

    def uids(self) -> set[str]:
        out = set(self.runs)
        for group in (self.points, self.params, self.tags, self.status, self.notes,
                      self.purges):
            out.update(r[1] for r in group)
        return out

    def records(self) -> list[Record]:
        """Back to records (run records first), e.g. to spool a batch that failed."""
        out: list[Record] = [(RUN, r) for r in self.runs.values()]
        # Purges after the points: a batch split up (e.g. to retry) and applied in
        # this order never applies a purge before points logged ahead of it.
        for group in (self.points, self.params, self.tags, self.notes, self.purges,
                      self.status):
            out.extend(group)
        return out

    def __bool__(self) -> bool:
        return bool(self.runs or self.points or self.params or self.tags
                    or self.status or self.notes or self.purges)
