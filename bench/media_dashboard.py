"""The media views' targets (issue 20): prints one JSON object.

    python bench/media_dashboard.py [--rounds 7] [--only distributions images]

- distributions: 1 run x 1 key x 1,000 steps (64 buckets of 10,000 values each): what
  the Distributions chart needs on the server, a fresh Store each round (the read the
  page makes, dashboard/data.py's `max_steps`), the figure and its JSON; against a
  scalar chart of 1,000 points read and built the same way (Store.history,
  charts.metric_figure), interleaved in the same rounds. Target: data <= 200 ms.
- images: 10 runs x 100 steps (a strip of three 28 x 28 digits and one 128 x 128
  colour image per step, and a histogram) behind `trackboard ui`, in a fresh Chromium
  tab each round: (1) Compare with the Images view opened by a link: milliseconds from
  navigation to the first image decoded, beside the same load's page title and first
  scalar chart (the page itself, the baseline); (2) in that page, Distributions, then a
  click on Images: click to first image decoded (the view's own cost); (3) the step
  slider one stride back, to every row showing the new step. Target: first image
  <= 1 s. Round 1 meets the server's cold caches.

Needs Playwright and /usr/bin/chromium (or $CHROMIUM) for `images`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Records the moment the first image of a media row has decoded, and the first Plotly
# chart drawn, in page time (ms since navigation start).
_PROBE = """
window.__firstImage = null; window.__firstChart = null; window.__title = null;
new MutationObserver(() => {
  if (window.__title === null && document.querySelector('h1'))
    window.__title = performance.now();
  if (window.__firstChart === null && document.querySelector('.js-plotly-plot .main-svg'))
    window.__firstChart = performance.now();
  if (window.__firstImage === null) {
    const img = document.querySelector('.trackboard-images img');
    if (img) { window.__firstImage = -1;
      img.decode().then(() => { window.__firstImage = performance.now(); }); }
  }
}).observe(document, {childList: true, subtree: true});
"""


def _median(xs: list[float]) -> float:
    return round(statistics.median(xs), 1)


def distributions(rounds: int, tmp: Path) -> dict:
    from trackboard.dashboard import charts, data, media_charts
    from trackboard.loggers import Histogram, Run
    from trackboard.storage import Store

    url = f"sqlite:///{tmp / 'dist.db'}"
    rng = np.random.default_rng(4)
    with Run(project="bench", name="dist", store=url, system_metrics=False) as run:
        for step in range(1000):
            run.log({"weights/fc1": Histogram(rng.normal(step * 0.001, 1, 10_000), bins=64),
                     "loss": float(np.exp(-step / 300))}, step=step)
    names, colours = {run.id: "dist"}, {run.id: "#1CA71C"}
    ours: dict[str, list[float]] = {"read": [], "figure_and_json": [], "total": []}
    base: dict[str, list[float]] = {"read": [], "figure_and_json": [], "total": []}
    for _ in range(rounds):
        store = Store(url, read_only=True)
        t0 = time.perf_counter()
        frame = store.distributions(run.id, ["weights/fc1"], max_steps=data.DISTRIBUTION_STEPS)
        t1 = time.perf_counter()
        media_charts.distribution_figure(frame, "weights/fc1", names=names,
                                         colours=colours).to_json()
        t2 = time.perf_counter()
        store.close()
        store = Store(url, read_only=True)
        t3 = time.perf_counter()
        hist = store.history([run.id], ["loss"], max_points=data.MAX_POINTS)
        t4 = time.perf_counter()
        charts.metric_figure(charts.with_x(hist, "step"), "loss", names=names,
                             colours=colours).to_json()
        t5 = time.perf_counter()
        store.close()
        for d, parts in ((ours, (t0, t1, t2)), (base, (t3, t4, t5))):
            d["read"].append((parts[1] - parts[0]) * 1e3)
            d["figure_and_json"].append((parts[2] - parts[1]) * 1e3)
            d["total"].append((parts[2] - parts[0]) * 1e3)
    ratios = [a / b for a, b in zip(ours["total"], base["total"])]
    return {"case": "1 run x 1 key x 1,000 steps, 64 buckets; fresh Store each round",
            "distributions_ms_median": {k: _median(v) for k, v in ours.items()},
            "distributions_read_ms_all": [round(x, 1) for x in ours["read"]],
            "scalar_chart_1000_points_ms_median": {k: _median(v) for k, v in base.items()},
            "ratio_total_median": round(statistics.median(ratios), 2),
            "target": "data for the chart <= 200 ms"}


def _seed_images(url: str, runs: int, steps: int) -> list[str]:
    from trackboard.loggers import Histogram, Image, Run

    from tests.support.media_seed import colour_image, digit

    ids = []
    rng = np.random.default_rng(0)
    for i in range(runs):
        with Run(project="bench", name=f"{('keras', 'torch')[i % 2]}-{i}", store=url,
                 framework=("keras", "torch")[i % 2], system_metrics=False) as run:
            for step in range(steps):
                noise = rng.integers(0, 40, (128, 128, 3), dtype=np.uint8)
                big = np.clip(colour_image(step, i, 128).astype(int) + noise, 0, 255)
                run.log({"loss": float(np.exp(-step / 50)),
                         "weights/fc1": Histogram(rng.normal(0, 1, 1000), bins=32),
                         "samples": [Image(digit(step + j + i), caption=f"label {j}")
                                     for j in range(3)],
                         "inputs/rgb": Image(big.astype(np.uint8))}, step=step)
        ids.append(run.id)
    return ids


def _idle(page: object) -> None:
    """Wait until the app's script run is over (Streamlit's running indicator gone)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "!document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000)


