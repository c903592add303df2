"""Plotly figures of histograms over steps (pure: DataFrames in, figures out).

Three figures, one key each, runs in the colours of the scalar charts:

- `distribution_figure`: TensorBoard's Distributions. Per run, the nested bands between
  the percentiles Store.distributions gives (min-max, +-1.5, +-1 and +-0.5 sigma of a
  normal distribution) over steps, darker towards the median, and the median as a line.
  `mode="runs"` draws one small panel per run (shared, linked axes): nested bands of
  two runs drawn over each other hide each other, which is why TensorBoard gives each
  run its own chart. `mode="overlay"` draws every run in one panel, only its median
  and its +-1 sigma band, which stays readable at 10+ runs.
- `ridge_figure`: TensorBoard's Histograms in "offset" mode, one panel per run: each
  step's histogram as a filled outline on its own baseline, the y axis the step (later
  steps lower, in front and darker).
- `overlay_figure`: one histogram per run at the step chosen for it, overlaid.

Histograms are drawn as densities (count / (bucket width x finite values)), so runs
with different bucket counts (torch's default against Keras') compare. NaN and +-inf
are not drawn; hover says how many a step had. Every trace carries
`meta={"run_id": ..., "role": ...}`; user text goes through `plain_text.html`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from trackboard.dashboard.number_format import HOVER_FORMAT
from trackboard.dashboard.plain_text import html as label
from trackboard.dashboard.plotly_wire import rgba

# Store.distributions' columns, outermost band first, and their meaning for the hover.
BAND_PAIRS: tuple[tuple[str, str], ...] = (("bp0", "bp10000"), ("bp668", "bp9332"),
                                           ("bp1587", "bp8413"), ("bp3085", "bp6915"))
MEDIAN = "bp5000"
# Each band adds this opacity on top of the bands around it: the middle reads darkest.
BAND_ALPHA: tuple[float, ...] = (0.14, 0.16, 0.2, 0.26)
_HOVER_ROWS = (("max", "bp10000"), ("93%", "bp9332"), ("84%", "bp8413"), ("69%", "bp6915"),
               ("median", "bp5000"), ("31%", "bp3085"), ("16%", "bp1587"), ("7%", "bp668"),
               ("min", "bp0"))
# Buckets drawn per histogram at most: 10,000 buckets x 50 steps x 10 runs would be
# 5M points for one chart; 200 show the shape as well.
MAX_BUCKETS = 200
# The tallest histogram of a ridge panel rises this many step gaps above its baseline.
RIDGE_OVERLAP = 2.5
PANEL_HEIGHT = 230
OVERLAY_FILLS_UP_TO = 4
# Outlines a ridge chart draws in all (runs x steps): SVG stays quick to draw.
RIDGE_TRACES = 400
_MARGIN = {"l": 55, "r": 10, "t": 30, "b": 40}
_H_GAP = 0.06      # between panels, as a share of the width
_V_GAP_PX = 50     # between panel rows, room for the next row's titles and ticks


def distribution_figure(frame: pd.DataFrame, key: str, *, names: Mapping[str, str],
                        colours: Mapping[str, str], mode: str = "runs", per_row: int = 4,
                        panel_height: int = PANEL_HEIGHT) -> go.Figure:
    """Distributions of one key: `frame` is Store.distributions' rows of that key;
    `names` (run id -> label) says which runs to draw, in order."""
    if mode not in ("runs", "overlay"):
        raise ValueError(f"mode {mode!r}: use 'runs' or 'overlay'")
    runs = [rid for rid in names if rid in set(frame["run_id"])]
    parts = {rid: _finite_bands(frame[frame["run_id"] == rid]) for rid in runs}
    traces: list[dict[str, Any]] = []
    if mode == "overlay":
        layout = _single_layout(key, panel_height + 80)
        # Fainter bands as runs pile up: 14 bands at 0.18 made one brown mass.
        alpha = min(0.18, max(0.04, 0.5 / max(1, len(runs))))
        for rid in runs:
            part, colour = parts[rid], colours[rid]
            traces.append(_band(part, "bp1587", "bp8413", colour, alpha, "x", "y", rid))
            traces.append(_median(part, names[rid], colour, "x", "y", rid, width=2))
    else:
        layout, axes = _panels(key, [names[r] for r in runs], [colours[r] for r in runs],
                               per_row, panel_height)
        for rid, (xa, ya) in zip(runs, axes):
            part, colour = parts[rid], colours[rid]
            for (lo, hi), alpha in zip(BAND_PAIRS, BAND_ALPHA):
                traces.append(_band(part, lo, hi, colour, alpha, xa, ya, rid))
            traces.append(_median(part, names[rid], colour, xa, ya, rid))
    layout[_axis_name(_bottom_left(layout))]["title"] = {"text": "step"}
    return go.Figure(data=traces, layout=layout, _validate=False)


def ridge_figure(frame: pd.DataFrame, key: str, *, names: Mapping[str, str],
                 colours: Mapping[str, str], per_row: int = 4,
                 panel_height: int = 300) -> go.Figure:
    """Histograms of one key over steps in TensorBoard's offset mode, a panel per run:
    `frame` is Store.histograms' rows of that key (thinned with max_steps)."""
    runs = [rid for rid in names if rid in set(frame["run_id"])]
    layout, axes = _panels(key, [names[r] for r in runs], [colours[r] for r in runs],
                           per_row, panel_height)
    traces: list[dict[str, Any]] = []
    for rid, (xa, ya) in zip(runs, axes):
        part = frame[frame["run_id"] == rid].sort_values("step")
        curves = [(int(row.step), *density(row.edges, row.counts), _nonfinite(row))
                  for row in part.itertuples(index=False)]
        curves = [c for c in curves if len(c[1])]
        if not curves:
            continue
        steps = [c[0] for c in curves]
        gap = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else 1.0
        peak = max(float(c[2].max()) for c in curves) or 1.0
        scale = RIDGE_OVERLAP * gap / peak
        for i, (step, xs, ys, note) in enumerate(curves):
            # Oldest palest and behind; the latest in the run's own colour, in front.
            age = (len(curves) - 1 - i) / max(1, len(curves) - 1)
            fill = _mix(colours[rid], "#FFFFFF", 0.75 * age)
            outline = [step, *(step - ys * scale), step]
            traces.append({
                "type": "scatter", "x": [xs[0], *xs, xs[-1]], "y": outline, "mode": "lines",
                "fill": "toself", "fillcolor": fill, "xaxis": xa, "yaxis": ya,
                "line": {"color": _mix(colours[rid], "#000000", 0.25), "width": 0.7},
                "name": label(names[rid]), "hoveron": "points",
                "customdata": [0.0, *ys, 0.0],
                "hovertemplate": (f"step {step}<br>value %{{x:{HOVER_FORMAT}}}<br>density "
                                  f"%{{customdata:{HOVER_FORMAT}}}{note}<extra>%{{fullData.name}}"
                                  "</extra>"),
                "meta": {"run_id": rid, "role": "ridge", "step": step}})
        # Ticks at logged steps: the peaks of the first steps reach above the first
        # baseline, where an automatic tick would read as a negative step.
        ticks = [steps[j] for j in sorted({round(x) for x in np.linspace(0, len(steps) - 1, 6)})]
        layout[_axis_name(ya)].update(autorange="reversed", title={"text": "step"},
                                      tickmode="array", tickvals=ticks)
    return go.Figure(data=traces, layout=layout, _validate=False)


