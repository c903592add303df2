"""Run page: one run in depth (fields, params, tags, every metric, system metrics).

The run comes from the URL (`/run?run=<id or unique prefix>`, where the Runs table's
links point), else from the runs selected on another page, else from the picker,
which searches the runs by name, framework, project and id as you type.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from trackboard.dashboard import (
    auth,
    axis_range,
    charts,
    data,
    media_section,
    metric_choice,
    state,
    tables,
)
from trackboard.dashboard.number_format import duration, moment
from trackboard.storage.errors import AmbiguousRunIdError, RunNotFoundError

auth.require_password()  # also here: a page may run without app.py
src = data.source()
st.title("Run")
runs = data.run_list(src.url, src.read_only)
if runs.empty:
    st.info("No runs in this store yet.")
    st.stop()
ids = runs["id"].tolist()
labels = {rid: f"{name} · {framework or '-'} · {project} · {rid}" for rid, name, framework, project
          in zip(runs["id"], runs["name"], runs["framework"].fillna(""), runs["project"])}

if "run_pick" not in st.session_state:
    memory = st.session_state.setdefault("_remembered", {})
    selected = state.selected_runs()
    wanted = memory.get("run_pick") or st.query_params.get("run") or (
        selected[0] if selected else None)
    if wanted and wanted not in labels:
        # A link may hold a unique prefix of the id (the store resolves it).
        try:
            wanted = data.run_info(src.url, src.read_only, wanted)["id"]
        except (RunNotFoundError, AmbiguousRunIdError) as exc:
            st.error(tables.md_escape(str(exc)))
            wanted = None
    st.session_state["run_pick"] = wanted if wanted in labels else None
# Streamlit's selectbox filters its options by what is typed: the label holds the
# run's name, framework, project and id, so any of them finds it.
st.selectbox("Run", ids, key="run_pick", format_func=labels.__getitem__, index=None,
             placeholder="Pick a run: type part of its name or id")
run_id = st.session_state["run_pick"]
state.remember(["run_pick"])
state.write_query({"run": run_id})
if not run_id:
    st.info("Pick a run above, open one from the Runs table, or select runs on the "
            "Runs page.")
    st.stop()
try:
    info = data.run_info(src.url, src.read_only, run_id)
except (RunNotFoundError, AmbiguousRunIdError) as exc:
    st.error(tables.md_escape(exc))  # their str is the message itself, quotes balanced
    st.stop()

# Run names, params and tags are user text: st.text and st.dataframe show them as
# typed (st.subheader and st.table would read them as markdown).
st.text(info["name"])
fields = {k: tables.shown(info.get(k)) for k in (
    "id", "project", "status", "framework", "host", "git_commit")}
# Times to the second, in the server's local time (the store keeps UTC nanoseconds).
fields.update({k: moment(info.get(k)) for k in ("created_at", "ended_at")})
fields["duration"] = duration(info["duration"])
st.dataframe(pd.DataFrame({"field": list(fields), "value": list(fields.values())}
                          ).set_index("field"), key="run_fields", width="stretch")
if info.get("command"):
    st.code(info["command"], language="bash")
if info.get("notes"):
    st.text(info["notes"])

left, right = st.columns(2)
with left:
    st.markdown("**Params**")
    st.dataframe(pd.DataFrame({"param": list(info["params"]),
                               "value": [tables.shown(v) for v in info["params"].values()]}
                              ).set_index("param"), key="run_params", width="stretch")
with right:
    st.markdown("**Tags**")
    st.dataframe(pd.DataFrame({"tag": list(info["tags"]), "value": list(info["tags"].values())}
                              ).set_index("tag"), key="run_tags", width="stretch")

# Metrics in the order people decide by (validation, losses first; system/* last).
keys = metric_choice.decision_order(info["metrics"])
st.markdown("**Metrics**")
summary = tables.metric_summary_table({k: info["metrics"][k] for k in keys})
st.dataframe(tables.readable_numbers(summary, ["best", "last", "min", "max"]),
             key="run_metrics", width="stretch", hide_index=True)

uid = info["id"]
hist = data.history(src.url, src.read_only, (uid,), tuple(keys))
colours = charts.run_colours([uid])
for title, group in (("Metrics", [k for k in keys if not k.startswith("system/")]),
                     ("System", [k for k in keys if k.startswith("system/")])):
    if not group:
        continue
    st.subheader(title)
    cols = st.columns(3 if title == "System" else 2)
    for i, key in enumerate(group):
        part = hist[hist["key"] == key]
        fig = charts.metric_figure(charts.with_x(part, "step"), key, names={uid: info["name"]},
                                   colours=colours, smoothing="none", height=280)
        flat = axis_range.constant_range(part["value"].tolist())
        if flat is not None:  # a fixed learning rate reads as its value, not as 0
            fig.update_yaxes(range=flat, autorange=False)
        with cols[i % len(cols)]:
            st.plotly_chart(fig, key=f"run_chart_{title}_{i}", width="stretch",
                            config={"displaylogo": False})

# Distributions, histograms, images and texts of the run (dashboard/media_section.py).
media_section.show([uid], {uid: info["name"]}, colours, page="run")
