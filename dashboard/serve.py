"""Run Streamlit on dashboard/app.py with st.navigation in charge from the first request.

Streamlit treats an entry script with a `pages/` folder beside it as an old-style
(v1) multipage app until the script first calls st.navigation. Until then a deep
link such as /compare?runs=... as the very first request of the server would run
pages/compare.py on its own, without app.py (no navigation, no password check).
`trackboard ui` starts Streamlit through this module, which sets the flag
st.navigation itself sets, before the first session. (The pages also check the
password themselves, so a plain `streamlit run dashboard/app.py` stays safe.)
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
