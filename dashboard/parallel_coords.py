"""The parallel-coordinates chart of the hyperparameter view, drawn in SVG (pure).

One vertical axis per chosen param, then the metric; each run a line through its
values, coloured by the metric on Viridis (its best values brightest) and drawn
best last, so the best runs sit on top. Hovering a line's point names the run.

Why not Plotly's `parcoords` trace: it draws only with WebGL. Streamlit mounts a
new chart whenever a figure changes, so every change of a control made new WebGL
contexts and compiled parcoords' shaders again: 2.7 s a change at 500 runs in a
browser that renders WebGL in software (headless Chromium, remote desktops, VMs,
browsers with WebGL blocked), about 90% of it waiting on the GPU emulation; the
number of runs hardly mattered. SVG lines have no such fixed cost, and a hover
can say which run a line is, which parcoords cannot. What parcoords had and this
has not: brushing ranges on an axis and dragging axes; the run list hides runs,
and the Params control orders the axes.

Lines of similar colour share one trace (`BINS` of them), so 500 runs are a few
dozen SVG paths, not 500 traces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from trackboard.dashboard.charts import label
from trackboard.dashboard.hparam_axes import Axis, axis

COLORSCALE = "Viridis"
# Colour steps for the lines: more than the eye tells apart on Viridis.
BINS = 32
AXIS_COLOUR = "#7f7f7f"


def axes(table: pd.DataFrame, params: Sequence[str], title: str) -> list[Axis]:
    """The params' axes, then the metric's (linear: its values are compared as they are)."""
    return [*(axis(p, table[p].tolist()) for p in params),
            axis(title, table["metric"].tolist(), log_ok=False)]


def figure(table: pd.DataFrame, params: Sequence[str], metric: str, stat: str,
           best_high: bool, labels: Mapping[str, str] | None = None,
           height: int = 420) -> go.Figure:
    """Parallel coordinates of `table` (from `hparams.hparam_table`): one axis per
    param, then `metric`'s `stat`; `best_high` says the metric's best is its maximum.

    The first trace's meta has role "hparams", the params, metric, stat, the run ids
    and each axis's title, positions and tick texts (tests read them).
    """
    labels = labels or {}
    title = f"{metric} ({stat})"
    ax = axes(table, params, title)
    ids = table["id"].tolist()
    metric_values = np.asarray(table["metric"].tolist(), dtype=float)
    lo, hi = float(metric_values.min()), float(metric_values.max())
    # 0 = worst, 1 = best: the brightest end of Viridis is the best value.
    goodness = (metric_values - lo) / ((hi - lo) or 1.0)
    if not best_high:
        goodness = 1.0 - goodness
    bins = np.minimum((goodness * BINS).astype(int), BINS - 1)
    heights = np.array([[a.unit(v) for v in a.values] for a in ax]).T  # run x axis
    meta = {"role": "hparams", "params": list(params), "metric": metric, "stat": stat,
            "run_ids": ids,
            "axes": [{"title": a.title, "values": a.values, "ticktext": a.ticktext}
                     for a in ax]}
    # The colour bar first: it carries the chart's meta and the metric's colour scale.
    traces = [go.Scatter(
        x=[None], y=[None], mode="markers", hoverinfo="skip", showlegend=False, meta=meta,
        marker={"color": [lo], "cmin": lo, "cmax": hi, "colorscale": COLORSCALE,
                "reversescale": not best_high, "showscale": True,
                "colorbar": {"title": {"text": label(title), "side": "right"},
                             "thickness": 14}})]
    xs = np.arange(len(ax) + 1, dtype=float)
    xs[-1] = np.nan  # a gap ends each run's line
    for b in range(BINS):
        members = np.flatnonzero(bins == b)
        if not len(members):
            continue
        # Within a colour, the best run last: drawn on top.
        members = members[np.argsort(goodness[members], kind="stable")]
        x = np.tile(xs, len(members))
        y = np.hstack([heights[members], np.full((len(members), 1), np.nan)]).ravel()
        text: list[str | None] = []
        run: list[str | None] = []
        for i in members:
            name = label(labels.get(ids[i], ids[i]))
            text += [f"{name}<br>{label(a.title)} = {label(a.texts[i])}" for a in ax] + [None]
            run += [ids[i]] * len(ax) + [None]
        colour = sample_colorscale(COLORSCALE, [(b + 0.5) / BINS])[0]
        traces.append(go.Scatter(
            x=x, y=y, mode="lines", line={"color": colour, "width": 1.5}, opacity=0.8,
            text=text, customdata=run, hovertemplate="%{text}<extra></extra>",
            showlegend=False, meta={"role": "hparam_lines"}))
    traces.append(_ticks(ax))
    fig = go.Figure(traces)
    fig.update_layout(
        height=height, showlegend=False, hovermode="closest", plot_bgcolor="white",
        margin={"l": 70, "r": 20, "t": 20, "b": 70},
        xaxis={"visible": False, "range": [-0.35, len(ax) - 0.65], "fixedrange": True},
        yaxis={"visible": False, "range": [-0.03, 1.03], "fixedrange": True},
        shapes=[{"type": "line", "x0": i, "x1": i, "y0": 0, "y1": 1, "layer": "below",
                 "line": {"color": AXIS_COLOUR, "width": 1}} for i in range(len(ax))],
        # Titles under their axes, slanted so long param names do not run into each other.
        annotations=[{"x": i, "y": 0, "yref": "y", "text": label(a.title),
                      "showarrow": False, "yanchor": "top", "xanchor": "right",
                      "yshift": -8, "textangle": -20, "font": {"size": 12}}
                     for i, a in enumerate(ax)])
    return fig


def _ticks(ax: Sequence[Axis]) -> go.Scatter:
    """Every axis's tick marks and labels, as one text trace left of the axes."""
    x, y, text = [], [], []
    for i, a in enumerate(ax):
        for t, s in zip(a.tickvals, a.ticktext):
            x.append(i)
            y.append(a.unit(t))
            text.append(label(s))
    return go.Scatter(x=x, y=y, text=text, mode="markers+text", textposition="middle left",
                      # A white halo keeps the labels readable over dense lines.
                      textfont={"size": 10, "color": "#333", "shadow": "auto"},
                      hoverinfo="skip",
                      marker={"symbol": "line-ew", "size": 6,
                              "line": {"width": 1, "color": AXIS_COLOUR}},
                      showlegend=False, meta={"role": "hparam_ticks"})

