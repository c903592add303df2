"""Every page behind the password, names shown as typed, exports fenced: in Chromium.

Both ways the README starts the dashboard: `trackboard ui --store URL` and
`streamlit run dashboard/app.py` with $TRACKBOARD_STORE (default flags; only the
port is chosen so that tests can run side by side).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from trackboard.loggers import Run

from tests.support.dashboard import chromium, run_list_texts, seed, streamlit_server, ui_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ODD_NAME = "**bold** <img src=x onerror=alert(1)> [link](http://x)"
PASSWORD = "correct horse"
Launcher = Callable[..., AbstractContextManager[tuple[str, object]]]
LAUNCHERS: dict[str, Launcher] = {"trackboard-ui": ui_server,
                                  "streamlit-run": streamlit_server}
CONTENT = ("[data-testid=stDataFrame], .js-plotly-plot, [data-testid=stDownloadButton], "
           "[data-testid=stSidebarNav], [data-testid=stText]")


def _odd_run(url: str) -> str:
    with Run(project="web", name=ODD_NAME, config={"note": "**b** [l](http://y)"},
             store=url) as run:
        run.log({"loss": 1.0}, step=0)
        run.log({"loss": 0.5}, step=1)
    return run.id


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_every_page_asks_the_password_first(launcher: str, sqlite_url: str) -> None:
    ids = seed(sqlite_url)
    rid = ids["keras-run"]
    # Deep links first: the first request of a fresh server is where Streamlit used to
    # run a page file on its own, without app.py (v1 multipage apps, see serve.py).
    pages = [(f"/export?runs={rid}", "[data-testid=stDownloadButton]"),
             (f"/compare?runs={rid}&metrics=loss", ".js-plotly-plot"),
             (f"/run?run={rid}", ".js-plotly-plot"),
             ("/", "[data-testid=stDataFrame]")]
    env = {"TRACKBOARD_PASSWORD": PASSWORD}
    with LAUNCHERS[launcher](sqlite_url, env=env) as (base, _proc), chromium() as browser:
        for path, content in pages:
            context = browser.new_context(accept_downloads=True)  # a new visitor each time
            page = context.new_page()
            page.goto(base + path)
            page.locator("input[type=password]").wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # anything that would render does so by now
            assert page.locator(CONTENT).count() == 0, path
            assert page.get_by_text("keras-run").count() == 0, path
            if path.startswith("/export"):
                page.locator("input[type=password]").fill("not it")
                page.get_by_role("button", name="Sign in").click()
                page.get_by_text("Wrong password.").wait_for(timeout=30_000)
                assert page.locator(CONTENT).count() == 0
            page.locator("input[type=password]").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.locator(content).first.wait_for(timeout=60_000)
            assert page.locator("input[type=password]").count() == 0
            assert path.split("?")[0] in page.url  # the page the link asked for
            if path.startswith("/export"):
                with page.expect_download(timeout=30_000) as info:
                    page.get_by_role("button", name="Download CSV").click()
                rows = list(csv.DictReader(io.StringIO(
                    Path(info.value.path()).read_text())))
                assert {r["run_id"] for r in rows} == {rid} and len(rows) > 40
            if path.startswith("/run"):
                assert page.get_by_text("keras-run", exact=True).is_visible()
            context.close()


def test_names_show_as_typed_and_exports_are_fenced(sqlite_url: str, tmp_path: Path) -> None:
    seed(sqlite_url)
    rid = _odd_run(sqlite_url)
    exports = tmp_path / "exports"
    exports.mkdir()
    with ui_server(sqlite_url, "--read-only", "--export-dir", str(exports)) as (base, _p), \
            chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for path in (f"/?runs={rid}", f"/compare?runs={rid}&metrics=loss", f"/run?run={rid}",
                     f"/export?runs={rid}"):
            page.goto(base + path)
            if path.startswith("/compare"):
                assert ODD_NAME in run_list_texts(page)
            else:
                # The Runs page shows the name in the selection, Export after "Selected runs: ".
                # (visible: the Runs table also keeps a hidden accessible copy of each cell)
                page.get_by_text(ODD_NAME, exact=path.startswith("/run")).filter(
                    visible=True).first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
            assert page.locator("img[src=x]").count() == 0, path
            assert page.locator("a[href^='http://x'], a[href^='http://y']").count() == 0, path
            assert page.locator("strong:text-is('bold'), strong:text-is('b')").count() == 0
        assert dialogs == []
        # Export, read-only: TensorBoard folders only inside --export-dir; no Visdom push.
        assert page.get_by_text("Pushing to Visdom is off").is_visible()
        box = page.get_by_label("Folder inside the export directory")
        box.fill("../escaped")
        box.press("Enter")
        page.get_by_role("button", name="Export to TensorBoard").click()
        page.get_by_text("outside the export directory").wait_for(timeout=30_000)
        assert not (tmp_path / "escaped").exists()
        box.fill("tb")
        box.press("Enter")
        page.get_by_role("button", name="Export to TensorBoard").click()
        page.get_by_text("exported 1 run").wait_for(timeout=60_000)
        assert len(list((exports / "tb").rglob("*tfevents*"))) == 1
