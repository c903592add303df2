"""Make the docs' screenshots from `trackboard demo` data, the way a new user sees it.

    python docs/screenshots.py            # trains the demo (~1-2 min), then shoots
    python docs/screenshots.py --store sqlite:///demo.db   # reuse a store `trackboard demo` filled

It runs `trackboard demo` into a temporary store (unless --store is given), starts
`trackboard ui --store URL` as the README says, and saves from a headless Chromium:

- docs/compare.png: the Compare page with every demo run (12 with Keras, PyTorch,
  Lightning and JAX installed): the run list, then the charts;
- docs/runs.png: the Runs page.

Needs the `trackboard` command of this environment, Playwright and a Chromium
(/usr/bin/chromium, or $CHROMIUM).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
TRACKBOARD = str(Path(sys.executable).with_name("trackboard"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
METRICS = "loss,val_loss,accuracy,val_accuracy"
VIEWPORT = {"width": 1500, "height": 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="a store `trackboard demo` filled (default: a new one)")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trackboard-shots-") as tmp:
        url = args.store
        if url is None:
            url = f"sqlite:///{tmp}/demo.db"
            subprocess.run([TRACKBOARD, "demo", "--store", url], check=True)
        shoot(url, args.out)


def shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright
    from trackboard.storage import Store

    store = Store(url, read_only=True)
    ids = store.runs()["id"].tolist()[::-1]  # oldest first: the order the demo made them
    store.close()
    port = _free_port()
    server = subprocess.Popen([TRACKBOARD, "ui", "--store", url, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(base + "/_stcore/health")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(base + "/")
            page.wait_for_selector("[data-testid=stDataFrame]", timeout=120_000)
            page.wait_for_timeout(1500)  # the grid paints after it appears
            page.screenshot(path=str(out / "runs.png"))
            # Tall enough for the controls, the run list of 12 and two rows of charts.
            page.set_viewport_size({"width": VIEWPORT["width"], "height": 1750})
            page.goto(f"{base}/compare?runs={','.join(ids)}&metrics={METRICS}")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4",
                                   timeout=120_000)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(out / "compare.png"))
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(f"{len(ids)} runs: wrote {out / 'compare.png'} and {out / 'runs.png'}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


if __name__ == "__main__":
    main()
