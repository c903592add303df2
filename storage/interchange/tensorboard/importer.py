"""Import TensorBoard logdirs into the store.

The logdir is walked as TensorBoard walks it: every directory holding an event file
is a run (nested runs too), and its event files are read in name order. Scalars come
from `simple_value` (TF1, tensorboardX, torch) and from rank-0 tensors marked with
the "scalars" plugin (tf.summary / Keras, torch's new_style, trackboard's own export),
HParams session info becomes params (and the run's status), text becomes notes.
Image, audio and histogram records are skipped undecoded (tb_wire.py), and restarts
drop the points they supersede as TensorBoard does (_RunState).

Records come from TensorBoard's record iterator (TensorFlow's C++ reader when
TensorFlow is installed, TensorBoard's pure-Python one otherwise); the events are
decoded here with Event.FromString, skipping the per-event bookkeeping of
EventAccumulator, and go to the store in large batches through the Ingestor.

A run's id is a hash of the logdir's real path and the run's relative path, so
importing the same logdir again updates the same runs: points are upserted (same
step and wall time: nothing changes), params, notes and status are set again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from trackboard.storage.extras import require
from trackboard.storage.gc_pause import gc_paused
from trackboard.storage.interchange.tensorboard.format import (
    EVENT_FILE_MARK,
    HPARAMS_PLUGIN,
    NOTES_TAG,
    SCALARS_PLUGIN,
    TAGS_TAG,
    TEXT_PLUGIN,
)
from trackboard.storage.interchange.tensorboard.wire import (
    BULKY_KINDS,
    SIMPLE_VALUE,
    WireError,
    peek_summary,
)
from trackboard.storage.read.store import Store, opened_store
from trackboard.storage.rules import MAX_KEY_LENGTH, check_key
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import (
    NOTES,
    PARAMS,
    POINTS,
    PURGE,
    RUN,
    STATUS,
    TAGS,
    Batch,
)

# Records longer than this are peeked at first: scalar events are tens of bytes,
# images and histograms kilobytes.
_PEEK_MIN_BYTES = 256
_KEPT_PLUGINS = frozenset((SCALARS_PLUGIN, TEXT_PLUGIN, HPARAMS_PLUGIN))
# Points of one run held in memory so that a tag going back can still drop them.
HOLD_POINTS = 2_000_000


class EventFileWarning(UserWarning):
    """Part of a logdir could not be imported as TensorBoard shows it (a truncated or
    corrupt event file, a bad tag, a restart reaching points already written); the
    message says what was imported instead."""


@dataclass
class ImportResult:
    """What an import wrote: run id -> run name, points and the warnings raised."""

    logdir: Path
    project: str
    runs: dict[str, str] = field(default_factory=dict)
    points: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        rate = f" ({self.points / self.seconds:,.0f} points/s)" if self.seconds > 0 else ""
        text = (f"imported {len(self.runs)} run(s), {self.points:,} points from {self.logdir} "
                f"into project {self.project!r}{rate}")
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

    with opened_store(store, read_only=False) as db:
        with gc_paused():
            ingestor = Ingestor(db.engine)
            total = sum(f.stat().st_size for _, files in runs for f in files)
            bar = tqdm(total=total, unit="B", unit_scale=True, disable=not progress,
                       desc="import", mininterval=0.5)
            reader = _RunReader(ingestor, result.project, batch_points, bar, on_warning,
                                hold_points)
            for rel, files in runs:
                name = (name_of_root if rel == "." else rel)[:MAX_KEY_LENGTH]
                uid = run_uid(root, rel)
                if reader.read(uid, name, files):
                    result.runs[uid] = name
            reader.flush()
            bar.close()
            result.points = reader.points
    result.seconds = time.perf_counter() - started
    return result


class _RunReader:
    """Turns the events of one run after another into store records, in big batches.

    A run's points stay in memory until the run is read (up to `hold_points`), so
    that a restart later in the run can still remove the points it supersedes.
    """

    def __init__(self, ingestor: Ingestor, project: str, batch_points: int, bar: Any,
                 warn: Callable[[str], None], hold_points: int) -> None:
        self.ingestor = ingestor
        self.project = project
        self.batch_points = batch_points
        self.hold_points = hold_points
        self.bar = bar
        self.warn = warn
        self.batch = Batch()
        self.pending = 0
        self.points = 0
        self._bad_keys: set[str] = set()

    def flush(self) -> None:
        if self.batch:
            self.ingestor.apply(self.batch)
        self.batch = Batch()
        self.pending = 0

    def _hand_over(self, state: _RunState) -> None:
        """Move the run's held points into the batch (and the batch to the store when full)."""
        kept = [rec for rec in state.held if rec is not None]
        count = sum(len(rec[4]) for rec in kept)
        self.batch.points.extend(kept)
        self.points += count
        self.pending += count
        state.handed_over()
        if self.pending >= self.batch_points:
            self.flush()

    def _purge_written(self, state: _RunState, step: int) -> None:
        """A restart reaching points already written: remove them from the store too.

        Everything of this run in the store was logged before the restart (file
        order), so the PURGE takes every wall time. It goes through an Ingestor of
        its own: an Ingestor remembers purges to drop late points, which here would
        drop the points the resumed program logs next.
        """
        self._hand_over(state)
        self.flush()
        purge = Batch()
        purge.add((PURGE, state.uid, step, math.inf))
        Ingestor(self.ingestor.engine).apply(purge)
        state.written_step = {tag: min(last, step - 1)
                              for tag, last in state.written_step.items()}

    def read(self, uid: str, name: str, files: list[Path]) -> bool:
        """Read one run; False when none of its files held a single event."""
        from google.protobuf.message import DecodeError
        from tensorboard.compat.proto import event_pb2

        parse = event_pb2.Event.FromString
        start = event_pb2.SessionLog.START
        state = _RunState(uid, name, self._check_key, self.warn, self.hold_points)
        for path in files:
            done = 0
            try:
                for raw in _records(path):
                    size = len(raw)
                    done += size + 16  # payload + TFRecord framing
                    if done > 1 << 20:
                        self.bar.update(done)
                        done = 0
                    if size > _PEEK_MIN_BYTES and state.created is not None:
                        try:
                            wall, values = peek_summary(raw)
                        except WireError:
                            pass  # the parser below reports it
                        else:
                            if values is not None and state.bulky_only(values):
                                if wall > state.last_wall:
                                    state.last_wall = wall
                                continue
                    try:
                        event = parse(raw)
                    except DecodeError:
                        self.warn(f"{path}: skipped a record that is not a TensorBoard event")
                        continue
                    wall = event.wall_time
                    if state.created is None:
                        state.created = wall
                        self.batch.add((RUN, {
                            "uid": uid, "project": self.project, "name": name,
                            "framework": "tensorboard", "host": None, "git_commit": None,
                            "command": None, "created_at": wall, "status": "running"}))
                    if wall > state.last_wall:
                        state.last_wall = wall
                    if event.HasField("summary"):
                        state.summary(event)
                        if state.held_points >= self.hold_points:
                            self._hand_over(state)
                    elif event.HasField("session_log") and event.session_log.status == start:
                        # A (re)start at this step: what was logged before at this
                        # step or later is superseded (TensorBoard's purge_step).
                        if state.restart(event.step):
                            self._purge_written(state, event.step)
            except _CorruptFile as exc:
                self.warn(f"{path} is truncated or corrupt ({exc}); imported the events "
                          "before that point")
            self.bar.update(done)
        if state.created is None:
            self.warn(f"run {name!r}: no readable events in {', '.join(map(str, files))}")
            return False
        self._hand_over(state)
        for rec in state.records(uid):
            self.batch.add(rec)
        return True

    def _check_key(self, tag: str) -> bool:
        try:
            check_key(tag)
            return True
        except ValueError as exc:
            if tag not in self._bad_keys:
                self._bad_keys.add(tag)
                self.warn(f"skipped tag {tag[:60]!r}: {exc}")
            return False


