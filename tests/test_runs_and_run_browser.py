"""The Runs and Run pages in a real headless Chromium, started by `trackboard ui`, at
2 runs and at 50: a run row's link opens that run's page; the Run page draws a
constant series (Keras' fixed learning rate) on an axis around its value. Screenshots
go to test-output/ (runs-2.png, run-lr-axis.png, runs-50.png, run-from-50.png).
"""

from __future__ import annotations

import math

import pytest
from trackboard.loggers import Run
from trackboard.storage import Store

from tests.support.dashboard import REPO, chromium, ui_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = REPO / "test-output"
ROW_PX = 35  # Streamlit's table rows and header


def _seed(url: str, n: int) -> None:
    frameworks = ("keras", "torch", "lightning", "jax")
    for i in range(n):
        lr = (0.001, 0.003, 0.01)[i % 3]
        with Run(project="grid", name=f"{frameworks[i % 4]}-{i:02d}", framework=frameworks[i % 4],
                 config={"lr": lr, "hidden": 8 * (1 + i % 4)}, store=url,
                 system_metrics=False) as run:
            for step in range(20):
                run.log({"loss": math.exp(-step / 8) + i / 100, "accuracy": 0.5 + step / 50,
                         "val_loss": math.exp(-step / 10) + ((i * 7) % 50) / 100,
                         "val_accuracy": 0.45 + step / 60, "learning_rate": lr}, step=step)


def _link_x(page: object, y: float) -> float:
    """The x of the first row's link in the canvas grid: where the pointer cursor shows
    after the row's checkbox (the grid draws its cells; only the cursor tells)."""
    box = page.locator(".stDataFrame canvas").first.bounding_box()  # type: ignore[attr-defined]
    runs: list[list[float]] = []
    before = "default"
    for x in range(int(box["x"]) + 2, int(box["x"] + box["width"]), 4):
        page.mouse.move(x, y)  # type: ignore[attr-defined]
        cursor = page.evaluate(  # type: ignore[attr-defined]
            f"() => getComputedStyle(document.elementFromPoint({x}, {y})).cursor")
        if cursor == "pointer":
            if before != "pointer":
                runs.append([x, x])
            runs[-1][1] = x
        before = cursor
    assert len(runs) >= 2, f"no link found in the row: {runs}"
    return (runs[1][0] + runs[1][1]) / 2  # runs[0] is the row's checkbox


def _open_row(page: object, row: int) -> object:
    """Click the link of table row `row` (0 = first); returns the page it opened."""
    box = page.locator(".stDataFrame canvas").first.bounding_box()  # type: ignore[attr-defined]
    y = box["y"] + ROW_PX * (row + 1) + ROW_PX / 2
    x = _link_x(page, y)
    with page.context.expect_page(timeout=30_000) as opened:  # type: ignore[attr-defined]
        page.mouse.click(x, y)  # type: ignore[attr-defined]
    new = opened.value
    new.set_viewport_size({"width": 1400, "height": 1000})
    new.wait_for_selector(".js-plotly-plot", timeout=60_000)
    return new


def _runs_page(browser: object, base: str, query: str, count: str) -> object:
    """The Runs page at `query`, once it says how many runs it lists and drew its table."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(base + "/" + query)
    page.get_by_text(count, exact=False).wait_for(timeout=60_000)
    page.wait_for_selector(".stDataFrame canvas", timeout=60_000)
    page.wait_for_timeout(1500)  # the grid paints after it appears
    return page


def _y_ticks(page: object, title: str) -> list[str]:
    return page.evaluate(  # type: ignore[attr-defined]
        """title => {
             const plot = [...document.querySelectorAll('.js-plotly-plot')]
               .find(p => p.querySelector('.gtitle')?.textContent === title);
             return [...plot.querySelectorAll('.ytick text')].map(t => t.textContent);
           }""", title)


def test_a_run_row_opens_its_run_page_and_a_fixed_lr_reads_as_its_value(sqlite_url: str
                                                                         ) -> None:
    _seed(sqlite_url, 2)
    newest_first = Store(sqlite_url).runs()["id"].tolist()
    OUT.mkdir(exist_ok=True)
    with ui_server(sqlite_url) as (base, _proc), chromium() as browser:
        page = _runs_page(browser, base, "", "2 runs")
        page.screenshot(path=str(OUT / "runs-2.png"))
        run_page = _open_row(page, 0)
        assert run_page.url == f"{base}/run?run={newest_first[0]}"  # type: ignore[attr-defined]
        chart = run_page.locator(".js-plotly-plot", has_text="learning_rate")  # type: ignore[attr-defined]
        chart.scroll_into_view_if_needed()
        run_page.wait_for_timeout(1000)  # type: ignore[attr-defined]
        ticks = _y_ticks(run_page, "learning_rate")
        values = [float(t.replace("−", "-")) for t in ticks]
        lr = 0.003  # the second run's (newest first): 0.003
        assert values and all(lr / 2 <= v <= lr * 1.5 for v in values), ticks
        chart.screenshot(path=str(OUT / "run-lr-axis.png"))


def test_at_50_runs_the_sorted_rows_open_their_own_pages(sqlite_url: str) -> None:
    _seed(sqlite_url, 50)
    runs = Store(sqlite_url).runs()
    best_first = runs.sort_values("metrics.val_loss.min", kind="stable")["id"].tolist()
    with ui_server(sqlite_url) as (base, _proc), chromium() as browser:
        page = _runs_page(browser, base, "?sort=val_loss.min", "50 runs")
        page.screenshot(path=str(OUT / "runs-50.png"))
        assert "sort=val_loss.min" in page.url
        run_page = _open_row(page, 2)
        assert run_page.url == f"{base}/run?run={best_first[2]}"  # type: ignore[attr-defined]
        run_page.wait_for_timeout(1000)  # type: ignore[attr-defined]
        run_page.screenshot(path=str(OUT / "run-from-50.png"))  # type: ignore[attr-defined]
