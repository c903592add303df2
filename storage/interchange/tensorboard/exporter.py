"""Export runs to TensorBoard event files (no TensorFlow needed).

One directory per run, `<project>/<name>-<id[:8]>`, holding one event file:
  - every metric as a TensorBoard scalar: a rank-0 DT_FLOAT tensor with the
    "scalars" plugin marker. TensorBoard's default loader (the Rust data server)
    reads scalars only as float32 (`simple_value` or DT_FLOAT; a DT_DOUBLE tensor
    is dropped as data loss), so both loaders show float32. The same tensor also
    carries the exact float64 in `double_val`, which TensorBoard ignores for a
    DT_FLOAT tensor and trackboard's importer reads back (format.SCALAR_DTYPE); encoded in bulk by scalar_events.py;
  - params as an HParams session (start + end info), from which TensorBoard's
    HParams dashboard builds its table of runs, params and final metrics: only for
    runs with params whose steps the HParams plugin can read (run_summaries.py);
  - notes and tags as text summaries (both in run_summaries.py);
  - histograms, images and texts per step, for TensorBoard's Histograms,
    Distributions, Images and Text tabs (media_events.py).

Points that share a step and wall time (one `Run.log` call) go into one Event:
TensorBoard reads several values per event, and it makes the file ~10x fewer
records. Re-exporting a run rewrites its one file under a fixed name, and a
manifest (.trackboard-export.json) remembers where each run went, so a renamed
run's old directory is cleaned up: nothing is ever duplicated.

Everything is written inside `outdir` (storage/interchange/fence.py): a symlink in
it that leads elsewhere (a project or run folder, the manifest, a half-written
file) is refused in one line, never followed.
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

import pandas as pd
from trackboard.storage.extras import require
from trackboard.storage.interchange.fence import ExportFence
from trackboard.storage.interchange.selection import select_runs
from trackboard.storage.interchange.tensorboard.format import (
    native_crc_available,
    open_record_writer,
)
from trackboard.storage.interchange.tensorboard.media_events import write_media
from trackboard.storage.interchange.tensorboard.run_summaries import (
    hparams_end,
    hparams_session,
    hparams_start,
    run_texts,
    text_summary,
)
from trackboard.storage.interchange.tensorboard.scalar_events import write_scalars
from trackboard.storage.read.store import Store, opened_store

MANIFEST = ".trackboard-export.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+@-]+")
# Exports of at least this many points use the C-checksum record writer when available.
FAST_WRITER_MIN_POINTS = 200_000


@dataclass
class ExportResult:
    """What an export wrote: run id -> run directory (relative to `outdir`)."""

    outdir: Path
    runs: dict[str, str] = field(default_factory=dict)
    points: int = 0
    #: Media written: "histograms", "images", "texts" -> how many.
    media: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("histograms", "images", "texts"), 0))
    seconds: float = 0.0
    #: What a user should know about single runs (run directory: note).
    notes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        rate = f" ({self.points / self.seconds:,.0f} points/s)" if self.seconds > 0 else ""
        media = "".join(f", {n:,} {what}" for what, n in self.media.items() if n)
        notes = "".join(f"\nnote: {rel}: {note}" for rel, note in self.notes.items())
        return (f"exported {len(self.runs)} run(s), {self.points:,} points{media} to "
                f"{self.outdir}{rate}{notes}\nopen it with: python -m tensorboard.main "
                f"--logdir {self.outdir}")


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
        fence = ExportFence(out)
        manifest = _load_manifest(fence)
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
                _remove_run_files(fence, old, row.id)
            session, note = hparams_session(infos[row.id])
            if note is not None:
                result.notes[rel] = note
            points, media = _write_run(db, row, infos[row.id], fence, rel, fast, session)
            result.points += points
            for what, n in media.items():
                result.media[what] += n
            result.runs[row.id] = rel
            manifest[row.id] = rel
            _save_manifest(fence, manifest)
            bar.update(1)
            bar.set_postfix(points=result.points)
        bar.close()
    result.seconds = time.perf_counter() - started
    return result


# -- one run -------------------------------------------------------------------------


def _write_run(db: Store, row: Any, info: dict[str, Any], fence: ExportFence, rel: str,
               fast: bool, session: bool) -> tuple[int, dict[str, int]]:
    from tensorboard.compat.proto import event_pb2

    created = _seconds(row.created_at, time.time())
    ended = _seconds(row.ended_at, None)
    run_dir = fence.folder(rel)
    final = run_dir / f"events.out.tfevents.{int(created):010d}.trackboard-{row.id}"
    partial = run_dir / f".partial-{row.id}"  # no "tfevents": TensorBoard ignores it
    # Made anew here (never through a symlink of that name); the record writer then
    # opens the empty file by its path.
    os.close(fence.new_file(partial))
    writer = open_record_writer(str(partial), fast=fast)
    try:
        writer.write(event_pb2.Event(wall_time=created,
                                     file_version="brain.Event:2").SerializeToString())
        if session:
            writer.write(event_pb2.Event(wall_time=created, step=0, summary=hparams_start(
                info["params"], rel, created)).SerializeToString())
        for tag, text in run_texts(info).items():
            writer.write(event_pb2.Event(wall_time=created, step=0,
                                         summary=text_summary(tag, text)).SerializeToString())
        points = write_scalars(db, row.id, writer)
        media = write_media(db, row.id, writer)
        end = hparams_end(row.status, ended) if session else None
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
    return points, media

# -- files ---------------------------------------------------------------------------


def _safe(part: str) -> str:
    cleaned = _UNSAFE.sub("_", str(part)).strip("._") or "run"
    return cleaned[:100]


def _seconds(stamp: Any, default: float | None) -> float | None:
    if stamp is None or (isinstance(stamp, float) and math.isnan(stamp)) or pd.isna(stamp):
        return default
    return float(pd.Timestamp(stamp).timestamp())


def _load_manifest(fence: ExportFence) -> dict[str, str]:
    path = fence.root / MANIFEST
    if not fence.readable(path):
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.get("runs", {}).items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path} is not a trackboard export manifest ({exc}); "
                         "move it away or export into another directory") from None


def _save_manifest(fence: ExportFence, runs: dict[str, str]) -> None:
    fence.write_text(fence.root / MANIFEST,
                     json.dumps({"format": 1, "runs": runs}, indent=1, sort_keys=True))


def _remove_run_files(fence: ExportFence, rel: str, run_id: str) -> None:
    """Remove a run's files from the directory it was exported to before (renamed run);
    `rel` comes from the manifest, so it must lead inside the fence too."""
    run_dir = fence.folder(rel)
    for stale in run_dir.glob(f"*.tfevents.*.trackboard-{run_id}"):
        stale.unlink()
    folder = run_dir
    while folder != fence.root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
