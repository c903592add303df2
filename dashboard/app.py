"""trackboard dashboard: `trackboard ui` or `streamlit run dashboard/app.py`."""

from pathlib import Path

import streamlit as st

from trackboard.dashboard import auth, data

st.set_page_config(page_title="trackboard", page_icon=":material/monitoring:", layout="wide")
auth.require_password()

PAGES = Path(__file__).parent / "pages"
pages = [
    st.Page(PAGES / "runs.py", title="Runs", icon=":material/table_rows:", url_path="runs", default=True),
    st.Page(PAGES / "compare.py", title="Compare", icon=":material/show_chart:", url_path="compare"),
    st.Page(PAGES / "run.py", title="Run", icon=":material/search:", url_path="run"),
]
if (PAGES / "export.py").exists():
    pages.append(st.Page(PAGES / "export.py", title="Export", icon=":material/download:", url_path="export"))
page = st.navigation(pages)

src = data.source()
st.sidebar.caption(f"Store: `{data.current_store().display_url}`"
                   + (" · read-only" if src.read_only else ""))
page.run()
