"""Plotly figure builders for the dashboard (pure: DataFrames in, figures out).

Every trace carries `meta={"run_id"|"group": ..., "role": ...}` so tests (and
readers of a figure's JSON) can tell raw, smoothed, mean and band traces apart.
User text (run names, keys) is HTML-escaped before it reaches Plotly, whose
labels understand a few HTML tags: a run named "<b>x" shows as typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from trackboard.dashboard import colors, plotly_wire
from trackboard.dashboard.group_lines import group_traces
# Best is the minimum of a loss, the maximum of an accuracy: one rule (metric_choice.py).
from trackboard.dashboard.metric_choice import higher_is_better
from trackboard.dashboard.number_format import HOVER_FORMAT
from trackboard.dashboard.plotly_wire import WEBGL_FROM, band_trace, compact, label
from trackboard.dashboard.smoothing import smooth

PALETTE = colors.PALETTE
# Points a chart draws in all (runs x points per series) before series get coarser:
# 50 runs x 1000 points took 8 s to draw in Chromium, 50 x 240 under 2 s.
CHART_POINTS = 12_000
X_AXES = ("step", "relative time", "wall time")
MIN_SERIES_POINTS = 200
# The faint raw line behind each smoothed one: drawn up to this many runs. Beyond,
# 50 raw clouds hide each other and double the drawing time.
RAW_LINES_UP_TO = 12
# A series read in stretches (each point a stretch's middle, Store.history's envelope)
# gets a faint band from its stretches' lowest to highest values up to this many runs,
# instead of the faint line: spikes stay visible. At 12 runs the bands were one mud.
ENVELOPE_UP_TO = 4
ENVELOPE_ALPHA = 0.12


def points_per_series(runs: int, most: int = 1000) -> int:
    """Points to read per series so a chart of `runs` runs stays quick to draw.

    >>> points_per_series(2), points_per_series(12), points_per_series(50)
    (1000, 1000, 240)
    """
    return max(MIN_SERIES_POINTS, min(most, CHART_POINTS // max(1, runs)))


def run_colours(run_ids: Sequence[str]) -> dict[str, str]:
    """One colour per run, far apart from the others' (see colors.py): the same in
    every chart and in any order.

    >>> c = run_colours(["a", "b"])
    >>> c == run_colours(["b", "a"]) and c["a"] != c["b"]
    True
    """
    return colors.colours(run_ids)


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

    `frame` has columns run_id, x, value (sorted or not) and, for a series read in
    stretches (Store.history's envelope), low and high: the line goes through each
    stretch's middle (value), and with few runs a faint band spans low..high.
    `names` (run id -> label) says which runs to draw, in order. With `groups` (run
    id -> group label), runs of a group are drawn as their mean with a ± std band
    (or min-max when band="minmax") instead of one line each.

    No legend: the page lists the runs once, with their colours. The hover lists
    every run's value at the x under the mouse, best first (lowest for a loss).
    """
    if groups:
        traces = group_traces(frame, groups, colours, names, smoothing, weight, window, band)
        y_range = None  # a group's band is the point: the axis holds it
    else:
        traces = _run_traces(frame, names, colours, dashes or {}, smoothing, weight, window)
        # The y axis fits the lines; a faint band or raw line may run past it (a spike
        # of grad_norm squashed every line into the bottom fifth). Autoscale shows all.
        y_range = line_range([t["y"] for t in traces if t.get("hoverinfo") != "skip"],
                             log_y)
    x_title = x if x in X_AXES else label(x)
    yaxis: dict[str, Any] = {"type": "log" if log_y else "linear", "automargin": False,
                             # Short tick labels ("5e-4", not "0.0005") fit the margin.
                             "exponentformat": "e"}
    if y_range is not None:
        yaxis["range"] = y_range
    # Trace and layout dicts, unvalidated, arrays as typed arrays (plotly_wire.py):
    # validating 50 runs' traces took 0.2-0.4 s a chart, building them 25 ms.
    return plotly_wire.figure(traces, {
        "title": {"text": label(title), "x": 0.01, "font": {"size": 15}}, "height": height,
        # Fixed margins with room for tick labels and the x title. Not automargin: it
        # draws every chart twice (1.9 s -> 3.7 s for 8 charts of 50 runs).
        "margin": {"l": 55, "r": 10, "t": 40, "b": 45}, "showlegend": False,
        "hovermode": "x unified",
        # Plotly sorts a unified hover by value (hoversort, plotly.js 3.5+), best first.
        "hoversort": "value descending" if higher_is_better(title) else "value ascending",
        # namelength -1: whole labels in the hover (Plotly cuts them at 15 characters).
        "hoverlabel": {"namelength": -1},
        "xaxis": {"title": {"text": x_title}, "automargin": False}, "yaxis": yaxis,
        "uirevision": title})


