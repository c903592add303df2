"""The media views in a real headless Chromium against `trackboard ui` (started as the
README says): no image reachable without the password, and the three views with runs
of two frameworks side by side, at 2 runs and at 12, drawn and photographed.

The screenshots go to $TRACKBOARD_SHOTS when set (to look at them), else to pytest's
temporary folder.
"""

from __future__ import annotations

import base64
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from trackboard.storage import Store

from tests.support.dashboard import chromium, ui_server
from tests.support.media_seed import seed_media

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "correct horse"
SECTION = "Histograms, distributions, images"
_IMAGES_DRAWN = """n => { const imgs = [...document.querySelectorAll('.trackboard-images img')];
    return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0); }"""


def _fetch(url: str) -> tuple[int, str, bytes]:
    """GET `url` as a client that never signed in (no cookies, no session): status,
    content type, body."""
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def test_no_image_is_reachable_without_the_password(sqlite_url: str) -> None:
    ids = seed_media(sqlite_url, runs=2, steps=range(0, 41, 20))
    store = Store(sqlite_url, read_only=True)
    files = [store.image_bytes(h) for h in store.images(ids)["hash"].unique()]
    assert files and all(files)
    env = {"TRACKBOARD_PASSWORD": PASSWORD}
    with ui_server(sqlite_url, env=env) as (base, _proc), chromium() as browser:
        # Before anyone signs in: the addresses st.image would give these files.
        for data in files:
            for mime, ext in (("image/webp", ".webp"), ("image/png", ".png")):
                status, _, body = _fetch(f"{base}/media/{_calculate_file_id(data, mime)}{ext}")
                assert status == 404 and data not in body
        page = browser.new_context().new_page()
        seen: list[str] = []
        page.on("request", lambda req: seen.append(req.url))
        page.goto(f"{base}/compare?runs={','.join(ids)}&metrics=loss&media=images")
        page.locator("input[type=password]").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        assert page.locator(".trackboard-images img").count() == 0
        page.locator("input[type=password]").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_function(_IMAGES_DRAWN, arg=2 * 4, timeout=90_000)
        page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')",
                               timeout=60_000)  # the script run is over
        page.wait_for_timeout(2000)  # and whatever it asked the browser to fetch is fetched
        # Signed in, the images are there, byte for byte, but only as data: URLs (every
        # image of the page, not only ours).
        assert all(s.startswith("data:") for s in page.eval_on_selector_all(
            "[data-testid=stMain] img", "els => els.map(e => e.src)"))
        srcs = page.eval_on_selector_all(".trackboard-images img", "els => els.map(e => e.src)")
        shown = {base64.b64decode(s.split(",", 1)[1]) for s in srcs}
        assert shown <= set(files) and len(shown) >= 2
        # Every address this signed-in browser asked for, asked again by a fresh client:
        # none gives an image (the app's own icons and fonts aside) or a logged file's bytes.
        for url in sorted(set(seen)):
            if url.startswith(base) and not url.startswith(base + "/_stcore/stream"):
                status, kind, body = _fetch(url)
                assert not any(data in body for data in files), url
                assert not (status == 200 and kind.startswith("image/")) or url.startswith(
                    (base + "/static/", base + "/favicon")), url
        assert not [u for u in seen if u.startswith(base + "/media/")]


def _section_shot(page: object, path: Path) -> None:
    """A screenshot of the section: from its heading to the page's next heading
    (the viewport is tall enough for the whole page)."""
    page.wait_for_timeout(800)  # type: ignore[attr-defined]
    top = page.get_by_role("heading", name=SECTION).bounding_box()  # type: ignore[attr-defined]
    end = page.get_by_role("heading", name="Parameters", exact=True).bounding_box()  # type: ignore[attr-defined]
    page.screenshot(path=str(path), clip={  # type: ignore[attr-defined]
        "x": top["x"] - 20, "y": top["y"] - 10, "width": 1400 - top["x"],
        "height": end["y"] - top["y"]})


def _media_traces(page: object) -> list[list[dict]]:
    return page.evaluate(  # type: ignore[attr-defined]
        """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => gd.data)
              .filter(d => d.length && d[0].meta && ['band', 'median', 'ridge']
              .includes(d[0].meta.role)).map(d => d.map(t => ({run: t.meta.run_id,
              role: t.meta.role, step: t.meta.step})))""")


@pytest.mark.parametrize("runs", [2, 12])
def test_three_views_side_by_side(runs: int, sqlite_url: str, tmp_path: Path) -> None:
    ids = seed_media(sqlite_url, runs=runs, steps=range(0, 201, 20))
    out = Path(os.environ.get("TRACKBOARD_SHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    link = f"/compare?runs={','.join(ids)}&metrics=loss"
    with ui_server(sqlite_url) as (base, _proc), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2000 + 300 * runs})
        page.goto(base + link + "&mkeys=weights/*")
        page.get_by_role("heading", name=SECTION).wait_for(timeout=90_000)
        page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')].filter("
                               "gd => gd.data && gd.data.length && gd.data[0].meta.role === "
                               "'band').length === 2", timeout=90_000)
        figs = _media_traces(page)
        # A panel per run (four bands and a median each), both frameworks side by side.
        assert [[t["run"] for t in f if t["role"] == "median"] for f in figs] == [ids, ids]
        assert page.locator(".js-plotly-plot .trace.scatter path.js-fill").count() >= 2 * 4 * runs
        _section_shot(page, out / f"media_distributions_{runs}.png")

        page.goto(base + link + "&mkeys=weights/fc2&media=histograms")
        page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')].some("
                               "gd => gd.data && gd.data.length && gd.data[0].meta.role === "
                               "'ridge')", timeout=90_000)
        (ridge,) = _media_traces(page)
        assert [t["step"] for t in ridge if t["run"] == ids[-1]] == list(range(0, 201, 20))
        _section_shot(page, out / f"media_histograms_{runs}.png")

        page.goto(base + link + "&media=images")
        page.wait_for_function(_IMAGES_DRAWN, arg=runs * 4, timeout=90_000)
        rows = page.locator(".trackboard-image-row")
        assert rows.count() == 2 * runs  # inputs/rgb and samples: a row per run each
        _section_shot(page, out / f"media_images_{runs}.png")
        # The samples slider one stride back: every run shows step 180, the link says so.
        page.get_by_role("slider").last.focus()
        page.keyboard.press("ArrowLeft")
        page.wait_for_function("() => [...document.querySelectorAll('.trackboard-images')]"
                               ".pop().textContent.includes('step 180')", timeout=60_000)
        last = page.locator(".trackboard-images").last.text_content() or ""
        assert re.findall(r"step (\d+)", last) == ["180"] * runs
        page.wait_for_function("() => location.search.includes('istep=samples%3D180')",
                               timeout=30_000)
