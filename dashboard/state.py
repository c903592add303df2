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
from trackboard.storage.rules import first_unstorable

SELECTED = "selected_runs"   # read by every page (Export included): list of run ids


def split_list(raw: str | None, sep: str = ",") -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']; an item in backticks is taken whole, so a metric
    or param key may hold a comma (a backtick inside one is written twice).

    >>> split_list(" a, b,,c")
    ['a', 'b', 'c']
    >>> split_list("loss, `acc,top5`, `a``b`")
    ['loss', 'acc,top5', 'a`b']
    """
    if not raw:
        return []
    text, items, i = str(raw), [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if text.startswith("`", i):
            chars, i = [], i + 1
            while i < len(text) and not (text[i] == "`" and not text.startswith("``", i)):
                chars.append(text[i])
                i += 2 if text.startswith("``", i) else 1
            items.append("".join(chars))
            end = text.find(sep, i)
        else:
            end = text.find(sep, i)
            items.append(text[i:len(text) if end < 0 else end].strip())
        i = len(text) if end < 0 else end + len(sep)
    return [item for item in items if item]


def join_list(items: Sequence[str], sep: str = ",") -> str:
    """The URL form of a list of names: `split_list` reads it back unchanged.

    >>> join_list(["loss", "acc,top5", "a`b"])
    'loss,`acc,top5`,a`b'
    >>> split_list(join_list(["loss", "acc,top5", "`x`", " pad "])) == ["loss", "acc,top5", "`x`", " pad "]
    True
    """
    return sep.join(f"`{item.replace('`', '``')}`" if (
        sep in item or item.startswith("`") or item != item.strip()) else item
        for item in items)


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


def unstorable(value: str) -> bool:
    r"""Whether `value` holds text no store can hold (`%00` in a link is a NUL).

    >>> unstorable("loss"), unstorable("lo\x00ss"), unstorable("\ud800")
    (False, True, True)
    """
    return first_unstorable(value) is not None


def drop_unstorable_params() -> list[str]:
    """Remove the URL parameters whose value no store can hold, before any page reads
    them; returns their names (the app says once that they were ignored)."""
    bad = [name for name in list(st.query_params)
           if any(unstorable(v) for v in st.query_params.get_all(name))]
    for name in bad:
        del st.query_params[name]
    return bad


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
