"""What `trackboard runs` and `trackboard show` print: plain-text tables (pure).

Numbers, counts, times and durations read as on the dashboard's pages
(number_format.py); metric columns follow the rule of the metrics people decide by
(metric_choice.py). Every column is as wide as its widest cell, so long metric keys
such as `system/cpu_percent` keep the columns after them aligned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trackboard.dashboard.metric_choice import decision_order, summary_columns
from trackboard.dashboard.number_format import duration, moment, readable

if TYPE_CHECKING:
    import pandas as pd

RUN_FIELDS = ("id", "name", "project", "status", "framework", "host", "git_commit",
              "command", "notes", "created_at", "ended_at")
RUN_COLUMNS = ("id", "name", "project", "framework", "status", "created", "duration")


def columns(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1,
            indent: str = "") -> list[str]:
    """Rows of text cells as aligned lines: the first `left` columns flush left, the
    others flush right (numbers), two spaces between; trailing blanks cut.

    >>> columns(["metric", "last"], [["loss", "0.5"], ["system/cpu_percent", "21"]])
    ['metric              last', 'loss                 0.5', 'system/cpu_percent    21']
    """
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for r in table:
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def runs_table(frame: pd.DataFrame, metrics: Sequence[str]) -> str:
    """`trackboard runs` as a table: the run fields, then per metric the value that
    matters (best, or last for a metric without a best; metric_choice.summary_columns),
    in the order of `metrics`."""
    metric_cols = [summary_columns(k)[0] for k in metrics]
    header = [*RUN_COLUMNS, *metric_cols]
    rows = []
    for _, run in frame.iterrows():
        cells = [str(run["id"]), _cell(run["name"]), _cell(run["project"]),
                 _cell(run["framework"]) or "-", str(run["status"]),
                 moment(run["created_at"]), duration(run["duration"])]
        for col in metric_cols:
            value = run.get(f"metrics.{col}")
            cells.append("-" if value is None or value != value else readable(value))
        rows.append(cells)
    return "\n".join(columns(header, rows, left=5))


def run_table(info: Mapping[str, Any]) -> str:
    """`trackboard show`: the run's fields, params, tags, and its metrics in the order
    people decide by, each with its best, last, min and max value and its steps."""
    lines = []
    fields = {k: info.get(k) for k in RUN_FIELDS}
    fields.update(created_at=moment(info.get("created_at")) or None,
                  ended_at=moment(info.get("ended_at")) or None)
    for key, value in fields.items():
        if value is not None and str(value) not in ("NaT", "nan", ""):
            lines.append(f"{key:>11}: {_cell(value)}")
    lines.append(f"{'duration':>11}: {duration(info.get('duration'))}")
    for title in ("params", "tags"):
        if info.get(title):
            lines += ["", f"{title}:"]
            lines += [f"  {k} = {_value(v)}" for k, v in info[title].items()]
    metrics = info.get("metrics") or {}
    if metrics:
        rows = []
        for key in decision_order(metrics):
            m = metrics[key]
            stat = summary_columns(key)[0].rsplit(".", 1)[1]
            rows.append([key, *(readable(m[s]) for s in (stat, "last", "min", "max")),
                         f"{m['first_step']}..{m['last_step']}", f"{m['count']:,}"])
        lines += ["", "metrics:"]
        lines += columns(["", "best", "last", "min", "max", "steps", "points"], rows,
                         indent="  ")
    return "\n".join(lines)


def _cell(value: object) -> str:
    """User text on one line (a name with a newline must not break the table)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return " ".join(str(value).split("\n")) if "\n" in str(value) else str(value)


def _value(value: object) -> str:
    """A param or tag value as stored: text as typed, anything else as JSON (a
    learning rate keeps every digit here, as on the Run page)."""
    return _cell(value) if isinstance(value, str) else json.dumps(value)
