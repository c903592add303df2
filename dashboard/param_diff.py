"""The Compare page's param diff: common params first, framework-specific ones
grouped by framework (pure tables, plus the Streamlit section that shows them).

Runs of different frameworks log many params only their framework has (Keras'
`optimizer.beta_1`, HF's `adam_epsilon`). Listed together, they push the
hyperparameters every run shares out of sight. So:

- the common table holds the shared vocabulary (`lr`, `optimizer`, `batch_size`...,
  see loggers/vocabulary.py) first, then the other params runs of several frameworks
  have; a framework's own params go into one collapsed table per framework, whose
  columns are that framework's runs only;
- which params differ is param_differences.py's rule (the run labels' and the
  hyperparameter view's too): a param absent from some runs is not a difference
  between the runs that have it (`optimizer.beta_1` = 0.9 in every Keras run and
  missing elsewhere is "the same"), Keras' `adam` and `adam_1` are the same, and a
  framework's own name repeating `lr` is not listed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
from trackboard.dashboard import plain_text
from trackboard.dashboard.number_format import readable
from trackboard.dashboard.param_differences import differing_params
from trackboard.dashboard.tables import shown
from trackboard.loggers.vocabulary import COMMON_PARAMS

NO_FRAMEWORK = "(no framework)"


@dataclass
class ParamDiff:
    """Params (rows) x runs (columns, titled by run label) as display text."""

    common: pd.DataFrame
    # framework -> its own params x its runs; frameworks in selection order.
    by_framework: dict[str, pd.DataFrame] = field(default_factory=dict)
    # How many params each table holds before `differs` filtering ("common" or a framework).
    totals: dict[str, int] = field(default_factory=dict)


def param_diff(runs: pd.DataFrame, names: Mapping[str, str], *, show_all: bool = False
               ) -> ParamDiff:
    """Split the selected runs' params into the common table and per-framework tables.

    `runs` is a Store.runs frame (id, framework, params.<key> ...); `names` maps run
    id -> column title (labels.run_labels). Unless `show_all`, only the params
    param_differences.differing_params returns are kept, in its order; with
    `show_all`, the others follow by name.

    >>> runs = pd.DataFrame({"id": ["k", "t"], "framework": ["keras", "torch"],
    ...     "params.lr": [0.001, 0.01], "params.layers": [2, 3],
    ...     "params.optimizer.beta_1": [0.9, None], "params.optimizer.beta_2": [0.99, None]})
    >>> d = param_diff(runs, {"k": "K", "t": "T"})
    >>> d.common.index.tolist(), d.common.loc["lr"].tolist()
    (['lr', 'layers'], ['0.001', '0.01'])
    >>> list(d.by_framework), d.by_framework["keras"].index.tolist(), d.totals["keras"]
    (['keras'], [], 2)
    """
    ids = runs["id"].tolist()
    frameworks = [fw if isinstance(fw, str) and fw else NO_FRAMEWORK
                  for fw in (runs["framework"] if "framework" in runs.columns
                             else [None] * len(ids))]
    cols = [c for c in runs.columns if c.startswith("params.")]
    raw = {c.removeprefix("params."): runs[c].tolist() for c in cols}
    texts = {k: [shown(v) for v in vs] for k, vs in raw.items()}
    several = len(set(frameworks)) > 1

    owner: dict[str, str | None] = {}     # param -> its one framework (None: shared)
    for key, vs in texts.items():
        having = {fw for fw, v in zip(frameworks, vs) if v != ""}
        owner[key] = next(iter(having)) if (several and len(having) == 1
                                            and key not in COMMON_PARAMS) else None
    rank = {k: i for i, k in enumerate(COMMON_PARAMS)}
    differing = differing_params(runs)
    rest = sorted((k for k in texts if k not in set(differing)),
                  key=lambda k: (rank.get(k, len(rank)), k)) if show_all else []
    listed = differing + rest
    common_keys = [k for k in listed if owner[k] is None]
    out = ParamDiff(common=_table(common_keys, range(len(ids)), ids, raw, texts, names))
    out.totals["common"] = sum(owner[k] is None for k in texts)
    for fw in dict.fromkeys(frameworks):
        total = sum(owner[k] == fw for k in texts)
        if not total:
            continue
        rows = [i for i, f in enumerate(frameworks) if f == fw]
        out.by_framework[fw] = _table([k for k in listed if owner[k] == fw], rows, ids, raw,
                                      texts, names)
        out.totals[fw] = total
    return out


def _table(keep: list[str], rows: range | list[int], ids: list[str],
           raw: Mapping[str, list[object]], texts: Mapping[str, list[str]],
           names: Mapping[str, str]) -> pd.DataFrame:
    # Built in one go: inserting 500 run columns one by one is slow in pandas.
    columns = {names.get(ids[i], ids[i]): [_cell(raw[k][i], texts[k][i]) for k in keep]
               for i in rows}
    return pd.DataFrame(columns, index=pd.Index(keep, name="param"), dtype=object)


def _cell(value: object, text: str) -> str:
    # Numbers as people read them (0.003431, 3.4e-4); the rest as the Runs table shows it.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and text:
        return readable(value)
    return text


def show(runs: pd.DataFrame, names: Mapping[str, str]) -> None:
    """The "Parameters" section of the Compare page."""
    import streamlit as st

    st.subheader("Parameters")
    show_all = st.toggle("Show all params (not only those that differ)", key="cmp_params_all")
    diff = param_diff(runs, names, show_all=show_all)
    if diff.common.empty and not show_all:
        st.caption("No common param differs between the runs that have it.")
    else:
        st.dataframe(diff.common, key="cmp_params", width="stretch")
    for fw, table in diff.by_framework.items():
        what = (f"{len(table)} of {diff.totals[fw]} differ" if not show_all
                else f"{diff.totals[fw]} params")
        with st.expander(f"{plain_text.markdown(fw)}-only params · {what}", expanded=False):
            if table.empty:
                st.caption("None differs between the runs that have it.")
            else:
                st.dataframe(table, key=f"cmp_params_{fw}", width="stretch")
