"""Shared helpers for the dashboard tests: a seeded store, the UI server, Chromium."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trackboard.loggers import Run

from tests.support.ports import free_port, wait_http

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboard" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
XSS_NAME = "<script>alert(1)</script><img src=x onerror=alert(2)>"
XSS_PARAM = "<img src=x onerror=alert(3)>"
# A known series for the smoothing assertions: loss of run "keras-run".
KNOWN_LOSS = [1.0, 0.0, 0.0, 0.5, 0.25]


def seed(url: str) -> dict[str, str]:
    """Three runs of three frameworks (run name -> id) plus an HTML-named run."""
    ids: dict[str, str] = {}
    spec = [("keras-run", "keras", 0.001, "val_loss", "0"),
            ("torch-run", "torch", 0.01, "eval_loss", "1"),
            ("lightning-run", "lightning", 0.001, "val_loss", "0")]
    for i, (name, fw, lr, val_key, seed_tag) in enumerate(spec):
        with Run(project="demo", name=name, framework=fw, store=url,
                 config={"lr": lr, "optimizer": "adam", "layers": 2 + i},
                 tags={"seed": seed_tag}, system_metrics=False) as run:
            # system/cpu_percent is logged here by hand: a real sample at step 0
            # or 1 would replace those values.
            for s in range(40):
                loss = KNOWN_LOSS[s] if (i == 0 and s < len(KNOWN_LOSS)) else math.exp(-s / 10) + i
                run.log({"loss": loss, val_key: math.exp(-s / 12) + 0.1 * i, "epoch": s // 10,
                         "system/cpu_percent": 20.0 + i}, step=s)
        ids[name] = run.id
    with Run(project="web", name=XSS_NAME, config={"note": XSS_PARAM},
             tags={"html": "<b>bold</b>"}, store=url) as run:
        run.log({"loss": 1.0}, step=0)
        run.log({"loss": 0.5}, step=1)
    ids["xss"] = run.id
    return ids


def seed_for_app(url: str, env: object, *, read_only: bool) -> dict[str, str]:
    """seed() the store and point an AppTest's app at it (env: pytest's monkeypatch),
    with no password."""
    made = seed(url)
    env.setenv("TRACKBOARD_UI_STORE", url)  # type: ignore[attr-defined]
    env.setenv("TRACKBOARD_UI_READ_ONLY", "1" if read_only else "0")  # type: ignore[attr-defined]
    env.delenv("TRACKBOARD_PASSWORD", raising=False)  # type: ignore[attr-defined]
    return made


@contextmanager
def ui_server(store_url: str, *extra: str, env: dict[str, str] | None = None
              ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`trackboard ui` on a free port; yields (base URL, process)."""
    port = free_port()
    cmd = [str(Path(sys.executable).with_name("trackboard")), "ui", "--store", store_url,
           "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)
    yield from _serve(f"http://127.0.0.1:{port}", proc)


@contextmanager
def streamlit_server(store_url: str, env: dict[str, str] | None = None
                     ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`streamlit run dashboard/app.py` from the repository root, as the README says
    (store in $TRACKBOARD_STORE); only the port is chosen, so tests can run side by side."""
    port = free_port()
    cmd = [str(Path(sys.executable).with_name("streamlit")), "run", "dashboard/app.py",
           "--server.port", str(port)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRACKBOARD_UI_")}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            env={**clean, "TRACKBOARD_STORE": store_url, **(env or {})})
    yield from _serve(f"http://127.0.0.1:{port}", proc)


def _serve(base: str, proc: subprocess.Popen[str]
           ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    try:
        wait_http(base + "/_stcore/health", timeout=60)
        yield base, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def chromium() -> Iterator[object]:
    """A Playwright Chromium browser (the system one; never downloaded)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def run_list_texts(page: object) -> list[str]:
    """Cell texts of the Compare page's run list (its canvas grid keeps an accessible
    table of the rows in view); the page lists the runs there, not in chart legends."""
    page.wait_for_selector(".st-key-cmp_runs table td", state="attached",  # type: ignore[attr-defined]
                           timeout=60_000)
    return page.eval_on_selector_all(  # type: ignore[attr-defined]
        ".st-key-cmp_runs table td", "els => els.map(e => e.textContent)")
