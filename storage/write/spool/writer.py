"""Writing spool files: each append goes straight to the OS, so a kill leaves it whole.

Each frame is handed to the OS in one write as soon as it is appended (no user-space
buffer), so a process killed with SIGKILL leaves all of it; a frame cut short by the
kill (a torn tail) is detected by the reader and everything before it is used.

An append the OS refuses part-way (a full disk: ENOSPC, or EFBIG past a file size
limit, often after a short write) is cut back off the file: the file is truncated to
the size it had before the append, so a partial frame never sits in front of what is
appended later (the reader would take it for damage and everything after it with it).
The append raises OSError and its records are not in the file; the caller keeps them.
A file that cannot even be cut back is never written again (`broken`).

One writer owns one open spool file at a time and holds an exclusive flock on it, so a
replayer (another writer starting up, or `trackboard sync`) only ever takes files whose
owner is gone or done. A file starts with the run records it refers to, so any process
can deliver it alone. Files are named after the time they were opened, so replaying them
in name order replays them in the order they were written.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgpack
from trackboard.storage.write.records import Record
from trackboard.storage.write.spool.folder import SUFFIX
from trackboard.storage.write.spool.frames import (
    MAGIC,
    VERSION,
    encode_records,
    frame,
    frame_slices,
)


class SpoolWriter:
    """An append-only spool file owned by this process; opened on first use.

    `unconfirmed` and `keep` are the writer's bookkeeping (storage/write/staging.py): how many
    records in the file the store may not have yet, and whether the file must be
    delivered from disk (it holds records the writer no longer has in memory).
    """

    def __init__(self, directory: Path, header: Callable[[], list[Record]]) -> None:
        self.directory = directory
        self._header = header  # run records to put first in every new file
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0  # bytes in the file: where the next append begins
        self.broken: str | None = None  # why appending here must stop (cut back failed)
        self.path: Path | None = None
        self.records = 0  # records written after the header
        self.unconfirmed = 0
        self.keep = False
        self.marks_ok = True  # False once a record could not be written (counts shift)
        # Where the records the store does not have begin (those spooled to be delivered
        # from disk): no note of what is stored may reach past it.
        self.mark_limit: int | None = None

    def append(self, records: list[Record]) -> list[Record]:
        """Write `records` (straight to the OS, in frames): all of them or, on OSError,
        none (the file is cut back to where this append began). Returns the records
        that are not plain data and could not be written (normally none)."""
        bad: list[Record] = []
        with self._lock:
            if self._fd is None:
                self._open()
            start = self._size
            try:
                for part in frame_slices(records):
                    try:
                        payload = encode_records(part)
                    except (TypeError, ValueError, OverflowError):
                        good = []
                        for rec in part:  # find the culprits; keep the rest
                            try:
                                encode_records([rec])
                                good.append(rec)
                            except (TypeError, ValueError, OverflowError):
                                bad.append(rec)
                        if not good:
                            continue
                        payload = encode_records(good)
                    self._write(frame(payload))
            except OSError:
                self._cut_back(start)
                raise
            self.records += len(records) - len(bad)
            if bad:
                self.marks_ok = False
        return bad

    def mark_stored(self, count: int) -> None:
        """Note in the file that its first `count` records (after the header) are in the
        store, so that a replay after a crash skips them. Raises OSError."""
        with self._lock:
            if self.mark_limit is not None:
                count = min(count, self.mark_limit)
            if self._fd is not None and self.marks_ok and count > 0:
                start = self._size
                try:
                    self._write(frame(msgpack.packb({"stored": count})))
                except OSError:
                    self._cut_back(start)
                    raise

    def flush(self) -> None:
        """Nothing to do: every append reaches the OS before it returns."""

    def close(self, *, keep: bool = True) -> Path | None:
        """Close the file, releasing its lock. With `keep`, it is synced to disk and its
        path returned if it holds records; otherwise it is removed."""
        with self._lock:
            fd, path = self._fd, self.path
            self._fd, self.path = None, None
            records, self.records = self.records, 0
            self.unconfirmed, self.keep, self.marks_ok = 0, False, True
            self.mark_limit = None
            self._size, self.broken = 0, None
            if fd is None or path is None:
                return None
            try:
                if keep and records:
                    os.fsync(fd)
                else:
                    path.unlink(missing_ok=True)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return path if keep and records else None

    def forget_inherited(self) -> None:
        """In a forked child: this file is the parent's. Close the child's copy of its
        descriptor without unlocking it (the lock belongs to the open file, which the
        parent still holds) and never write or remove it from here."""
        fd, self._fd, self.path = self._fd, None, None
        self.records = self.unconfirmed = 0
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _write(self, parts: list[bytes]) -> None:
        assert self._fd is not None
        if self.broken is not None:
            raise OSError(f"spool file {self.path} is not written any more: {self.broken}")
        self._size += write_all(self._fd, parts)

    def _cut_back(self, size: int) -> None:
        """Truncate the file to `size` bytes, dropping a frame the OS took only part of
        (truncating frees space, so a full disk allows it). If even that fails, the
        file is never written again: the reader takes its partial last frame for a
        torn tail, which costs nothing that was written before it."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, size)
            self._size = size
        except OSError as exc:
            self.broken = f"a partial frame could not be cut off ({exc})"

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = (f"{time.time_ns()}-{socket.gethostname()}-{os.getpid()}-"
                f"{uuid.uuid4().hex[:8]}{SUFFIX}")
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._size = 0
            info = {"format": "trackboard-spool", "version": VERSION,
                    "records": "msgpack arrays of record tuples (trackboard.storage.write.records); "
                               "extension type 1 = float64 array, little-endian",
                    "host": socket.gethostname(), "pid": os.getpid(), "created": time.time()}
            self._fd, self.path = fd, path
            self._write([MAGIC, *frame(msgpack.packb(info))])
            # Always a header frame (maybe empty): readers tell it from the records by place.
            self._write(frame(encode_records(self._header())))
        except BaseException:
            self._fd, self.path = None, None
            os.close(fd)
            path.unlink(missing_ok=True)
            raise


def write_all(fd: int, parts: list[bytes]) -> int:
    """Write `parts` in one writev (the rest plainly after a short write). Returns the
    bytes written; raises OSError when the OS refuses, maybe after writing some."""
    total = sum(len(p) for p in parts)
    done = os.writev(fd, parts)
    if done < total:  # rare (signals, nearly full disks): write the rest plainly
        rest = memoryview(b"".join(parts))[done:]
        while rest:
            rest = rest[os.write(fd, rest):]
    return total


def mark_stored(path: Path, count: int, torn_at: int | None = None) -> None:
    """Note in a spool file being delivered (by the process holding its lock) that its
    first `count` records after the header are in the store: delivering it again after
    a crash starts after them. A note the OS takes only part of is cut off again.
    `torn_at`: where the file's torn last frame starts (SpoolReader.torn_at): it is cut
    off first (its records cannot be read anyway), so that the note never follows a
    torn frame, which would then read as damage in the middle of the file.
    Raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    try:
        size = os.fstat(fd).st_size
        if torn_at is not None and torn_at < size:
            os.ftruncate(fd, torn_at)
            size = torn_at
        try:
            write_all(fd, frame(msgpack.packb({"stored": count})))
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
