"""HeldMedia: the histogram, image and text records of one run being imported.

ImportedRun (imported_run.py) hands it every value of those kinds with its step and
wall time; media_values.py turns the value into record fields. Each record is checked
against the rules every stored record must meet (storage/write/media_checks.py), so
one that cannot be stored (a bad tag, an image file of another format, buckets out of
order) is left out here with a warning naming the run, tag and step, and never reaches
the store's delivery. The records wait here until the run's points are handed over,
so that restarts can drop them as they drop points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trackboard.storage.interchange.tensorboard.media_values import (
    HISTOGRAMS_PLUGIN,
    IMAGES_PLUGIN,
    legacy_histogram,
    legacy_image,
    tensor_histogram,
    tensor_images,
    tensor_text,
)
from trackboard.storage.write.media_checks import check_media_record
from trackboard.storage.write.records import HISTOGRAM, IMAGE, TEXT, Record, record_bytes


class HeldMedia:
    """A run's media records not yet handed to the batch, and their size in bytes."""

    def __init__(self, uid: str, run_name: str, warn: Callable[[str], None]) -> None:
        self.uid = uid
        self.run_name = run_name
        self.warn = warn
        self.records: list[Record] = []
        self.bytes = 0
        self._skipped: dict[str, int] = {}

    def add(self, step: int, wall: float, tag: str, kind: str, plugin: str | None,
            value: Any) -> None:
        """One Summary.Value of kind "histo", "image" or "tensor" (of the histograms,
        images or text plugin) at `step`: its records, or a warning if it cannot be kept."""
        try:
            records = self._records(step, wall, tag, kind, plugin, value)
            for rec in records:
                check_media_record(rec)
        except (ValueError, TypeError) as exc:  # TypeError: a tensor of an odd dtype
            self._skip(tag, step, str(exc))
            return
        for rec in records:
            self.records.append(rec)
            self.bytes += record_bytes(rec)

    def _records(self, step: int, wall: float, tag: str, kind: str, plugin: str | None,
                 value: Any) -> list[Record]:
        head = (self.uid, step, wall, tag)
        if kind == "histo" or plugin == HISTOGRAMS_PLUGIN and kind == "tensor":
            fields = legacy_histogram(value.histo) if kind == "histo" \
                else tensor_histogram(value.tensor)
            return [(HISTOGRAM, *head, *fields)]
        if kind == "image" or plugin == IMAGES_PLUGIN:
            files = legacy_image(value.image) if kind == "image" else tensor_images(value.tensor)
            return [(IMAGE, *head, i, len(files), None, fmt, 0, 0, 0, data)
                    for i, (fmt, data) in enumerate(files)]
        return [(TEXT, *head, tensor_text(value.tensor))]

    def purge(self, step: int, tags: set[str]) -> None:
        """Drop the records of `tags` at steps >= `step` (a restart, a tag going back)."""
        if not self.records:
            return
        kept = [r for r in self.records if r[2] < step or r[4] not in tags]
        if len(kept) != len(self.records):
            self.records = kept
            self.bytes = sum(record_bytes(r) for r in kept)

    def handed_over(self) -> None:
        self.records = []
        self.bytes = 0

    def _skip(self, tag: str, step: int, why: str) -> None:
        seen = self._skipped.get(tag, 0)
        self._skipped[tag] = seen + 1
        if not seen:  # once per tag: a bad tag is usually bad at every step
            self.warn(f"run {self.run_name!r}: skipped {tag[:80]!r} at step {step}: {why} "
                      "(later values of this tag that cannot be stored are skipped too)")
