"""Scalar events for the exporter: a run's points -> serialized TensorBoard Events.

Points that share a step and wall time go into one Event, each value a rank-0
DT_FLOAT tensor carrying the exact float64 in `double_val` too. The events that
hold a tag's first value are built with protobuf (they carry the tag's plugin
metadata); all others are laid out in bulk with numpy, byte for byte what
protobuf writes (tests/test_tensorboard_export.py compares them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from trackboard.storage.interchange.tensorboard.format import SCALAR_DTYPE, RecordSink
from trackboard.storage.read.store import Store

# Events encoded per pass (bounds the memory of one run's encoded records).
_CHUNK_EVENTS = 200_000


def write_scalars(db: Store, run_id: str, writer: RecordSink) -> int:
    """All points of a run, in step order, one Event per (step, wall time)."""
    hist = db.history([run_id])
    n = len(hist)
    if not n:
        return 0
    codes, keys = pd.factorize(hist["key"], sort=True)
    step = hist["step"].to_numpy()
    wall = hist["wall_time"].to_numpy()
    order = np.lexsort((codes, wall, step))
    step, wall, codes = step[order], wall[order], codes[order]
    values = hist["value"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, (step[1:] != step[:-1]) | (wall[1:] != wall[:-1])])
    sig_ids, sigs = _signatures(codes, starts)
    # TensorBoard learns a tag's plugin from its first value only: the events that hold
    # a tag's first value carry its metadata (built with protobuf); later values go
    # without it, as tf.summary writes them, and are encoded in bulk.
    firsts = np.unique(codes, return_index=True)[1]
    meta_events = set(np.unique(np.searchsorted(starts, firsts, side="right") - 1).tolist())
    key_list = [str(k) for k in keys]
    tag_bytes = [k.encode() for k in key_list]
    seen: set[int] = set()
    for lo in range(0, len(starts), _CHUNK_EVENTS):
        hi = min(lo + _CHUNK_EVENTS, len(starts))
        records: list[bytes | None] = [None] * (hi - lo)
        chunk_meta = sorted(e for e in meta_events if lo <= e < hi)
        for e in chunk_meta:
            sig = sigs[sig_ids[e]]
            new = {key_list[c] for c in sig if c not in seen}
            seen.update(sig)
            event, slots = _template([key_list[c] for c in sig], new)
            a = int(starts[e])
            _fill(event, slots, int(step[a]), float(wall[a]),
                  values[a:a + len(sig)].tolist())
            records[e - lo] = event.SerializeToString()
        bulk = np.ones(hi - lo, bool)
        bulk[[e - lo for e in chunk_meta]] = False
        rows_all = np.flatnonzero(bulk) + lo
        by_sig = np.argsort(sig_ids[rows_all], kind="stable")
        grouped = rows_all[by_sig]
        cuts = np.flatnonzero(np.diff(sig_ids[grouped])) + 1
        for rows in np.split(grouped, cuts):
            if not len(rows):
                continue
            sig = sigs[sig_ids[rows[0]]]
            first = starts[rows]
            vals = values[first[:, None] + np.arange(len(sig))]
            encoded = _encode_events([tag_bytes[c] for c in sig], step[first], wall[first], vals)
            for r, data in zip((rows - lo).tolist(), encoded):
                records[r] = data
        for data in records:
            writer.write(data)  # type: ignore[arg-type]
    return n


def _signatures(codes: np.ndarray, starts: np.ndarray
                ) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Each event's set of tag codes as an index into the list of distinct sets."""
    bounds = np.r_[starts, len(codes)]
    if len(starts) == len(codes):  # one value per event, as torch's add_scalar logs
        uniq, inverse = np.unique(codes, return_inverse=True)
        return inverse.astype(np.int64), [(int(c),) for c in uniq]
    index: dict[tuple[int, ...], int] = {}
    code_list = codes.tolist()
    ids = [index.setdefault(tuple(code_list[a:b]), len(index))
           for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
    return np.array(ids, np.int64), list(index)


def _varint(n: int) -> bytes:
    """Protobuf's base-128 varint (negative int64 as its 10-byte two's complement).

    >>> _varint(1), _varint(300), len(_varint(-1))
    (b'\\x01', b'\\xac\\x02', 10)
    """
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# A scalar tensor after its tag: dtype DT_FLOAT (field 1), an empty shape (2), one
# packed float_val (5) and one packed double_val (6), as protobuf serializes them.
_TENSOR_HEAD = bytes([0x08, SCALAR_DTYPE]) + b"\x12\x00\x2a\x04"
_TENSOR_LEN = len(_TENSOR_HEAD) + 4 + 2 + 8


def _encode_events(tags: list[bytes], step: np.ndarray, wall: np.ndarray,
                   vals: np.ndarray) -> list[bytes]:
    """Serialized Events, one per row of `vals`: what _template/_fill build, in bulk.

    Every event of one tag set has the same layout but for the step's varint, so
    rows are laid out by a numpy structured array per step length. protobuf parses
    the result into the same message (tests compare them).
    """
    fields: list[tuple[str, str]] = []
    consts: dict[str, bytes] = {}
    summary_len = 0
    for i, tag in enumerate(tags):
        value = b"\x0a" + _varint(len(tag)) + tag + b"\x42" + _varint(_TENSOR_LEN)
        pre = b"\x0a" + _varint(len(value) + _TENSOR_LEN) + value + _TENSOR_HEAD
        fields += [(f"p{i}", f"V{len(pre)}"), (f"f{i}", "<f4"), (f"m{i}", "V2"),
                   (f"d{i}", "<f8")]
        consts[f"p{i}"] = pre
        consts[f"m{i}"] = b"\x32\x08"
        summary_len += len(pre) + 4 + 2 + 8
    head = b"\x2a" + _varint(summary_len)
    with np.errstate(over="ignore"):  # beyond float32's range: inf, as TensorBoard shows
        f32 = vals.astype("<f4")
    u = step.astype(np.int64).view(np.uint64)
    # The step's varint length; 0 where protobuf leaves a field out (proto3 zero
    # defaults: step 0, wall time +0.0).
    length = (u != 0).astype(np.int64)
    for j in range(1, 10):
        length += u >= np.uint64(1 << (7 * j))
    wall_set = wall.astype(np.float64).view(np.uint64) != 0
    layout = length * 2 + wall_set
    out: list[bytes] = [b""] * len(u)
    for key in np.unique(layout).tolist():
        size, with_wall = divmod(key, 2)
        rows = np.flatnonzero(layout == key)
        parts: list[tuple[str, str]] = []
        if with_wall:
            parts += [("w", "V1"), ("wall", "<f8")]
        if size:
            parts += [("s", "V1"), ("step", f"V{size}")]
        dtype = np.dtype(parts + [("head", f"V{len(head)}")] + fields)
        arr = np.zeros(len(rows), dtype)
        if with_wall:
            arr["w"] = np.void(b"\x09")
            arr["wall"] = wall[rows]
        if size:
            arr["s"] = np.void(b"\x10")
            ur = u[rows]
            varint = np.empty((len(rows), size), np.uint8)
            for j in range(size):
                byte = (ur >> np.uint64(7 * j)) & np.uint64(0x7F)
                varint[:, j] = byte.astype(np.uint8) | (0x80 if j < size - 1 else 0)
            arr["step"] = varint.view(f"V{size}").reshape(-1)
        arr["head"] = np.void(head)
        for name, data in consts.items():
            arr[name] = np.void(data)
        for i in range(len(tags)):
            arr[f"f{i}"] = f32[rows, i]
            arr[f"d{i}"] = vals[rows, i]
        buf = arr.tobytes()
        width = dtype.itemsize
        for j, r in enumerate(rows.tolist()):
            out[r] = buf[j * width:(j + 1) * width]
    return out


def _template(tags: list[str], with_metadata: set[str]) -> tuple[Any, list[Any]]:
    """An Event holding one rank-0 scalar tensor per tag, to be refilled in place.

    The slots alternate float_val (what TensorBoard shows) and double_val (the
    exact value) of each tensor.
    """
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.scalar import metadata as scalar_metadata

    event = event_pb2.Event()
    slots = []
    for tag in tags:
        value = event.summary.value.add(tag=tag)
        value.tensor.dtype = SCALAR_DTYPE
        value.tensor.tensor_shape.SetInParent()
        value.tensor.float_val.append(0.0)
        value.tensor.double_val.append(0.0)
        if tag in with_metadata:
            value.metadata.CopyFrom(scalar_metadata.create_summary_metadata(
                display_name=tag, description=""))
        slots.append(value.tensor.float_val)
        slots.append(value.tensor.double_val)
    return event, slots


def _fill(event: Any, slots: list[Any], step: int, wall: float, values: list[float]) -> None:
    event.step = step
    event.wall_time = wall
    # Assigning a Python float to float_val rounds it to float32 (to nearest), as
    # tf.summary.scalar's cast does.
    for i, v in enumerate(values):
        slots[2 * i][0] = v
        slots[2 * i + 1][0] = v