class _RunState:
    """One run being read: its held points, params, texts and end status.

    Restarts follow TensorBoard: a SessionLog START at step S (torch's purge_step,
    TensorFlow's supervisor) drops every tag's points at steps >= S logged before
    it, as EventAccumulator does; a tag logged at a step <= its last step drops
    its own points from that step on, as the default (Rust) loader does for every
    time series. Each tag's held steps therefore only ever increase, so both
    purges scan back from the newest point and stop early.
    """

    def __init__(self, uid: str, name: str, check_key: Callable[[str], bool],
                 warn: Callable[[str], None], hold_points: int) -> None:
        self.uid = uid
        self.hold_points = hold_points
        self.name = name
        self.check_key = check_key
        self.warn = warn
        self.created: float | None = None
        self.last_wall = float("-inf")
        self.plugin_of: dict[str, str] = {}
        self.valid: dict[str, bool] = {}
        self.params: dict[str, str] = {}
        self.texts: dict[str, tuple[int, str]] = {}
        self.status: str | None = None
        self.ended: float | None = None
        # Points records not yet handed to the batch; None where a purge emptied one.
        self.held: list[tuple | None] = []
        self.held_points = 0
        self.last_step: dict[str, int] = {}    # newest step of each tag
        self.written_step: dict[str, int] = {}  # newest step of each tag handed over
        self._one_key: dict[str, tuple[str]] = {}
        self._warned_written = False

    def bulky_only(self, values: list[tuple[str, int, str | None]]) -> bool:
        """Whether every value of a peeked event is an image, audio or histogram."""
        for tag, kind, plugin in values:
            if kind in BULKY_KINDS:
                continue
            if plugin is not None and tag not in self.plugin_of:
                self.plugin_of[tag] = plugin
            if kind == SIMPLE_VALUE or self.plugin_of.get(tag) in _KEPT_PLUGINS:
                return False
        return True

    def summary(self, event: Any) -> None:
        keys: list[str] = []
        vals: list[float] = []
        step = event.step
        for v in event.summary.value:
            kind = v.WhichOneof("value")
            tag = v.tag
            if kind == "simple_value":
                x = v.simple_value
            else:
                if v.HasField("metadata") and tag not in self.plugin_of:
                    # As TensorBoard does, a tag's first metadata decides its plugin.
                    self.plugin_of[tag] = v.metadata.plugin_data.plugin_name
                plugin = self.plugin_of.get(tag)
                if plugin == HPARAMS_PLUGIN:  # torch writes these without a tensor
                    self._hparams(v)
                    continue
                if kind != "tensor":
                    continue
                if plugin == SCALARS_PLUGIN:
                    t = v.tensor
                    # The common cases inline. A DT_FLOAT tensor with a double_val is
                    # trackboard's export: the exact value it was rounded from.
                    if t.double_val and t.dtype in (1, 2):  # DT_FLOAT, DT_DOUBLE
                        x = t.double_val[0]
                    elif t.dtype == 1 and t.float_val:
                        x = t.float_val[0]
                    else:
                        x = _tensor_scalar(t)
                        if x is None:
                            continue
                elif plugin == TEXT_PLUGIN:
                    self.texts[tag] = (step, _tensor_text(v.tensor))
                    continue
                else:
                    continue
            ok = self.valid.get(tag)
            if ok is None:
                ok = self.valid[tag] = self.check_key(tag)
            if not ok:
                continue
            last = self.last_step.get(tag)
            if last is not None and step <= last:
                self._purge(step, {tag})
            self.last_step[tag] = step
            if tag in keys:  # the same tag twice in one event: the later value wins
                vals[keys.index(tag)] = x
                continue
            keys.append(tag)
            vals.append(x)
        if not keys:
            return
        if len(keys) == 1:
            key = self._one_key.get(keys[0])
            if key is None:
                key = self._one_key[keys[0]] = (keys[0],)
        else:
            key = tuple(keys)
        self.held.append((POINTS, self.uid, step, event.wall_time, key, array("d", vals)))
        self.held_points += len(vals)

    def restart(self, step: int) -> bool:
        """Apply a START at `step` to the held points; True if written ones need it too."""
        tags = {tag for tag, last in self.last_step.items() if last >= step}
        if tags:
            self._purge(step, tags, in_store=True)
        return any(last >= step for last in self.written_step.values())

    def _purge(self, step: int, tags: set[str], in_store: bool = False) -> None:
        """Drop the held points of `tags` at steps >= `step`."""
        if not in_store and not self._warned_written and any(
                self.written_step.get(tag, step - 1) >= step for tag in tags):
            # The store can purge a whole run from a step on (a START), not one tag.
            self._warned_written = True
            self.warn(f"run {self.name!r}: tag {min(tags)!r} goes back to step {step}, "
                      "past points already written to the store (a run's points are "
                      f"held in memory up to {self.hold_points:,}); its later points from "
                      "before were kept")
        todo = set(tags)
        held = self.held
        for i in range(len(held) - 1, -1, -1):
            rec = held[i]
            if rec is None:
                continue
            keys = rec[4]
            if rec[2] < step:
                todo.difference_update(keys)
                if not todo:
                    break
                continue
            if todo.isdisjoint(keys):
                continue
            kept = [(k, x) for k, x in zip(keys, rec[5]) if k not in todo]
            self.held_points -= len(keys) - len(kept)
            held[i] = (rec[0], rec[1], rec[2], rec[3], tuple(k for k, _ in kept),
                       array("d", [x for _, x in kept])) if kept else None
        for tag in tags:
            self.last_step[tag] = min(self.last_step[tag], step - 1)

    def handed_over(self) -> None:
        self.held = []
        self.held_points = 0
        self.written_step = dict(self.last_step)

    def _hparams(self, value: Any) -> None:
        from tensorboard.plugins.hparams import api_pb2, metadata

        if not value.HasField("metadata"):
            return
        content = value.metadata.plugin_data.content
        if value.tag == metadata.SESSION_START_INFO_TAG:
            info = metadata.parse_session_start_info_plugin_data(content)
            for key, v in info.hparams.items():
                kind = v.WhichOneof("kind")
                if kind in ("number_value", "string_value", "bool_value") and key:
                    self.params[key[:MAX_KEY_LENGTH]] = json.dumps(getattr(v, kind),
                                                             ensure_ascii=False)
        elif value.tag == metadata.SESSION_END_INFO_TAG:
            end = metadata.parse_session_end_info_plugin_data(content)
            self.status = "failed" if end.status == api_pb2.STATUS_FAILURE else "finished"
            self.ended = end.end_time_secs or None

    def records(self, uid: str) -> list[tuple]:
        out: list[tuple] = []
        if self.params:
            out.append((PARAMS, uid, self.params))
        texts = {tag: text for tag, (_, text) in sorted(self.texts.items())}
        tags = _parse_tag_table(texts.pop(TAGS_TAG, ""))
        if tags:
            out.append((TAGS, uid, tags))
        notes = [texts.pop(NOTES_TAG)] if NOTES_TAG in texts else []
        notes += [f"{tag}:\n{text}" for tag, text in texts.items()]
        if notes:
            out.append((NOTES, uid, "\n\n".join(notes)))
        out.append((STATUS, uid, self.status or "finished", self.ended or self.last_wall))
        return out



