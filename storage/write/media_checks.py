"""Checking media records before they are stored: the loggers' rules
(storage/media/limits.py, storage/rules.py), applied again to whatever reaches the
ingest (a spool file may be damaged, an importer may err), so that a bad record raises
ValueError and delivery sets it aside alone."""

from __future__ import annotations

import math
from array import array
from numbers import Real
from typing import Any

import numpy as np
from trackboard.storage.media import images as codec
from trackboard.storage.media.limits import (
    MAX_ENCODED_BYTES,
    MAX_IMAGES_PER_STEP,
    check_buckets,
    check_image_size,
    check_text_size,
)
from trackboard.storage.rules import MAX_STEP, check_key, check_text
from trackboard.storage.write.records import HISTOGRAM, IMAGE, MEDIA_KIND, TEXT, Record

KIND = MEDIA_KIND
# Fields of each record; one more when the caller passed a wall time (data, the last).
FIELDS = {HISTOGRAM: 15, IMAGE: 13, TEXT: 6}
ENCODED = frozenset(codec.MIME_TYPES)


def check_media_record(rec: Any) -> None:
    """Raise ValueError unless `rec` is a well-formed HISTOGRAM, IMAGE or TEXT record."""
    if type(rec) is not tuple or len(rec) < 6:
        raise ValueError("malformed media record")
    op, uid, step, stamp, key = rec[:5]
    want = FIELDS[op]
    if len(rec) not in (want, want + 1):  # + the caller's wall time, when one was given
        raise ValueError(f"malformed {KIND[op]} record ({len(rec)} fields, not {want})")
    if not isinstance(uid, str):
        raise ValueError(f"malformed {KIND[op]} record (run id {uid!r})")
    if type(step) is not int or not 0 <= step <= MAX_STEP:
        raise ValueError(f"malformed {KIND[op]} record (step {step!r})")
    for wall in (stamp, *rec[want:]):
        if not _real(wall) or not math.isfinite(wall) or wall < 0:
            raise ValueError(f"malformed {KIND[op]} record (wall time {wall!r})")
    check_key(key)
    if op == HISTOGRAM:
        _check_histogram(rec)
    elif op == TEXT:
        if not isinstance(rec[5], str):
            raise ValueError(f"text {key!r} is not a str")
        check_text_size(check_text(rec[5], f"text {key!r}"), f"text {key!r}")
    else:
        _check_image(rec)


def _real(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _check_histogram(rec: Record) -> None:
    key, edges, counts = rec[4], rec[5], rec[6]
    if not isinstance(edges, (array, tuple, list)) or not isinstance(counts, (array, tuple, list)):
        raise ValueError(f"histogram {key!r}: edges and counts must be arrays")
    n = len(counts)
    if n:
        check_buckets(n, "buckets")
    if len(edges) != (n + 1 if n else 0):
        raise ValueError(f"histogram {key!r}: {len(edges)} edges for {n} buckets; give one "
                         "edge more than buckets")
    if n:
        e = np.asarray(edges, np.float64)
        c = np.asarray(counts, np.float64)
        # Method calls, not np.all(...) and np.diff: a third of the time, and every
        # histogram is checked here (twice on import: the importer checks before delivery).
        if not (np.isfinite(e).all() and (e[1:] > e[:-1]).all()):
            raise ValueError(f"histogram {key!r}: edges must be finite and increasing")
        if not (np.isfinite(c).all() and (c >= 0).all()):
            raise ValueError(f"histogram {key!r}: counts must be finite and not negative")
    count, nan, posinf, neginf = rec[7:11]
    if not (_real(count) and count >= 0) or not all(
            type(v) is int and v >= 0 for v in (nan, posinf, neginf)):
        raise ValueError(f"histogram {key!r}: malformed counts of values")
    for v in rec[11:15]:
        if v is not None and not _real(v):
            raise ValueError(f"histogram {key!r}: min, max, sum and sum_squares are numbers")


def _check_image(rec: Record) -> None:
    key = rec[4]
    index, size, caption, fmt, width, height, channels, data = rec[5:13]
    if not (type(index) is int and type(size) is int and 0 <= index < size
            and size <= MAX_IMAGES_PER_STEP):
        raise ValueError(f"image {key!r}: malformed place in its strip ({index} of {size})")
    if caption is not None:
        if not isinstance(caption, str):
            raise ValueError(f"image {key!r}: the caption is not a str")
        check_text_size(check_text(caption, "caption"), "caption")
    if not isinstance(data, bytes):
        raise ValueError(f"image {key!r}: no image bytes")
    if fmt == "raw":
        if not all(type(v) is int for v in (width, height, channels)):
            raise ValueError(f"image {key!r}: malformed size")
        check_image_size(height, width, channels)
        if len(data) != width * height * channels:
            raise ValueError(f"image {key!r}: {len(data)} bytes of pixels for "
                             f"{height} x {width} x {channels}")
    elif fmt in ENCODED:
        if len(data) > MAX_ENCODED_BYTES:
            raise ValueError(f"image {key!r}: the file is over 16 MiB")
        if codec.sniff_format(data) != fmt:
            raise ValueError(f"image {key!r}: the bytes are not a {fmt} file")
    else:
        raise ValueError(f"image {key!r}: unknown format {fmt!r}")
