"""Make the docs' screenshots from `trackboard demo` data, the way a new user sees it.

    python docs/screenshots.py            # trains the demo (~1-2 min), then shoots
    python docs/screenshots.py --store sqlite:///demo.db   # reuse a store `trackboard demo` filled

In a new temporary folder it runs `trackboard demo` and `trackboard ui` as the
README's quick start does (no --store: the store is ./trackboard.db, which is also
what the page's sidebar shows, not a temporary path), and saves from a headless
Chromium:

- docs/compare.png: the Compare page with every demo run (12 with Keras, PyTorch,
  Lightning and JAX installed): the run list, then the charts;
- docs/hparams.png: the hyperparameter view below Compare's charts (parallel
  coordinates of the demo's params and val_loss, and the lr scatter);
- docs/runs.png: the Runs page;
- docs/media_distributions.png, docs/media_histograms.png, docs/media_images.png:
  Compare's Distributions, Histograms (offset) and Images views with a Keras and a
  PyTorch run side by side. When the demo's runs logged no histograms or images (a
  demo from before it logged them), the script logs some into those two runs first,
  through the public Run API (resumed by id; tests/support/media_seed.py).

    python docs/screenshots.py --fifty    # Compare at 50 runs (issue 19): no demo

saves docs/compare_50.png (50 runs of three frameworks x 8 metrics x 20k steps, the
page's default metrics and view) and docs/compare_50_grouped.png (the same runs
grouped by framework: mean lines and spread bands), from the synthetic store
bench/dashboard_data.py builds for the Compare benchmark (about 30 s, cached).

Needs the `trackboard` command of this environment, Playwright and a Chromium
(/usr/bin/chromium, or $CHROMIUM).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the repository root: the tests' server helpers
from tests.support.ports import free_port, wait_http  # noqa: E402
from tests.support.media_seed import log_media  # noqa: E402
TRACKBOARD = str(Path(sys.executable).with_name("trackboard"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
METRICS = "loss,val_loss,accuracy,val_accuracy"
VIEWPORT = {"width": 1500, "height": 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="a store `trackboard demo` filled (default: a new one)")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs")
    parser.add_argument("--fifty", action="store_true",
                        help="only Compare at 50 runs (compare_50*.png), from a synthetic store")
    args = parser.parse_args()
    out = args.out.resolve()
    # The default store of the quick start, not one named by the environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKBOARD_")}
    if args.fifty:
        shoot_fifty(out, env)
        return
    with tempfile.TemporaryDirectory(prefix="trackboard-shots-") as tmp:
        if args.store is None:
            subprocess.run([TRACKBOARD, "demo"], check=True, cwd=tmp, env=env)
            shoot(f"sqlite:///{tmp}/trackboard.db", [], out, cwd=tmp, env=env)
        else:
            shoot(args.store, ["--store", args.store], out, cwd=tmp, env=env)


@contextmanager
def dashboard(store_args: list[str], cwd: str, env: dict[str, str],
              height: int) -> Iterator[tuple[str, object]]:
    """`trackboard ui [store_args]` started in `cwd` as a user starts it, and a page of a
    headless Chromium `height` pixels tall: (the server's base URL, the page)."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen([TRACKBOARD, "ui", *store_args, "--port", str(port)],
                              cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/_stcore/health")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--headless", "--no-sandbox", "--disable-gpu"])
            yield base, browser.new_page(viewport={"width": VIEWPORT["width"],
                                                   "height": height})
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def shoot(url: str, store_args: list[str], out: Path, *, cwd: str,
          env: dict[str, str]) -> None:
    """Start `trackboard ui [store_args]` in `cwd` and save the two pages of `url`."""
    from trackboard.storage import Store

    store = Store(url, read_only=True)
    runs = store.runs()[::-1]  # oldest first: the order the demo made them
    ids = runs["id"].tolist()
    pair = media_pair(runs)
    has_media = not store.media_keys(pair, kind="histogram").empty and not store.media_keys(
        pair, kind="image").empty
    store.close()
    if not has_media:
        add_media(url, pair)
    with dashboard(store_args, cwd, env, VIEWPORT["height"]) as (base, page):
        page.goto(base + "/")
        page.wait_for_selector("[data-testid=stDataFrame]", timeout=120_000)
        page.wait_for_timeout(1500)  # the grid paints after it appears
        page.screenshot(path=str(out / "runs.png"))
        # Tall enough for the controls, the run list of 12 and two rows of charts.
        page.set_viewport_size({"width": VIEWPORT["width"], "height": 1900})
        page.goto(f"{base}/compare?runs={','.join(ids)}&metrics={METRICS}")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4",
                               timeout=120_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(out / "compare.png"))
        shoot_hparams(page, out / "hparams.png")
        shoot_media(page, base, pair, out)
    print(f"{len(ids)} runs: wrote compare.png, hparams.png, runs.png and media_*.png in {out}")