def overlay_figure(frame: pd.DataFrame, key: str, *, names: Mapping[str, str],
                   colours: Mapping[str, str], height: int = 320) -> go.Figure:
    """Each run's histogram of one key at one step, overlaid: `frame` holds one
    Store.histograms row per run (the step chosen for that run)."""
    traces: list[dict[str, Any]] = []
    # A faint fill under each line while few runs share the chart; past that, lines only.
    filled = sum(rid in set(frame["run_id"]) for rid in names) <= OVERLAY_FILLS_UP_TO
    for rid in names:
        rows = frame[frame["run_id"] == rid]
        if rows.empty:
            continue
        row = next(rows.itertuples(index=False))
        xs, ys = density(row.edges, row.counts)
        if not len(xs):
            continue
        colour = colours[rid]
        traces.append({
            "type": "scatter", "x": xs, "y": ys, "mode": "lines",
            "fill": "tozeroy" if filled else "none",
            "fillcolor": rgba(safe_colour(colour), 0.08), "line": {"color": colour, "width": 2},
            "name": label(names[rid]),
            "hovertemplate": (f"step {int(row.step)}<br>value %{{x:{HOVER_FORMAT}}}<br>"
                              f"density %{{y:{HOVER_FORMAT}}}{_nonfinite(row)}"
                              "<extra>%{fullData.name}</extra>"),
            "meta": {"run_id": rid, "role": "overlay", "step": int(row.step)}})
    layout = _single_layout(key, height)
    layout["xaxis"]["title"] = {"text": "value"}
    layout["yaxis"]["title"] = {"text": "density"}
    return go.Figure(data=traces, layout=layout, _validate=False)


