"""The Compare page's run list: each selected run once, with its colour, label,
framework and status, and a tick box that shows or hides it on every chart.

As in TensorBoard, W&B and Aim, the runs are listed once for the page instead of
in a legend per chart (at 50 runs, legends were taller than the charts). The
hidden runs live in the URL (`hide=<id>,<id>`), so a shared link hides them too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st
from trackboard.dashboard import colors, state, tables

HIDDEN = "cmp_hidden"          # session key: list of hidden run ids
_VERSION = "_cmp_runlist_version"
VISIBLE_ROWS = 12              # more runs than this scroll inside the list
ROW_HEIGHT = 35                # Streamlit's default data editor row height


def init_hidden() -> None:
    """The hidden runs' first value: remembered, else the URL's `hide`, else none."""
    state.init_widget(HIDDEN, "hide", [], state.split_list)


def list_frame(info: pd.DataFrame, labels: Mapping[str, str],
               styles: Mapping[str, colors.Style], hidden: set[str],
               groups: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rows of the run list (pure): show, colour swatch, run label, framework, status.

    >>> info = pd.DataFrame({"id": ["a"], "name": ["n"], "framework": ["torch"],
    ...                      "status": ["finished"]})
    >>> row = list_frame(info, {"a": "n · lr=0.1"}, {"a": colors.Style("#000000")}, set())
    >>> row.drop(columns="colour").to_dict("records")
    [{'show': True, 'run': 'n · lr=0.1', 'framework': 'torch', 'status': '✓ finished', 'id': 'a'}]
    """
    rows = pd.DataFrame({
        "show": [rid not in hidden for rid in info["id"]],
        "colour": [colors.swatch(styles[rid].colour, styles[rid].dash) for rid in info["id"]],
        "run": [labels.get(rid, rid) for rid in info["id"]],
    })
    if groups is not None:
        rows["group"] = [groups.get(rid, "") for rid in info["id"]]
    rows["framework"] = info["framework"].fillna("").tolist()
    rows["status"] = [tables.STATUS_BADGES.get(s, s) for s in info["status"]]
    rows["id"] = info["id"].tolist()
    return rows


def show(info: pd.DataFrame, labels: Mapping[str, str], styles: Mapping[str, colors.Style],
         groups: Mapping[str, str] | None = None) -> list[str]:
    """Draw the run list; return the ids of the runs to draw, in selection order."""
    ids: Sequence[str] = info["id"].tolist()
    hidden = set(st.session_state.get(HIDDEN, [])) & set(ids)
    with st.container(key="cmp_runs", border=True):
        # Buttons on the left: the table's toolbar appears over its top right corner.
        b1, b2, head = st.columns([1, 1, 6], vertical_alignment="center")
        b1.button("Show all", key="cmp_show_all", on_click=_set_hidden, args=([],),
                  width="stretch")
        b2.button("Hide all", key="cmp_hide_all", on_click=_set_hidden, args=(list(ids),),
                  width="stretch")
        rows = list_frame(info, labels, styles, hidden, groups)
        # The editor keeps its edits per row position: a new selection (or a button
        # that changes every row) gets a fresh editor, so no edit lands on the wrong run.
        sig = hashlib.blake2b(",".join(ids).encode(), digest_size=6).hexdigest()
        key = f"cmp_runlist_{sig}_{st.session_state.get(_VERSION, 0)}"
        edited = st.data_editor(
            rows, key=key, hide_index=True, width="stretch",
            height=(min(len(rows), VISIBLE_ROWS) + 1) * ROW_HEIGHT + 3,
            disabled=[c for c in rows.columns if c != "show"],
            column_config={
                "show": st.column_config.CheckboxColumn(
                    "show", width=50, help="Untick to hide the run on every chart."),
                "colour": st.column_config.ImageColumn("", width=40),
                "run": st.column_config.TextColumn(
                    "run", width="large",
                    help="Name and the params that differ between the runs "
                         "(or the label template)."),
                "id": st.column_config.TextColumn("id", width="small"),
            })
        hidden = {rid for rid, on in zip(ids, edited["show"].tolist()) if not on}
        st.session_state[HIDDEN] = [rid for rid in ids if rid in hidden]
        head.caption(f"{len(ids) - len(hidden)} of {len(ids)} runs shown · "
                     "the colours are the runs' lines in every chart")
    return [rid for rid in ids if rid not in hidden]


def _set_hidden(run_ids: list[str]) -> None:
    st.session_state[HIDDEN] = list(run_ids)
    st.session_state[_VERSION] = st.session_state.get(_VERSION, 0) + 1
