"""The Compare page's hyperparameter view: parallel coordinates and a param-vs-metric
scatter of the selected runs (figure builders are pure; `show` is the page section).

As in TensorBoard's HParams, W&B, MLflow and Aim: one axis per chosen param, then one
metric's last, min, max or best value, each run a line coloured by that metric. The
scatter puts one param against the same metric, on a log axis where the param's
values span decades (learning rates). The choices live in the URL (`hp`, `hpm`,
`hps`, `hpx`) and both charts follow the runs shown on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from trackboard.dashboard import data, parallel_coords, plain_text, state
from trackboard.dashboard.charts import higher_is_better, label
from trackboard.dashboard.hparam_axes import numbers, wants_log
from trackboard.dashboard.metric_choice import best_stat, decision_order
from trackboard.dashboard.number_format import HOVER_FORMAT
from trackboard.dashboard.param_differences import differing_params
from trackboard.dashboard.tables import shown
from trackboard.loggers.vocabulary import COMMON_PARAMS

STATS: tuple[str, ...] = ("best", "last", "min", "max")
MAX_DEFAULT_PARAMS = 6


def metric_values(summaries: pd.DataFrame, metric: str, stat: str) -> pd.Series:
    """Run id -> the metric's `stat` (best: min for a loss, max for an accuracy, the
    last value of any other metric; metric_choice.best_stat).

    `summaries` has `id` and `metrics.<key>.last|min|max` columns (Store.runs).

    >>> s = pd.DataFrame({"id": ["a"], "metrics.loss.min": [0.1], "metrics.loss.max": [0.9]})
    >>> metric_values(s, "loss", "best").to_dict()
    {'a': 0.1}
    """
    if stat not in STATS:
        raise ValueError(f"stat {stat!r}: use one of {', '.join(STATS)}")
    if stat == "best":
        stat = best_stat(metric)
    col = f"metrics.{metric}.{stat}"
    values = (summaries[col].to_numpy(np.float64) if col in summaries.columns
              else np.full(len(summaries), np.nan))
    return pd.Series(values, index=summaries["id"].tolist(), dtype="float64")


def default_params(runs: pd.DataFrame, limit: int = MAX_DEFAULT_PARAMS) -> list[str]:
    """The first `limit` params that differ between the runs (param_differences.py:
    the rule of the run labels and the param table too); the common vocabulary
    present when none differ.

    >>> runs = pd.DataFrame({"params.hidden": [16, 32], "params.lr": [0.1, 0.01],
    ...                      "params.seed": [1, 1], "params.beta_1": [0.9, None],
    ...                      "params.learning_rate": [None, 0.01]})
    >>> default_params(runs)
    ['lr', 'hidden']
    """
    chosen = differing_params(runs)
    if chosen:
        return chosen[:limit]
    present = {c.removeprefix("params.") for c in runs.columns if c.startswith("params.")}
    return [k for k in COMMON_PARAMS if k in present][:limit]


def hparam_table(runs: pd.DataFrame, run_ids: Sequence[str], params: Sequence[str],
                 values: pd.Series) -> pd.DataFrame:
    """One row per run (in `run_ids` order) that has a finite metric value: `id`,
    the params' raw values (None when missing) and `metric`."""
    by_id = runs.set_index("id")
    rows = [rid for rid in run_ids if rid in by_id.index and rid in values.index
            and np.isfinite(values[rid])]
    table = pd.DataFrame({"id": rows})
    for p in params:
        col = f"params.{p}"
        table[p] = (by_id.loc[rows, col].tolist() if col in by_id.columns
                    else [None] * len(rows))
    table["metric"] = [float(values[r]) for r in rows]
    return table


def parcoords_figure(table: pd.DataFrame, params: Sequence[str], metric: str, stat: str,
                     labels: Mapping[str, str] | None = None, height: int = 420) -> go.Figure:
    """Parallel coordinates: one axis per param, then the metric; each run a line
    coloured by the metric, its best values brightest (dashboard/parallel_coords.py)."""
    return parallel_coords.figure(table, params, metric, stat, higher_is_better(metric),
                                  labels, height)


def scatter_figure(table: pd.DataFrame, param: str, metric: str, stat: str,
                   labels: Mapping[str, str], colours: Mapping[str, str],
                   height: int = 420) -> go.Figure:
    """One param (x) against the metric (y), a dot per run in its run colour; a log x
    axis where the param spans decades, a category axis for text params."""
    have = [v is not None and shown(v) != "" for v in table[param].tolist()]
    part = table[have]
    xs = part[param].tolist()
    numeric = numbers(xs) is not None
    ids = part["id"].tolist()
    fig = go.Figure(go.Scatter(
        # Categories are tick labels and hover text: Plotly reads them as HTML.
        x=xs if numeric else [label(shown(v)) for v in xs], y=part["metric"].tolist(),
        mode="markers", text=[label(labels.get(r, r)) for r in ids], customdata=ids,
        marker={"color": [colours.get(r, "#636EFA") for r in ids], "size": 10,
                "line": {"width": 1, "color": "white"}},
        hovertemplate=(f"%{{text}}<br>{label(param)}=%{{x}}<br>{label(metric)}="
                       f"%{{y:{HOVER_FORMAT}}}<extra></extra>"),
        meta={"role": "hparam_scatter", "param": param, "metric": metric, "stat": stat,
              "run_ids": ids}))
    x_type = ("log" if wants_log(xs) else "linear") if numeric else "category"
    fig.update_layout(
        height=height, showlegend=False, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": {"text": label(param)}, "type": x_type, "automargin": True},
        yaxis={"title": {"text": label(f"{metric} ({stat})")}, "automargin": True,
               "exponentformat": "e"})
    return fig


