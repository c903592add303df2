"""Every dashboard page asks the shared password first and reads the server's store.

AppTest runs each page both as Streamlit's navigation runs it (through app.py) and
as a file on its own (what a plain `streamlit run dashboard/app.py` may do for a
deep link, see dashboard/serve.py). The same behaviour in Chromium is in
test_dashboard_guard_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from trackboard.loggers import Run

from tests.support.dashboard import APP, seed

# In the core suite: the password gate is a promise every change must keep, and these
# AppTest runs stop at the login form or show one small store (under a second each).

PAGES = sorted(p for p in (APP.parent / "views").glob("*.py") if p.name != "__init__.py")


@pytest.fixture
def guarded(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    ids = seed(sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "0")
    monkeypatch.setenv("TRACKBOARD_PASSWORD", "s3cret")
    return ids


def _opened(script: Path, page: Path, ids: dict[str, str]) -> AppTest:
    """`script` run once, at the address of `page` (a run selected where it takes one)."""
    at = AppTest.from_file(str(script), default_timeout=60)
    if page.stem != "runs":
        at.query_params.update({"runs": ids["keras-run"], "run": ids["keras-run"]})
    return at.run()


def _content(at: AppTest) -> list[str]:
    """What a page shows beyond the login form: element types found."""
    kinds = ("dataframe", "plotly_chart", "download_button", "multiselect", "text")
    return [k for k in kinds if len(at.get(k))] + [
        b.key for b in at.button if not b.key.startswith("FormSubmitter:auth_form")]


def _sign_in(at: AppTest, password: str) -> AppTest:
    at.text_input(key="auth_password").set_value(password)
    return at.button(key="FormSubmitter:auth_form-Sign in").click().run()


def test_every_page_is_found() -> None:
    assert [p.stem for p in PAGES] == ["compare", "export", "run", "runs"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_run_on_its_own_asks_the_password_first(page: Path, guarded: dict[str, str]
                                                     ) -> None:
    at = _opened(page, page, guarded)
    assert not at.exception
    assert at.text_input(key="auth_password").value == ""
    assert _content(at) == []  # no table, chart, download or run text before the password
    _sign_in(at, "wrong")
    assert at.error[0].value == "Wrong password." and _content(at) == []
    _sign_in(at, "s3cret")
    assert not at.exception and "auth_password" not in [t.key for t in at.text_input]
    assert _content(at)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_through_navigation_asks_the_password_first(page: Path, guarded: dict[str, str]
                                                        ) -> None:
    at = _opened(APP, page, guarded)
    at.switch_page(f"views/{page.name}").run()
    assert not at.exception
    assert at.text_input(key="auth_password") and _content(at) == []
    assert not at.sidebar.caption  # not even the (masked) store URL
    _sign_in(at, "s3cret")
    assert not at.exception and _content(at)
    assert at.title[0].value == page.stem.capitalize()  # the page asked for, not the default


def test_export_page_reads_the_store_the_server_was_started_with(
        guarded: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `trackboard ui --store A` sets TRACKBOARD_UI_STORE=A; $TRACKBOARD_STORE names another
    # store that must not be read (the page used to build its own Store from it).
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with Run(project="elsewhere", name="not-this-store", store=other) as run:
        run.log({"loss": 1.0})
    monkeypatch.setenv("TRACKBOARD_STORE", other)
    monkeypatch.delenv("TRACKBOARD_PASSWORD")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("views/export.py").run()
    assert not at.exception
    options = at.multiselect(key="export_runs").options
    assert len(options) == len(guarded) and not any("not-this-store" in o for o in options)
    at.multiselect(key="export_runs").select(guarded["keras-run"]).run()
    assert len(at.get("download_button")) == 1 and not at.exception
