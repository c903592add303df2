"""Reading spool files frame by frame, trusting nothing in them.

A frame whose checksum fails, whose length is impossible, or that does not decode is
damage: the reader says where, then resynchronises (scans forward for the next place
where a frame of plausible length with a matching CRC32 begins) and goes on, so every
intact frame after the damage is still read; the file is then set aside by its
deliverer. Only the LAST frame of a file may be a torn tail, i.e. cut short by a kill
mid-write (harmless: everything before it is read): a frame whose length runs past
the end of the file is torn only if no intact frame follows it. A file in the old
pickle format is refused unread, since unpickling can run code.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgpack
import numpy as np
from trackboard.storage.write.records import Record
from trackboard.storage.write.spool.folder import open_regular
from trackboard.storage.write.spool.frames import (
    FRAME_HEAD,
    MAGIC,
    MAX_FRAME,
    VERSION,
    decode_frame,
)

_SCAN_WINDOW = 1 << 20  # bytes looked at per step when resynchronising
# First payload byte of any frame a writer makes: a msgpack map or array.
_LEADS = np.zeros(256, bool)
_LEADS[0x80:0xA0] = True
_LEADS[[0xDC, 0xDD, 0xDE, 0xDF]] = True


class LegacySpoolError(ValueError):
    """A spool file written by an older trackboard (a Python pickle): never read."""


class SpoolReader:
    """The record lists of one spool file, frame by frame.

    After iterating, `torn` says the file ends in a frame cut short (the writing
    process was killed mid-write: harmless, everything before it was read), and
    `damage` describes the damaged places (frames that failed their checksum, had an
    impossible length or do not decode; the file should be set aside): what lies
    between a damaged place and the next intact frame is lost, every intact frame is
    read. `skipped` counts records the writer had marked as stored (they are not
    yielded); such notes are trusted only before the first damaged place, since the
    records after it can no longer be counted. A file that is not a spool file at all
    raises ValueError (LegacySpoolError for the old pickle format) when iteration
    starts.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn = False
        self.torn_bytes = 0
        # Where the torn last frame starts (None: the file ends whole), as the first
        # pass found it: a note the deliverer appends must go there, not after the
        # tail, where the tail would read as damage in the middle (mark_stored).
        self.torn_at: int | None = None
        self.damage: str | None = None
        self.damaged_places = 0
        self.damaged_bytes = 0
        self.bad_frames = 0  # frames that were whole but did not decode
        self.skipped = 0
        self.position = 0  # records after the header read (or skipped) so far
        self.info: dict[str, Any] = {}

    @property
    def counted(self) -> bool:
        """Whether `position` still counts records exactly (no damage met so far)."""
        return self.damage is None

    def __iter__(self) -> Iterator[tuple[Record, ...]]:
        stored = 0
        for kind, _ in self._frames(records=False):  # marks first: what to skip
            if kind == "mark":
                stored = max(stored, _)
        torn, self.torn_at = (self.torn, self.torn_bytes), self.torn_at if self.torn else None
        self.torn, self.torn_bytes, self.damage, self.bad_frames = False, 0, None, 0
        self.damaged_places = self.damaged_bytes = 0
        seen = 0
        header = True
        for kind, payload in self._frames(records=True):
            if kind != "records":
                continue
            try:
                others, points = decode_frame(payload)
                records = others + points
            except Exception as exc:  # noqa: BLE001 - the framing is intact: skip this frame
                self.bad_frames += 1
                self._note_damage(f"a frame does not decode ({exc})", len(payload))
                header = False
                continue
            if header:  # the run records every file starts with
                header = False
                yield records
                continue
            n = len(records)
            if self.damage is not None:
                # Past damage the count of records is lost: a stored-note could skip
                # records that are not stored. Delivering stored ones again is harmless.
                seen += n
                self.position = seen
                yield records
                continue
            if seen + n <= stored:
                seen += n
                self.skipped += n
                self.position = seen
                continue
            if seen < stored:
                # The note falls inside this frame, whose other records were decoded
                # ahead of its points: keep them all (applying one again is harmless)
                # and skip only the points that surely came before the note.
                drop = max(0, stored - seen - len(others))
                self.skipped += drop
                records = others + points[drop:]
            seen += n
            self.position = seen
            yield records
        if torn[0] and not self.torn:  # the tail was cut off meanwhile (mark_stored)
            self.torn, self.torn_bytes = torn

    def _frames(self, *, records: bool) -> Iterator[tuple[str, Any]]:
        """("records", payload) and ("mark", stored count) in file order; with
        `records` False, record frames are skipped without reading them."""
        with open_regular(self.path) as fh:
            size = os.fstat(fh.fileno()).st_size
            magic = fh.read(len(MAGIC))
            if magic != MAGIC:
                if not magic:
                    return  # created, then killed before the first write: nothing in it
                if len(magic) < len(MAGIC) and MAGIC.startswith(magic):
                    self.torn, self.torn_bytes = True, len(magic)
                    return
                if magic[:1] == b"\x80":
                    raise LegacySpoolError(
                        "written by an older trackboard as a Python pickle; not read, since "
                        "unpickling can run code")
                raise ValueError("not a trackboard spool file")
            first = True
            at = len(MAGIC)
            while True:
                fh.seek(at)
                head = fh.read(FRAME_HEAD.size)
                if not head:
                    return
                if len(head) < FRAME_HEAD.size:  # nothing can follow: the last frame
                    self.torn, self.torn_bytes, self.torn_at = True, size - at, at
                    return
                length, crc = FRAME_HEAD.unpack(head)
                end = at + FRAME_HEAD.size + length
                if end > size:
                    size = os.fstat(fh.fileno()).st_size  # a note appended meanwhile?
                if not 0 < length <= MAX_FRAME or end > size:
                    nxt = _next_frame(fh, at + 1, size)
                    if nxt is None and 0 < length <= MAX_FRAME:
                        self.torn, self.torn_bytes, self.torn_at = True, size - at, at
                        return
                    why = ("frame length past the end of the file" if end > size
                           else f"impossible frame length {length}")
                    if not self._damaged(at, nxt, size, why):
                        return
                    first = False  # a damaged description: the frames after it still count
                    at = nxt  # type: ignore[assignment]
                    continue
                # A map is the file's description or a stored-mark; record frames are
                # arrays. Only those are read in the first pass.
                lead = fh.read(1)
                is_map = bool(lead) and (0x80 <= lead[0] <= 0x8F or lead[0] in (0xDE, 0xDF))
                if not (records or is_map or first):
                    at = end
                    continue
                payload = lead + fh.read(length - 1)
                if zlib.crc32(payload, zlib.crc32(head[:4])) != crc:
                    nxt = _next_frame(fh, at + 1, size, likely=end)
                    if not self._damaged(at, nxt, size, "checksum mismatch"):
                        return
                    first = False  # a damaged description: the frames after it still count
                    at = nxt  # type: ignore[assignment]
                    continue
                if first and not is_map:
                    self._damaged(at, None, size, "not a trackboard spool header")
                    return
                start, at = at, end
                if not is_map:
                    yield "records", payload
                    continue
                try:
                    info = msgpack.unpackb(payload)
                except Exception as exc:  # noqa: BLE001 - any decoding failure is damage
                    self._note_damage(f"unreadable frame ({exc})", length)
                    continue
                if first:
                    first = False
                    if not isinstance(info, dict) or info.get("format") != "trackboard-spool":
                        self._damaged(start, None, size, "not a trackboard spool header")
                        return
                    if not isinstance(info.get("version"), int) or info["version"] > VERSION:
                        raise ValueError(f"written by a newer trackboard (spool format "
                                         f"{info.get('version')}); deliver it with that version")
                    self.info = info
                elif isinstance(info, dict) and isinstance(info.get("stored"), int):
                    yield "mark", info["stored"]

    def _damaged(self, at: int, nxt: int | None, size: int, why: str) -> bool:
        """Note damage at byte `at`; True if reading goes on at `nxt`."""
        skipped = (nxt if nxt is not None else size) - at
        if nxt is None:
            where = f"{why} at byte {at} of {size}; the {skipped} bytes from there are unread"
        else:
            where = (f"{why} at byte {at} of {size}; {skipped} bytes skipped up to the next "
                     "intact frame")
        self._note_damage(where, skipped)
        return nxt is not None

    def _note_damage(self, where: str, skipped: int) -> None:
        self.damaged_places += 1
        self.damaged_bytes += skipped
        if self.damage is None:
            self.first_damage = where
        self.damage = (self.first_damage if self.damaged_places == 1 else
                       f"{self.first_damage} (and {self.damaged_places - 1} more: "
                       f"{self.damaged_places} damaged places, {self.damaged_bytes} bytes lost)")


