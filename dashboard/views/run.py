"""Run page: one run in depth (fields, params, tags, every metric, system metrics)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from trackboard.dashboard import auth, charts, data, state, tables
from trackboard.storage.errors import AmbiguousRunIdError, RunNotFoundError

auth.require_password()  # also here: a page may run without app.py
src = data.source()
st.title("Run")
selected = state.selected_runs()
state.init_widget("run_id", "run", selected[0] if selected else "", str)
st.text_input("Run id (or a unique prefix)", key="run_id")
run_id = st.session_state["run_id"].strip()
state.remember(["run_id"])
state.write_query({"run": run_id or None})
if not run_id:
    st.info("Give a run id, or select runs on the Runs page.")
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
    "id", "project", "status", "framework", "host", "git_commit", "created_at", "ended_at")}
fields["duration (s)"] = f"{info['duration']:.1f}"
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

st.markdown("**Metrics**")
summary = pd.DataFrame.from_dict(info["metrics"], orient="index")
st.dataframe(summary, key="run_metrics", width="stretch")

uid = info["id"]
keys = list(info["metrics"])
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
        with cols[i % len(cols)]:
            st.plotly_chart(fig, key=f"run_chart_{title}_{i}", width="stretch",
                            config={"displaylogo": False})
