"""User text is data, in a real Chromium: on every page of a store whose names, keys,
frameworks, tags, params and notes are hostile Markdown and HTML, the browser asks
nothing of any other machine and the text reads as typed."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.dashboard import REPO, chromium, ui_server
from tests.support.hostile_text import EXTERNAL, HOSTILE, seed_hostile

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = REPO / "test-output"
LOCAL = {"127.0.0.1", "localhost"}
# What a text shown as Markdown or HTML would leave in the page.
MARKUP = """() => ({
  images: [...document.querySelectorAll('img')].map(i => i.getAttribute('src') || '')
            .filter(s => !s.startsWith('data:') && !s.startsWith('/')
                         && !s.startsWith(location.origin)),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href)
            .filter(h => !h.startsWith(location.origin) && !h.startsWith('#')),
  emphasis: [...document.querySelectorAll(
      '[data-testid=stMarkdownContainer] :is(strong, em, del, h1, h2, li, blockquote)')]
      .map(e => e.textContent.trim())
      .filter(t => ['bold', 'it', 'link', 'red', 'x', 'y'].includes(t)),
  math: document.querySelectorAll('.katex').length,
  icons: [...document.querySelectorAll('[data-testid=stMarkdownContainer] [role=img]')]
            .map(e => e.getAttribute('aria-label')),
  text: document.body.innerText.replaceAll('\\u200b', ''),
})"""


def test_no_page_fetches_or_renders_user_text(sqlite_url: str) -> None:
    ids = seed_hostile(sqlite_url)
    every = ",".join(ids.values())
    pages = {
        "runs": "/",
        "compare": f"/compare?runs={every}&group=framework&cols=3",
        "run": f"/run?run={ids['html']}",
        "export": f"/export?runs={every}",
    }
    OUT.mkdir(exist_ok=True)
    with ui_server(sqlite_url) as (base, _proc), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        outside: list[str] = []

        def only_local(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if urlsplit(url).hostname not in LOCAL:
                outside.append(url)
                route.abort()  # type: ignore[attr-defined]
            else:
                route.continue_()  # type: ignore[attr-defined]

        page.route("**/*", only_local)
        seen = {}
        for name, path in pages.items():
            page.goto(base + path)
            page.wait_for_selector("[data-testid=stMainBlockContainer] h1", timeout=60_000)
            if name == "compare":
                page.wait_for_function(
                    "document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=60_000)
                for label in page.locator("[data-testid=stExpander] summary").all():
                    label.click()  # open the framework groups: their labels are Markdown
            page.wait_for_timeout(1500)  # charts and canvases paint
            page.screenshot(path=str(OUT / f"user-text-{name}.png"), full_page=True)
            seen[name] = page.evaluate(MARKUP)
        assert outside == []
        for name, found in seen.items():
            assert (found["images"], found["links"], found["emphasis"], found["math"],
                    found["icons"]) == ([], [], [], 0, []), name
        # The texts read as typed where the pages show them as text or Markdown.
        compare = seen["compare"]["text"]
        for text in list(HOSTILE.values())[1:]:
            assert f"{text}-only params" in compare, text
        assert HOSTILE["html"] in seen["run"]["text"]
        assert f"http://{EXTERNAL}/html.png" not in " ".join(seen["run"]["links"])
