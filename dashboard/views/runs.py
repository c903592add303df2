"""Runs page: filter, search, sort and select runs; open one, rename, tag and delete them."""

from __future__ import annotations

import streamlit as st
from trackboard.dashboard import auth, data, metric_choice, state, tables
from trackboard.dashboard.number_format import counted
from trackboard.storage.read.filters import FilterError

auth.require_password()  # also here: a page may run without app.py
src = data.source()
store = data.current_store()

state.init_widget("runs_filter", "filter", "", str)
state.init_widget("runs_search", "q", "", str)
keys = [k for k in data.all_keys(src.url, src.read_only) if not k.startswith("system/")]
pkeys = data.param_keys(src.url, src.read_only)
# Default metric columns: the ones people decide by (validation, loss-like first).
default_metrics = metric_choice.default_metrics(keys)
# Default param columns: the common vocabulary plus what most runs share, so runs of
# every framework fill them (not one framework's optimizer details).
default_params = tables.default_param_columns(pkeys, data.param_usage(src.url, src.read_only))
state.init_widget("runs_metrics", "m", default_metrics, lambda raw: state.split_list(raw))
state.init_widget("runs_params", "p", default_params, lambda raw: state.split_list(raw))
st.session_state["runs_metrics"] = [k for k in st.session_state["runs_metrics"] if k in keys]
st.session_state["runs_params"] = [k for k in st.session_state["runs_params"] if k in pkeys]
# The title and the controls share one row (column pickers in a popover) so the table
# starts high enough for 20 rows to fit a 1080-pixel-high window.
c0, c1, c2, c_sort, c3 = st.columns([1.3, 4.6, 1.8, 1.8, 1.2], vertical_alignment="bottom")
c0.title("Runs")
c1.text_input("Filter", key="runs_filter",
              placeholder='framework = "keras" and params.lr < 0.01 and val_loss.min < 0.3',
              help="Fields: name, project, status, framework, host, id, params.<key>, "
                   "tags.<key>, <metric>.last|min|max. Operators: = != < <= > >= ~ "
                   "(contains). Combine with and, or, not, ( ).")
c2.text_input("Search", key="runs_search", placeholder="name, id, project, tag")
with c3.popover("Columns", width="stretch"):
    st.multiselect("Metric columns", keys, key="runs_metrics",
                   help="Each shows its best value first (the lowest of a loss, the "
                        "highest of an accuracy), then its last; other metrics show "
                        "last, min and max. Default: validation metrics, losses first.")
    st.multiselect("Param columns", pkeys, key="runs_params",
                   help="Default: the common hyperparameters (lr, optimizer, batch_size, "
                        "...) and the params most runs have.")

filter_text = st.session_state["runs_filter"]
try:
    frame = data.runs(src.url, src.read_only, filter_text,
                      tuple(st.session_state["runs_params"]),
                      tuple(st.session_state["runs_metrics"]))
except FilterError as exc:
    st.error(tables.md_escape(f"Bad filter {exc}"))  # the filter may come from a link
    st.code(exc.pointer(), language=None)
    st.stop()
frame = tables.search(frame, st.session_state["runs_search"])
view = tables.runs_view(frame, st.session_state["runs_metrics"])
# The sort lives in the URL like every other setting (a header click sorts only the
# table in this tab): `sort=val_loss.min`, `sort=-val_accuracy.max` for descending.
sort_options = tables.sort_options([c for c in view.columns if c != tables.RUN_LINK])
state.init_widget("runs_sort", "sort", "", str)
if st.session_state["runs_sort"] not in sort_options:
    st.session_state["runs_sort"] = ""
c_sort.selectbox("Sort", sort_options, key="runs_sort", format_func=tables.sort_label)
sort = tables.parse_sort(st.session_state["runs_sort"], view.columns)
view = tables.sort_view(view, sort)
frame = frame.set_index("id", drop=False).loc[view["id"]].reset_index(drop=True)
state.remember(["runs_filter", "runs_search", "runs_metrics", "runs_params", "runs_sort"])
state.write_query({"filter": filter_text or None, "q": st.session_state["runs_search"] or None,
                   "m": state.join_list(st.session_state["runs_metrics"]) or None,
                   "p": state.join_list(st.session_state["runs_params"]) or None,
                   "sort": tables.sort_text(sort),
                   "runs": ",".join(state.selected_runs()) or None})

