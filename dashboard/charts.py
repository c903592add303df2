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
from plotly.colors import qualitative
from trackboard.dashboard.smoothing import smooth

PALETTE: tuple[str, ...] = tuple(qualitative.Plotly) + tuple(qualitative.D3) + tuple(
    qualitative.Dark24)
# Above this many points a series is drawn with WebGL (Scattergl), which stays fast
# where SVG traces bog down the browser.
WEBGL_FROM = 1000
X_AXES = ("step", "relative time", "wall time")


def run_colours(run_ids: Sequence[str]) -> dict[str, str]:
    """One colour per run, by its position in the selection (the same in every chart).

    >>> run_colours(["a", "b"])
    {'a': '#636EFA', 'b': '#EF553B'}
    """
    return {rid: PALETTE[i % len(PALETTE)] for i, rid in enumerate(run_ids)}


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
                  height: int = 340) -> go.Figure:
    """One chart: every run's series of one metric overlaid (or one line per group).

    `frame` has columns run_id, x, value (sorted or not). With `groups` (run id ->
    group label), runs of a group are drawn as their mean with a ± std band (or
    min-max when band="minmax") instead of one line each.
    """
    fig = go.Figure()
    if groups:
        _add_groups(fig, frame, groups, colours, names, smoothing, weight, window, band)
    else:
        for rid in names:
            part = frame[frame["run_id"] == rid].sort_values("x")
            if part.empty:
                continue
            _add_run(fig, part, rid, names[rid], colours[rid], smoothing, weight, window)
    x_title = x if x in X_AXES else label(x)
    fig.update_layout(
        title={"text": label(title), "x": 0.01, "font": {"size": 15}}, height=height,
        margin={"l": 50, "r": 10, "t": 40, "b": 40}, hovermode="x unified",
        legend={"orientation": "h", "y": -0.2}, xaxis_title=x_title,
        yaxis_type="log" if log_y else "linear", uirevision=title)
    return fig


def _trace(n: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if n > WEBGL_FROM else go.Scatter


def _add_run(fig: go.Figure, part: pd.DataFrame, rid: str, name: str, colour: str,
             smoothing: str, weight: float, window: int) -> None:
    xs, ys = part["x"].to_numpy(), part["value"].to_numpy(dtype=np.float64)
    trace = _trace(len(xs))
    shown = label(name)
    if smoothing != "none":
        # The raw line stays faint behind the smoothed one, as in TensorBoard.
        fig.add_trace(trace(x=xs, y=ys, mode="lines", name=shown, legendgroup=rid,
                            showlegend=False, opacity=0.25, hoverinfo="skip",
                            line={"color": colour, "width": 1},
                            meta={"run_id": rid, "role": "raw"}))
    fig.add_trace(trace(x=xs, y=smooth(ys, smoothing, weight, window), mode="lines",
                        name=shown, legendgroup=rid, line={"color": colour, "width": 2},
                        meta={"run_id": rid, "role": "smoothed" if smoothing != "none"
                              else "raw"}))


def _add_groups(fig: go.Figure, frame: pd.DataFrame, groups: Mapping[str, str],
                colours: Mapping[str, str], names: Mapping[str, str], smoothing: str,
                weight: float, window: int, band: str) -> None:
    members: dict[str, list[str]] = {}
    for rid in names:
        members.setdefault(groups.get(rid, "(none)"), []).append(rid)
    for gi, (group, rids) in enumerate(members.items()):
        curves = []
        for rid in rids:
            part = frame[frame["run_id"] == rid].sort_values("x")
            if not part.empty:
                ys = smooth(part["value"].to_numpy(np.float64), smoothing, weight, window)
                curves.append((part["x"].to_numpy(), ys))
        if not curves:
            continue
        grid, mean, lo, hi = aggregate_curves(curves, band)
        colour = PALETTE[gi % len(PALETTE)]
        trace = _trace(len(grid))
        fill = _rgba(colour, 0.2)
        fig.add_trace(trace(x=grid, y=hi, mode="lines", line={"width": 0, "color": colour},
                            showlegend=False, hoverinfo="skip", legendgroup=group,
                            meta={"group": group, "role": "band_upper"}))
        fig.add_trace(trace(x=grid, y=lo, mode="lines", line={"width": 0, "color": colour},
                            fill="tonexty", fillcolor=fill, showlegend=False, hoverinfo="skip",
                            legendgroup=group, meta={"group": group, "role": "band_lower"}))
        fig.add_trace(trace(x=grid, y=mean, mode="lines", line={"color": colour, "width": 2},
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