class _CorruptFile(Exception):
    pass


def _records(path: Path) -> Iterator[bytes]:
    """Serialized events of one file, raising _CorruptFile where reading had to stop."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat import tf

    # RawEventFileLoader.Load() would stop silently at a truncated record (it waits
    # for the file to grow); an import must say which file was cut short, so this
    # iterates TensorBoard's record iterator itself.
    iterator = event_file_loader._make_tf_record_iterator(str(path))
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except tf.errors.DataLossError as exc:
            raise _CorruptFile(str(exc).strip().splitlines()[0] if str(exc) else "data loss") \
                from None


def _tensor_scalar(tensor: Any) -> float | None:
    """The value of a rank-0 numeric tensor (float32, float64 fast; others via numpy)."""
    dtype = tensor.dtype
    if dtype == 1:  # DT_FLOAT
        if tensor.float_val:
            return tensor.float_val[0]
        if len(tensor.tensor_content) == 4:
            return float(np.frombuffer(tensor.tensor_content, "<f4")[0])
    elif dtype == 2:  # DT_DOUBLE
        if tensor.double_val:
            return tensor.double_val[0]
        if len(tensor.tensor_content) == 8:
            return float(np.frombuffer(tensor.tensor_content, "<f8")[0])
    from tensorboard.util import tensor_util

    try:
        arr = tensor_util.make_ndarray(tensor)
    except (TypeError, ValueError):
        return None
    if arr.size != 1 or arr.dtype.kind not in "fiub":
        return None
    return float(arr.reshape(()).item())


def _tensor_text(tensor: Any) -> str:
    if len(tensor.string_val) == 1 and not tensor.tensor_shape.dim:
        return tensor.string_val[0].decode("utf-8", "replace")
    from tensorboard.util import tensor_util

    arr = tensor_util.make_ndarray(tensor)
    return "\n".join(x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)
                     for x in arr.reshape(-1))


def _parse_tag_table(text: str) -> dict[str, str]:
    """Tags back from the markdown table the exporter writes."""
    out = {}
    for line in text.splitlines()[2:]:
        cells = [c.strip().replace("\\|", "|")
                 for c in line.strip().strip("|").replace("\\|", "\0").split("|")]
        cells = [c.replace("\0", "|") for c in cells]
        if len(cells) == 2 and cells[0]:
            out[cells[0][:MAX_KEY_LENGTH]] = cells[1]
    return out