def line_range(lines: Sequence[np.ndarray], log: bool = False) -> list[float] | None:
    """The y range that holds `lines` with 5% to spare (log10 on a log axis); None
    when they hold no finite value (or none above 0 on a log axis) or just one value.

    >>> line_range([np.array([0.0, 1.0]), np.array([2.0, np.nan])])
    [-0.1, 2.1]
    >>> line_range([np.array([0.01, 1.0])], log=True), line_range([np.array([3.0])])
    ([-2.1, 0.1], None)
    """
    values = np.concatenate([np.asarray(y, np.float64) for y in lines]) if lines else np.empty(0)
    values = values[np.isfinite(values)]
    if log:
        values = np.log10(values[values > 0])
    if not len(values) or values.min() == values.max():
        return None
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo)
    return [round(lo - pad, 12), round(hi + pad, 12)]


def _run_traces(frame: pd.DataFrame, names: Mapping[str, str], colours: Mapping[str, str],
                dashes: Mapping[str, str], smoothing: str, weight: float, window: int
                ) -> list[dict[str, Any]]:
    """Each run's trace dicts (faint band or raw line, then the line), in `names` order."""
    frame = frame[frame["run_id"].isin(list(names))]
    if frame.empty:
        return []
    # One sort and one smoothing pass for all runs, then numpy slices per run: per-run
    # pandas filtering and smoothing cost ~8 ms a run.
    frame = frame.sort_values(["run_id", "x"], kind="stable")
    rids = frame["run_id"].to_numpy()
    xs_all = compact(frame["x"].to_numpy())
    values = frame["value"].to_numpy(dtype=np.float64)
    # float32 on the wire: half the bytes to send and parse, and 7 digits are more than
    # the 4 a hover shows.
    ys_all = values.astype(np.float32)
    smoothed_all = smooth_runs(rids, values, smoothing, weight, window).astype(np.float32)
    spans = ("low" in frame.columns and "high" in frame.columns)
    low_all = frame["low"].to_numpy(np.float32) if spans else ys_all
    high_all = frame["high"].to_numpy(np.float32) if spans else ys_all
    starts = np.flatnonzero(np.r_[True, rids[1:] != rids[:-1]])
    bounds = dict(zip(rids[starts].tolist(), zip(starts, np.r_[starts[1:], len(rids)])))
    shown_runs = sum(r in bounds for r in names)
    behind, envelope = shown_runs <= RAW_LINES_UP_TO, shown_runs <= ENVELOPE_UP_TO
    traces: list[dict[str, Any]] = []
    for rid, name in names.items():
        if rid not in bounds:
            continue
        lo, hi = bounds[rid]
        xs, ys = xs_all[lo:hi], ys_all[lo:hi]
        kind = plotly_wire.trace_type(hi - lo)
        colour, dash, shown = colours[rid], dashes.get(rid, "solid"), label(name)
        low, high = low_all[lo:hi], high_all[lo:hi]
        if envelope and bool(np.any(high > low)):
            # Read in stretches: the band spans each stretch's lowest to highest value,
            # so spikes stay visible while the line goes through the middles.
            traces.append(band_trace(kind, xs, low, high, colour, ENVELOPE_ALPHA,
                                     {"run_id": rid, "role": "envelope"}))
        elif behind and smoothing != "none":
            # The raw line stays faint behind the smoothed one, as in TensorBoard.
            traces.append({"type": kind, "x": xs, "y": ys, "mode": "lines", "name": shown,
                           "legendgroup": rid, "showlegend": False, "opacity": 0.25,
                           "hoverinfo": "skip",
                           "line": {"color": colour, "width": 1, "dash": dash},
                           "meta": {"run_id": rid, "role": "raw"}})
        traces.append({"type": kind, "x": xs, "y": smoothed_all[lo:hi], "mode": "lines",
                       "name": shown, "legendgroup": rid, "yhoverformat": HOVER_FORMAT,
                       "line": {"color": colour, "width": 2, "dash": dash},
                       "meta": {"run_id": rid,
                                "role": "smoothed" if smoothing != "none" else "raw"}})
    return traces


def smooth_runs(run_ids: np.ndarray, values: np.ndarray, method: str, weight: float = 0.6,
                window: int = 5) -> np.ndarray:
    """`smooth` of each run's values, for values sorted by run (then x).

    EMA of all runs in one pandas groupby-ewm call (the same debiased estimator as
    smoothing.ema, which skips non-finite values the same way).

    >>> smooth_runs(np.array(["a", "a", "b", "b"]), np.array([1.0, 0.0, 4.0, 2.0]),
    ...             "ema", 0.5).round(4).tolist()
    [1.0, 0.3333, 4.0, 2.6667]
    """
    if method != "ema" or weight == 0.0 or len(values) == 0:
        out = np.empty_like(values, dtype=np.float64)
        starts = np.flatnonzero(np.r_[True, run_ids[1:] != run_ids[:-1]])
        for lo, hi in zip(starts, np.r_[starts[1:], len(values)]):
            out[lo:hi] = smooth(values[lo:hi], method, weight, window)
        return out
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight {weight} must be in [0, 1)")
    out = values.astype(np.float64, copy=True)
    ok = np.isfinite(out)
    if ok.any():
        finite = pd.Series(out[ok])
        out[ok] = finite.groupby(run_ids[ok], sort=False).ewm(
            alpha=1.0 - weight, adjust=True).mean().to_numpy()
    return out