def images(rounds: int, tmp: Path, runs: int = 10, steps: int = 100) -> dict:
    from playwright.sync_api import sync_playwright
    from trackboard.storage import Store

    from tests.support.dashboard import CHROMIUM_FLAGS, ui_server

    url = f"sqlite:///{tmp / 'images.db'}"
    ids = _seed_images(url, runs, steps)
    stored = Store(url, read_only=True).images(ids)
    link = f"/compare?runs={','.join(ids)}&metrics=loss&media=images"
    first_image, first_chart, title, switch, slider = [], [], [], [], []
    with ui_server(url) as (base, _proc), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                    args=CHROMIUM_FLAGS)
        for _ in range(rounds):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.add_init_script(_PROBE)
            page.goto(base + link)
            page.wait_for_function("window.__firstImage > 0 && window.__firstChart !== null",
                                   timeout=120_000)
            first_image.append(page.evaluate("window.__firstImage"))
            first_chart.append(page.evaluate("window.__firstChart"))
            title.append(page.evaluate("window.__title"))
            _idle(page)
            # In the page: Distributions, then a click on Images to its first image.
            page.get_by_text("Distributions", exact=True).click()
            page.wait_for_function("[...document.querySelectorAll('.js-plotly-plot')].some("
                                   "gd => gd.data && gd.data.length && gd.data[0].meta.role "
                                   "=== 'band')", timeout=120_000)
            _idle(page)
            page.evaluate("window.__firstImage = null")
            t0 = page.evaluate("performance.now()")
            page.get_by_text("Images", exact=True).click()
            page.wait_for_function("window.__firstImage > 0", timeout=120_000)
            switch.append(page.evaluate("window.__firstImage") - t0)
            _idle(page)
            # The last key's slider (samples) one stride back: 99 -> 98 in every row,
            # once both cards are drawn (else the last slider may still be the first card's).
            page.wait_for_function(
                f"document.querySelectorAll('.trackboard-images img').length === {runs * 4}",
                timeout=120_000)
            page.get_by_role("slider").last.focus()
            t0 = page.evaluate("performance.now()")
            page.keyboard.press("ArrowLeft")
            page.wait_for_function(
                "() => { const rows = [...document.querySelectorAll('.trackboard-images')].pop();"
                f" return (rows.textContent.match(/step 98/g) || []).length === {runs}; }}",
                timeout=120_000)
            slider.append(page.evaluate("performance.now()") - t0)
            context.close()
        browser.close()
    return {"case": f"{runs} runs x {steps} steps, {len(stored)} images stored "
                    "(strips of three 28x28 digits and one 128x128 colour image per step)",
            "first_image_ms_all": [round(x) for x in first_image],
            "first_image_ms_median_warm": _median(first_image[1:] or first_image),
            "first_scalar_chart_ms_all": [round(x) for x in first_chart],
            "page_title_ms_all": [round(x) for x in title],
            "images_view_clicked_to_first_image_ms_all": [round(x) for x in switch],
            "images_view_clicked_to_first_image_ms_median": _median(switch),
            "first_image_minus_first_chart_ms_median": _median(
                [a - b for a, b in zip(first_image, first_chart)]),
            "slider_one_stride_to_all_rows_ms_all": [round(x) for x in slider],
            "target": "first image <= 1 s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", nargs="*", default=["distributions", "images"])
    args = parser.parse_args()
    os.environ.setdefault("TRACKBOARD_SPOOL_DIR", tempfile.mkdtemp(prefix="tb-bench-spool-"))
    result: dict = {}
    with tempfile.TemporaryDirectory() as d:
        if "distributions" in args.only:
            result["distributions"] = distributions(args.rounds, Path(d))
        if "images" in args.only:
            result["images"] = images(args.rounds, Path(d))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
