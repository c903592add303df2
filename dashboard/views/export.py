"""Export page: send the selected runs to TensorBoard or Visdom, or download their points.

The selection comes from the Runs/Compare pages (st.session_state["selected_runs"]),
else from the URL (?runs=id1,id2), else from the multiselect here. The store is the
one the server was started with (dashboard/data.py), like every other page. The
work is done by trackboard.storage, the same functions the `trackboard export`
commands call; where on the server they may write or push is ExportPolicy's call.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from trackboard.dashboard import auth, data, state, tables
from trackboard.dashboard.export_policy import ExportPolicy, ExportRefused
from trackboard.storage import TrackboardError
from trackboard.storage.interchange.files import points_frame, to_bytes
from trackboard.storage.interchange.tensorboard import export_tensorboard
from trackboard.storage.interchange.visdom import export_visdom

auth.require_password()  # also here: a page may run without app.py
_MIME = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


@st.cache_data(max_entries=4, show_spinner="Reading points...")
def _file_bytes(url: str, read_only: bool, run_ids: tuple[str, ...], fmt: str) -> bytes:
    return to_bytes(points_frame(data.store(url, read_only), list(run_ids)), fmt)


def _selection(runs_frame: pd.DataFrame) -> list[str]:
    known = list(runs_frame["id"])
    wanted = st.session_state.get(state.SELECTED) or state.split_list(st.query_params.get("runs"))
    src = data.source()
    chosen, unknown = data.resolve_runs(src.url, src.read_only, tuple(wanted))
    for problem in unknown:
        st.warning(tables.md_escape(problem))
    names = dict(zip(runs_frame["id"], runs_frame["name"]))
    projects = dict(zip(runs_frame["id"], runs_frame["project"]))
    if chosen:
        # st.text, not a caption: run names are shown as typed, never as markdown.
        st.text("Selected runs: " + ", ".join(f"{names[r]} ({r[:8]})" for r in chosen))
        return chosen
    return st.multiselect("Runs to export", options=known, key="export_runs",
                          format_func=lambda r: f"{names[r]} · {projects[r]} · {r[:8]}")


src = data.source()
store = data.current_store()
policy = ExportPolicy.from_environment(read_only=src.read_only,
                                       address=st.get_option("server.address"))
st.title("Export")
runs = data.run_list(src.url, src.read_only)
if runs.empty:
    st.info("No runs in this store yet.")
    st.stop()
selected = _selection(runs)
if not selected:
    st.info("Select runs to export (or pick them on the Runs page).")
    st.stop()

st.subheader("TensorBoard")
if not policy.tensorboard_allowed:
    st.info(policy.tensorboard_off_reason())
else:
    where = ("Folder inside the export directory " + str(policy.export_dir)
             if policy.export_dir is not None else "Directory (on the dashboard's machine)")
    outdir = st.text_input(where, value="tensorboard-export", key="export_tb_dir")
    if st.button("Export to TensorBoard", key="export_tb"):
        try:
            target = policy.tensorboard_dir(outdir)
            with st.spinner("Writing event files..."):
                result = export_tensorboard(store, target, run_ids=selected)
            st.success(tables.md_escape(result.summary().splitlines()[0]))
            st.code(f"python -m tensorboard.main --logdir {target}", language="bash")
        except ExportRefused as exc:
            st.error(tables.md_escape(f"Refused: {exc}"))
        except (TrackboardError, ValueError, OSError) as exc:
            st.error(tables.md_escape(str(exc)))

st.subheader("Visdom")
if not policy.visdom_allowed:
    st.info(policy.visdom_off_reason())
else:
    c1, c2, c3 = st.columns(3)
    if policy.visdom_url is not None:
        # The configured server only: shown, not editable.
        server, port = policy.visdom_target("", 0)
        c1.text_input("Server", value=server, disabled=True, key="export_vis_server_fixed")
        c2.number_input("Port", value=port, disabled=True, key="export_vis_port_fixed")
    else:
        server = c1.text_input("Server", value="http://127.0.0.1", key="export_vis_server")
        port = int(c2.number_input("Port", value=8097, min_value=1, max_value=65535,
                                   key="export_vis_port"))
    env = c3.text_input("Environment", value="main", key="export_vis_env")
    if st.button("Push to Visdom", key="export_vis"):
        try:
            server, port = policy.visdom_target(server, port)
            with st.spinner("Sending traces..."):
                sent = export_visdom(store, server=server, port=port, env=env,
                                     run_ids=selected)
            st.success(tables.md_escape(sent.summary()))
        except ExportRefused as exc:
            st.error(tables.md_escape(f"Refused: {exc}"))
        except (TrackboardError, ValueError) as exc:
            st.error(tables.md_escape(str(exc)))

st.subheader("CSV / Parquet")
fmt = st.radio("Format", ["csv", "parquet"], horizontal=True, key="export_fmt")
try:
    payload = _file_bytes(src.url, src.read_only, tuple(selected), fmt)
    st.download_button(f"Download {fmt.upper()}", payload, file_name=f"trackboard-points.{fmt}",
                       mime=_MIME[fmt], key="export_download")
except (TrackboardError, ValueError) as exc:
    st.error(tables.md_escape(str(exc)))
