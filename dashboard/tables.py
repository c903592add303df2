"""Tables the pages show, built from plain data (pure: no Streamlit)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from trackboard.dashboard import plain_text
from trackboard.dashboard.charts import higher_is_better
from trackboard.loggers.vocabulary import COMMON_PARAMS

# The Runs table's default param columns: the common vocabulary, then params at least
# this share of runs have, at most MAX_DEFAULT_PARAMS in all.
SHARED_FROM = 0.5
MAX_DEFAULT_PARAMS = 10
# The Runs table shows this many rows without scrolling inside itself (then scrolls);
# Streamlit's rows and header are 35 px, plus a 3 px border.
VISIBLE_ROWS = 20
ROW_PX = 35
STATUS_BADGES = {"running": "● running", "crashed": "✖ crashed", "failed": "✖ failed",
                 "killed": "■ killed", "finished": "✓ finished"}


def md_escape(text: object) -> str:
    """Text shown literally inside Streamlit markdown: `plain_text.markdown`, the
    dashboard's one rule for user text (this name is kept for the pages' callers)."""
    return plain_text.markdown(text)


def shown(value: Any) -> str:
    """A param/tag value as text for tables (JSON for lists/dicts, '' for missing).

    >>> shown([1, 2]), shown(None), shown(0.001)
    ('[1, 2]', '', '0.001')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, dict, bool)):
        return json.dumps(value)
    return str(value)


def shown_column(values: pd.Series) -> list[str]:
    """`shown` over a column, with a fast path for the common plain values.

    >>> shown_column(pd.Series(["a", 1.5, None, [1]]))
    ['a', '1.5', '', '[1]']
    """
    out: list[str] = []
    append = out.append
    for v in values.tolist():
        t = type(v)
        if t is str:
            append(v)
        elif t is float:
            append("" if v != v else repr(v))
        elif t is int:
            append(repr(v))
        else:
            append(shown(v))
    return out


def summary_table(summaries: Mapping[str, Mapping[str, Mapping[str, Any]]],
                  charts: Sequence[tuple[str, list[str]]], names: Mapping[str, str]
                  ) -> pd.DataFrame:
    """last / min / max and the step of the best value, per chart metric per run.

    `summaries` maps run id -> metric key -> summary (Store.metric_summaries), in the
    order the rows should take; a chart drawing several alias keys reports the first
    key each run has.
    """
    rows = []
    for title, keys in charts:
        for rid, metrics in summaries.items():
            key = next((k for k in keys if k in metrics), None)
            if key is None:
                continue
            m = metrics[key]
            best_max = higher_is_better(key)
            rows.append({"metric": title, "run": names.get(rid, rid), "key": key,
                         "last": m["last"], "min": m["min"], "max": m["max"],
                         "best": m["max"] if best_max else m["min"],
                         "best step": m["max_step"] if best_max else m["min_step"],
                         "steps": m["count"]})
    return pd.DataFrame(rows, columns=["metric", "run", "key", "last", "min", "max", "best",
                                       "best step", "steps"])


def default_param_columns(keys: Sequence[str], usage: Mapping[str, float],
                          limit: int = MAX_DEFAULT_PARAMS) -> list[str]:
    """The Runs table's first param columns: the common vocabulary (in its order) that
    runs use, then the params most runs share (by share, then name).

    `usage` maps param key -> share of runs that have it (data.param_usage). Keras'
    `optimizer.beta_1`, on a third of the runs, is not a default column.

    >>> default_param_columns(["batch_size", "hidden", "lr", "optimizer.beta_1", "seed"],
    ...                       {"lr": 1.0, "batch_size": 0.3, "hidden": 0.9,
    ...                        "optimizer.beta_1": 0.3})
    ['lr', 'batch_size', 'hidden']
    """
    present = [k for k in keys if usage.get(k, 0.0) > 0]
    vocabulary = [k for k in COMMON_PARAMS if k in present]
    shared = sorted((k for k in present
                     if k not in COMMON_PARAMS and usage[k] >= SHARED_FROM),
                    key=lambda k: (-usage[k], k))
    return (vocabulary + shared)[:limit]


def table_height(rows: int, visible: int = VISIBLE_ROWS) -> int:
    """Pixel height of a table that shows up to `visible` rows (fewer: no blank space).

    >>> table_height(3), table_height(500)
    (143, 738)
    """
    return (max(1, min(rows, visible)) + 1) * ROW_PX + 3


def runs_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The Runs page table: name, status and framework, then the metrics' last/min/max
    (visible without scrolling sideways), then params, then the other run fields."""
    view = pd.DataFrame({
        "name": frame["name"],
        "status": frame["status"].map(lambda s: STATUS_BADGES.get(s, s)),
        "framework": frame["framework"].fillna(""),
    })
    for c in frame.columns:
        if c.startswith("metrics."):
            view[c.removeprefix("metrics.")] = frame[c]
    for c in frame.columns:
        if c.startswith("params."):
            view[c.removeprefix("params.")] = _param_column(frame[c])
    view["project"] = frame["project"]
    view["duration (s)"] = frame["duration"].round(1)
    view["created"] = frame["created_at"]
    tag_cols = [c for c in frame.columns if c.startswith("tags.")]
    if tag_cols:
        view["tags"] = [", ".join(f"{c[5:]}={row[c]}" for c in tag_cols
                                  if isinstance(row[c], str))
                        for _, row in frame[tag_cols].iterrows()] if len(frame) < 2000 else \
            _join_tags(frame, tag_cols)
    else:
        view["tags"] = ""
    view["id"] = frame["id"]
    return view.reset_index(drop=True)


def _param_column(values: pd.Series) -> pd.Series | list[str]:
    """Numbers stay numbers (so the column sorts numerically); anything else is text."""
    try:
        numeric = pd.to_numeric(values, errors="raise")
    except (TypeError, ValueError):
        return shown_column(values)
    if numeric.dtype.kind in "if" and not any(type(v) is bool for v in values.tolist()):
        return numeric
    return shown_column(values)


def _join_tags(frame: pd.DataFrame, tag_cols: list[str]) -> list[str]:
    parts = [(c[5:] + "=") + frame[c].fillna("").astype(str) for c in tag_cols]
    masks = [frame[c].notna() for c in tag_cols]
    out = pd.Series([""] * len(frame), index=frame.index)
    for p, m in zip(parts, masks):
        out = out.where(~m, out.where(out == "", out + ", ") + p)
    return out.tolist()


def search(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows whose name, id, project, framework or tags contain `text` (any case; plain
    text, not a pattern).

    >>> runs = pd.DataFrame({"name": ["a", "b"], "id": ["1", "2"], "project": ["p", "p"],
    ...                      "framework": [None, "torch"], "tags.seed": [float("nan"), "3"]})
    >>> search(runs, "TORCH")["id"].tolist(), search(runs, "a")["id"].tolist()
    (['2'], ['1'])
    """
    text = text.strip().lower()
    if not text:
        return frame
    cols = ["name", "id", "project", "framework"] + [c for c in frame.columns
                                                     if c.startswith("tags.")]
    # fillna first: pandas 3 keeps a missing value (a run without a framework or a
    # tag) as NaN through astype(str), and join then fails on a float.
    hay = frame[cols].fillna("").astype(str).agg(" ".join, axis=1).str.lower()
    return frame[hay.str.contains(text, regex=False)]
