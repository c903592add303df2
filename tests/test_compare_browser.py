"""Compare at team scale in a real headless Chromium: 50 runs from three frameworks.

One run list for the page (no legend in any chart), axis titles clear of everything,
50 distinct colours that match the run list's swatches, and a run hidden from the
list disappears from every chart. The server is started the README way
(`trackboard ui --store URL`).
"""

from __future__ import annotations

import math
import re
from itertools import combinations

import pytest
from trackboard.dashboard import colors
from trackboard.dashboard.colour_space import closest_pair, lab
from trackboard.loggers import Run

from tests.support.dashboard import chromium, ui_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FRAMEWORKS = ("keras", "torch", "lightning")
METRICS = "loss,val_loss,accuracy"

# Every chart's traces: run id, role and line colour (the graph div keeps its figure).
_TRACES = """() => Array.from(document.querySelectorAll('[class*=st-key-cmp_chart_] .js-plotly-plot')).map(gd =>
    gd.data.map(t => ({run: t.meta.run_id, role: t.meta.role, colour: t.line.color})))"""
# Every chart's drawn lines: [run id, the SVG path's stroke colour] per trace.
_STROKES = """() => Array.from(document.querySelectorAll('[class*=st-key-cmp_chart_] .js-plotly-plot')).map(gd => {
    const groups = Array.from(gd.querySelectorAll('.scatterlayer .trace'));
    return gd._fullData.map((t, i) => [t.meta.run_id,
        getComputedStyle(groups[i].querySelector('path.js-line')).stroke]); })"""
# Axis titles, and everything they must not overlap, as page rectangles.
_BOXES = """() => Array.from(document.querySelectorAll('[class*=st-key-cmp_chart_] .js-plotly-plot')).map(gd => {
    const rect = e => { const r = e.getBoundingClientRect();
                        return [r.left, r.top, r.right, r.bottom]; };
    const all = sel => Array.from(gd.querySelectorAll(sel)).filter(
        e => e.getBoundingClientRect().width > 0).map(rect);
    return {chart: rect(gd), titles: all('.g-xtitle text, .g-ytitle text'),
            ticks: all('.xtick text, .ytick text'), heading: all('.g-gtitle text'),
            plot: all('.nsewdrag'), legend: all('.legend')}; })"""


def _seed(url: str) -> list[str]:
    ids = []
    for i in range(50):
        fw = FRAMEWORKS[i % 3]
        with Run(project="team", name=f"{fw}-{i}", framework=fw, store=url,
                 config={"lr": (0.01, 0.003, 0.0003)[i % 3], "hidden": 16 << (i % 4),
                         "seed": i}) as run:
            # Offsets out of run order, so a hover sorted by value is not in run order.
            offset = 0.01 * ((i * 17) % 50)
            for s in range(30):
                run.log({"loss": math.exp(-s / 20) + offset, "val_loss": math.exp(-s / (6 + i)),
                         "accuracy": 0.5 - offset / 2 + s / 100}, step=s)
        ids.append(run.id)
    return ids


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _run_list_rows(page: object) -> tuple[int, dict[int, list[str]]]:
    """The run list's row count and its drawn rows (position -> cell texts): the canvas
    grid keeps an accessible table of the rows in view."""
    page.wait_for_selector(".st-key-cmp_runs table", state="attached",  # type: ignore[attr-defined]
                           timeout=30_000)
    count = int(page.get_attribute(".st-key-cmp_runs table", "aria-rowcount")) - 1  # type: ignore[attr-defined]
    rows = page.eval_on_selector_all(  # type: ignore[attr-defined]
        ".st-key-cmp_runs table tbody tr",
        "trs => trs.map(tr => [Number(tr.getAttribute('aria-rowindex')),"
        " Array.from(tr.querySelectorAll('td')).map(td => td.textContent)])")
    return count, {index - 2: cells for index, cells in rows if cells}


def _wait_traces(page: object, per_chart: int) -> list[list[dict]]:
    page.wait_for_function(  # type: ignore[attr-defined]
        f"Array.from(document.querySelectorAll('[class*=st-key-cmp_chart_] .js-plotly-plot')).length === 3 && "
        f"Array.from(document.querySelectorAll('[class*=st-key-cmp_chart_] .js-plotly-plot'))"
        f".every(gd => gd.data && gd.data.length === {per_chart})", timeout=90_000)
    return page.evaluate(_TRACES)  # type: ignore[attr-defined]


