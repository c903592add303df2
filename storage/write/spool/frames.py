"""The bytes of a spool file: a magic, then frames; each frame's payload is msgpack.

A spool file is data, never code::

    b"TBSPOOL1"
    frame := <u32 little-endian payload length> <u32 crc32(length bytes + payload)> payload
    frame 1: a msgpack map {"format": "trackboard-spool", "version": 1, ...}
    frame 2: the run records the file refers to (msgpack array, see encode_records)
    then record frames (arrays), and maps {"stored": n}: the writer's note that the first
    n records after the header are in the store already (a replay skips them)

Records are tuples of plain values (str, int, float, bool, None, tuples/lists, dicts);
an `array('d')` is msgpack extension type 1 holding little-endian float64s. Every
sequence reads back as a tuple. Points go into each frame as columns (see
encode_records), which makes both directions several times faster than any per-tuple
encoding (bench/spool.py).
"""

from __future__ import annotations

import array
import operator
import struct
import sys
import zlib
from typing import Any

from collections.abc import Iterator

import msgpack
import numpy as np
from trackboard.storage.write.records import MEDIA, POINTS, Record, record_bytes

MAGIC = b"TBSPOOL1"
VERSION = 1
FRAME_HEAD = struct.Struct("<II")  # payload length, CRC32
FRAME_RECORDS = 8192  # records per frame: bounds what a damaged frame can take with it
# Bytes of media per frame (an image is up to 16 MiB, and a frame holds at least one
# record): frames stay far below MAX_FRAME, a damaged frame takes few images with it,
# and spooling a backlog of images holds one frame's copy at a time (msgpack builds a
# frame in memory, about twice its size while it grows). Measured: 1,000 images of 256
# x 256 x 3 logged one a millisecond into a locked store peaked at 121 MiB of traced
# memory with 64 MiB frames, 105 MiB with 16 MiB, 57 MiB with 4 MiB.
FRAME_BYTES = 4 << 20
MAX_FRAME = 1 << 30  # a length beyond this is damage, not data
_EXT_FLOAT64 = 1
_LITTLE = sys.byteorder == "little"
_I64 = 1 << 63


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


def frame_slices(records: list[Record]) -> Iterator[list[Record]]:
    """`records` cut into the lists that go into one frame each: at most FRAME_RECORDS
    records, and about FRAME_BYTES of media (a frame holds at least one record).

    >>> [len(p) for p in frame_slices([(8, "r", 0, 1.0, "k", 0, 1, None, "raw", 1, 1, 1,
    ...                                  bytes(3 << 20))] * 3)]
    [2, 1]
    """
    for i in range(0, len(records), FRAME_RECORDS):
        part = records[i:i + FRAME_RECORDS]
        try:
            plain = _MEDIA_OPS.isdisjoint(map(_OP, part))  # C loops: points stay cheap
        except (TypeError, IndexError, KeyError):
            plain = False
        if plain:
            yield part
            continue
        start, size = 0, 0
        for j, rec in enumerate(part):
            size += record_bytes(rec)
            if size >= FRAME_BYTES:
                yield part[start:j + 1]
                start, size = j + 1, 0
        if start < len(part):
            yield part[start:]


_MEDIA_OPS = frozenset(MEDIA)
_OP = operator.itemgetter(0)


def frame(payload: bytes) -> list[bytes]:
    """A frame around one payload: its length and CRC32, as buffers for one writev."""
    head = struct.pack("<I", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return [head, struct.pack("<I", crc), payload]
