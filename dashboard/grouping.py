"""Group by: which run fields the Compare page can group runs by, and each run's group.

Any field the Runs table shows can group runs: framework, status, project, a param
(`params.lr`) or a tag (`tags.seed`). The URL names the field the same way,
`group=framework` or `group=params.lr`; a bare param or tag key (`group=lr`) is
understood too. An unknown field is reported (see `parse`), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from trackboard.dashboard.number_format import readable
from trackboard.dashboard.tables import shown

NONE = "(none)"
MISSING = "(missing)"
# The run fields of the Runs table, before its params and tags.
RUN_FIELDS: tuple[str, ...] = ("framework", "status", "project")


def options(runs: pd.DataFrame) -> list[str]:
    """The group-by choices for these runs (a Store.runs frame): "(none)", the run
    fields, then every param, then every tag.

    >>> options(pd.DataFrame(columns=["id", "framework", "status", "project", "tags.seed",
    ...                               "params.lr"]))
    ['(none)', 'framework', 'status', 'project', 'params.lr', 'tags.seed']
    """
    fields = [f for f in RUN_FIELDS if f in runs.columns]
    params = sorted(c for c in runs.columns if c.startswith("params."))
    tags = sorted(c for c in runs.columns if c.startswith("tags."))
    return [NONE, *fields, *params, *tags]


def parse(raw: str | None, choices: Sequence[str]) -> str:
    """The choice a URL's `group` names: exact, else a bare param/tag key, else `raw`
    unchanged (the page then says it is unknown).

    >>> parse("framework", ["(none)", "framework"]), parse("lr", ["(none)", "params.lr"])
    ('framework', 'params.lr')
    >>> parse(None, ["(none)"]), parse("nope", ["(none)"])
    ('(none)', 'nope')
    """
    if not raw:
        return NONE
    if raw in choices:
        return raw
    for prefix in ("params.", "tags."):
        if prefix + raw in choices:
            return prefix + raw
    return raw


def run_groups(runs: pd.DataFrame, field: str) -> dict[str, str] | None:
    """Run id -> group label for `field` (None for "(none)"); a run without the field
    is in the group "(missing)". Numbers read as people write them (0.001, 3e-4).

    >>> runs = pd.DataFrame({"id": ["a", "b", "c"], "framework": ["keras", "torch", None],
    ...                      "params.lr": [0.001, 0.0003, None]})
    >>> run_groups(runs, "framework")
    {'a': 'keras', 'b': 'torch', 'c': '(missing)'}
    >>> run_groups(runs, "params.lr")
    {'a': '0.001', 'b': '3e-4', 'c': '(missing)'}
    """
    if field == NONE:
        return None
    if field not in runs.columns:
        raise ValueError(f"cannot group by {field!r}: use one of {options(runs)}")
    return {rid: _label(v) for rid, v in zip(runs["id"], runs[field])}


def _label(value: object) -> str:
    text = shown(value)
    if not text:
        return MISSING
    return readable(value) if isinstance(value, (int, float)) else text
