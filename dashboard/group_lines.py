"""Group by on a Compare chart: each group drawn as its runs' mean with a band
(mean ± std or min-max) around it, from the runs' smoothed curves (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from trackboard.dashboard import colors
from trackboard.dashboard.number_format import HOVER_FORMAT
from trackboard.dashboard.plotly_wire import band_trace, compact, label, trace_type
from trackboard.dashboard.smoothing import smooth


def group_traces(frame: pd.DataFrame, groups: Mapping[str, str],
                 colours: Mapping[str, str], names: Mapping[str, str], smoothing: str,
                 weight: float, window: int, band: str) -> list[dict[str, Any]]:
    """Per group (run id -> group label), in order of the runs in `names`: its band
    (one closed polygon, plotly_wire.band_trace) and its mean line, as trace dicts."""
    traces: list[dict[str, Any]] = []
    members: dict[str, list[str]] = {}
    for rid in names:
        members.setdefault(groups.get(rid, "(none)"), []).append(rid)
    # A group's colour comes from the set of group labels, as on the page.
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
        kind = trace_type(len(grid))
        traces.append(band_trace(kind, compact(grid), lo, hi, colour, 0.2,
                                 {"group": group, "role": "band"}))
        traces.append({"type": kind, "x": compact(grid), "y": mean, "mode": "lines",
                       "line": {"color": colour, "width": 2}, "yhoverformat": HOVER_FORMAT,
                       "name": f"{label(group)} (n={len(curves)})",
                       "legendgroup": group,
                       "meta": {"group": group, "role": "mean", "runs": list(rids)}})
    return traces


def aggregate_curves(curves: Sequence[tuple[np.ndarray, np.ndarray]], band: str = "std",
                     most: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and band of several (x, y) curves on the union of their x values (or, when
    that holds more than `most` values, on `most` evenly spaced ones: 50 runs' points
    would make a band of 24,000 vertices).

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
    if len(grid) > most:
        grid = np.unique(np.linspace(grid[0], grid[-1], most).round())
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
