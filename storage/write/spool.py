"""Local spool files: where records wait while the store is unreachable or slow, and
the writer's journal of records that have waited in memory longer than a moment.

A spool file is data, never code: msgpack frames, each with its length and a CRC32,
after an 8-byte magic and a self-describing header frame::

    b"TBSPOOL1"
    frame := <u32 little-endian payload length> <u32 crc32(length bytes + payload)> payload
    frame 1: a msgpack map {"format": "trackboard-spool", "version": 1, ...}
    frame 2: the run records the file refers to (msgpack array, see encode_records)
    then record frames (arrays), and maps {"stored": n}: the writer's note that the first
    n records after the header are in the store already (a replay skips them)

Records are tuples of plain values (str, int, float, bool, None, tuples/lists, dicts);
an `array('d')` is msgpack extension type 1 holding little-endian float64s. Every
sequence reads back as a tuple. Each frame is handed to the OS in one write as soon as
it is appended (no user-space buffer), so a process killed with SIGKILL leaves all of
it; a frame cut short by the kill (a torn tail) is detected and everything before it is
used. Points go into each frame as columns (see encode_records), which makes both
directions several times faster than any per-tuple encoding (bench/spool.py).

One writer owns one open spool file at a time and holds an exclusive flock on it, so a
replayer (another writer starting up, or `trackboard sync`) only ever takes files whose
owner is gone or done. A file starts with the run records it refers to, so any process
can deliver it alone. Files are named after the time they were opened, so replaying them
in name order replays them in the order they were written.
"""

from __future__ import annotations

import array
import fcntl
import hashlib
import io
import logging
import operator
import os
import shutil
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
from sqlalchemy.engine import URL
from trackboard.storage.db.urls import is_sqlite, parse_url, sqlite_path
from trackboard.storage.write.records import POINTS, Record

log = logging.getLogger("trackboard")

SPOOL_ENV = "TRACKBOARD_SPOOL_DIR"
SUFFIX = ".spool"
REJECTED = "rejected"  # sub-folder for records and files that cannot be delivered
MAGIC = b"TBSPOOL1"
VERSION = 1
_FRAME = struct.Struct("<II")
_EXT_FLOAT64 = 1
_FRAME_RECORDS = 8192  # records per frame: bounds what a damaged frame can take with it
_MAX_FRAME = 1 << 30  # a length beyond this is damage, not data
_LITTLE = sys.byteorder == "little"
_I64 = 1 << 63


