"""A sealed chunk of one series as bytes, and back: pure numpy + zstd, no I/O.

A chunk holds up to CHUNK_POINTS points of one (run, key), sorted by step, each step
once. Its three columns are transformed so that zstd finds the redundancy a metric
stream has, then compressed together:

- steps: deltas (int64, wrapping: exact for any step). Training steps advance by a
  constant, so the deltas are one repeated number.
- wall times: deltas of their IEEE-754 bit patterns as int64 (wrapping: exact, NaN
  payloads and all). Consecutive wall times share sign, exponent and top mantissa
  bits, so the deltas are small integers: a few significant bytes.
- values: the float64 bit patterns as they are (NaN, +/-inf, -0.0 and subnormals
  exact). A value logged from a float32 (every framework's losses and accuracies) has
  29 zero low mantissa bits.

Each column is then byte-shuffled (byte 0 of every point, then byte 1, ...), which
turns the zero and repeated bytes above into long runs: the transform Blosc and
TimescaleDB use, in numpy. Measured on 1,000-point chunks (bench/chunks.py --only
codec, wall times of a ~4 ms/step loop with jitter): 5.5 bytes a point for a
float32-origin loss or accuracy with its steps and wall times, 2.0 for a constant or
stepped learning rate (nearly all of it the wall times), 9.6 for float64 noise, ~53 µs
to encode a chunk and ~32 to decode it; pcodec packed 16% tighter and decoded 2.7x
faster but encoded 4x slower, and a writer encodes every point once, on the training
machine.

Layout: one version byte (1), then zstd(shuffled steps + wall times + values); the
point count is the decompressed length / 24.
"""

from __future__ import annotations

import numpy as np
import zstandard

CHUNK_POINTS = 1000  # points a sealed chunk holds (the last chunk of a rewrite: fewer)
VERSION = 1
# Level 3 (zstd's default): level 1 packed 1% looser for ~10% less time, 9 2-4%
# tighter for 2x the time (bench/chunks.py --only codec).
LEVEL = 3

_compressor = zstandard.ZstdCompressor(level=LEVEL)
_decompressor = zstandard.ZstdDecompressor()


def encode(step: np.ndarray, wall: np.ndarray, value: np.ndarray) -> bytes:
    """Points sorted by step (int64, float64, float64; equal lengths) as one chunk.

    >>> s, w, v = np.arange(3) * 10, np.array([1.5, 2.5, 3.5]), np.array([np.nan, -0.0, np.inf])
    >>> d = decode(encode(s, w, v))
    >>> d[0].tolist(), d[1].tolist(), [x.hex() for x in d[2]]
    ([0, 10, 20], [1.5, 2.5, 3.5], ['nan', '-0x0.0p+0', 'inf'])
    """
    step = np.ascontiguousarray(step, np.int64)
    bits = np.ascontiguousarray(wall, np.float64).view(np.int64)
    raw = np.empty((3, len(step)), np.int64)
    with np.errstate(over="ignore"):  # wrapping deltas are the point: exact either way
        raw[0] = np.diff(step, prepend=np.int64(0))
        raw[1] = np.diff(bits, prepend=np.int64(0))
    raw[2] = np.ascontiguousarray(value, np.float64).view(np.int64)
    # (3, n) int64 -> for each column, byte 0 of every point, then byte 1, ...
    shuffled = raw.view(np.uint8).reshape(3, len(step), 8).transpose(0, 2, 1)
    return bytes((VERSION,)) + _compressor.compress(np.ascontiguousarray(shuffled).tobytes())


def encode_many(step: np.ndarray, wall: np.ndarray, value: np.ndarray,
                size: int = CHUNK_POINTS) -> list[bytes]:
    """`encode` of each run of `size` points (the length a multiple of `size`), the
    transform done for all of them in one numpy pass: a writer seals a batch's full
    chunks of a series at once, and per-chunk numpy calls cost more than zstd did.

    >>> s, w, v = np.arange(6), np.arange(6) * 0.5, np.arange(6) * -1.5
    >>> encode_many(s, w, v, 3) == [encode(s[:3], w[:3], v[:3]), encode(s[3:], w[3:], v[3:])]
    True
    """
    n = len(step)
    k = n // size
    if k * size != n:
        raise ValueError(f"{n} points are not a multiple of {size}")
    if not k:
        return []
    step = np.ascontiguousarray(step, np.int64)
    bits = np.ascontiguousarray(wall, np.float64).view(np.int64)
    raw = np.empty((3, n), np.int64)
    with np.errstate(over="ignore"):
        np.subtract(step[1:], step[:-1], out=raw[0, 1:])
        np.subtract(bits[1:], bits[:-1], out=raw[1, 1:])
    raw[0, ::size] = step[::size]  # each chunk's first delta is from 0, as in encode
    raw[1, ::size] = bits[::size]
    raw[2] = np.ascontiguousarray(value, np.float64).view(np.int64)
    # (3, k, size, 8) -> per chunk: per column, byte 0 of every point, then byte 1, ...
    shuffled = np.ascontiguousarray(
        raw.view(np.uint8).reshape(3, k, size, 8).transpose(1, 0, 3, 2)).reshape(k, -1)
    compress = _compressor.compress
    version = bytes((VERSION,))
    return [version + compress(row) for row in shuffled]


def decode(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step int64, wall float64, value float64) of a chunk made by `encode`."""
    if not data or data[0] != VERSION:
        raise ValueError(f"not a trackboard points chunk (version byte {data[:1]!r}); "
                         "this store was written by a newer trackboard: upgrade trackboard")
    raw = np.frombuffer(_decompressor.decompress(memoryview(data)[1:]), np.uint8)
    n = len(raw) // 24
    cols = raw.reshape(3, 8, n).transpose(0, 2, 1).copy().view(np.int64).reshape(3, n)
    step = np.cumsum(cols[0], dtype=np.int64)
    with np.errstate(over="ignore"):
        wall = np.cumsum(cols[1], dtype=np.int64).view(np.float64)
    return step, wall, cols[2].view(np.float64)