def show(runs: pd.DataFrame, run_ids: Sequence[str], labels: Mapping[str, str],
         colours: Mapping[str, str], metrics: Sequence[str]) -> None:
    """The "Hyperparameters" section of the Compare page (a fragment: its controls
    redraw only these two charts, not the page's metric charts). Its first metric is
    the first people decide by that the runs shown have (a validation loss when there
    is one: metric_choice.py)."""
    st.subheader("Hyperparameters")
    # On by default; switched off it stays off in the URL (hpv=0) and across pages.
    state.init_widget("hp_on", "hpv", True, lambda r: r not in ("0", "false"))
    st.toggle("Show parallel coordinates and a param-vs-metric scatter", key="hp_on")
    state.remember(["hp_on"])
    state.write_query({"hpv": None if st.session_state["hp_on"] else "0"})
    if not st.session_state["hp_on"]:
        return
    param_options = sorted(c.removeprefix("params.") for c in runs.columns
                           if c.startswith("params."))
    metrics = [m for m in metrics if m not in ("step", "epoch")] or list(metrics)
    if not param_options or not metrics:
        st.caption("The selected runs have no params or no metrics to relate.")
        return
    summaries = data.summaries_by_run(data.source().url, data.source().read_only,
                                      tuple(run_ids), tuple(metrics))
    runs_with = {m: sum(m in s for s in summaries.values()) for m in metrics}
    first = next((m for m in decision_order(metrics, runs_with) if runs_with[m]), metrics[0])
    state.init_widget("hp_params", "hp", default_params(runs[runs["id"].isin(run_ids)]),
                      state.split_list)
    state.init_widget("hp_metric", "hpm", first, lambda r: state.parse_choice(r, metrics, first))
    state.init_widget("hp_stat", "hps", "best", lambda r: state.parse_choice(r, STATS, "best"))
    state.init_widget("hp_x", "hpx", "", str)
    _section(runs, tuple(run_ids), dict(labels), dict(colours), param_options, metrics)


@st.fragment
def _section(runs: pd.DataFrame, run_ids: tuple[str, ...], labels: dict[str, str],
             colours: dict[str, str], param_options: list[str], metrics: list[str]) -> None:
    ss = st.session_state
    ss["hp_params"] = [p for p in ss["hp_params"] if p in param_options]
    if ss["hp_metric"] not in metrics:
        ss["hp_metric"] = metrics[0]
    if ss["hp_x"] not in param_options:
        ss["hp_x"] = ss["hp_params"][0] if ss["hp_params"] else param_options[0]
    a, b, c, d = st.columns([4, 2, 2, 2])
    a.multiselect("Params (axes)", param_options, key="hp_params")
    b.selectbox("Metric", metrics, key="hp_metric")
    c.radio("Value", STATS, key="hp_stat", horizontal=True,
            help="best: the lowest value of a loss, the highest of an accuracy.")
    d.selectbox("Scatter: param", param_options, key="hp_x")
    state.remember(["hp_params", "hp_metric", "hp_stat", "hp_x"])
    state.write_query({"hp": state.join_list(ss["hp_params"]) or None, "hpm": ss["hp_metric"],
                       "hps": None if ss["hp_stat"] == "best" else ss["hp_stat"],
                       "hpx": ss["hp_x"]})
    src = data.source()
    summaries = data.metric_summaries(src.url, src.read_only, run_ids, (ss["hp_metric"],))
    values = metric_values(summaries, ss["hp_metric"], ss["hp_stat"])
    params = list(ss["hp_params"])
    table = hparam_table(runs, run_ids, list(dict.fromkeys([*params, ss["hp_x"]])), values)
    left_out = len(run_ids) - len(table)
    if table.empty:
        st.info(f"None of the runs shown has a finite {plain_text.markdown(ss['hp_metric'])}.")
        return
    if left_out:
        st.caption(f"{left_out} run(s) without a finite {plain_text.markdown(ss['hp_metric'])} "
                   "are left out.")
    p, s = st.columns([3, 2])
    with p:
        st.plotly_chart(parcoords_figure(table, params, ss["hp_metric"], ss["hp_stat"], labels),
                        key="hp_parcoords", width="stretch",
                        config={"displaylogo": False})
    with s:
        st.plotly_chart(scatter_figure(table, ss["hp_x"], ss["hp_metric"], ss["hp_stat"],
                                       labels, colours),
                        key="hp_scatter", width="stretch", config={"displaylogo": False})
