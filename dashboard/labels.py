"""Run labels that tell the selected runs apart (pure: a runs frame in, text out).

With 20 curves, names and ids alone cannot be mapped back to settings. By default
a label is the run's name plus the params whose values differ between the
selected runs, `torch-3 · lr=0.01 · hidden=32`; a template such as
`{name} {params.lr}` chooses the fields instead. Which params differ is decided
by param_differences.py, the rule the param table and the hyperparameter view
follow too.

`run_labels` is a run's one name on a page: the run list, the charts' hovers, the
param table's columns, the summary table and the hyperparameter view all use it,
and no two runs of a page share a label.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from trackboard.dashboard.number_format import readable
from trackboard.dashboard.param_differences import differing_params
from trackboard.dashboard.tables import shown

SEP = " · "
MAX_PARAMS = 4      # more than this and a label no longer fits a hover line
MAX_VALUE_CHARS = 24
FIELDS: tuple[str, ...] = ("name", "id", "project", "framework", "status", "host")
_FIELD = re.compile(r"\{([^{}]*)\}")
# The start of a run id that tells two runs of one label apart (longer where needed).
ID_CHARS = 6


def value_text(value: Any) -> str:
    """A param or tag value as label text ('' when missing); long values cut.

    >>> value_text(0.003431348857969162), value_text(None), value_text([1, 2])
    ('0.003431', '', '[1, 2]')
    >>> value_text("x" * 30)
    'xxxxxxxxxxxxxxxxxxxxxxx…'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = readable(value) if isinstance(value, (int, float)) and not isinstance(
        value, bool) else shown(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def default_labels(runs: pd.DataFrame) -> dict[str, str]:
    """Run id -> `name · k=v · k=v` with the first MAX_PARAMS params that differ
    (param_differences.differing_params).

    >>> runs = pd.DataFrame({"id": ["a1", "b2"], "name": ["torch-3", "torch-4"],
    ...                      "params.lr": [0.01, 0.003431348857969162], "params.hidden": [32, 32]})
    >>> default_labels(runs)
    {'a1': 'torch-3 · lr=0.01', 'b2': 'torch-4 · lr=0.003431'}
    """
    keys = differing_params(runs)[:MAX_PARAMS]
    out = {}
    for _, row in runs.iterrows():
        parts = [str(row["name"])]
        for k in keys:
            text = value_text(row.get(f"params.{k}"))
            if text:
                parts.append(f"{k}={text}")
        out[row["id"]] = SEP.join(parts)
    return unique(out)


def template_labels(runs: pd.DataFrame, template: str) -> dict[str, str]:
    """Run id -> the template with `{name}`, `{params.lr}`, `{tags.seed}`... filled in.

    A field a run lacks renders empty. Only `{field}` is read: no format specs,
    attributes or indexing (the template comes from a URL).

    >>> runs = pd.DataFrame({"id": ["a1", "b2"], "name": ["keras-1", "torch-2"],
    ...                      "params.lr": [0.00034, None], "tags.seed": ["0", "1"]})
    >>> template_labels(runs, "{name} lr {params.lr} (seed {tags.seed})")
    {'a1': 'keras-1 lr 3.4e-4 (seed 0)', 'b2': 'torch-2 lr (seed 1)'}
    """
    out = {}
    for _, row in runs.iterrows():
        text = _FIELD.sub(lambda m, row=row: _field_text(row, m.group(1).strip()), template)
        out[row["id"]] = re.sub(r"\s{2,}", " ", text).strip() or str(row["name"])
    return unique(out)


def template_problems(template: str, columns: Sequence[str]) -> list[str]:
    """Fields of a template that no selected run has (to tell the user).

    >>> template_problems("{name} {params.lr} {params.lrr} {nme}", ["name", "params.lr"])
    ['params.lrr', 'nme']
    """
    have = set(columns)
    out = []
    for m in _FIELD.finditer(template):
        field = m.group(1).strip()
        if field in FIELDS or field in have:
            continue
        out.append(field)
    return out


def run_labels(runs: pd.DataFrame, template: str = "") -> dict[str, str]:
    """Labels for the selected runs: the template's when one is given, else the default."""
    if runs.empty:
        return {}
    return template_labels(runs, template) if template.strip() else default_labels(runs)


def unique(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels with the start of the run id added where two runs would read the same:
    6 characters, or as many as tell those runs' ids apart.

    >>> unique({"abcdef12": "x", "fedcba98": "x", "c": "y"})
    {'abcdef12': 'x (abcdef)', 'fedcba98': 'x (fedcba)', 'c': 'y'}
    >>> unique({"team000000000001": "x", "team000000000002": "x"})
    {'team000000000001': 'x (team000000000001)', 'team000000000002': 'x (team000000000002)'}
    >>> unique({"a1": "x (a2)", "a2": "x", "a3": "x"})  # a name that reads like a suffix
    {'a1': 'x (a2) (a1)', 'a2': 'x (a2) (a2)', 'a3': 'x (a3)'}
    """
    out = dict(labels)
    for _ in range(len(out)):
        groups: dict[str, list[str]] = {}
        for rid, text in out.items():
            groups.setdefault(text, []).append(rid)
        clashes = [rids for rids in groups.values() if len(rids) > 1]
        if not clashes:
            return out
        for rids in clashes:
            width = next((n for n in range(ID_CHARS, max(map(len, rids)) + 1)
                          if len({r[:n] for r in rids}) == len(rids)), None)
            for rid in rids:
                out[rid] = f"{out[rid]} ({rid if width is None else rid[:width]})"
    return {rid: rid for rid in out}  # run ids are unique: the last resort


def _field_text(row: pd.Series, field: str) -> str:
    if field in FIELDS or field.startswith(("params.", "tags.")):
        return value_text(row.get(field)) if field in row.index else ""
    return ""
