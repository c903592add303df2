"""What the media views show (pure, no Streamlit): which keys, grouped how, at which step.

- Keys are grouped by the part before their first `/`, as TensorBoard groups tags
  (`weights/fc1` and `weights/fc2` under `weights`); keys without `/` (and with an
  empty prefix) stay together without a heading.
- The key box takes names and shell patterns (`weights/*, samples`); a name that is
  a logged key is always that key, whatever characters it holds.
- A step slider covers every step any shown run logged a key at; each run shows its
  own logged step nearest to the slider's (the earlier of two equally near), so runs
  that logged at different steps still line up.
- Steps chosen per key travel in the link as one list, `weights/fc1=120,samples=40`
  (the step after the last `=`, so a key may hold `=`; a key with a comma in backticks).
"""

from __future__ import annotations

import bisect
import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import reduce

import pandas as pd
from trackboard.dashboard.state import join_list, split_list

VIEWS: tuple[str, ...] = ("distributions", "histograms", "images", "texts")
# The media kind (Store.media_keys) each view draws.
VIEW_KIND: dict[str, str] = {"distributions": "histogram", "histograms": "histogram",
                             "images": "image", "texts": "text"}
# Cards drawn per view at most: each costs a query and a figure; past this, narrow the keys.
MAX_KEYS = 16


def key_groups(keys: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Keys grouped by the part before their first `/`, groups and keys in the order
    they first come; keys without a prefix in the group "" (shown without a heading).

    >>> key_groups(["weights/fc1", "samples", "weights/fc2", "grads/fc1", "/odd"])
    [('weights', ['weights/fc1', 'weights/fc2']), ('', ['samples', '/odd']), ('grads', ['grads/fc1'])]
    """
    groups: dict[str, list[str]] = {}
    for key in keys:
        prefix, sep, _ = key.partition("/")
        groups.setdefault(prefix if sep else "", []).append(key)
    return list(groups.items())


def pick_keys(patterns: Sequence[str], available: Sequence[str]) -> list[str]:
    """The keys the key box asks for, in its order (all of `available` when empty).

    >>> pick_keys([], ["b", "a"])
    ['b', 'a']
    >>> pick_keys(["samples", "weights/*", "w[1]"], ["weights/a", "samples", "w[1]", "weights/b"])
    ['samples', 'weights/a', 'weights/b', 'w[1]']
    >>> pick_keys(["nothing*"], ["a"])
    []
    """
    wanted = [p.strip() for p in patterns if p.strip()]
    if not wanted:
        return list(available)
    have = set(available)
    out: list[str] = []
    for pattern in wanted:
        matches = [pattern] if pattern in have else [
            k for k in available if fnmatch.fnmatchcase(k, pattern)]
        out.extend(k for k in matches if k not in out)
    return out


def union_steps(steps_by_run: Mapping[str, Sequence[int]]) -> list[int]:
    """Every step any run has, ascending.

    >>> union_steps({"a": [0, 10, 20], "b": [5, 10]})
    [0, 5, 10, 20]
    """
    return sorted({int(s) for steps in steps_by_run.values() for s in steps})


def nearest_step(steps: Sequence[int], wanted: int) -> int | None:
    """The logged step nearest to `wanted` (the earlier of two equally near); None
    when there are none. `steps` ascending.

    >>> nearest_step([0, 10, 20], 14), nearest_step([0, 10, 20], 15), nearest_step([0, 10, 20], 16)
    (10, 10, 20)
    >>> nearest_step([0, 10], -5), nearest_step([0, 10], 99), nearest_step([], 3)
    (0, 10, None)
    """
    if not steps:
        return None
    i = bisect.bisect_left(steps, wanted)
    if i == 0:
        return int(steps[0])
    if i == len(steps):
        return int(steps[-1])
    before, after = steps[i - 1], steps[i]
    return int(before if wanted - before <= after - wanted else after)


def nearest_steps(steps_by_run: Mapping[str, Sequence[int]], wanted: int) -> dict[str, int]:
    """Each run's logged step nearest to `wanted` (runs without a step left out).

    >>> nearest_steps({"a": [0, 100], "b": [30, 60], "c": []}, 50)
    {'a': 0, 'b': 60}
    """
    out = {}
    for rid, steps in steps_by_run.items():
        step = nearest_step(list(steps), wanted)
        if step is not None:
            out[rid] = step
    return out


def slider_stride(steps: Sequence[int]) -> int:
    """The slider's stride: the largest step that reaches every logged step from the
    first (their common spacing), so a slider over steps 0, 100, 200 moves by 100.

    >>> slider_stride([0, 100, 200, 500]), slider_stride([3, 5, 9]), slider_stride([7])
    (100, 2, 1)
    """
    if len(steps) < 2:
        return 1
    first = steps[0]
    return max(1, reduce(math.gcd, (int(s) - int(first) for s in steps[1:]), 0))


def parse_key_steps(raw: str | None) -> dict[str, int]:
    """The link's `key=step` list back to a dict; items that are not like that are left out.

    >>> parse_key_steps("weights/fc1=120,`a,b=c=7`,junk,x=1.5")
    {'weights/fc1': 120, 'a,b=c': 7}
    """
    out: dict[str, int] = {}
    for item in split_list(raw):
        key, sep, step = item.rpartition("=")
        if sep and key:
            try:
                out[key] = int(step)
            except ValueError:
                continue
    return out


def format_key_steps(steps: Mapping[str, int]) -> str:
    """The link form of per-key steps (`parse_key_steps` reads it back).

    >>> format_key_steps({"weights/fc1": 120, "a,b=c": 7})
    'weights/fc1=120,`a,b=c=7`'
    >>> parse_key_steps(format_key_steps({"a,b=c": 7, " x": -3})) == {"a,b=c": 7, " x": -3}
    True
    """
    return join_list([f"{key}={int(step)}" for key, step in steps.items()])


def text_table(frame: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """One key's texts (Store.texts rows) by step: a `step` column, then one column per
    run of `names` (its label; a label two runs share gets the start of the id), the
    text as typed, empty where a run logged none at that step.

    >>> frame = pd.DataFrame({"run_id": ["a", "b", "a"], "step": [0, 0, 5],
    ...                       "text": ["x", "**y**", "z"]})
    >>> text_table(frame, {"a": "run", "b": "run"}).to_dict("list")
    {'step': [0, 5], 'run (a)': ['x', 'z'], 'run (b)': ['**y**', '']}
    >>> text_table(frame, {"a": "only"}).columns.tolist()
    ['step', 'only']
    """
    labels = dict(names)
    taken = [labels[r] for r in labels]
    for rid in labels:
        if taken.count(labels[rid]) > 1:
            labels[rid] = f"{labels[rid]} ({rid[:6]})"
    part = frame[frame["run_id"].isin(list(labels))]
    table = part.pivot_table(index="step", columns="run_id", values="text", aggfunc="first")
    out = pd.DataFrame({"step": table.index.astype("int64")})
    for rid in labels:
        texts = table[rid].tolist() if rid in table.columns else [None] * len(out)
        out[labels[rid]] = ["" if t is None or t != t else str(t) for t in texts]
    return out
