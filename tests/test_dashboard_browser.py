"""The dashboard in a real headless Chromium, started by `trackboard ui`."""

from __future__ import annotations

import pytest

from tests.support.dashboard import (REPO, XSS_NAME, XSS_PARAM, chromium, run_list_texts, seed,
                                     ui_server)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = REPO / "test-output"
# On a deep link the Streamlit frontend first probes /<page>/_stcore/health and
# /<page>/_stcore/host-config to find its base path; those 404s are expected.
_PROBES = ("/_stcore/health", "/_stcore/host-config")


def _real_errors(messages: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [m for m in messages if m[0] == "error" and not (
        "404" in m[1] and any(m[2].endswith(p) for p in _PROBES))]


def test_compare_page_in_chromium(sqlite_url: str) -> None:
    ids = seed(sqlite_url)
    OUT.mkdir(exist_ok=True)
    with ui_server(sqlite_url) as (base, _proc), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        messages: list[tuple[str, str, str]] = []
        page.on("console", lambda m: messages.append((m.type, m.text, m.location.get("url", ""))))
        page.on("pageerror", lambda e: messages.append(("error", str(e), "")))
        page.goto(f"{base}/compare?runs={ids['keras-run']},{ids['torch-run']}"
                  "&metrics=loss,val_loss|eval_loss")
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2",
                               timeout=30_000)
        run_list_texts(page)  # waits for the run list
        page.wait_for_timeout(1000)  # let WebGL traces paint before the screenshot
        shot = OUT / "compare.png"
        page.screenshot(path=str(shot), full_page=False)
        # The runs are listed once, above the charts (the labels add the params that
        # differ), and no chart has a legend of its own.
        texts = run_list_texts(page)
        assert {"keras-run · lr=0.001 · layers=2", "torch-run · lr=0.01 · layers=3"} <= set(texts)
        assert page.locator(".js-plotly-plot .legendtext").count() == 0
        assert "runs=" in page.url and "metrics=" in page.url
        assert _real_errors(messages) == []
        assert shot.stat().st_size > 20_000
        # The Runs page is the default page, at "/", with its filter in the URL.
        page.goto(f"{base}/?filter=params.lr%20%3E%200.005")
        page.get_by_text("1 run ·", exact=False).wait_for(timeout=60_000)
        assert page.get_by_text("Page not found").count() == 0


def test_html_in_names_and_params_is_inert(sqlite_url: str) -> None:
    ids = seed(sqlite_url)
    with ui_server(sqlite_url, "--read-only") as (base, _proc), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{base}/run?run={ids['xss']}")
        # Params and tags are in st.dataframe (a canvas); its accessible table holds the text.
        page.get_by_text(XSS_PARAM, exact=True).wait_for(state="attached", timeout=60_000)
        assert page.get_by_text(XSS_NAME, exact=True).is_visible()
        page.get_by_text("<b>bold</b>", exact=True).wait_for(state="attached", timeout=30_000)
        page.goto(f"{base}/compare?runs={ids['xss']}&metrics=loss")
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        page.wait_for_timeout(1000)
        assert XSS_NAME in run_list_texts(page)
        assert page.locator("img[src=x]").count() == 0
        page.screenshot(path=str(OUT / "xss.png"))
        assert dialogs == []
