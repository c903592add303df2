"""Export page: send the selected runs to TensorBoard or Visdom, or download their points.

The selection comes from the Runs/Compare pages (st.session_state["selected_runs"]),
else from the URL (?runs=id1,id2), else from the multiselect here. The work is done
by trackboard.storage, the same functions the `trackboard export` commands call.
"""

from __future__ import annotations

import os

import streamlit as st

from trackboard.storage import Store, TrackboardError
from trackboard.storage.export import points_frame, to_bytes
from trackboard.storage.tensorboard import export_tensorboard
from trackboard.storage.visdom import export_visdom

_MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


@st.cache_resource
def _store(url: str | None) -> Store:
    return Store(url, read_only=True)


@st.cache_data(max_entries=4, show_spinner="Reading points...")
def _file_bytes(url: str | None, run_ids: tuple[str, ...], fmt: str) -> bytes:
    return to_bytes(points_frame(_store(url), list(run_ids)), fmt)


def _selection(runs_frame: object) -> list[str]:
    known = list(runs_frame["id"])  # type: ignore[index]
    wanted = st.session_state.get("selected_runs") or [
        r.strip() for r in st.query_params.get("runs", "").split(",") if r.strip()]
    chosen = [r for r in wanted if r in set(known)]
    names = dict(zip(runs_frame["id"], runs_frame["name"]))  # type: ignore[index]
    projects = dict(zip(runs_frame["id"], runs_frame["project"]))  # type: ignore[index]
    if chosen:
        st.caption("Selected runs: " + ", ".join(f"{names[r]} ({r[:8]})" for r in chosen))
        return chosen
    return st.multiselect("Runs to export", options=known, key="export_runs",
                          format_func=lambda r: f"{names[r]} · {projects[r]} · {r[:8]}")


url = os.environ.get("TRACKBOARD_STORE") or None
store = _store(url)
st.title("Export")
runs = store.runs(params=False, tags=False, metrics=False)
if runs.empty:
    st.info(f"No runs in {store.display_url} yet.")
    st.stop()
selected = _selection(runs)
if not selected:
    st.info("Select runs to export (or pick them on the Runs page).")
    st.stop()

st.subheader("TensorBoard")
outdir = st.text_input("Directory", value="tensorboard-export", key="export_tb_dir")
if st.button("Export to TensorBoard", key="export_tb"):
    try:
        with st.spinner("Writing event files..."):
            result = export_tensorboard(store, outdir, run_ids=selected)
        st.success(result.summary().splitlines()[0])
        st.code(f"python -m tensorboard.main --logdir {outdir}", language="bash")
    except (TrackboardError, ValueError, OSError) as exc:
        st.error(str(exc))

st.subheader("Visdom")
c1, c2, c3 = st.columns(3)
server = c1.text_input("Server", value="http://127.0.0.1", key="export_vis_server")
port = int(c2.number_input("Port", value=8097, min_value=1, max_value=65535,
                           key="export_vis_port"))
env = c3.text_input("Environment", value="main", key="export_vis_env")
if st.button("Push to Visdom", key="export_vis"):
    try:
        with st.spinner("Sending traces..."):
            sent = export_visdom(store, server=server, port=port, env=env, run_ids=selected)
        st.success(sent.summary())
    except (TrackboardError, ValueError) as exc:
        st.error(str(exc))

st.subheader("CSV / Parquet")
fmt = st.radio("Format", ["csv", "parquet"], horizontal=True, key="export_fmt")
try:
    data = _file_bytes(url, tuple(selected), fmt)
    st.download_button(f"Download {fmt.upper()}", data, file_name=f"trackboard-points.{fmt}",
                       mime=_MIME[fmt], key="export_download")
except (TrackboardError, ValueError) as exc:
    st.error(str(exc))