def spool_root() -> Path:
    if os.environ.get(SPOOL_ENV):
        return Path(os.environ[SPOOL_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "trackboard" / "spool"


def spool_dir(store: str | URL | None) -> Path:
    """The spool folder of one store: a hash of its URL without the password."""
    url = parse_url(store)
    if is_sqlite(url) and sqlite_path(url) is not None:
        ident = f"sqlite:///{sqlite_path(url).expanduser().resolve()}"  # type: ignore[union-attr]
    else:
        ident = url.set(password=None).render_as_string(hide_password=False)
    return spool_root() / hashlib.sha1(ident.encode()).hexdigest()[:16]


# -- encoding ------------------------------------------------------------------------

def _encode_ext(obj: Any) -> Any:
    if isinstance(obj, array.array) and obj.typecode == "d":
        if _LITTLE:
            return msgpack.ExtType(_EXT_FLOAT64, obj.tobytes())
        swapped = array.array("d", obj)
        swapped.byteswap()
        return msgpack.ExtType(_EXT_FLOAT64, swapped.tobytes())
    raise TypeError(f"spool files hold plain values only, not {type(obj).__name__}")


def _decode_ext(code: int, data: bytes) -> Any:
    if code != _EXT_FLOAT64 or len(data) % 8:
        raise ValueError(f"unknown spool value (extension type {code}, {len(data)} bytes)")
    values = array.array("d")
    values.frombytes(data)
    if not _LITTLE:
        values.byteswap()
    return values


def encode_records(records: list[Record] | tuple[Record, ...]) -> bytes:
    """msgpack bytes of a list of records (raises TypeError/ValueError/OverflowError on a
    value that is not plain data).

    Points records of the usual shape, (POINTS, uid, step, wall, (key, ...), array('d')),
    are stored as columns (run and key tuples once per frame, then arrays of steps, times,
    counts and values): decoding them costs a fraction of decoding each tuple, which keeps
    a replay close to the speed of ingest. Every other record is stored as it is, first.

    >>> from array import array
    >>> decode_records(encode_records([(0, "r1", 3, 1.5, ("a",), array("d", [2.0])),
    ...                                (4, "r1", "finished", None)]))
    ((4, 'r1', 'finished', None), (0, 'r1', 3, 1.5, ('a',), array('d', [2.0])))
    """
    bulk = _columns_in_bulk(records)
    if bulk is not None:
        return msgpack.packb(bulk, default=_encode_ext, use_bin_type=True,
                             unicode_errors="surrogatepass")
    others: list[Record] = []
    uids: dict[str, int] = {}
    key_sets: dict[tuple[str, ...], int] = {}
    by_id: dict[int, int] = {}  # Run reuses one key tuple while the keys repeat
    uid_idx, key_idx = array.array("i"), array.array("i")
    steps, walls, values = array.array("q"), array.array("d"), array.array("d")
    for rec in records:
        if (type(rec) is tuple and len(rec) == 6 and rec[0] == POINTS and type(rec[1]) is str
                and type(rec[2]) is int and type(rec[3]) is float and type(rec[4]) is tuple
                and type(rec[5]) is array.array and rec[5].typecode == "d"
                and len(rec[4]) == len(rec[5]) and -_I64 <= rec[2] < _I64):
            _, uid, step, wall, keys, vals = rec
            k = by_id.get(id(keys))
            if k is None:
                k = key_sets.get(keys)
                if k is None:
                    if not all(type(x) is str for x in keys):
                        others.append(rec)
                        continue
                    k = key_sets[keys] = len(key_sets)
                by_id[id(keys)] = k
            u = uids.get(uid)
            if u is None:
                u = uids[uid] = len(uids)
            uid_idx.append(u)
            key_idx.append(k)
            steps.append(step)
            walls.append(wall)
            values.extend(vals)
        else:
            others.append(rec)
    points = None
    if uid_idx:
        cols = [uid_idx, key_idx, steps, walls, values]
        if not _LITTLE:
            for c in cols:
                c.byteswap()
        points = [list(uids), list(key_sets), *(c.tobytes() for c in cols)]
    # surrogatepass: a string the store refuses (a lone surrogate) must still reach the
    # spool and the rejected/ folder intact, so that it is set aside, not lost.
    return msgpack.packb([others, points], default=_encode_ext, use_bin_type=True,
                         unicode_errors="surrogatepass")


def _columns_in_bulk(records: list[Record] | tuple[Record, ...]) -> list[Any] | None:
    """encode_records' [others, points], built column by column in C loops; None when a
    points record is not of the usual shape (the caller then goes record by record).

    The spool guard encodes what a burst leaves waiting while the writer thread stores
    it, under the same interpreter lock: record by record that cost ~10% of burst ingest
    (1.5 us a record). The bytes are the same as the per-record loop's."""
    if not _LITTLE:
        return None
    pts = [r for r in records if type(r) is tuple and len(r) == 6 and r[0] == POINTS]
    if not pts:
        return None
    n = len(pts)
    others = ([r for r in records if not (type(r) is tuple and len(r) == 6 and r[0] == POINTS)]
              if n < len(records) else [])
    uid_col, step_col, wall_col, key_col, val_col = (list(map(get, pts)) for get in _COLUMNS)
    if (set(map(type, uid_col)) != {str} or set(map(type, step_col)) != {int}
            or set(map(type, wall_col)) != {float} or set(map(type, key_col)) != {tuple}
            or set(map(type, val_col)) != {array.array}
            or {a.typecode for a in val_col} != {"d"}
            or list(map(len, key_col)) != list(map(len, val_col))
            or min(step_col) < -_I64 or max(step_col) >= _I64):
        return None
    # Run reuses one key tuple while the keys repeat, and one run logs a whole frame
    # most of the time: both columns are then all zeros.
    if key_col.count(key_col[0]) == n:  # identity first, so this is cheap
        key_sets = {key_col[0]: 0}
        key_idx = array.array("i", bytes(4 * n))
    else:
        by_id = dict(zip(map(id, key_col), key_col))
        key_sets = {}
        slot = {ident: key_sets.setdefault(keys, len(key_sets)) for ident, keys in by_id.items()}
        key_idx = array.array("i", map(slot.__getitem__, map(id, key_col)))
    if not all(type(x) is str for keys in key_sets for x in keys):
        return None
    if uid_col.count(uid_col[0]) == n:
        uids = {uid_col[0]: 0}
        uid_idx = array.array("i", bytes(4 * n))
    else:
        uids = {u: i for i, u in enumerate(dict.fromkeys(uid_col))}
        uid_idx = array.array("i", map(uids.__getitem__, uid_col))
    cols = (uid_idx, key_idx, array.array("q", step_col), array.array("d", wall_col))
    return [others, [list(uids), list(key_sets), *(c.tobytes() for c in cols),
                     b"".join(val_col)]]


_COLUMNS = tuple(operator.itemgetter(i) for i in range(1, 6))


def decode_records(payload: bytes) -> tuple[Record, ...]:
    """The records of one frame (raises ValueError on anything but a well-formed frame)."""
    others, points = decode_frame(payload)
    return others + points


def decode_frame(payload: bytes) -> tuple[tuple[Record, ...], tuple[Record, ...]]:
    """A frame's records in two parts: the others (in the order written) and the points
    records stored as columns (in the order written)."""
    out = msgpack.unpackb(payload, use_list=False, raw=False, ext_hook=_decode_ext,
                          strict_map_key=False, unicode_errors="surrogatepass")
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], tuple)):
        raise ValueError("a spool frame holds [records, points]")
    others, points = out
    if points is None:
        return others, ()
    try:
        uids, key_sets, *raw = points
        uid_idx, key_idx, steps, walls, values = (
            np.frombuffer(b, dtype=t) for b, t in zip(raw, ("<i4", "<i4", "<i8", "<f8", "<f8")))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed points block ({exc})") from None
    n = len(uid_idx)
    widths = np.array([len(k) for k in key_sets], np.int64)
    if not (len(key_idx) == len(steps) == len(walls) == n) or (n and (
            uid_idx.min() < 0 or uid_idx.max() >= len(uids) or key_idx.min() < 0
            or key_idx.max() >= len(key_sets))):
        raise ValueError("malformed points block (columns disagree)")
    counts = widths[key_idx]
    if int(counts.sum()) != len(values):
        raise ValueError("malformed points block (values disagree with keys)")
    ends = np.cumsum(counts).tolist()
    flat = values.astype("=f8", copy=False).tobytes()
    recs: list[Record] = []
    start = 0
    for u, k, step, wall, end in zip(uid_idx.tolist(), key_idx.tolist(), steps.tolist(),
                                     walls.tolist(), ends):
        vals = array.array("d")
        vals.frombytes(flat[start * 8:end * 8])
        start = end
        recs.append((POINTS, uids[u], step, wall, key_sets[k], vals))
    return others, tuple(recs)


