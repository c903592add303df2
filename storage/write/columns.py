"""Points records -> numpy columns, with no Python code run per point or per record.

A writer batch holds one record per log() call. Unpacking them in a Python loop
cost about 0.2 s per million points, all of it holding the GIL the training
loop needs. Here every pass over the records is
a C-level `map` (itemgetter, dict lookups, bytes.join), and key ids are resolved
once per distinct key tuple: a run logs the same keys step after step, so a batch
usually holds one or two.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
from trackboard.storage.write.door import check_steps, check_walls

_UID, _STEP, _WALL, _KEYS, _VALUES = (itemgetter(i) for i in range(1, 6))


class KeySets:
    """The key tuples seen so far and their key ids, as flat lookup tables.

    >>> ks = KeySets()
    >>> ks.groups([("a", "b"), ("b",), ("a", "b")], lambda names: {"a": 1, "b": 2}).tolist()
    [0, 1, 0]
    >>> ks.key_ids(np.array([0, 1, 0])).tolist()
    [1, 2, 2, 1, 2]
    """

    # A run that logs a different key set at every step would grow this without
    # bound; past this many sets start over (ids are looked up again, nothing lost).
    MAX_SETS = 10_000

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._index: dict[tuple[str, ...], int] = {}
        self._ids: list[list[int]] = []
        self._flat = np.empty(0, np.int64)
        self.lengths = np.empty(0, np.int64)
        self._offsets = np.empty(0, np.int64)

    def groups(self, keys: Sequence[tuple[str, ...]],
               key_ids: Callable[[list[str]], Mapping[str, int]]) -> np.ndarray:
        """The key-set index of each record's key tuple, registering new tuples.
        `key_ids(names)` returns (at least) the ids of the names it is given."""
        found = list(map(self._index.get, keys))
        if None in found:
            if len(self._index) > self.MAX_SETS:
                self.clear()
                found = [None] * len(keys)
            new = list({k: None for k, g in zip(keys, found) if g is None})
            ids = key_ids([name for tup in new for name in tup])
            for tup in new:
                self._index[tup] = len(self._ids)
                self._ids.append([ids[name] for name in tup])
            self.lengths = np.array([len(ids) for ids in self._ids], np.int64)
            self._offsets = np.cumsum(self.lengths) - self.lengths
            self._flat = np.array([i for ids in self._ids for i in ids], np.int64)
            found = list(map(self._index.__getitem__, keys))
        return np.array(found, np.int64)

    def key_ids(self, groups: np.ndarray) -> np.ndarray:
        """The key id of every point of records with these key-set indexes, in order."""
        lengths = self.lengths[groups]
        total = int(lengths.sum())
        starts = np.cumsum(lengths) - lengths
        within = np.arange(total) - np.repeat(starts, lengths)
        return self._flat[np.repeat(self._offsets[groups], lengths) + within]


def point_columns(records: list[tuple[Any, ...]], run_ids: Mapping[str, int],
                  key_sets: KeySets, key_ids: Callable[[list[str]], Mapping[str, int]]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(run id, key id, step, wall time, value) of every point, in arrival order.

    Records are (POINTS, uid, step, stamp, (key, ...), array('d')) as Run sends them
    (the stamp is the wall time), (POINTS, uid, step, stamp, keys, values, wall_time)
    when the caller passed a wall time, or (POINTS, uid, step, wall, {key: value}) as
    importers do. A step or wall time the store's rules refuse raises RecordRefused
    (storage/write/door.py).
    """
    lengths_seen = set(map(len, records))
    if lengths_seen != {6}:
        walls = [r[6] if len(r) == 7 else r[3] for r in records] if 7 in lengths_seen else None
        records = [r if len(r) == 6 else
                   (r[0], r[1], r[2], r[3], r[4], r[5]) if len(r) == 7 else
                   (r[0], r[1], r[2], r[3], tuple(r[4]), array("d", r[4].values()))
                   for r in records]
    else:
        walls = None
    n = len(records)
    run = np.fromiter(map(run_ids.__getitem__, map(_UID, records)), np.int64, n)
    step = check_steps(list(map(_STEP, records)))  # the store's rules, as numpy columns
    wall = np.fromiter(map(_WALL, records) if walls is None else walls, np.float64, n)
    check_walls(wall)
    groups = key_sets.groups(list(map(_KEYS, records)), key_ids)
    value = np.frombuffer(b"".join(map(_VALUES, records)), np.float64)
    lengths = key_sets.lengths[groups]
    if len(value) != lengths.sum():
        raise ValueError("a points record holds a different number of keys and values")
    return (np.repeat(run, lengths), key_sets.key_ids(groups), np.repeat(step, lengths),
            np.repeat(wall, lengths), value)
