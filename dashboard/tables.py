"""Tables the pages show, built from plain data (pure: no Streamlit)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd
from dateutil.tz import tzlocal
from trackboard.dashboard import plain_text
from trackboard.dashboard.metric_choice import best_stat, summary_columns
from trackboard.dashboard.number_format import readable
from trackboard.loggers.vocabulary import COMMON_PARAMS

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

# The Runs table's default param columns: the common vocabulary, then params at least
# this share of runs have, at most MAX_DEFAULT_PARAMS in all.
SHARED_FROM = 0.5
MAX_DEFAULT_PARAMS = 10
# The Runs table shows this many rows without scrolling inside itself (then scrolls);
# Streamlit's rows and header are 35 px, plus a 3 px border.
VISIBLE_ROWS = 20
ROW_PX = 35
# The Runs table's column of links to each run's page.
RUN_LINK = "open"
# Tables up to this many cells show their numbers in the one number format: the Runs
# table up to 160 runs x 25 columns, Compare's summary of 50 runs x 8 metrics. A pandas
# Styler costs Streamlit 25-60x a plain table (40-90 ms at 1,250-3,600 cells, 220 ms
# at 12,500 on a loaded 2-core machine: python -m bench.readable_tables); beyond, the
# page's own number format.
STYLED_CELLS = 4_000
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
    """last / min / max and the best value with its step, per chart metric per run
    (best: metric_choice.best_stat, the last value of a metric that has no best).

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
            stat = best_stat(key)
            rows.append({"metric": title, "run": names.get(rid, rid), "key": key,
                         "last": m["last"], "min": m["min"], "max": m["max"],
                         "best": m[stat], "best step": m[f"{stat}_step"],
                         "steps": m["count"]})
    return pd.DataFrame(rows, columns=["metric", "run", "key", "last", "min", "max", "best",
                                       "best step", "steps"])