def _next_frame(fh: IO[bytes], start: int, size: int, likely: int | None = None) -> int | None:
    """The offset of the first intact frame at or after `start` (a plausible length,
    a payload that starts as every frame does, and a matching CRC32), or None.
    `likely` (where the damaged frame said it ends) is tried first."""
    if likely is not None and start <= likely and _intact_at(fh, likely, size):
        return likely
    pos = start
    head = FRAME_HEAD.size
    while pos + head < size:
        fh.seek(pos)
        window = fh.read(_SCAN_WINDOW + head + 1)
        if len(window) <= head:
            return None
        raw = np.frombuffer(window, np.uint8)
        n = len(raw) - head  # offsets whose head and first payload byte are in the window
        b = raw.astype(np.uint32)
        lengths = b[:n] | (b[1:n + 1] << 8) | (b[2:n + 2] << 16) | (b[3:n + 3] << 24)
        offsets = np.arange(pos, pos + n, dtype=np.int64)
        ok = ((lengths > 0) & (lengths <= MAX_FRAME)
              & (offsets + head + lengths.astype(np.int64) <= size) & _LEADS[raw[head:head + n]])
        for i in np.flatnonzero(ok).tolist():
            if _intact_at(fh, pos + i, size):
                return pos + i
        pos += n
    return None


def _intact_at(fh: IO[bytes], at: int, size: int) -> bool:
    if at + FRAME_HEAD.size >= size:
        return False
    fh.seek(at)
    head = fh.read(FRAME_HEAD.size)
    length, crc = FRAME_HEAD.unpack(head)
    if not 0 < length <= MAX_FRAME or at + FRAME_HEAD.size + length > size:
        return False
    payload = fh.read(length)
    return bool(_LEADS[payload[0]]) and zlib.crc32(payload, zlib.crc32(head[:4])) == crc


def read_spool(path: Path) -> Iterator[tuple[Record, ...]]:
    """The record lists in a spool file (see SpoolReader for what can go wrong)."""
    return iter(SpoolReader(path))
