"""Plotly figure builders for the dashboard (pure: DataFrames in, figures out).

Every trace carries `meta={"run_id"|"group": ..., "role": ...}` so tests (and
readers of a figure's JSON) can tell raw, smoothed, mean and band traces apart.
User text (run names, keys) is HTML-escaped before it reaches Plotly, whose
labels understand a few HTML tags: a run named "<b>x" shows as typed.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from trackboard.dashboard import colors
from trackboard.dashboard.number_format import HOVER_FORMAT
from trackboard.dashboard.smoothing import smooth

PALETTE = colors.PALETTE
# Above this many points in one series, or in one chart, traces are drawn with WebGL
# (Scattergl), which stays fast where SVG traces bog down the browser (50 runs x 2
# traces x 800 points is 80,000 SVG path points a chart).
WEBGL_FROM = 1000
WEBGL_CHART_FROM = 20_000
X_AXES = ("step", "relative time", "wall time")


def run_colours(run_ids: Sequence[str]) -> dict[str, str]:
    """One colour per run, from its id (see colors.py): the same in every chart,
    on every page and after a reload, and distinct for up to 50 runs.

    >>> c = run_colours(["a", "b"])
    >>> c == run_colours(["b", "a"]) and c["a"] != c["b"]
    True
    """
    return colors.colours(run_ids)


def label(text: object) -> str:
    """Text made safe for Plotly labels (they interpret a subset of HTML).

    >>> label("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    """
    return html.escape(str(text), quote=False)


def with_x(frame: pd.DataFrame, x: str, x_values: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add an `x` column to a history frame (run_id, key, step, wall_time, value).

    x is "step", "relative time" (seconds since each run's first point), "wall time"
    (datetimes) or another logged key, whose value at the same step (or the latest
    step before it) is looked up per run in `x_values` (a history frame of that key).
    """
    out = frame.copy()
    if x == "step":
        out["x"] = out["step"]
    elif x == "relative time":
        start = out.groupby("run_id")["wall_time"].transform("min")
        out["x"] = out["wall_time"] - start
    elif x == "wall time":
        out["x"] = pd.to_datetime(out["wall_time"], unit="s", utc=True)
    else:
        if x_values is None or x_values.empty:
            return out.assign(x=np.nan).iloc[0:0]
        parts = []
        for rid, part in out.groupby("run_id", sort=False):
            xs = x_values[x_values["run_id"] == rid][["step", "value"]].rename(
                columns={"value": "x"}).sort_values("step")
            if xs.empty:
                continue
            joined = pd.merge_asof(part.sort_values("step"), xs, on="step",
                                   direction="backward")
            parts.append(joined.dropna(subset=["x"]))
        if not parts:
            return out.assign(x=np.nan).iloc[0:0]
        out = pd.concat(parts, ignore_index=True)
    return out


def metric_figure(frame: pd.DataFrame, title: str, *, names: Mapping[str, str],
                  colours: Mapping[str, str], x: str = "step", log_y: bool = False,
                  smoothing: str = "ema", weight: float = 0.6, window: int = 5,
                  groups: Mapping[str, str] | None = None, band: str = "std",
                  height: int = 340, dashes: Mapping[str, str] | None = None) -> go.Figure:
    """One chart: every run's series of one metric overlaid (or one line per group).

    `frame` has columns run_id, x, value (sorted or not); `names` (run id -> label)
    says which runs to draw, in order. With `groups` (run id -> group label), runs of
    a group are drawn as their mean with a ± std band (or min-max when band="minmax")
    instead of one line each.

    No legend: the page lists the runs once, with their colours. The hover lists
    every run's value at the x under the mouse, best first (lowest for a loss).
    """
    fig = go.Figure()
    if groups:
        _add_groups(fig, frame, groups, colours, names, smoothing, weight, window, band)
    else:
        parts = {rid: part for rid, part in frame.groupby("run_id", sort=False)}
        series = [(rid, parts[rid].sort_values("x")) for rid in names if rid in parts]
        total = sum(len(p) for _, p in series) * (2 if smoothing != "none" else 1)
        for rid, part in series:
            _add_run(fig, part, rid, names[rid], colours[rid], smoothing, weight, window,
                     dash=(dashes or {}).get(rid, "solid"), webgl=total > WEBGL_CHART_FROM)
    x_title = x if x in X_AXES else label(x)
    fig.update_layout(
        title={"text": label(title), "x": 0.01, "font": {"size": 15}}, height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False,
        hovermode="x unified",
        # Plotly sorts a unified hover by value (hoversort, plotly.js 3.5+), best first.
        hoversort="value descending" if higher_is_better(title) else "value ascending",
        # namelength -1: whole labels in the hover (Plotly cuts them at 15 characters).
        hoverlabel={"namelength": -1},
        # automargin: the margins grow to fit tick labels and axis titles, so an axis
        # title is never drawn over tick labels or off the chart.
        xaxis={"title": {"text": x_title, "standoff": 8}, "automargin": True},
        yaxis={"type": "log" if log_y else "linear", "automargin": True,
               "exponentformat": "e"},
        uirevision=title)
    return fig


def _trace(n: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if n > WEBGL_FROM else go.Scatter


def _add_run(fig: go.Figure, part: pd.DataFrame, rid: str, name: str, colour: str,
             smoothing: str, weight: float, window: int, *, dash: str = "solid",
             webgl: bool = False) -> None:
    xs, ys = part["x"].to_numpy(), part["value"].to_numpy(dtype=np.float64)
    trace = go.Scattergl if webgl else _trace(len(xs))
    shown = label(name)
    if smoothing != "none":
        # The raw line stays faint behind the smoothed one, as in TensorBoard.
        fig.add_trace(trace(x=xs, y=ys, mode="lines", name=shown, legendgroup=rid,
                            showlegend=False, opacity=0.25, hoverinfo="skip",
                            line={"color": colour, "width": 1, "dash": dash},
                            meta={"run_id": rid, "role": "raw"}))
    fig.add_trace(trace(x=xs, y=smooth(ys, smoothing, weight, window), mode="lines",
                        name=shown, legendgroup=rid, yhoverformat=HOVER_FORMAT,
                        line={"color": colour, "width": 2, "dash": dash},
                        meta={"run_id": rid, "role": "smoothed" if smoothing != "none"
                              else "raw"}))


def _add_groups(fig: go.Figure, frame: pd.DataFrame, groups: Mapping[str, str],
                colours: Mapping[str, str], names: Mapping[str, str], smoothing: str,
                weight: float, window: int, band: str) -> None:
    members: dict[str, list[str]] = {}
    for rid in names:
        members.setdefault(groups.get(rid, "(none)"), []).append(rid)
    # A group's colour comes from its label, like a run's from its id.
    group_colours = colors.colours(members)
    for group, rids in members.items():
        curves = []
        for rid in rids:
            part = frame[frame["run_id"] == rid].sort_values("x")
            if not part.empty:
                ys = smooth(part["value"].to_numpy(np.float64), smoothing, weight, window)
                curves.append((part["x"].to_numpy(), ys))
        if not curves:
            continue
        grid, mean, lo, hi = aggregate_curves(curves, band)
        # The caller's colours (the page gives each run its group's colour) win, so
        # the chart matches the run list; else the group label decides.
        colour = colours.get(rids[0]) or group_colours[group]
        trace = _trace(len(grid))
        fill = _rgba(colour, 0.2)
        fig.add_trace(trace(x=grid, y=hi, mode="lines", line={"width": 0, "color": colour},
                            showlegend=False, hoverinfo="skip", legendgroup=group,
                            meta={"group": group, "role": "band_upper"}))
        fig.add_trace(trace(x=grid, y=lo, mode="lines", line={"width": 0, "color": colour},
                            fill="tonexty", fillcolor=fill, showlegend=False, hoverinfo="skip",
                            legendgroup=group, meta={"group": group, "role": "band_lower"}))
        fig.add_trace(trace(x=grid, y=mean, mode="lines", line={"color": colour, "width": 2},
                            yhoverformat=HOVER_FORMAT,
                            name=f"{label(group)} (n={len(curves)})", legendgroup=group,
                            meta={"group": group, "role": "mean", "runs": list(rids)}))


def aggregate_curves(curves: Sequence[tuple[np.ndarray, np.ndarray]], band: str = "std"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and band of several (x, y) curves on the union of their x values.

    Each curve is interpolated onto the grid only inside its own x range, so a
    shorter run does not drag the mean beyond its end.

    >>> g, m, lo, hi = aggregate_curves([(np.array([0, 2]), np.array([0., 2.])),
    ...                                  (np.array([0, 2]), np.array([2., 4.]))])
    >>> g.tolist(), m.tolist(), lo.tolist(), hi.tolist()
    ([0, 2], [1.0, 3.0], [0.0, 2.0], [2.0, 4.0])
    """
    if band not in ("std", "minmax"):
        raise ValueError(f"band {band!r}: use 'std' or 'minmax'")
    is_time = any(np.issubdtype(np.asarray(x).dtype, np.datetime64) for x, _ in curves)
    conv = [(np.asarray(x).astype("datetime64[ns]").astype(np.int64) if is_time
             else np.asarray(x, dtype=np.float64), y) for x, y in curves]
    grid = np.unique(np.concatenate([x for x, _ in conv]))
    stack = np.full((len(conv), len(grid)), np.nan)
    for i, (x, y) in enumerate(conv):
        ok = np.isfinite(y)
        if ok.sum() == 0:
            continue
        inside = (grid >= x[ok][0]) & (grid <= x[ok][-1])
        stack[i, inside] = np.interp(grid[inside], x[ok], y[ok])
    with np.errstate(all="ignore"), _quiet():
        mean = np.nanmean(stack, axis=0)
        if band == "std":
            std = np.nanstd(stack, axis=0)
            lo, hi = mean - std, mean + std
        else:
            lo, hi = np.nanmin(stack, axis=0), np.nanmax(stack, axis=0)
    out_grid: np.ndarray = grid.astype("datetime64[ns]") if is_time else grid
    if not is_time and all(np.issubdtype(np.asarray(x).dtype, np.integer) for x, _ in curves):
        out_grid = grid.astype(np.int64)
    return out_grid, mean, lo, hi


class _quiet:
    """Silence numpy's all-NaN-slice RuntimeWarnings inside a block."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def higher_is_better(key: str) -> bool:
    """Whether the best value of a metric is its maximum (accuracy) or minimum (loss).

    >>> higher_is_better("val_accuracy"), higher_is_better("eval_loss")
    (True, False)
    """
    k = key.lower()
    if any(w in k for w in ("loss", "error", "err", "perplexity", "mse", "mae", "rmse")):
        return False
    return any(w in k for w in ("acc", "f1", "auc", "precision", "recall", "score", "iou",
                                "map", "bleu", "rouge", "r2", "reward", "return"))
