"""Export runs to TensorBoard event files (no TensorFlow needed).

One directory per run, `<project>/<name>-<id[:8]>`, holding one event file:
  - every metric as a TensorBoard scalar: a rank-0 DT_FLOAT tensor with the
    "scalars" plugin marker. TensorBoard's default loader (the Rust data server)
    reads scalars only as float32 (`simple_value` or DT_FLOAT; a DT_DOUBLE tensor
    is dropped as data loss), so both loaders show float32. The same tensor also
    carries the exact float64 in `double_val`, which TensorBoard ignores for a
    DT_FLOAT tensor and trackboard's importer reads back (tb_format.SCALAR_DTYPE);
  - params as an HParams session (start + end info), from which TensorBoard's
    HParams dashboard builds its table of runs, params and final metrics;
  - notes and tags as text summaries.

Points that share a step and wall time (one `Run.log` call) go into one Event:
TensorBoard reads several values per event, and it makes the file ~10x fewer
records. Re-exporting a run rewrites its one file under a fixed name, and a
manifest (.trackboard-export.json) remembers where each run went, so a renamed
run's old directory is cleaned up: nothing is ever duplicated.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from trackboard.storage.extras import require
from trackboard.storage.interchange.selection import select_runs
from trackboard.storage.interchange.tensorboard.format import (
    NOTES_TAG,
    SCALAR_DTYPE,
    TAGS_TAG,
    RecordSink,
    native_crc_available,
    open_record_writer,
)
from trackboard.storage.read.store import Store, opened_store

MANIFEST = ".trackboard-export.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+@-]+")
# Events encoded per pass (bounds the memory of one run's encoded records).
_CHUNK_EVENTS = 200_000
# Exports of at least this many points use the C-checksum record writer when available.
FAST_WRITER_MIN_POINTS = 200_000


@dataclass
class ExportResult:
    """What an export wrote: run id -> run directory (relative to `outdir`)."""

    outdir: Path
    runs: dict[str, str] = field(default_factory=dict)
    points: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = f" ({self.points / self.seconds:,.0f} points/s)" if self.seconds > 0 else ""
        return (f"exported {len(self.runs)} run(s), {self.points:,} points to {self.outdir}"
                f"{rate}\nopen it with: python -m tensorboard.main --logdir {self.outdir}")


def run_dir_name(project: str, name: str, run_id: str) -> str:
    """A readable, filesystem-safe run directory: `<project>/<name>-<id[:8]>`.

    >>> run_dir_name("churn", "mlp lr=0.1", "0123456789abcdef")
    'churn/mlp_lr=0.1-01234567'
    """
    return f"{_safe(project)}/{_safe(name)}-{run_id[:8]}"


def export_tensorboard(store: Store | str | None, outdir: str | os.PathLike[str], *,
                       run_ids: Sequence[str] | None = None, project: str | None = None,
                       fast: bool | None = None, progress: bool = False) -> ExportResult:
    """Write the selected runs (ids or unique prefixes; else a project; else all) to `outdir`.

    >>> export_tensorboard("sqlite:///trackboard.db", "tb", project="churn")  # doctest: +SKIP
    """
    require("tensorboard", "tensorboard")
    from tqdm import tqdm

    started = time.perf_counter()
    with opened_store(store) as db:
        frame = select_runs(db, run_ids, project)
        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        manifest = _load_manifest(out)
        result = ExportResult(out)
        taken: set[str] = set()
        infos = {rid: db.run(rid) for rid in frame["id"]}
        if fast is None:
            # tensorboardX's writer costs an import of a few seconds (it pulls in torch
            # when installed); its C checksum pays off only on large exports.
            total = sum(int(m["count"]) for info in infos.values()
                        for m in info["metrics"].values())
            fast = total >= FAST_WRITER_MIN_POINTS and native_crc_available()
        bar = tqdm(total=len(frame), unit="run", disable=not progress, desc="export")
        for row in frame.itertuples(index=False):
            rel = run_dir_name(row.project, row.name, row.id)
            if rel in taken:  # same project, name and id prefix: fall back to the full id
                rel = f"{_safe(row.project)}/{_safe(row.name)}-{row.id}"
            taken.add(rel)
            old = manifest.get(row.id)
            if old is not None and old != rel:
                _remove_run_files(out, old, row.id)
            result.points += _write_run(db, row, infos[row.id], out, rel, fast)
            result.runs[row.id] = rel
            manifest[row.id] = rel
            _save_manifest(out, manifest)
            bar.update(1)
            bar.set_postfix(points=result.points)
        bar.close()
    result.seconds = time.perf_counter() - started
    return result


# -- one run -------------------------------------------------------------------------


def _write_run(db: Store, row: Any, info: dict[str, Any], out: Path, rel: str,
               fast: bool) -> int:
    from tensorboard.compat.proto import event_pb2

    created = _seconds(row.created_at, time.time())
    ended = _seconds(row.ended_at, None)
    run_dir = out / rel
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / f"events.out.tfevents.{int(created):010d}.trackboard-{row.id}"
    partial = run_dir / f".partial-{row.id}"  # no "tfevents": TensorBoard ignores it
    writer = open_record_writer(str(partial), fast=fast)
    try:
        writer.write(event_pb2.Event(wall_time=created,
                                     file_version="brain.Event:2").SerializeToString())
        writer.write(event_pb2.Event(wall_time=created, step=0, summary=_hparams_start(
            info["params"], rel, created)).SerializeToString())
        for tag, text in _texts(info).items():
            writer.write(event_pb2.Event(wall_time=created, step=0,
                                         summary=_text(tag, text)).SerializeToString())
        points = _write_scalars(db, row.id, writer)
        end = _hparams_end(row.status, ended)
        if end is not None:
            writer.write(event_pb2.Event(wall_time=ended or created, step=0,
                                         summary=end).SerializeToString())
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    for stale in run_dir.glob(f"*.tfevents.*.trackboard-{row.id}"):
        if stale != final:
            stale.unlink()
    os.replace(partial, final)
    return points


def _write_scalars(db: Store, run_id: str, writer: RecordSink) -> int:
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


# -- hparams and text ----------------------------------------------------------------


def _hparams_start(params: dict[str, Any], trial: str, created: float) -> Any:
    from tensorboard.plugins.hparams import summary_v2

    # Each run is its own session group (trial id = run directory): TensorBoard would
    # otherwise merge runs with identical params into one averaged row.
    return summary_v2.hparams_pb({k: _hparam_value(v) for k, v in params.items()},
                                 trial_id=trial, start_time_secs=created)


def _hparams_end(status: str, ended: float | None) -> Any:
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    # TensorBoard knows success and failure only: a killed or crashed run did not finish.
    codes = {"finished": api_pb2.STATUS_SUCCESS, "failed": api_pb2.STATUS_FAILURE,
             "killed": api_pb2.STATUS_FAILURE, "crashed": api_pb2.STATUS_FAILURE}
    if status not in codes:  # still running: no end info, as a live TensorFlow job
        return None
    info = plugin_data_pb2.SessionEndInfo(status=codes[status], end_time_secs=ended or 0.0)
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.SESSION_END_INFO_TAG, tensor=metadata.NULL_TENSOR,
                      metadata=metadata.create_summary_metadata(
                          plugin_data_pb2.HParamsPluginData(session_end_info=info)))
    return summary


def _hparam_value(value: Any) -> bool | float | int | str:
    """HParams hold bools, numbers and strings; anything else goes in as JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def _texts(info: dict[str, Any]) -> dict[str, str]:
    out = {}
    notes = info.get("notes")
    if isinstance(notes, str) and notes:
        out[NOTES_TAG] = notes
    if info["tags"]:
        rows = "\n".join(f"| {_cell(k)} | {_cell(v)} |" for k, v in info["tags"].items())
        out[TAGS_TAG] = "| tag | value |\n|---|---|\n" + rows
    return out


def _text(tag: str, text: str) -> Any:
    from tensorboard.plugins.text import summary_v2

    return summary_v2.text_pb(tag, text)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# -- files ---------------------------------------------------------------------------


def _safe(part: str) -> str:
    cleaned = _UNSAFE.sub("_", str(part)).strip("._") or "run"
    return cleaned[:100]


def _seconds(stamp: Any, default: float | None) -> float | None:
    if stamp is None or (isinstance(stamp, float) and math.isnan(stamp)) or pd.isna(stamp):
        return default
    return float(pd.Timestamp(stamp).timestamp())


def _load_manifest(out: Path) -> dict[str, str]:
    path = out / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.get("runs", {}).items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path} is not a trackboard export manifest ({exc}); "
                         "move it away or export into another directory") from None


def _save_manifest(out: Path, runs: dict[str, str]) -> None:
    path = out / MANIFEST
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"format": 1, "runs": runs}, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _remove_run_files(out: Path, rel: str, run_id: str) -> None:
    """Remove a run's files from the directory it was exported to before (renamed run)."""
    run_dir = out / rel
    for stale in run_dir.glob(f"*.tfevents.*.trackboard-{run_id}"):
        stale.unlink()
    folder = run_dir
    while folder != out and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