def ridge_steps(runs: int) -> int:
    """Steps per run a ridge chart reads (Store.histograms' max_steps): at most 50,
    fewer as runs share the chart, never under 10.

    >>> ridge_steps(1), ridge_steps(2), ridge_steps(12), ridge_steps(50)
    (50, 50, 33, 10)
    """
    return max(10, min(50, RIDGE_TRACES // max(1, runs)))


def density(edges: Sequence[float], counts: Sequence[float], most: int = MAX_BUCKETS
            ) -> tuple[np.ndarray, np.ndarray]:
    """Bucket centres and densities (count / (width x finite count)) of a histogram,
    adjacent buckets merged down to at most `most`; empty arrays when nothing was finite.

    >>> xs, ys = density([0.0, 1.0, 3.0], [2.0, 2.0])
    >>> xs.tolist(), ys.tolist()
    ([0.5, 2.0], [0.5, 0.25])
    >>> [len(a) for a in density(np.linspace(0, 1, 10_001), np.ones(10_000))]
    [200, 200]
    >>> [len(a) for a in density([0.0, 1.0], [0.0])]
    [0, 0]
    """
    e = np.asarray(edges, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    total = float(c.sum()) if len(c) else 0.0
    if not len(c) or total <= 0:
        return np.empty(0), np.empty(0)
    if len(c) > most:
        k = math.ceil(len(c) / most)
        ends = np.r_[np.arange(0, len(c), k), len(c)]
        c = np.add.reduceat(c, ends[:-1])
        e = e[ends]
    widths = np.diff(e)
    return (e[:-1] + e[1:]) / 2, c / (widths * total)


def nonfinite_steps(frame: pd.DataFrame) -> dict[str, int]:
    """Run id -> how many of its histograms in `frame` held NaN or +-inf values
    (drawn nowhere; the page says so).

    >>> nonfinite_steps(pd.DataFrame({"run_id": ["a", "a", "b"], "nan_count": [1, 0, 0],
    ...                               "posinf_count": [0, 2, 0], "neginf_count": [0, 0, 0]}))
    {'a': 2}
    """
    if frame.empty:
        return {}
    bad = (frame["nan_count"] + frame["posinf_count"] + frame["neginf_count"]) > 0
    counted = frame.loc[bad].groupby("run_id", sort=False).size()
    return {str(k): int(v) for k, v in counted.items()}


def _nonfinite(row: Any) -> str:
    parts = [f"{name} {int(n)}" for name, n in (("NaN", row.nan_count), ("+inf", row.posinf_count),
                                                ("-inf", row.neginf_count)) if n]
    return ("<br>not drawn: " + ", ".join(parts)) if parts else ""


def _finite_bands(part: pd.DataFrame) -> pd.DataFrame:
    """A run's rows by step, without the steps where nothing was finite (their bands
    are NaN and would cut the polygons)."""
    cols = [c for pair in BAND_PAIRS for c in pair] + [MEDIAN]
    part = part.sort_values("step")
    return part[np.isfinite(part[cols].to_numpy(dtype=np.float64)).all(axis=1)]


def _band(part: pd.DataFrame, lo: str, hi: str, colour: str, alpha: float, xa: str, ya: str,
          rid: str) -> dict[str, Any]:
    """One band as a closed polygon (along the upper edge, back along the lower):
    fill='tonexty' between traces breaks across panels and in WebGL."""
    steps = part["step"].to_numpy()
    return {"type": "scatter", "x": np.r_[steps, steps[::-1]],
            "y": np.r_[part[hi].to_numpy(), part[lo].to_numpy()[::-1]], "mode": "lines",
            "fill": "toself", "fillcolor": rgba(safe_colour(colour), alpha), "line": {"width": 0},
            "hoverinfo": "skip", "xaxis": xa, "yaxis": ya, "showlegend": False,
            "meta": {"run_id": rid, "role": "band", "band": [lo, hi]}}


def _median(part: pd.DataFrame, name: str, colour: str, xa: str, ya: str,
            rid: str, width: float = 1.5) -> dict[str, Any]:
    rows = "<br>".join(f"{text} %{{customdata[{i}]:{HOVER_FORMAT}}}"
                       for i, (text, _) in enumerate(_HOVER_ROWS))
    return {"type": "scatter", "x": part["step"].to_numpy(), "y": part[MEDIAN].to_numpy(),
            "mode": "lines", "line": {"color": colour, "width": width}, "name": label(name),
            "customdata": part[[c for _, c in _HOVER_ROWS]].to_numpy(dtype=np.float64),
            "hovertemplate": f"step %{{x}}<br>{rows}<extra>%{{fullData.name}}</extra>",
            "xaxis": xa, "yaxis": ya, "meta": {"run_id": rid, "role": "median"}}


def _single_layout(key: str, height: int) -> dict[str, Any]:
    return {"title": {"text": label(key), "x": 0.01, "font": {"size": 15}}, "height": height,
            "margin": {**_MARGIN, "t": 40}, "showlegend": False, "hovermode": "closest",
            "hoverlabel": {"namelength": -1}, "uirevision": key,
            "xaxis": {"automargin": False}, "yaxis": {"automargin": False, "exponentformat": "e"}}


def _panels(key: str, titles: Sequence[str], colours: Sequence[str], per_row: int,
            panel_height: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A grid of panels (one per run) with linked axes: the layout and each panel's
    (xaxis, yaxis) references. Each panel is titled with its run, a swatch of its colour
    before the name."""
    n = max(1, len(titles))
    cols = max(1, min(per_row, n))
    rows = math.ceil(n / cols)
    plot_h = rows * panel_height + (rows - 1) * _V_GAP_PX
    height = plot_h + _MARGIN["t"] + 40 + _MARGIN["b"]
    width = (1 - _H_GAP * (cols - 1)) / cols
    layout: dict[str, Any] = {
        "title": {"text": label(key), "x": 0.01, "font": {"size": 15}}, "height": height,
        "margin": {**_MARGIN, "t": _MARGIN["t"] + 40}, "showlegend": False,
        "hovermode": "closest", "hoverlabel": {"namelength": -1}, "uirevision": key,
        "annotations": []}
    axes = []
    for i in range(n):
        r, c = divmod(i, cols)
        x0 = c * (width + _H_GAP)
        top = 1 - r * (panel_height + _V_GAP_PX) / plot_h
        bottom = top - panel_height / plot_h
        suffix = "" if i == 0 else str(i + 1)
        layout[f"xaxis{suffix}"] = {"domain": [x0, x0 + width], "anchor": f"y{suffix}",
                                    "automargin": False,
                                    **({"matches": "x"} if i else {})}
        layout[f"yaxis{suffix}"] = {"domain": [max(0.0, bottom), min(1.0, top)],
                                    "anchor": f"x{suffix}", "automargin": False,
                                    "exponentformat": "e", **({"matches": "y"} if i else {})}
        if i < len(titles):
            layout["annotations"].append({
                "text": f"<span style='color:{safe_colour(colours[i])};font-size:16px'>■</span> "
                        f"{label(titles[i])}",
                "xref": "paper", "yref": "paper", "x": x0, "y": min(1.0, top),
                "xanchor": "left", "yanchor": "bottom", "showarrow": False,
                "font": {"size": 12}})
        axes.append((f"x{suffix}", f"y{suffix}"))
    return layout, axes


def _bottom_left(layout: Mapping[str, Any]) -> str:
    """The x axis of the bottom row's first panel ('x' in one panel): the one axis
    titled, so no title sits between two rows of panels."""
    xs = [name for name in layout if name.startswith("xaxis")]
    best = min(xs, key=lambda n: (layout[n].get("domain", [0, 1])[0],
                                  (layout[_axis_name("y" + n[5:])].get("domain") or [0])[0]))
    return "x" + best[5:]


def _axis_name(ref: str) -> str:
    """'y3' -> 'yaxis3', 'y' -> 'yaxis'."""
    return ref[0] + "axis" + ref[1:]


def safe_colour(colour: str) -> str:
    """A #RRGGBB colour, or grey for anything else (it is written into markup).

    >>> safe_colour("#1CA71C"), safe_colour("red' onmouseover='x")
    ('#1CA71C', '#888888')
    """
    ok = len(colour) == 7 and colour[0] == "#" and all(
        ch in "0123456789abcdefABCDEF" for ch in colour[1:])
    return colour if ok else "#888888"


def _rgb(colour: str) -> tuple[int, int, int]:
    h = safe_colour(colour).lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _mix(colour: str, other: str, share: float) -> str:
    """`colour` moved `share` of the way towards `other` (0: unchanged).

    >>> _mix("#000000", "#FFFFFF", 0.5), _mix("#1CA71C", "#FFFFFF", 0.0)
    ('#808080', '#1CA71C')
    """
    a, b = _rgb(colour), _rgb(other)
    return "#" + "".join(f"{round(x + (y - x) * share):02X}" for x, y in zip(a, b))