def test_fifty_runs_read_clearly(sqlite_url: str) -> None:
    ids = _seed(sqlite_url)
    with ui_server(sqlite_url) as (base, _proc), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{base}/compare?runs={','.join(ids)}&metrics={METRICS}&cols=3")
        charts = _wait_traces(page, 50)  # past 12 runs, only the smoothed lines

        # One run list for the page, with every run; no legend in any chart.
        assert page.locator(".st-key-cmp_runs").count() == 1
        count, rows = _run_list_rows(page)
        assert count == 50 and len(rows) >= 8
        assert page.locator(".js-plotly-plot .legend").count() == 0
        assert page.evaluate("() => Array.from(document.querySelectorAll('[class*=st-key-cmp_chart_] .js-plotly-plot'))"
                             ".every(gd => gd._fullLayout.showlegend === false)")

        # 50 distinct colours, the same for a run in every chart and in its swatch.
        colours = [{t["run"]: t["colour"] for t in chart} for chart in charts]
        assert len(set(colours[0].values())) == 50
        assert colours[0] == colours[1] == colours[2]
        # The colours assigned: the runs in the order they started (oldest first), each
        # the farthest free colour, which is the palette's order.
        assert colours[0] == {rid: colour for rid, colour in zip(ids, colors.PALETTE)}
        # What is drawn: every line's stroke is its run's colour, and no two lines
        # are closer than 11 CIEDE2000 (hashed colours had pairs at 5 on such pages).
        for chart in page.evaluate(_STROKES):
            drawn = dict(chart)
            assert {rid: lab(c).round(0).tolist() for rid, c in drawn.items()} == {
                rid: lab(colours[0][rid]).round(0).tolist() for rid in drawn}
            assert len(drawn) == 50 and closest_pair(list(drawn.values())) >= 11
        swatches = {}
        for row in rows.values():
            fill = re.search(r"fill='%23([0-9A-Fa-f]{6})'", " ".join(row))
            rid = next(c for c in row if c in colours[0])
            assert fill, row
            swatches[rid] = "#" + fill.group(1)
        assert swatches == {rid: colours[0][rid] for rid in swatches}
        # The labels name the params that differ (lr, hidden, seed), not just the name.
        assert rows[0][2].startswith("keras-0 · lr=0.01") and "hidden=16" in rows[0][2]

        # Axis titles overlap nothing: not a tick label, the chart title, the plot area,
        # nor another chart; and they stay inside their own chart.
        boxes = page.evaluate(_BOXES)
        for box in boxes:
            assert box["titles"] and not box["legend"]
            for title in box["titles"]:
                for other in box["ticks"] + box["heading"] + box["plot"]:
                    assert not _overlap(title, other), (title, other)
                c = box["chart"]
                assert c[0] <= title[0] and title[2] <= c[2] and c[1] <= title[1] \
                    and title[3] <= c[3], (title, c)
        for a, b in combinations([b["chart"] for b in boxes], 2):
            assert not _overlap(a, b)

        # The hover lists every run's value at the x under the mouse, best first: the
        # lowest loss, the highest accuracy.
        for chart, best_first in ((0, sorted), (2, lambda v: sorted(v, reverse=True))):
            page.locator("[class*=st-key-cmp_chart_] .js-plotly-plot").nth(chart).scroll_into_view_if_needed()
            area = page.locator("[class*=st-key-cmp_chart_] .js-plotly-plot .nsewdrag").nth(chart).bounding_box()
            page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
            page.wait_for_function("document.querySelectorAll('[class*=st-key-cmp_chart_] .js-plotly-plot .hoverlayer "
                                   ".legendtext').length === 50", timeout=30_000)
            items = page.eval_on_selector_all("[class*=st-key-cmp_chart_] .js-plotly-plot .hoverlayer .legendtext",
                                              "els => els.map(e => e.textContent)")
            values = [float(t.rsplit(" : ", 1)[1]) for t in items]
            runs = [int(t.split(" · ")[0].rsplit("-", 1)[1]) for t in items]
            assert values == best_first(values)
            assert runs != sorted(runs)  # sorted by value, not listed in run order
            assert any(t.startswith("keras-0 · lr=0.01 · ") for t in items)
            page.mouse.move(0, 0)

        # Untick a run in the list: it leaves every chart, and the URL says so.
        hidden, row = ids[1], 1
        assert hidden in rows[row]
        page.locator(".st-key-cmp_runs [data-testid=stDataFrame]").scroll_into_view_if_needed()
        grid = page.locator(".st-key-cmp_runs [data-testid=stDataFrame]").bounding_box()
        cell = (grid["x"] + 25, grid["y"] + 35 * (row + 1) + 17)
        page.wait_for_timeout(500)  # the canvas grid settles after the scroll
        page.mouse.move(*cell)
        page.wait_for_timeout(300)
        page.mouse.click(*cell)  # select the cell
        page.wait_for_timeout(300)
        page.keyboard.press("Space")  # and toggle it
        charts = _wait_traces(page, 49)
        assert all(hidden not in {t["run"] for t in chart} for chart in charts)
        assert f"hide={hidden}" in page.url
        # The others keep their colours.
        assert {t["run"]: t["colour"] for t in charts[0]} == {
            r: c for r, c in colours[0].items() if r != hidden}

        # After a reload the link still hides it, and the colours are the same.
        page.reload()
        charts = _wait_traces(page, 49)
        assert {t["run"]: t["colour"] for t in charts[2]} == {
            r: c for r, c in colours[0].items() if r != hidden}
