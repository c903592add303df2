"""Import TensorBoard logdirs into the store.

The logdir is walked as TensorBoard walks it: every directory holding an event file
is a run (nested runs too), and its event files are read in name order. Scalars come
from `simple_value` (TF1, tensorboardX, torch) and from rank-0 tensors marked with
the "scalars" plugin (tf.summary / Keras, torch's new_style, trackboard's own export);
histograms, images and texts become media records per tag and step, as TensorBoard
shows them (media_values.py); HParams session info becomes params (and the run's
status). Audio and other plugins' records are skipped undecoded (wire.py), and
restarts drop the points and media they supersede as TensorBoard does
(imported_run.py).

Records come from TensorBoard's record iterator (TensorFlow's C++ reader when
TensorFlow is installed, TensorBoard's pure-Python one otherwise); the events are
decoded with Event.FromString, skipping the per-event bookkeeping of
EventAccumulator, and go to the store in large batches through the writer's Delivery
(run_reader.py), the door every way into the store takes: a record the store refuses
is set aside in the store's spool folder's rejected/ and reported, the rest imported.
This module walks the logdir and imports run after run.

A run's id is a hash of the logdir's real path and the run's relative path, so
importing the same logdir again updates the same runs: points are upserted (same
step and wall time: nothing changes; media likewise), params, notes and status are
set again.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from trackboard.storage.extras import require
from trackboard.storage.gc_pause import gc_paused
from trackboard.storage.interchange.tensorboard.format import EVENT_FILE_MARK
from trackboard.storage.interchange.tensorboard.run_reader import RunReader
from trackboard.storage.read.store import Store, opened_store
from trackboard.storage.rules import MAX_KEY_LENGTH, check_key
from trackboard.storage.write import spool
from trackboard.storage.write.delivery import Delivery
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import HISTOGRAM, IMAGE, RUN, TEXT

# Points of one run held in memory so that a tag going back can still drop them.
HOLD_POINTS = 2_000_000


class EventFileWarning(UserWarning):
    """Part of a logdir could not be imported as TensorBoard shows it (a truncated or
    corrupt event file, a bad tag, a restart reaching points already written); the
    message says what was imported instead."""


@dataclass
class ImportResult:
    """What an import wrote: run id -> run name, points, media and the warnings raised."""

    logdir: Path
    project: str
    runs: dict[str, str] = field(default_factory=dict)
    points: int = 0
    histograms: int = 0
    images: int = 0
    texts: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rejected_records: int = 0  # set aside: the store refused them
    rejected_points: int = 0
    rejected_in: Path | None = None

    def summary(self) -> str:
        rate = f" ({self.points / self.seconds:,.0f} points/s)" if self.seconds > 0 else ""
        media = "".join(f", {n:,} {what}" for n, what in (
            (self.histograms, "histograms"), (self.images, "images"), (self.texts, "texts"))
            if n)
        text = (f"imported {len(self.runs)} run(s), {self.points:,} points{media} from "
                f"{self.logdir} into project {self.project!r}{rate}")
        if self.rejected_records:
            text += (f"; set aside {self.rejected_records} record(s) ({self.rejected_points} "
                     f"points) the store refused, in {self.rejected_in}")
        if self.warnings:
            text += f"; {len(self.warnings)} warning(s)"
        return text


def run_uid(logdir: str | os.PathLike[str], relative: str) -> str:
    """The deterministic run id of `relative` (a run directory) under `logdir`."""
    base = os.path.realpath(os.fspath(logdir))
    return hashlib.sha256(f"{base}\0{relative}".encode()).hexdigest()[:16]


def find_runs(logdir: str | os.PathLike[str]) -> list[tuple[str, list[Path]]]:
    """(relative run path, event files in name order) for every run under `logdir`.

    >>> find_runs("logs")  # doctest: +SKIP
    [('.', [...]), ('lr=0.1/train', [...]), ('lr=0.1/validation', [...])]
    """
    root = Path(logdir)
    if not root.is_dir():
        raise ValueError(f"{logdir} is not a directory; give the logdir you pass to "
                         "`tensorboard --logdir`")
    out = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        events = sorted(f for f in files if EVENT_FILE_MARK in f)
        if events:
            rel = Path(folder).relative_to(root).as_posix()
            out.append((rel, [Path(folder) / f for f in events]))
    return out


def import_tensorboard(logdir: str | os.PathLike[str], store: Store | str | None = None, *,
                       project: str | None = None, progress: bool = True,
                       batch_points: int = 250_000, hold_points: int = HOLD_POINTS,
                       warn: Callable[[str], None] | None = None) -> ImportResult:
    """Import every run under `logdir`; returns what was written.

    Up to `hold_points` points of a run stay in memory until the run is read, so a
    tag logged again at an earlier step can still drop its later points (a restart
    with a SessionLog START is applied in the store too, for runs of any length).

    Truncated or corrupt event files are reported through `warn` (default:
    warnings.warn with EventFileWarning) and everything readable is kept.

    >>> import_tensorboard("runs/", "sqlite:///trackboard.db", project="old")  # doctest: +SKIP
    """
    if project is not None:
        check_key(project)  # Run's rule: a project name fits the column on every backend
    require("tensorboard", "tensorboard")
    from tqdm import tqdm

    if batch_points < 1 or hold_points < 1:
        raise ValueError(f"batch_points and hold_points must be at least 1, not "
                         f"{batch_points} and {hold_points}")
    started = time.perf_counter()
    root = Path(logdir)
    runs = find_runs(root)
    if not runs:
        raise ValueError(f"no event files (names containing {EVENT_FILE_MARK!r}) under {logdir}")
    name_of_root = root.resolve().name or "logdir"
    result = ImportResult(root, project or name_of_root)
    report = warn or (lambda msg: warnings.warn(msg, EventFileWarning, stacklevel=3))

    def on_warning(msg: str) -> None:
        result.warnings.append(msg)
        report(msg)

    said: set[str] = set()

    def say_once(kind: str, message: str) -> None:  # once per kind, as the writer says it
        if kind not in said:
            said.add(kind)
            on_warning(message)

    with opened_store(store, read_only=False) as db:
        with gc_paused():
            total = sum(f.stat().st_size for _, files in runs for f in files)
            bar = tqdm(total=total, unit="B", unit_scale=True, disable=not progress,
                       desc="import", mininterval=0.5)
            reader: RunReader | None = None
            delivery = Delivery(Ingestor(db.engine), spool.spool_dir(db.url), say_once,
                                lambda: [(RUN, r) for r in (reader.runs.values() if reader
                                                            else ())])
            reader = RunReader(delivery, result.project, batch_points, bar, on_warning,
                               hold_points)
            try:
                for rel, files in runs:
                    name = (name_of_root if rel == "." else rel)[:MAX_KEY_LENGTH]
                    uid = run_uid(root, rel)
                    if reader.read(uid, name, files):
                        result.runs[uid] = name
                reader.flush()
            finally:
                bar.close()
                result.rejected_in = delivery.close()
            result.points = reader.points
            result.rejected_records = delivery.rejected_records
            result.rejected_points = delivery.rejected_points
            result.histograms = reader.media[HISTOGRAM]
            result.images = reader.media[IMAGE]
            result.texts = reader.media[TEXT]
    result.seconds = time.perf_counter() - started
    return result