def shoot_fifty(out: Path, env: dict[str, str]) -> None:
    """Compare at 50 runs x 8 metrics x 20k steps: the default view, then grouped."""
    from bench.dashboard_data import team_compare_store

    path, ids = team_compare_store(runs=50, keys=8, steps=20_000)
    with tempfile.TemporaryDirectory(prefix="trackboard-shots-") as tmp, \
            dashboard(["--store", f"sqlite:///{path}"], tmp, env, 2000) as (base, page):
        for name, extra in (("compare_50.png", ""), ("compare_50_grouped.png",
                                                     "&group=framework")):
            page.goto(f"{base}/compare?runs={','.join(ids)}&hpv=0{extra}")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4",
                                   timeout=180_000)
            page.wait_for_timeout(3000)
            page.screenshot(path=str(out / name))
    print(f"50 runs: wrote compare_50.png and compare_50_grouped.png in {out}")


def media_pair(runs: object) -> list[str]:
    """The first Keras run and the first PyTorch run (else the first two runs): the
    media pictures put two frameworks side by side."""
    frame = runs  # a Store.runs() frame, oldest first
    picked = [frame.loc[frame["framework"] == fw, "id"].iloc[0]  # type: ignore[index]
              for fw in ("keras", "torch") if (frame["framework"] == fw).any()]  # type: ignore[index]
    return picked if len(picked) == 2 else frame["id"].tolist()[:2]  # type: ignore[index]


def add_media(url: str, run_ids: list[str]) -> None:
    """Log weight histograms, digit images and notes into the two runs (resumed)."""
    import numpy as np
    from trackboard.loggers import Run

    for i, rid in enumerate(run_ids):
        with Run(id=rid, resume="must", store=url, system_metrics=False) as run:
            rng = np.random.default_rng(i)
            for step in range(0, 201, 20):
                log_media(run, i, step, rng)


def shoot_media(page: object, base: str, run_ids: list[str], out: Path) -> None:
    """Save Compare's three media views of two runs, each from its heading down."""
    link = f"{base}/compare?runs={','.join(run_ids)}&metrics=loss&hpv=0"
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 2800})  # type: ignore[attr-defined]
    views = (("media_distributions.png", "&mkeys=weights/*", "band"),
             ("media_histograms.png", "&media=histograms&mkeys=weights/*", "ridge"),
             ("media_images.png", "&media=images", None))
    for name, query, role in views:
        page.goto(link + query)  # type: ignore[attr-defined]
        if role:
            page.wait_for_function(  # type: ignore[attr-defined]
                "[...document.querySelectorAll('.js-plotly-plot')].some(gd => gd.data &&"
                f" gd.data.length && (gd.data[0].meta || {{}}).role === '{role}')",
                timeout=120_000)
        else:
            page.wait_for_function(  # type: ignore[attr-defined]
                "[...document.querySelectorAll('.trackboard-images img')].some("
                "i => i.complete && i.naturalWidth > 0)", timeout=120_000)
        page.wait_for_timeout(2000)  # type: ignore[attr-defined]
        heading = page.get_by_role(  # type: ignore[attr-defined]
            "heading", name="Histograms, distributions, images")
        top = heading.bounding_box()
        end = page.get_by_role("heading", name="Parameters", exact=True  # type: ignore[attr-defined]
                               ).bounding_box()
        page.screenshot(path=str(out / name), clip={  # type: ignore[attr-defined]
            "x": top["x"] - 20, "y": top["y"] - 10, "width": VIEWPORT["width"] - top["x"],
            "height": min(end["y"] - top["y"], 1400)})


def shoot_hparams(page: object, path: Path) -> None:
    """Save the Compare page's hyperparameter view: its heading, controls and charts."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "[...document.querySelectorAll('.js-plotly-plot')].some(el => el.data"
        " && (el.data[0].meta || {}).role === 'hparams')", timeout=120_000)
    heading = page.get_by_role("heading", name="Hyperparameters")  # type: ignore[attr-defined]
    heading.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)  # type: ignore[attr-defined]
    top = heading.bounding_box()
    page.screenshot(path=str(path), full_page=True,  # type: ignore[attr-defined]
                    clip={"x": top["x"] - 20, "y": page.evaluate(  # type: ignore[attr-defined]
                        "window.scrollY") + top["y"] - 10,
                          "width": VIEWPORT["width"] - top["x"], "height": 640})


if __name__ == "__main__":
    main()
