"""Group bands drawn in a real headless Chromium, by both of Plotly's renderers
(issue 19 item 9): SVG (`scatter`) and WebGL (`scattergl`, used above
plotly_wire.WEBGL_FROM points a series). Two bands drawn with fill="tonexty" between
scattergl traces showed only the first (plotly/plotly.js#6795); a band is now one
closed polygon. The test looks at the pixels inside each band.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from trackboard.dashboard import charts, colors, plotly_wire
from trackboard.dashboard.colour_space import rgb

from tests.support.dashboard import chromium

pytestmark = [pytest.mark.browser]

STEPS = 60
GROUPS = {"a1": "low", "a2": "low", "b1": "high", "b2": "high"}
# Each group's two runs sit 2 apart around its mean: low around 2, high around 8.
OFFSETS = {"a1": 1.0, "a2": 3.0, "b1": 7.0, "b2": 9.0}
BACKGROUND = "#FFFFFF"


def _figure() -> dict:
    frame = pd.DataFrame([{"run_id": rid, "key": "loss", "step": s, "wall_time": 0.0,
                           "value": off} for rid, off in OFFSETS.items() for s in range(STEPS)])
    fig = charts.metric_figure(charts.with_x(frame, "step"), "loss",
                               names={r: r for r in OFFSETS}, colours={}, smoothing="none",
                               groups=GROUPS, band="minmax", height=400)
    out = fig.to_plotly_json()
    # A known background (the default template's depends on what imported plotly.io).
    out["layout"] |= {"plot_bgcolor": BACKGROUND, "paper_bgcolor": BACKGROUND}
    return out


def _page_html(figure: dict) -> str:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    return ("<html><body style='margin:0;background:white'><div id='g' style='width:700px'>"
            f"</div><script>{get_plotlyjs()}</script><script>"
            f"const fig = {pio.to_json(figure)};"
            "Plotly.newPlot('g', fig.data, fig.layout).then(() => { window.drawn = true; });"
            "</script></body></html>")


@pytest.mark.parametrize("renderer", ["svg", "webgl"])
def test_group_bands_draw_in_both_renderers(renderer: str, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: object) -> None:
    from PIL import Image

    if renderer == "webgl":
        monkeypatch.setattr(plotly_wire, "WEBGL_FROM", 10)  # 60 points: WebGL from here on
    figure = _figure()
    assert {t["type"] for t in figure["data"]} == {
        "scattergl" if renderer == "webgl" else "scatter"}
    expected = colors.colours(["high", "low"])
    background = np.array(rgb(BACKGROUND), float)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 720, "height": 420})
        page.set_content(_page_html(figure))
        page.wait_for_function("window.drawn === true", timeout=60_000)
        # Page pixels of points inside each band: halfway between the mean and the edge.
        spots = page.evaluate("""() => { const gd = document.getElementById('g');
            const L = gd._fullLayout, r = gd.getBoundingClientRect();
            const at = (x, y) => [r.left + L._size.l + L.xaxis.l2p(x),
                                  r.top + L._size.t + L.yaxis.l2p(y)];
            return {low: [at(15, 1.5), at(45, 2.5)], high: [at(15, 7.5), at(45, 8.5)],
                    outside: [at(30, 5.0)]}; }""")
        # WebGL draws on later frames (seconds on a busy machine without a GPU): look
        # again until the pixels hold or 15 s have passed.
        for _ in range(30):
            shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
            wrong = _wrong_pixels(shot, spots, background, expected)
            if not wrong:
                break
            page.wait_for_timeout(500)
    assert not wrong, (renderer, wrong)


def _wrong_pixels(shot: object, spots: dict, background: np.ndarray,
                  expected: dict[str, str]) -> list[tuple]:
    """The sampled spots whose pixel is not what the band (or its absence) gives."""
    wrong = []
    for group, points in spots.items():
        for x, y in points:
            pixel = np.array(shot.getpixel((round(x), round(y))), float)  # type: ignore[attr-defined]
            if group == "outside":  # between the bands: nothing drawn
                want = background
            else:  # the group's colour at the band's opacity (0.2) over the background
                want = 0.2 * np.array(rgb(expected[group])) + 0.8 * background
            if np.abs(pixel - want).max() >= (8 if group == "outside" else 20):
                wrong.append((group, pixel.tolist(), want.tolist()))
    return wrong

