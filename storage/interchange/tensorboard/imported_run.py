"""ImportedRun: one run being imported, its held points and media, params and status.

Fed one TensorBoard event at a time by run_reader.py: scalars (simple_value, or a
rank-0 tensor of the "scalars" plugin) become held points; histograms, images and
texts become media records, one per tag and step (media_values.py says how);
HParams session info becomes params and the run's status; the exporter's notes and
tag table become notes and tags again. Restarts drop the points and media they
supersede, as TensorBoard does.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np
from trackboard.storage.interchange.tensorboard.format import (
    HPARAMS_PLUGIN,
    NOTES_TAG,
    SCALARS_PLUGIN,
    TAGS_TAG,
    TEXT_PLUGIN,
)
from trackboard.storage.interchange.tensorboard.imported_media import HeldMedia
from trackboard.storage.interchange.tensorboard.media_values import (
    HISTOGRAMS_PLUGIN,
    IMAGES_PLUGIN,
    tensor_text,
)
from trackboard.storage.interchange.tensorboard.wire import (
    BULKY_KINDS,
    HISTO,
    IMAGE,
    SIMPLE_VALUE,
)
from trackboard.storage.rules import MAX_KEY_LENGTH
from trackboard.storage.write.records import NOTES, PARAMS, POINTS, STATUS, TAGS

_KEPT_PLUGINS = frozenset((SCALARS_PLUGIN, TEXT_PLUGIN, HPARAMS_PLUGIN, HISTOGRAMS_PLUGIN,
                           IMAGES_PLUGIN))
# Texts the exporter writes for a run's notes and tags (not texts per step).
_RUN_TEXTS = frozenset((NOTES_TAG, TAGS_TAG))


class ImportedRun:
    """One run being read: its held points and media, params, notes and end status.

    Restarts follow TensorBoard: a SessionLog START at step S (torch's purge_step,
    TensorFlow's supervisor) drops every tag's points at steps >= S logged before
    it, as EventAccumulator does; a tag logged at a step <= its last step drops
    its own points from that step on, as the default (Rust) loader does for every
    time series. Each tag's held steps therefore only ever increase, so both
    purges scan back from the newest point and stop early. Media follow the same
    rules (`HeldMedia`).
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
        self.texts: dict[str, tuple[int, str]] = {}  # the exporter's notes and tag table
        self.status: str | None = None
        self.ended: float | None = None
        # Points records not yet handed to the batch; None where a purge emptied one.
        self.held: list[tuple | None] = []
        # Values of tags the store refuses, per tag: set aside, not stored.
        self.refused: dict[str, list[tuple]] = {}
        self.held_points = 0
        self.last_step: dict[str, int] = {}    # newest step of each tag
        self.written_step: dict[str, int] = {}  # newest step of each tag handed over
        self.media = HeldMedia(uid, name, warn)
        self._one_key: dict[str, tuple[str]] = {}
        self._warned_written = False

    def bulky_only(self, values: list[tuple[str, int, str | None]]) -> bool:
        """Whether every value of a peeked event is one the import leaves out (audio,
        TensorFlow's obsolete histograms, tensors of other plugins)."""
        for tag, kind, plugin in values:
            if kind in BULKY_KINDS:
                continue
            if plugin is not None and tag not in self.plugin_of:
                self.plugin_of[tag] = plugin
            if kind in (SIMPLE_VALUE, HISTO, IMAGE) or self.plugin_of.get(tag) in _KEPT_PLUGINS:
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
                if kind in ("histo", "image") or (kind == "tensor" and (
                        plugin in (HISTOGRAMS_PLUGIN, IMAGES_PLUGIN)
                        or (plugin == TEXT_PLUGIN and tag not in _RUN_TEXTS))):
                    self._going_back(tag, step)
                    self.media.add(step, event.wall_time, tag, kind, plugin, v)
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
                    self.texts[tag] = (step, tensor_text(v.tensor))
                    continue
                else:
                    continue
            ok = self.valid.get(tag)
            if ok is None:
                ok = self.valid[tag] = self.check_key(tag)
            if not ok:
                self.refused.setdefault(tag, []).append(
                    (POINTS, self.uid, step, event.wall_time, (tag,), array("d", [x])))
                continue
            last = self.last_step.get(tag)  # _going_back, inlined: once per point
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

    def _going_back(self, tag: str, step: int) -> None:
        """A tag logged at `step`: drop its own held values from there on if it went back."""
        last = self.last_step.get(tag)
        if last is not None and step <= last:
            self._purge(step, {tag})
        self.last_step[tag] = step

    def restart(self, step: int) -> bool:
        """Apply a START at `step` to the held points and media; True if written ones
        need it too."""
        tags = {tag for tag, last in self.last_step.items() if last >= step}
        if tags:
            self._purge(step, tags, in_store=True)
        return any(last >= step for last in self.written_step.values())

    def _purge(self, step: int, tags: set[str], in_store: bool = False) -> None:
        """Drop the held points and media of `tags` at steps >= `step`."""
        self.media.purge(step, tags)
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
        self.refused = {}
        self.media.handed_over()
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
        tags = _parse_tag_table(self.texts[TAGS_TAG][1]) if TAGS_TAG in self.texts else {}
        if tags:
            out.append((TAGS, uid, tags))
        if NOTES_TAG in self.texts:
            out.append((NOTES, uid, self.texts[NOTES_TAG][1]))
        out.append((STATUS, uid, self.status or "finished", self.ended or self.last_wall))
        return out


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
