"""What flows from a Run to the store: small tuples of plain values.

The same tuples sit in the writer's queue and in spool files, so they hold only
str/int/float/bytes/tuple/dict/None and array('d') (cheap to build in the training
loop, compact in memory, msgpack-encodable: never pickled). A points record keeps its values in
an array('d') and its keys in a tuple that Run reuses while the keys repeat, so a
queued point costs about 8 bytes plus a share of the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Operation codes: the first element of every record tuple.
POINTS = 0   # (POINTS, run_uid, step, stamp, (key, ...), array('d', values)[, wall_time])
             # or (POINTS, run_uid, step, stamp, {key: float}) from importers. `stamp`:
             # the time of the log() call, which orders records; it is also the points'
             # wall time unless the caller passed one (then the 7th field: data only)
RUN = 1      # (RUN, {uid, project, name, framework, host, git_commit, command, created_at, status})
PARAMS = 2   # (PARAMS, run_uid, {key: json_text})
TAGS = 3     # (TAGS, run_uid, {key: str})
STATUS = 4   # (STATUS, run_uid, status, ended_at)
NOTES = 5    # (NOTES, run_uid, text)
PURGE = 6    # (PURGE, run_uid, from_step, stamp): drop the run's points (not
             # system/*) at steps >= from_step logged before the call at `stamp`

# Media (docs/media.md): one record per (key, step), per image of a strip. `stamp` is
# the time of the log() call: the later call wins per (run, key, step) (the store keeps
# it as logged_at), and a purge removes what was logged before it. A caller's wall time
# rides along as one more field, the last (data only, as for points).
HISTOGRAM = 7  # (HISTOGRAM, run_uid, step, stamp, key, edges array('d') (n + 1),
               #  counts array('d') (n), count, nan_count, posinf_count, neginf_count,
               #  min, max, sum, sum_squares)   min..sum_squares: float or None
IMAGE = 8      # (IMAGE, run_uid, step, stamp, key, index, strip_size, caption,
               #  format, width, height, channels, data)   format "raw": data holds
               #  height x width x channels uint8 pixels, row by row; "png", "jpeg",
               #  "webp", "gif": data is that file (width, height, channels 0: read
               #  from it at ingest). strip_size: images logged under the key at the step.
TEXT = 9       # (TEXT, run_uid, step, stamp, key, text)
MEDIA = (HISTOGRAM, IMAGE, TEXT)
MEDIA_KIND = {HISTOGRAM: "histogram", IMAGE: "image", TEXT: "text"}

# What a queued point costs in memory, its share of a 10-key record as Run builds it
# (measured with tracemalloc: 31 bytes; a 1-key record costs 238 bytes a point). The
# writer's budgets (`batch_points`, `max_pending_points`) count a media record as the
# points its payload would make at this rate (record_weight), so a batch and the
# backlog in memory are bounded in bytes too.
POINT_BYTES = 32

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
    # Applied before the batch's points: which of them a purge removes is decided by
    # their call stamps, so its place among the batch's other records does not matter.
    purges: list[Record] = field(default_factory=list)
    media: list[Record] = field(default_factory=list)  # HISTOGRAM, IMAGE, TEXT

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
        elif op in MEDIA:
            self.media.append(rec)
        else:
            raise ValueError(f"unknown record type {op!r}")

    def uids(self) -> set[str]:
        out = set(self.runs)
        for group in (self.points, self.params, self.tags, self.status, self.notes,
                      self.purges, self.media):
            out.update(r[1] for r in group)
        return out

    def records(self) -> list[Record]:
        """Back to records (run records first), e.g. to spool a batch that failed."""
        out: list[Record] = [(RUN, r) for r in self.runs.values()]
        # Purges after the points: a batch split up (e.g. to retry) and applied in
        # this order never applies a purge before points logged ahead of it.
        for group in (self.points, self.media, self.params, self.tags, self.notes,
                      self.purges, self.status):
            out.extend(group)
        return out

    def __bool__(self) -> bool:
        return bool(self.runs or self.points or self.params or self.tags
                    or self.status or self.notes or self.purges or self.media)


def record_bytes(rec: Record) -> int:
    """Roughly the bytes a record carries beyond its small fields: what bounds a spool
    frame (an image is up to 16 MiB; a points record counts as small).

    >>> record_bytes((TEXT, "r1", 0, 1.0, "notes", "hello")), record_bytes((POINTS, "r1"))
    (5, 0)
    """
    try:
        op = rec[0]
        if op == IMAGE:
            return len(rec[12])
        if op == HISTOGRAM:
            return 8 * (len(rec[5]) + len(rec[6]))
        if op == TEXT:
            return len(rec[5])
    except (TypeError, IndexError):
        pass
    return 0


def record_weight(rec: Record) -> int:
    """What a record counts for in the writer's budgets: its points, or for a media
    record one plus its payload's bytes / POINT_BYTES (a 256 x 256 RGB image, 196,608
    bytes of pixels, counts as 6,145 points); 0 for anything else, malformed records
    included.

    >>> record_weight((POINTS, "r1", 0, 1.0, ("a", "b"), [0.1, 0.2]))
    2
    >>> record_weight((TEXT, "r1", 0, 1.0, "notes", "x" * 100)), record_weight((RUN, {}))
    (4, 0)
    """
    try:
        op = rec[0]
        if op == POINTS:
            return len(rec[4])
        if op in MEDIA_KIND:
            return 1 + record_bytes(rec) // POINT_BYTES
    except (TypeError, IndexError, KeyError):
        pass
    return 0


def count_media(records: Iterable[Record], into: dict[str, int] | None = None) -> dict[str, int]:
    """The media records among `records`, counted by kind (added to `into`).

    >>> count_media([(IMAGE,), (IMAGE,), (POINTS,), (TEXT,)])
    {'image': 2, 'text': 1}
    """
    out = {} if into is None else into
    for rec in records:
        try:
            kind = MEDIA_KIND.get(rec[0])
        except (TypeError, IndexError, KeyError):
            continue
        if kind is not None:
            out[kind] = out.get(kind, 0) + 1
    return out


def describe_count(points: int, media: Mapping[str, int] | None = None) -> str:
    """Points and media records in words, for messages that say what waits or was lost.

    >>> describe_count(120), describe_count(1, {"image": 3}), describe_count(0, {"image": 1})
    ('120 points', '1 point and 3 images', '1 image')
    >>> describe_count(5, {"histogram": 2, "image": 1, "text": 4})
    '5 points, 1 image, 2 histograms and 4 texts'
    """
    parts = [] if not points and media and any(media.values()) else [
        f"{points} point{'' if points == 1 else 's'}"]
    for kind in ("image", "histogram", "text"):
        n = (media or {}).get(kind, 0)
        if n:
            parts.append(f"{n} {kind}{'' if n == 1 else 's'}")
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
