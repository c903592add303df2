"""What the store takes from a record: the rules of storage/rules.py, at the store's door.

Run checks what users pass at the call, where they can fix it. But records also reach
the store from spool files (data whose checksums hold but that nobody checked: written
by a damaged disk, an older trackboard, a bug, a hand), from the importers and from
any producer of the writer's queue. Ingest applies these checks to every batch, so a
rule that holds for `log()` holds on every way in. A record that breaks one raises
RecordRefused (a ValueError), which delivery isolates and sets aside in rejected/ like
any record the database refuses (storage/write/delivery.py): it is never stored and
costs no other record its place.

Cheap by construction: key names are checked once, when they are interned; steps and
wall times as numpy columns; the rest (runs, params, tags, notes, status, purges) are a
few records per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from trackboard.storage.rules import MAX_STEP, check_key, check_text

STATUSES = frozenset(("running", "finished", "failed", "killed"))


class RecordRefused(ValueError):
    """A record breaks one of the store's rules (see storage/rules.py)."""


class NameRefused(RecordRefused):
    """A metric, param or tag name breaks the rules: every record carrying it would."""


def refused(what: str, exc: Exception) -> RecordRefused:
    return RecordRefused(f"{what}: {exc}")


def check_names(names: Iterable[Any], what: str = "metric") -> None:
    """Metric, param or tag names the store is about to intern."""
    for name in names:
        try:
            check_key(name)
        except ValueError as exc:
            raise NameRefused(f"{what} name: {exc}") from None


def check_run(record: Mapping[str, Any]) -> None:
    """A RUN record's fields: the id, project and name are keys; the rest text."""
    try:
        for field in ("uid", "project"):
            check_key(record.get(field))
        if record.get("name") is not None:
            check_key(record["name"])
        for field in ("framework", "host", "git_commit", "command"):
            value = record.get(field)
            if value is not None:
                if not isinstance(value, str):
                    raise ValueError(f"{field} {value!r} is not text")
                check_text(value, field)
        if record.get("status") not in (None, *STATUSES):
            raise ValueError(f"unknown status {record.get('status')!r}")
    except ValueError as exc:
        raise refused("run record", exc) from None


def check_values(values: Any, what: str) -> None:
    """A PARAMS or TAGS record's {key: text} (params are JSON text)."""
    if not isinstance(values, Mapping):
        raise RecordRefused(f"{what}s are a dict of text, not {type(values).__name__}")
    check_names(values, what)
    for key, value in values.items():
        if not isinstance(value, str):
            raise RecordRefused(f"{what} {key!r} has a {type(value).__name__} value; the store "
                                "holds text")
        try:
            check_text(value, f"{what} {key!r}")
        except ValueError as exc:
            raise refused(what, exc) from None


def check_notes(notes: Any) -> None:
    if not isinstance(notes, str):
        raise RecordRefused(f"notes are text, not {type(notes).__name__}")
    try:
        check_text(notes, "notes")
    except ValueError as exc:
        raise refused("notes", exc) from None


def check_status(status: Any, ended: Any) -> None:
    if status not in STATUSES:
        raise RecordRefused(f"unknown status {status!r}; one of {sorted(STATUSES)}")
    if ended is not None and not _finite_time(ended):
        raise RecordRefused(f"status end time {ended!r} is not a time")


def check_purge(from_step: Any, stamp: Any) -> None:
    if type(from_step) is not int or not 0 <= from_step <= MAX_STEP:
        raise RecordRefused(f"purge from step {from_step!r}: steps are integers from 0 to 2**53")
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool) or stamp != stamp:
        raise RecordRefused(f"purge time {stamp!r} is not a time")


def check_steps(steps: list[Any]) -> np.ndarray:
    """The steps of a batch's points records as an int64 column (refusing anything but
    integers from 0 to 2**53, bools included)."""
    if set(map(type, steps)) - {int}:
        bad = next(s for s in steps if type(s) is not int)
        raise RecordRefused(f"step {bad!r} is not an integer")
    try:
        column = np.fromiter(steps, np.int64, len(steps))
    except OverflowError:
        raise RecordRefused("a step is beyond 2**63") from None
    if len(column) and (column.min() < 0 or column.max() > MAX_STEP):
        bad = column.min() if column.min() < 0 else column.max()
        raise RecordRefused(f"step {bad} is outside 0..2**53")
    return column


def check_walls(wall: np.ndarray) -> None:
    """Wall times (data, seconds since the epoch): finite and not negative."""
    if len(wall) and not (np.isfinite(wall).all() and wall.min() >= 0):
        bad = wall[~(np.isfinite(wall) & (wall >= 0))][0]
        raise RecordRefused(f"wall time {bad!r} is not a time (finite seconds since the epoch)")


def _finite_time(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and value == value and abs(value) != float("inf"))
