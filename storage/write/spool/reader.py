"""Reading spool files frame by frame, trusting nothing in them.

A frame that fails its checksum or does not decode is damage (the file is set aside
after what can be read is delivered); a frame cut short at the end is a torn tail from
a kill mid-write (harmless: everything before it is used); a file in the old pickle
format is refused unread, since unpickling can run code.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
from trackboard.storage.write.records import Record
from trackboard.storage.write.spool.frames import (
    FRAME_HEAD,
    MAGIC,
    MAX_FRAME,
    VERSION,
    decode_frame,
)


class LegacySpoolError(ValueError):
    """A spool file written by an older trackboard (a Python pickle): never read."""


class SpoolReader:
    """The record lists of one spool file, frame by frame.

    After iterating, `torn` says the file ends in a frame cut short (the writing
    process was killed mid-write: harmless, everything before it was read), and
    `damage` describes a frame that failed its checksum or does not decode (the file
    should be set aside). `skipped` counts records the writer had marked as stored
    (they are not yielded). A file that is not a spool file at all raises ValueError
    (LegacySpoolError for the old pickle format) when iteration starts.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn = False
        self.torn_bytes = 0
        self.damage: str | None = None
        self.bad_frames = 0
        self.skipped = 0
        self.position = 0  # records after the header read (or skipped) so far
        self.info: dict[str, Any] = {}

    def __iter__(self) -> Iterator[tuple[Record, ...]]:
        stored = 0
        for kind, _ in self._frames(records=False):  # marks first: what to skip
            if kind == "mark":
                stored = max(stored, _)
        self.torn, self.torn_bytes, self.damage, self.bad_frames = False, 0, None, 0
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
                if self.damage is None:
                    self.damage = f"a frame does not decode ({exc})"
                header = False
                continue
            if header:  # the run records every file starts with
                header = False
                yield records
                continue
            n = len(records)
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

    def _frames(self, *, records: bool) -> Iterator[tuple[str, Any]]:
        """("records", payload) and ("mark", stored count) in file order; with
        `records` False, record frames are skipped without reading them."""
        with open(self.path, "rb") as fh:
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
            while True:
                at = fh.tell()
                head = fh.read(FRAME_HEAD.size)
                if not head:
                    return
                if len(head) < FRAME_HEAD.size:
                    self.torn, self.torn_bytes = True, size - at
                    return
                length, crc = FRAME_HEAD.unpack(head)
                if length > MAX_FRAME:
                    self._damaged(at, size, f"impossible frame length {length}")
                    return
                if at + FRAME_HEAD.size + length > size:
                    size = os.fstat(fh.fileno()).st_size  # a note appended meanwhile?
                if at + FRAME_HEAD.size + length > size:
                    self.torn, self.torn_bytes = True, size - at
                    return
                # A map is the file's description or a stored-mark; record frames are
                # arrays. Only those are read in the first pass.
                lead = fh.read(1)
                is_map = bool(lead) and (0x80 <= lead[0] <= 0x8F or lead[0] in (0xDE, 0xDF))
                if not (records or is_map or first):
                    fh.seek(length - 1, os.SEEK_CUR)
                    continue
                payload = lead + fh.read(length - 1)
                if zlib.crc32(payload, zlib.crc32(head[:4])) != crc:
                    self._damaged(at, size, "checksum mismatch")
                    return
                if first and not is_map:
                    self._damaged(at, size, "not a trackboard spool header")
                    return
                if not is_map:
                    yield "records", payload
                    continue
                try:
                    info = msgpack.unpackb(payload)
                except Exception as exc:  # noqa: BLE001 - any decoding failure is damage
                    self._damaged(at, size, f"unreadable frame ({exc})")
                    return
                if first:
                    first = False
                    if not isinstance(info, dict) or info.get("format") != "trackboard-spool":
                        self._damaged(at, size, "not a trackboard spool header")
                        return
                    if not isinstance(info.get("version"), int) or info["version"] > VERSION:
                        raise ValueError(f"written by a newer trackboard (spool format "
                                         f"{info.get('version')}); deliver it with that version")
                    self.info = info
                elif isinstance(info, dict) and isinstance(info.get("stored"), int):
                    yield "mark", info["stored"]

    def _damaged(self, at: int, size: int, why: str) -> None:
        self.damage = f"{why} at byte {at} of {size}; the {size - at} bytes from there are unread"


def read_spool(path: Path) -> Iterator[tuple[Record, ...]]:
    """The record lists in a spool file (see SpoolReader for what can go wrong)."""
    return iter(SpoolReader(path))
