"""trackboard dashboard: `trackboard ui` or `streamlit run dashboard/app.py`."""

from pathlib import Path

import streamlit as st
from trackboard.dashboard import auth, data, plain_text, state

# No page or nav icons: Streamlit fetches material-icon favicons from
# fonts.gstatic.com, which fails (a console error) on machines without internet.
st.set_page_config(page_title="trackboard", layout="wide")

PAGES = Path(__file__).parent / "views"
pages = [
    # The default page is served at "/" (Streamlit ignores its url_path): /?filter=...
    st.Page(PAGES / "runs.py", title="Runs", default=True),
    st.Page(PAGES / "compare.py", title="Compare", url_path="compare"),
    st.Page(PAGES / "run.py", title="Run", url_path="run"),
]
if (PAGES / "export.py").exists():
    pages.append(st.Page(PAGES / "export.py", title="Export", url_path="export"))
# Navigation first (hidden until signed in) so the page a link asked for, e.g.
# /export?runs=..., is still the one shown after the password form reruns the app;
# nothing of it runs before the password.
page = st.navigation(pages, position="sidebar" if auth.signed_in() else "hidden")
auth.require_password()
# `%00` in a shared link: ignored in one line here, on every page, instead of a
# traceback from the store (user text is checked where it is typed: filters, ids).
ignored = state.drop_unstorable_params()
if ignored:
    st.warning(plain_text.markdown(
        f"Ignored the link's {', '.join(ignored)} parameter(s): they hold a character no "
        "store can hold (a NUL, %00, or a lone surrogate)."))

src = data.source()
st.sidebar.caption(f"Store: `{data.current_store().display_url}`"
                   + (" · read-only" if src.read_only else ""))
page.run()
