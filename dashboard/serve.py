"""Run Streamlit on dashboard/app.py with st.navigation in charge from the first request.

Streamlit treats an entry script with a `pages/` folder beside it as an old-style
(v1) multipage app until the script first calls st.navigation: a deep link such
as /export?runs=... as the very first request of the server would run that page
file on its own, without app.py (no navigation, and a sidebar listing the files
before the password). That is why the pages live in `views/`, not `pages/`, so a
plain `streamlit run dashboard/app.py` is never a v1 app. `trackboard ui` starts
Streamlit through this module, which also sets the flag st.navigation itself sets,
before the first session, in case a `pages/` folder ever appears beside app.py.
(Every page checks the password itself too.)
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli as streamlit_cli

    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", *(sys.argv[1:] if argv is None else argv)]
    streamlit_cli.main()


if __name__ == "__main__":
    main()
