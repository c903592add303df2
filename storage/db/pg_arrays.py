"""PostgreSQL's binary array format <-> numpy, for the chunk columns of
storage/db/point_chunks.py (steps BIGINT[], walls DOUBLE PRECISION[], vals DOUBLE
PRECISION[] or vals4 REAL[]).

psycopg turns an array into a Python list and back one element at a time: writing
chunks that way took 85% of the writer's time on PostgreSQL (a 1,000-point chunk is
3,000 Python floats dumped through a regular expression each), so one process
ingested at 0.4x the row-per-point layout (bench/postgres_chunks.py). Both
directions are fixed-size records here, so numpy builds and parses them in one go:

    array := int32 ndim (1) | int32 flags (0: no NULLs) | uint32 element type oid
             | int32 length | int32 lower bound (1)
             | per element: int32 byte length (8) | 8 bytes big-endian

Chunks go in by binary COPY (no per-row statement) and come out of a query run with
binary=True, through loaders registered on that cursor only.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg.adapt import Loader
from psycopg.pq import Format

INT8, FLOAT4, FLOAT8 = 20, 700, 701
ARRAYS = (1016, 1021, 1022)  # int8[], float4[], float8[]
_ELEMENT = {INT8: np.dtype([("n", ">i4"), ("v", ">i8")]),
            FLOAT4: np.dtype([("n", ">i4"), ("v", ">f4")]),
            FLOAT8: np.dtype([("n", ">i4"), ("v", ">f8")])}
_NATIVE = {INT8: np.int64, FLOAT4: np.float32, FLOAT8: np.float64}
_HEAD = struct.Struct(">iiIii")
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
CHUNK_COLUMNS = ("run_id", "key_id", "first_step", "last_step", "count", "steps", "walls",
                 "vals", "vals4")
_NULL = struct.pack(">i", -1)  # a NULL field in binary COPY


def dump(values: np.ndarray, oid: int) -> bytes:
    """A 1-D array of int8 (oid 20), float4 (700) or float8 (701) in the binary
    array format.

    >>> load(dump(np.array([1.5, -np.inf]), FLOAT8)).tolist()
    [1.5, -inf]
    """
    elements = np.empty(len(values), _ELEMENT[oid])
    elements["n"] = _ELEMENT[oid]["v"].itemsize
    elements["v"] = values
    return _HEAD.pack(1, 0, oid, len(values), 1) + elements.tobytes()


def load(data: Any) -> np.ndarray:
    """A binary int8[], float4[] or float8[] as a numpy array (NaN, infinities, -0.0
    exact)."""
    ndim, flags, oid = struct.unpack_from(">iiI", data)
    if ndim == 0:
        return np.empty(0, _NATIVE.get(oid, np.float64))
    if ndim != 1 or flags or oid not in _ELEMENT:
        raise ValueError(f"not a chunk array (ndim {ndim}, flags {flags}, element oid {oid})")
    (n,) = struct.unpack_from(">i", data, 12)
    return np.frombuffer(data, _ELEMENT[oid], n, 20)["v"].astype(_NATIVE[oid])


class _ArrayLoader(Loader):
    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray:
        return load(data)


def numpy_arrays(cur: Any) -> Any:
    """`cur` with int8[], float4[] and float8[] results in binary loaded as numpy
    arrays (this cursor only; run the query with binary=True)."""
    for oid in ARRAYS:
        cur.adapters.register_loader(oid, _ArrayLoader)
    return cur


def copy_chunks(cur: Any, rows: Sequence[tuple], table: str = "point_chunks") -> None:
    """Chunk rows (run_id, key_id, first_step, last_step, count, steps, walls, vals,
    vals4; the last four numpy arrays or None for NULL) into point_chunks by one
    binary COPY."""
    parts = [_COPY_HEADER]
    for run_id, key_id, first, last, count, *arrays in rows:
        parts.append(struct.pack(">hiiiiiqiqii", 9, 4, run_id, 4, key_id, 8, first, 8, last,
                                 4, count))
        for values, oid in zip(arrays, (INT8, FLOAT8, FLOAT8, FLOAT4)):
            if values is None:
                parts.append(_NULL)
                continue
            field = dump(values, oid)
            parts += (struct.pack(">i", len(field)), field)
    parts.append(_COPY_TRAILER)
    with cur.copy(f"COPY {table} ({', '.join(CHUNK_COLUMNS)}) FROM STDIN "
                  "(FORMAT BINARY)") as copy:
        copy.write(b"".join(parts))