def _frame(payload: bytes) -> list[bytes]:
    head = struct.pack("<I", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return [head, struct.pack("<I", crc), payload]


# -- writing -------------------------------------------------------------------------

class SpoolWriter:
    """An append-only spool file owned by this process; opened on first use.

    `unconfirmed` and `keep` are the writer's bookkeeping (storage/write/writer.py): how many
    records in the file the store may not have yet, and whether the file must be
    delivered from disk (it holds records the writer no longer has in memory).
    """

    def __init__(self, directory: Path, header: Callable[[], list[Record]]) -> None:
        self.directory = directory
        self._header = header  # run records to put first in every new file
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.path: Path | None = None
        self.records = 0  # records written after the header
        self.unconfirmed = 0
        self.keep = False
        self.marks_ok = True  # False once a record could not be written (counts shift)
        # Where the records the store does not have begin (those spooled to be delivered
        # from disk): no note of what is stored may reach past it.
        self.mark_limit: int | None = None

    def append(self, records: list[Record]) -> list[Record]:
        """Write `records` (straight to the OS, in frames). Returns the records that are
        not plain data and could not be written (normally none). Raises OSError."""
        bad: list[Record] = []
        with self._lock:
            if self._fd is None:
                self._open()
            for i in range(0, len(records), _FRAME_RECORDS):
                part = records[i:i + _FRAME_RECORDS]
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
                self._write(_frame(payload))
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
                self._write(_frame(msgpack.packb({"stored": count})))

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

    def _write(self, parts: list[bytes]) -> None:
        assert self._fd is not None
        total = sum(len(p) for p in parts)
        done = os.writev(self._fd, parts)
        if done < total:  # rare (signals, nearly full disks): write the rest plainly
            rest = b"".join(parts)[done:]
            while rest:
                rest = rest[os.write(self._fd, rest):]

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = (f"{time.time_ns()}-{socket.gethostname()}-{os.getpid()}-"
                f"{uuid.uuid4().hex[:8]}{SUFFIX}")
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            info = {"format": "trackboard-spool", "version": VERSION,
                    "records": "msgpack arrays of record tuples (trackboard.storage.write.records); "
                               "extension type 1 = float64 array, little-endian",
                    "host": socket.gethostname(), "pid": os.getpid(), "created": time.time()}
            self._fd, self.path = fd, path
            self._write([MAGIC, *_frame(msgpack.packb(info))])
        except BaseException:
            self._fd, self.path = None, None
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        # Always a header frame (maybe empty): readers tell it from the records by place.
        self._write(_frame(encode_records(self._header())))


# -- reading -------------------------------------------------------------------------

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
                head = fh.read(_FRAME.size)
                if not head:
                    return
                if len(head) < _FRAME.size:
                    self.torn, self.torn_bytes = True, size - at
                    return
                length, crc = _FRAME.unpack(head)
                if length > _MAX_FRAME:
                    self._damaged(at, size, f"impossible frame length {length}")
                    return
                if at + _FRAME.size + length > size:
                    size = os.fstat(fh.fileno()).st_size  # a note appended meanwhile?
                if at + _FRAME.size + length > size:
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


def mark_stored(path: Path, count: int) -> None:
    """Note in a spool file being delivered (by the process holding its lock) that its
    first `count` records after the header are in the store: delivering it again after
    a crash starts after them. Raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"".join(_frame(msgpack.packb({"stored": count}))))
    finally:
        os.close(fd)


def read_spool(path: Path) -> Iterator[tuple[Record, ...]]:
    """The record lists in a spool file (see SpoolReader for what can go wrong)."""
    return iter(SpoolReader(path))


def set_aside(path: Path, reason: str) -> Path | None:
    """Move a spool file that cannot be delivered to rejected/ (the caller says why, in
    one line). Returns its new path (None if it could not be moved either)."""
    target = path.parent / REJECTED / path.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
    except OSError as exc:
        log.warning("trackboard: spool file %s: %s; could not move it aside either (%s)",
                    path, reason, exc)
        return None
    return target


def claimable(directory: Path) -> Iterator[tuple[Path, io.BufferedReader]]:
    """Spool files no live writer holds, each yielded locked (caller closes)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        if not path.exists():  # delivered and removed by someone else meanwhile
            fh.close()
            continue
        yield path, fh


def pending_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