def metric_summary_table(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One run's metrics (key -> Store.run()["metrics"] summary, in the order to show):
    the best value (metric_choice.best_stat), last, min, max, the steps and how many.

    >>> t = metric_summary_table({"val_loss": {"count": 3, "first_step": 0, "last_step": 2,
    ...     "last": 0.4, "min": 0.3, "min_step": 1, "max": 0.9, "max_step": 0}})
    >>> t.to_dict("records")[0]  # doctest: +NORMALIZE_WHITESPACE
    {'metric': 'val_loss', 'best': 0.3, 'best step': 1, 'last': 0.4, 'min': 0.3,
     'max': 0.9, 'steps': '0..2', 'points': 3}
    """
    rows = []
    for key, m in metrics.items():
        stat = best_stat(key)
        rows.append({"metric": key, "best": m[stat], "best step": m[f"{stat}_step"],
                     "last": m["last"], "min": m["min"], "max": m["max"],
                     "steps": f"{m['first_step']}..{m['last_step']}", "points": m["count"]})
    return pd.DataFrame(rows, columns=["metric", "best", "best step", "last", "min", "max",
                                       "steps", "points"])


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


def runs_view(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The Runs page table: name, a link to the run's page, status and framework, then
    the metrics' summaries (visible without scrolling sideways), then params, then the
    other run fields.

    `metrics` orders the metric columns, each with the value that matters first
    (metric_choice.summary_columns: `val_loss.min` then `val_loss.last`); None shows
    every `metrics.*` column of `frame` in its order.
    """
    view = pd.DataFrame({
        "name": frame["name"],
        RUN_LINK: run_links(frame["id"]),
        "status": frame["status"].map(lambda s: STATUS_BADGES.get(s, s)),
        "framework": frame["framework"].fillna(""),
    })
    if metrics is None:
        metric_cols = [c.removeprefix("metrics.") for c in frame.columns
                       if c.startswith("metrics.")]
    else:
        metric_cols = [c for k in metrics for c in summary_columns(k)
                       if f"metrics.{c}" in frame.columns]
    for c in metric_cols:
        view[c] = frame[f"metrics.{c}"]
    for c in frame.columns:
        if c.startswith("params."):
            view[c.removeprefix("params.")] = _param_column(frame[c])
    view["project"] = frame["project"]
    view["duration (s)"] = frame["duration"].round(1)
    view["created"] = local_times(frame["created_at"])
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


def run_links(run_ids: Iterable[str]) -> list[str]:
    """Links from the Runs table to each run's page, relative to the app's address (so
    they work behind a proxy path too); the id is quoted.

    >>> run_links(["4f2a", "tb-x y"])
    ['run?run=4f2a', 'run?run=tb-x%20y']
    """
    return [f"run?run={quote(str(rid), safe='')}" for rid in run_ids]


def local_times(values: pd.Series) -> pd.Series:
    """UTC timestamps as this machine's local time, without the zone, to the second:
    what a table shows (number_format.moment is the same rule for one value)."""
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_convert(tzlocal()).dt.tz_localize(None).dt.floor("s")


def sort_options(columns: Sequence[str]) -> list[str]:
    """The Sort choices, as the URL writes them: the default order, then each column
    ascending and descending.

    >>> sort_options(["name", "loss.min"])
    ['', 'name', '-name', 'loss.min', '-loss.min']
    """
    return ["", *[s for c in columns for s in (c, f"-{c}")]]


def sort_label(option: str) -> str:
    """How a Sort choice reads.

    >>> sort_label(""), sort_label("loss.min"), sort_label("-val_accuracy.max")
    ('newest first', 'loss.min ↑', 'val_accuracy.max ↓')
    """
    if not option:
        return "newest first"
    return f"{option[1:]} ↓" if option.startswith("-") else f"{option} ↑"


def parse_sort(raw: str | None, columns: Sequence[str]) -> tuple[str, bool] | None:
    """The Runs table's sort from the URL's `sort`: a column, `-` in front for
    descending; None (the store's order, newest first) for anything else.

    >>> parse_sort("-val_accuracy.max", ["name", "val_accuracy.max"])
    ('val_accuracy.max', True)
    >>> parse_sort("lr", ["name"]) is None, parse_sort(None, ["name"]) is None
    (True, True)
    """
    if not raw:
        return None
    descending = raw.startswith("-")
    column = raw[1:] if descending else raw
    return (column, descending) if column in columns else None


def sort_text(sort: tuple[str, bool] | None) -> str | None:
    """The URL's `sort` value of a sort (None: the default order).

    >>> sort_text(("val_loss.min", False)), sort_text(("lr", True)), sort_text(None)
    ('val_loss.min', '-lr', None)
    """
    if sort is None:
        return None
    column, descending = sort
    return f"-{column}" if descending else column


def sort_view(view: pd.DataFrame, sort: tuple[str, bool] | None) -> pd.DataFrame:
    """The table sorted by one column (numbers as numbers, text ignoring case), runs
    without a value last either way; ties keep the store's order (newest first).

    >>> v = pd.DataFrame({"name": ["a", "B", "c"], "loss.min": [0.3, None, 0.1]})
    >>> sort_view(v, ("loss.min", False))["name"].tolist()
    ['c', 'a', 'B']
    >>> sort_view(v, ("loss.min", True))["name"].tolist()
    ['a', 'c', 'B']
    >>> sort_view(v, ("name", True))["name"].tolist()
    ['c', 'B', 'a']
    """
    if sort is None:
        return view
    column, descending = sort
    values = view[column]
    if values.dtype.kind not in "iufcmM":
        values = values.map(lambda v: "" if v is None or v != v else str(v).lower())
        values = values.where(values != "", None)
    order = values.sort_values(ascending=not descending, na_position="last", kind="stable")
    return view.loc[order.index].reset_index(drop=True)


def readable_numbers(frame: pd.DataFrame, columns: Sequence[str],
                     max_cells: int = STYLED_CELLS) -> pd.DataFrame | Styler:
    """`frame` with `columns` shown in the one number format (number_format.readable)
    while their values stay numbers, so a click on a header still sorts numerically.

    Streamlit shows a pandas Styler's display text, at a cost that grows with every
    cell of the table (STYLED_CELLS), so a table of more than `max_cells` cells is
    returned as it is (the page then formats its number columns itself).
    """
    present = [c for c in columns if c in frame.columns]
    if not present or frame.size > max_cells:
        return frame
    return frame.style.format(readable, subset=present, na_rep="")


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
