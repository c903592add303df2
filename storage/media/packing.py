"""numpy arrays as compact bytes for the store's binary columns (a histogram's edges and
counts), and back. Never pickles: a one-byte layout, a one-byte dtype, then the data.

Layouts:

- RAW: the array's little-endian bytes;
- ZLIB: the same bytes compressed with zlib (level 6); float64 arrays are byte-shuffled
  first (all first bytes, then all second bytes, ...), which puts the alike sign and
  exponent bytes of neighbouring values together;
- UNIFORM: edges that `uniform_edges(lo, hi, n)` makes, kept as lo, hi and n
  (20 bytes for any number of buckets).

Counts that are whole numbers are kept in the smallest unsigned integer type that
holds them (64 buckets of a 1M-value histogram: about 100 bytes). Whatever the
layout, `unpack_array` gives the same float64 values back, exactly.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from trackboard.storage.media.histograms import uniform_edges

RAW, ZLIB, UNIFORM = 0, 1, 2
_DTYPES = {b"d": np.dtype("<f8"), b"B": np.dtype("u1"), b"H": np.dtype("<u2"),
           b"I": np.dtype("<u4"), b"Q": np.dtype("<u8")}
_CODES = {v: k for k, v in _DTYPES.items()}
_UNIFORM = struct.Struct("<ddI")
_EXACT_INT = 2**53  # whole numbers below this are exact in float64


def pack_array(values: np.ndarray) -> bytes:
    """Bytes of a 1-D float64 array (whole numbers as small integers), losslessly.

    >>> a = np.array([0.0, 3.0, 70000.0, 0.0])
    >>> unpack_array(pack_array(a)).tolist()
    [0.0, 3.0, 70000.0, 0.0]
    >>> unpack_array(pack_array(np.array([0.5, -np.inf, np.nan]))).tolist()
    [0.5, -inf, nan]
    """
    a = np.ascontiguousarray(values, dtype=np.float64).ravel()
    dtype = np.dtype("<f8")
    if len(a) and np.all(np.isfinite(a)) and a.min() >= 0 and a.max() < _EXACT_INT \
            and np.array_equal(a, np.floor(a)):
        top = a.max()
        dtype = next(np.dtype(t) for t in ("u1", "<u2", "<u4", "<u8")
                     if top <= np.iinfo(t).max)
    raw = a.astype(dtype).tobytes()
    code = _CODES[dtype]
    shuffled = np.frombuffer(raw, np.uint8).reshape(-1, dtype.itemsize).T.tobytes() \
        if dtype.itemsize > 1 else raw
    packed = zlib.compress(shuffled, 6)
    if len(packed) < len(raw):
        return bytes([ZLIB]) + code + packed
    return bytes([RAW]) + code + raw


def pack_edges(edges: np.ndarray) -> bytes:
    """Bytes of bucket edges: 20 bytes when they are `uniform_edges`, else pack_array's.

    >>> from trackboard.storage.media.histograms import uniform_edges
    >>> len(pack_edges(uniform_edges(-1.0, 3.0, 64)))
    21
    """
    a = np.ascontiguousarray(edges, dtype=np.float64).ravel()
    if len(a) >= 2:
        lo, hi, n = float(a[0]), float(a[-1]), len(a) - 1
        if np.isfinite(lo) and np.isfinite(hi) and lo < hi and \
                np.array_equal(uniform_edges(lo, hi, n), a):
            return bytes([UNIFORM]) + _UNIFORM.pack(lo, hi, n)
    return pack_array(a)


def unpack_array(data: bytes) -> np.ndarray:
    """The float64 array `pack_array` or `pack_edges` made (ValueError on anything else)."""
    data = bytes(data)  # memoryview (psycopg bytea) or bytes
    if len(data) < 2:
        raise ValueError("not a packed array (too short)")
    layout = data[0]
    if layout == UNIFORM:
        if len(data) != 1 + _UNIFORM.size:
            raise ValueError("not a packed array (uniform edges of the wrong length)")
        lo, hi, n = _UNIFORM.unpack(data[1:])
        return uniform_edges(lo, hi, n)
    dtype = _DTYPES.get(data[1:2])
    if dtype is None or layout not in (RAW, ZLIB):
        raise ValueError(f"not a packed array (layout {layout}, dtype {data[1:2]!r})")
    body = data[2:]
    if layout == ZLIB:
        try:
            body = zlib.decompress(body)
        except zlib.error as exc:
            raise ValueError(f"not a packed array ({exc})") from None
    if len(body) % dtype.itemsize:
        raise ValueError("not a packed array (length is not a whole number of values)")
    if layout == ZLIB and dtype.itemsize > 1:
        body = np.frombuffer(body, np.uint8).reshape(dtype.itemsize, -1).T.tobytes()
    return np.frombuffer(body, dtype).astype(np.float64)
