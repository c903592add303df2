"""Figures for the browser without Plotly's per-trace machinery (pure).

`go.Figure(data=[dicts], layout=dict, _validate=False)` with the arrays already in
plotly.js' typed-array form ({"dtype": "f4", "bdata": base64}) builds and
serialises in about a fifth of the time of numpy arrays and `update_layout`: on
8 charts of 50 runs, Figure() turned each array into a read-only copy, update_layout
validated the layout twice and to_dict() base64-encoded every array again (0.33-0.68 s
against 0.14 s a page; bench/dashboard.py). The JSON Streamlit sends is the same.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from trackboard.dashboard import plain_text

# CHART_POINTS (charts.py) a series (12,000) and above: drawn with WebGL (scattergl).
# Not below: in a browser without a GPU (software GL) WebGL traces cost seconds each
# page (50 runs x 8 charts: 61 s against 8 s in SVG; a step range of 1,001 steps took
# 22-50 s), and the page's point budget keeps every series under it.
WEBGL_FROM = 12_000
# numpy dtypes plotly.js reads as typed arrays (no 64-bit integers).
_TYPED = {"float32": "f4", "float64": "f8", "int32": "i4", "uint32": "u4", "int16": "i2",
          "uint16": "u2", "int8": "i1", "uint8": "u1"}
_ARRAYS = ("x", "y")


def typed(values: Any) -> Any:
    """A numeric numpy array as plotly.js' typed-array spec; anything else unchanged.

    >>> typed(np.array([1.0, 2.0], np.float32))
    {'dtype': 'f4', 'bdata': 'AACAPwAAAEA='}
    >>> typed([1, 2]), typed(np.array([1], np.int64))
    ([1, 2], array([1]))
    """
    if isinstance(values, np.ndarray) and values.dtype.name in _TYPED:
        return {"dtype": _TYPED[values.dtype.name],
                "bdata": base64.b64encode(np.ascontiguousarray(values).tobytes()).decode()}
    return values


def decoded(values: Any) -> list[Any]:
    """The values of a trace's x or y, typed-array spec or not (for readers and tests).

    >>> decoded(typed(np.array([1.5, 2.0]))), decoded([3, 4])
    ([1.5, 2.0], [3, 4])
    """
    if isinstance(values, Mapping) and "bdata" in values:
        dtype = next(k for k, v in _TYPED.items() if v == values["dtype"])
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype).tolist()
    return list(values)


def figure(traces: Sequence[Mapping[str, Any]], layout: Mapping[str, Any]) -> go.Figure:
    """A Figure of trace dicts (their numeric x and y sent as typed arrays) and a
    layout dict, neither validated: the callers' keys are fixed and tested."""
    data = [{**t, **{k: typed(t[k]) for k in _ARRAYS if k in t}} for t in traces]
    return go.Figure(data=data, layout=dict(layout), _validate=False)


def trace_type(points: int) -> str:
    """"scatter" (SVG), or "scattergl" (WebGL) above WEBGL_FROM points.

    >>> trace_type(500), trace_type(WEBGL_FROM + 1)
    ('scatter', 'scattergl')
    """
    return "scattergl" if points > WEBGL_FROM else "scatter"


def label(text: object) -> str:
    """Text made safe for Plotly labels: `plain_text.html`, the dashboard's one rule
    for user text in Plotly (this name is kept for the figure builders).

    >>> label("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    """
    return plain_text.html(text)


def band_trace(kind: str, xs: np.ndarray, low: np.ndarray, high: np.ndarray, colour: str,
               alpha: float, meta: dict[str, Any]) -> dict[str, Any]:
    """A band from `low` to `high` as ONE closed polygon (fill="toself"): along the top,
    back along the bottom. Not two traces with fill="tonexty": WebGL (scattergl) draws
    that fill only when no other scattergl trace comes before the pair
    (plotly/plotly.js#6795), so grouped WebGL charts lost every band but the first.

    >>> t = band_trace("scatter", np.array([0, 1]), np.array([0., 1.]), np.array([2., 3.]),
    ...                "#FF0000", 0.2, {})
    >>> t["x"].tolist(), t["y"].tolist(), t["fill"], t["fillcolor"]
    ([0, 1, 1, 0], [2.0, 3.0, 1.0, 0.0], 'toself', 'rgba(255,0,0,0.2)')
    """
    ok = np.isfinite(low) & np.isfinite(high)
    xs, low, high = xs[ok], low[ok], high[ok]
    return {"type": kind, "x": np.concatenate([xs, xs[::-1]]),
            "y": np.concatenate([high, low[::-1]]), "mode": "lines", "fill": "toself",
            "fillcolor": rgba(colour, alpha), "line": {"width": 0, "color": colour},
            "hoverinfo": "skip", "showlegend": False, "meta": meta}


def compact(xs: np.ndarray) -> np.ndarray:
    """Integer x values (steps) as int32 when they fit: half the bytes of int64.

    >>> compact(np.array([0, 5])).dtype, compact(np.array([0, 2**40])).dtype
    (dtype('int32'), dtype('int64'))
    """
    if xs.dtype.kind in "iu" and len(xs) and -2**31 <= xs.min() and xs.max() < 2**31:
        return xs.astype(np.int32)
    return xs


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
