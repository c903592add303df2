"""Run labels that tell the selected runs apart (pure: a runs frame in, text out).

With 20 curves, names and ids alone cannot be mapped back to settings. By default
a label is the run's name plus the params whose values differ between the
selected runs, `torch-3 · lr=0.01 · hidden=32`; a template such as
`{name} {params.lr}` chooses the fields instead.

A param that some runs lack is not a "difference" between the runs that have it:
Keras' `optimizer.beta_1` (0.9 in every Keras run, absent elsewhere) stays out.
A param that repeats another one's values (`learning_rate` beside `lr`) adds
nothing and stays out too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from trackboard.dashboard.number_format import readable
from trackboard.dashboard.tables import shown

SEP = " · "
# The common training hyperparameters (issue 13's vocabulary): shown first.
COMMON: tuple[str, ...] = ("lr", "optimizer", "batch_size", "epochs", "max_steps",
                           "weight_decay", "seed", "precision", "grad_accum_steps")
MAX_PARAMS = 4      # more than this and a label no longer fits a hover line
MAX_VALUE_CHARS = 24
FIELDS: tuple[str, ...] = ("name", "id", "project", "framework", "status", "host")
_FIELD = re.compile(r"\{([^{}]*)\}")
# Keras names each new object `adam`, `adam_1`, `adam_2`...: an instance counter, not a
# setting, so values that differ only by such a suffix are not a difference.
_COUNTER = re.compile(r"_\d+$")


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


def differing_params(runs: pd.DataFrame, limit: int = MAX_PARAMS) -> list[str]:
    """Param keys whose values differ between the runs that have them, most telling first.

    Order: the common vocabulary, then params more runs have, then by name. A param
    whose every value repeats a chosen param's value in the same run is left out, and
    so is one whose values differ only by a counter suffix (Keras' `adam`, `adam_1`).

    >>> runs = pd.DataFrame({"params.lr": [0.1, 0.01, 0.1], "params.learning_rate": [0.1, 0.01, 0.1],
    ...                      "params.hidden": [16, 16, 32], "params.beta_1": [0.9, None, None],
    ...                      "params.opt": ["adam", "adam_1", "adam_2"]})
    >>> differing_params(runs)
    ['lr', 'hidden']
    """
    cols = [c for c in runs.columns if c.startswith("params.")]
    texts = {c.removeprefix("params."): [value_text(v) for v in runs[c].tolist()]
             for c in cols}
    candidates = [k for k, vs in texts.items()
                  if len({_COUNTER.sub("", v) for v in vs if v}) > 1]
    rank = {k: i for i, k in enumerate(COMMON)}
    candidates.sort(key=lambda k: (rank.get(k, len(COMMON)), -sum(1 for v in texts[k] if v), k))
    chosen: list[str] = []
    for key in candidates:
        vs = texts[key]
        # Redundant when a chosen param shows the same text in every run that has this one.
        if any(all(not v or v == texts[c][i] for i, v in enumerate(vs)) for c in chosen):
            continue
        chosen.append(key)
        if len(chosen) == limit:
            break
    return chosen


def default_labels(runs: pd.DataFrame) -> dict[str, str]:
    """Run id -> `name · k=v · k=v` with the params that differ (see `differing_params`).

    >>> runs = pd.DataFrame({"id": ["a1", "b2"], "name": ["torch-3", "torch-4"],
    ...                      "params.lr": [0.01, 0.003431348857969162], "params.hidden": [32, 32]})
    >>> default_labels(runs)
    {'a1': 'torch-3 · lr=0.01', 'b2': 'torch-4 · lr=0.003431'}
    """
    keys = differing_params(runs)
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
    """Labels with a short id added where two runs would read the same.

    >>> unique({"abcdef12": "x", "fedcba98": "x", "c": "y"})
    {'abcdef12': 'x (abcdef)', 'fedcba98': 'x (fedcba)', 'c': 'y'}
    """
    counts: dict[str, int] = {}
    for text in labels.values():
        counts[text] = counts.get(text, 0) + 1
    return {rid: f"{text} ({rid[:6]})" if counts[text] > 1 else text
            for rid, text in labels.items()}


def _field_text(row: pd.Series, field: str) -> str:
    if field in FIELDS or field.startswith(("params.", "tags.")):
        return value_text(row.get(field)) if field in row.index else ""
    return ""
