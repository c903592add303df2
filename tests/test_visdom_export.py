"""Runs -> a real Visdom server: one window per metric, one trace per run; --follow appends;
one histogram and one image window per key and run, with a step slider."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.interchange.visdom import PARAMS_WINDOW, window_id

from tests.support.servers import visdom_server

pytestmark = pytest.mark.slow  # a real Visdom server


@pytest.fixture(scope="module")
def visdom_port(tmp_path_factory: pytest.TempPathFactory) -> object:
    base = tmp_path_factory.mktemp("visdom")
    with visdom_server(base / "envs", base / "visdom.log") as port:
        yield port


def _window(port: int, env: str, win: str) -> dict:
    import visdom

    vis = visdom.Visdom(port=port, env=env, use_incoming_socket=False, raise_exceptions=True)
    return json.loads(vis.get_window_data(win, env=env))


def _traces(port: int, env: str, key: str) -> dict[str, tuple[list, list]]:
    data = _window(port, env, window_id(key))["content"]["data"]
    return {t["name"]: (t["x"], t["y"]) for t in data}


def test_export_one_window_per_key_one_trace_per_run(visdom_port: int,
                                                     sqlite_url: str) -> None:
    runs = []
    for i in range(2):
        with Run(project="vis", name=f"run{i}", config={"lr": 0.1 * (i + 1)},
                 store=sqlite_url, system_metrics=False) as run:
            for step in range(20):
                run.log({"loss": 1 / (step + 1 + i), "acc": step / 20})
        runs.append(run)
    args = ["export", "visdom", "--port", str(visdom_port), "--env", "t1", "--store",
            sqlite_url, "--project", "vis"]
    for _ in range(2):  # exporting again replaces the windows' traces
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "sent 4 trace(s), 80 points in 2 window(s)" in result.output
    hist = Store(sqlite_url).history([r.id for r in runs])
    for key in ("loss", "acc"):
        traces = _traces(visdom_port, "t1", key)
        assert sorted(traces) == ["run0", "run1"]
        for run in runs:
            want = hist[(hist.run_id == run.id) & (hist.key == key)]
            assert traces[run.name] == (want["step"].astype(float).tolist(),
                                        want["value"].tolist())
    win = _window(visdom_port, "t1", window_id("loss"))
    assert win["title"] == "loss" and win["xlabel"] == "step"
    params = _window(visdom_port, "t1", PARAMS_WINDOW)["content"]
    assert "lr" in params and "0.2" in params


WRITER = """
import sys, time
from trackboard.loggers import Run
with Run(project="live", name="writer", store=sys.argv[1], system_metrics=False) as run:
    for step in range(30):
        run.log({"loss": 1.0 / (step + 1)})
        if step == 4:
            run._writer.flush(10)
            open(sys.argv[2], "w").write("started")
        time.sleep(0.1)
"""


def test_follow_appends_until_the_run_finishes(visdom_port: int, sqlite_url: str,
                                               tmp_path: Path) -> None:
    flag = tmp_path / "started"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, sqlite_url, str(flag)])
    try:
        deadline = time.time() + 60
        while not flag.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert flag.exists(), "the writer did not start"
        result = CliRunner().invoke(cli, ["export", "visdom", "--port", str(visdom_port),
                                          "--env", "live", "--store", sqlite_url,
                                          "--follow", "--poll", "0.3"])
        assert writer.wait(60) == 0
    finally:
        writer.kill()
    assert result.exit_code == 0, result.output
    assert "followed" in result.output and "no longer running" in result.output
    x, y = _traces(visdom_port, "live", "loss")["writer"]
    assert x == [float(s) for s in range(30)]
    assert y == [1.0 / (s + 1) for s in range(30)]


def test_unreachable_server_is_a_clear_error(sqlite_url: str) -> None:
    from tests.support.ports import free_port

    with Run(project="x", store=sqlite_url) as run:
        run.log({"a": 1.0})
    result = CliRunner().invoke(cli, ["export", "visdom", "--port", str(free_port()),
                                      "--store", sqlite_url])
    assert result.exit_code == 1
    assert "cannot reach the Visdom server" in result.output


def _media_runs(url: str) -> list[Run]:
    from trackboard.loggers import Histogram, Image

    runs = []
    for i in range(2):
        rng = np.random.default_rng(i)
        with Run(project="media", name=f"run{i}", store=url, system_metrics=False) as run:
            for step in range(5):
                run.log({"weights": Histogram(rng.normal(i, 1, 200), bins=8),
                         "strip": [Image(rng.integers(0, 256, (4, 3, 3), dtype=np.uint8),
                                         caption=f"s{k}") for k in range(2)],
                         "grey": Image(rng.integers(0, 256, (5, 2), dtype=np.uint8))},
                        step=step)
        runs.append(run)
    return runs


def _png_pixels(src: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image as PILImage

    head, data = src.split(",", 1)
    assert head == "data:image/png;base64"
    return np.asarray(PILImage.open(io.BytesIO(base64.b64decode(data))))


def test_histogram_and_image_windows_per_key_and_run(visdom_port: int,
                                                     sqlite_url: str) -> None:
    from trackboard.storage.interchange.visdom_media import media_window_id, strip_grid
    from trackboard.storage.media.images import decode_image

    runs = _media_runs(sqlite_url)
    store = Store(sqlite_url)
    args = ["export", "visdom", "--port", str(visdom_port), "--env", "media", "--store",
            sqlite_url, "--project", "media", "--max-media-steps", "3"]
    for _ in range(2):  # exporting again replaces the windows (no history appended)
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "2 histogram and 4 image window(s)" in result.output
        for run in runs:
            win = _window(visdom_port, "media", media_window_id("histogram", "weights",
                                                                 run.id))
            assert win["title"] == f"weights · {run.name}"
            traces = win["content"]["data"]
            want = store.histograms(run.id, keys=["weights"], max_steps=3)
            assert want["step"].tolist() == [0, 2, 4]  # evenly spread, first and last
            assert [t["name"] for t in traces] == ["step 0", "step 2", "step 4"]
            assert [t["visible"] for t in traces] == [False, False, True]
            for t, h in zip(traces, want.itertuples()):
                assert t["y"] == h.counts.tolist()
                assert t["width"] == np.diff(h.edges).tolist()
                assert t["x"] == ((h.edges[:-1] + h.edges[1:]) / 2).tolist()
            slider = win["content"]["layout"]["sliders"][0]
            assert [s["label"] for s in slider["steps"]] == ["0", "2", "4"]
            assert slider["active"] == 2
            for key in ("strip", "grey"):
                win = _window(visdom_port, "media", media_window_id("image", key, run.id))
                history = win["content"]
                frame = store.images(run.id, keys=[key], max_steps=3)
                assert len(history) == 3  # one entry per step, its slider
                for entry, (step, strip) in zip(history, frame.groupby("step")):
                    pixels = [decode_image(store.image_bytes(h), c)
                              for h, c in zip(strip["hash"], strip["channels"])]
                    shown = _png_pixels(entry["src"])
                    assert (shown == strip_grid(pixels)).all()
                    if key == "grey":  # one image: its own pixels, grey as RGB
                        assert (shown == np.repeat(pixels[0], 3, axis=2)).all()
                        assert entry["caption"] == f"step {step}"
                    else:
                        assert entry["caption"] == f"step {step}: s0 | s1"