counts = frame["status"].value_counts()
st.caption(counted(len(frame), "run") + " · " + " · ".join(
    f"{tables.md_escape(tables.STATUS_BADGES.get(s, s))}: {n}" for s, n in counts.items()))
# Every float column (metrics, numeric params, durations) in the one number format.
number_cols = [c for c in view.columns if view[c].dtype.kind == "f"]
shown_view = tables.readable_numbers(view, number_cols)
# A table too big for that keeps four significant digits (the full value is in the
# cell's tooltip), so the metric columns stay narrow enough to see without scrolling.
number_format = None if shown_view is not view else "%.4g"
event = st.dataframe(
    shown_view, key="runs_table", hide_index=True, on_select="rerun",
    selection_mode="multi-row", width="stretch", height=tables.table_height(len(view)),
    placeholder="",  # a run without the metric or param: an empty cell, not "None"
    column_config={
        "name": st.column_config.TextColumn("name", pinned=True),
        # A link to the run's page; the row's checkbox selects it for Compare.
        tables.RUN_LINK: st.column_config.LinkColumn(
            tables.RUN_LINK, display_text="open ↗", pinned=True, width="small",
            help="Open the run's page (in a new tab)"),
        **{c: st.column_config.NumberColumn(c, format=number_format) for c in number_cols},
        "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm:ss",
                                                   help="Local time of the dashboard's server"),
        "id": st.column_config.TextColumn("id", width="small")})

ids = frame["id"].tolist()
names = dict(zip(frame["id"], frame["name"]))
rows = list(event.selection.rows) if event is not None else []
if rows and st.session_state.get("_runs_last_rows") != rows:
    st.session_state["_runs_last_rows"] = rows
    picked = [ids[i] for i in rows if i < len(ids)]
    state.set_selected_runs(picked)
    st.session_state["runs_pick"] = picked
selected = state.selected_runs()
options = list(dict.fromkeys(selected + ids[:1000]))
if "runs_pick" not in st.session_state:
    st.session_state["runs_pick"] = selected
st.multiselect("Selected runs", options, key="runs_pick",
               format_func=lambda rid: f"{names.get(rid, rid)} ({rid[:8]})")
if st.session_state["runs_pick"] != selected:
    state.set_selected_runs(st.session_state["runs_pick"])
    selected = state.selected_runs()

if st.button("Compare selected", type="primary", disabled=not selected, key="runs_compare"):
    st.switch_page("views/compare.py", query_params={"runs": ",".join(selected)})

if not src.read_only and selected:
    with st.expander("Edit runs"):
        target = st.selectbox("Run", selected, key="runs_edit_target",
                              format_func=lambda rid: f"{names.get(rid, rid)} ({rid[:8]})")
        n1, n2 = st.columns([3, 1])
        new_name = n1.text_input("New name", key="runs_edit_name")
        if n2.button("Rename", key="runs_rename") and new_name:
            try:
                store.rename_run(target, new_name)
                data.runs.clear()
                st.success("Renamed.")
            except ValueError as exc:
                st.error(tables.md_escape(str(exc)))
        t1, t2, t3 = st.columns([2, 2, 1])
        tag_key = t1.text_input("Tag", key="runs_tag_key")
        tag_value = t2.text_input("Value", key="runs_tag_value")
        if t3.button("Set tag", key="runs_set_tag") and tag_key:
            store.set_tags(target, {tag_key: tag_value})
            data.runs.clear()
            st.success("Tag set.")
        sure = st.checkbox("I want to delete the selected runs and all their data",
                           key="runs_delete_sure")
        if st.button("Delete selected runs", disabled=not sure, key="runs_delete"):
            for rid in selected:
                store.delete_run(rid)
            state.set_selected_runs([])
            st.session_state.pop("runs_pick", None)
            data.runs.clear()
            st.rerun()
