"""Shareable page state: URL query string <-> widget values.

Pure parse/format helpers plus thin Streamlit glue. A widget's first value comes
from (in order) the page's remembered state in st.session_state, the URL query
string, the default; every run writes the state back into the query string so
the address bar is always a link to the current view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

SELECTED = "selected_runs"   # read by every page (Export included): list of run ids


def split_list(raw: str | None, sep: str = ",") -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c'].

    >>> split_list(" a, b,,c")
    ['a', 'b', 'c']
    """
    if not raw:
        return []
    return [p.strip() for p in str(raw).split(sep) if p.strip()]


def parse_float(raw: str | None, default: float, lo: float, hi: float) -> float:
    """A float from the URL, clamped to [lo, hi]; junk gives the default.

    >>> parse_float("0.9", 0.6, 0.0, 0.99), parse_float("x", 0.6, 0, 1), parse_float("7", .6, 0, 1)
    (0.9, 0.6, 1.0)
    """
    try:
        v = float(str(raw))
    except (TypeError, ValueError):
        return default
    if v != v:
        return default
    return float(min(hi, max(lo, v)))


def parse_choice(raw: str | None, options: Sequence[str], default: str) -> str:
    """`raw` when it is one of `options`, else `default`.

    >>> parse_choice("log", ["linear", "log"], "linear")
    'log'
    """
    return raw if raw in options else default


def selected_runs() -> list[str]:
    """Run ids selected for comparison: the `runs` URL param when the address has
    one (a shared link), else what this session selected last."""
    from_url = split_list(st.query_params.get("runs"))
    if from_url or SELECTED not in st.session_state:
        st.session_state[SELECTED] = from_url
    return list(st.session_state[SELECTED])


def set_selected_runs(run_ids: Sequence[str]) -> None:
    st.session_state[SELECTED] = list(dict.fromkeys(run_ids))
    write_query({"runs": ",".join(st.session_state[SELECTED]) or None})


def init_widget(key: str, param: str, default: Any, parse: Callable[[str], Any]) -> None:
    """Give widget `key` its first value from memory, the URL or `default`."""
    memory = st.session_state.setdefault("_remembered", {})
    if key in st.session_state:
        return
    if key in memory:
        st.session_state[key] = memory[key]
        return
    raw = st.query_params.get(param)
    st.session_state[key] = parse(raw) if raw is not None else default


def remember(keys: Sequence[str]) -> None:
    """Keep widget values across page switches (Streamlit drops unrendered widgets)."""
    memory = st.session_state.setdefault("_remembered", {})
    for k in keys:
        if k in st.session_state:
            memory[k] = st.session_state[k]


def write_query(values: dict[str, str | None]) -> None:
    """Set (or, for None/empty, remove) URL query params without touching others."""
    for k, v in values.items():
        if v is None or v == "":
            if k in st.query_params:
                del st.query_params[k]
        elif st.query_params.get(k) != v:
            st.query_params[k] = v
