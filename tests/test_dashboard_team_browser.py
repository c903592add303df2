"""Runs and Compare at team scale in a real headless Chromium, started by `trackboard ui`.

30 runs from three frameworks; the Keras runs carry Keras-only optimizer params.
"""

from __future__ import annotations

import pytest
from trackboard.dashboard.number_format import readable
from trackboard.loggers import Run

from tests.support.dashboard import REPO, chromium, ui_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = REPO / "test-output"
FRAMEWORKS = ("keras", "torch", "lightning")
# A 1080-pixel-high browser window, less its tab strip and address bar.
VIEWPORT = {"width": 1920, "height": 990}
# The hyperparameter view's parallel coordinates, drawn: its axis titles are in the DOM.
HPARAMS_DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')].some(el =>
    el.data && (el.data[0].meta || {}).role === 'hparams'
    && el.querySelectorAll('.annotation-text').length > 0)"""


def _seed(url: str, runs: int = 30) -> list[str]:
    ids = []
    for i in range(runs):
        fw = FRAMEWORKS[i % 3]
        config = {"lr": 10.0 ** -(2 + i % 3), "optimizer": "adam", "batch_size": 32,
                  "epochs": 5, "seed": i}
        if fw == "keras":
            config |= {"optimizer.beta_1": 0.9, "optimizer.beta_2": 0.999}
        with Run(project="team", name=f"{fw}-{i}", framework=fw, store=url,
                 config=config) as run:
            for s in range(5):
                run.log({"loss": 1 / (s + 1 + i), "val_loss": 1.1 / (s + 1 + i),
                         "accuracy": 0.5 + s / 20}, step=s)
        ids.append(run.id)
    return ids


def _headers(page: object) -> list[str]:
    # The table is a canvas; its accessible grid holds the columns in view (no others).
    return page.evaluate(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('[data-testid=stDataFrame] [role=columnheader]')]"
        ".map(e => e.textContent)")


def test_runs_table_defaults_and_20_rows_in_a_1080_px_window(sqlite_url: str) -> None:
    _seed(sqlite_url)
    OUT.mkdir(exist_ok=True)
    with ui_server(sqlite_url) as (base, _proc), chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(base + "/")
        page.get_by_text("30 runs", exact=False).wait_for(timeout=60_000)
        page.wait_for_function(
            "document.querySelectorAll('[data-testid=stDataFrame] [role=columnheader]')"
            ".length > 5", timeout=30_000)
        page.screenshot(path=str(OUT / "runs-team.png"))
        table = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        assert table is not None
        # 20 rows and the header fit the table, and the table fits the window.
        assert table["height"] >= 21 * 35
        assert table["y"] + table["height"] <= VIEWPORT["height"]
        headers = _headers(page)
        assert headers[:3] == ["name", "open", "status"]  # pinned: name, then its page's link
        # The metrics people decide by, each with its best first (metric_choice.py), in
        # view without scrolling sideways.
        metrics = ["val_loss.min", "val_loss.last", "loss.min", "loss.last",
                   "accuracy.max", "accuracy.last"]
        assert [h for h in headers if h in metrics] == metrics
        # The common vocabulary fills the default param columns; Keras' own do not.
        assert {"lr", "optimizer", "batch_size", "epochs", "seed"} <= set(headers)
        assert not any(h.startswith("optimizer.beta") for h in headers)
        assert "p=lr%2Coptimizer%2Cbatch_size%2Cepochs%2Cseed" in page.url


def test_compare_groups_by_framework_and_draws_parallel_coordinates(sqlite_url: str) -> None:
    ids = _seed(sqlite_url)
    with ui_server(sqlite_url) as (base, _proc), chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{base}/compare?runs={','.join(ids)}&metrics=loss&group=framework"
                  "&hp=lr,batch_size&hpm=val_loss")
        page.wait_for_function(HPARAMS_DRAWN, timeout=60_000)
        page.wait_for_function("""() => [...document.querySelectorAll('.js-plotly-plot')]
            .some(el => el.data && el.data.some(t => (t.meta || {}).role === 'mean'))""",
                               timeout=60_000)
        # Plotly keeps each chart's traces on its element: read what was drawn.
        drawn = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
            .map(el => el.data.map(t => [t.type, (t.meta || {}).role || '',
                                         (t.meta || {}).group || '']))""")
        loss = drawn[0]
        assert sorted(g for _, role, g in loss if role == "mean") == sorted(FRAMEWORKS)
        chart = page.locator(".js-plotly-plot").filter(has=page.locator(".annotation-text"))
        titles = chart.locator(".annotation-text").all_text_contents()
        assert titles == ["lr (log)", "batch_size", "val_loss (best)"]
        # Every run is a drawn line: the line traces' SVG paths hold 30 runs x 3 axes.
        points = chart.evaluate("""el => {
            const traces = el.data.filter(t => (t.meta || {}).role === 'hparam_lines');
            const paths = el.querySelectorAll('.scatterlayer .trace path.js-line');
            return [traces.reduce((n, t) => n + t.customdata.filter(r => r).length, 0),
                    paths.length, traces.length]; }""")
        assert points[0] == 30 * 3 and points[1] >= points[2] > 1
        # Hovering a line's point names its run and value there (parcoords could not).
        chart.scroll_into_view_if_needed()
        # (x and y travel as typed arrays: read them decoded, from the drawn trace.)
        box = chart.evaluate("""el => { const L = el._fullLayout, t = el._fullData.find(
                t => (t.meta || {}).role === 'hparam_lines');
            const r = el.getBoundingClientRect();
            return [r.left + L._size.l + L.xaxis.l2p(t.x[0]),
                    r.top + L._size.t + L.yaxis.l2p(t.y[0]), t.customdata[0]]; }""")
        page.mouse.move(box[0], box[1])
        page.wait_for_selector(".hoverlayer .hovertext", timeout=10_000)
        hover = page.locator(".hoverlayer .hovertext").first.text_content()
        # Runs with the same lr share that point: the hover names one of them.
        name, _, rest = hover.partition(" · ")
        hovered = int(name.split("-")[1])
        assert hovered % 3 == ids.index(box[2]) % 3
        assert name == f"{FRAMEWORKS[hovered % 3]}-{hovered}"
        assert rest.endswith(f"lr (log) = {readable(10.0 ** -(2 + hovered % 3))}")
        assert "group=framework" in page.url and "hpm=val_loss" in page.url
        page.screenshot(path=str(OUT / "compare-hparams.png"), full_page=True)
