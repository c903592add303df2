"""What a Compare line shows when a series is read in stretches (issue 19 item 8),
under Streamlit's AppTest on a real SQLite store.

A metric that jumps between 1 and 3 every step, read as 500 stretches of 8 steps:
the store keeps each stretch's lowest and highest value. Drawn through both, each
line was a zigzag band between 1 and 3 at the default smoothing; now a line goes
through each stretch's middle (2), a faint band spans 1..3 only for a few runs, and
the y axis fits the lines.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest
from trackboard.dashboard import charts
from trackboard.dashboard.plotly_wire import decoded
from trackboard.loggers import Run

from tests.support.dashboard import APP

STEPS = 4_000


def _seed(url: str, runs: int) -> list[str]:
    ids = []
    for r in range(runs):
        with Run(project="noisy", name=f"run-{r}", store=url, config={"seed": r},
                 system_metrics=False) as run:
            for s in range(STEPS):
                run.log({"grad_norm": 2.0 + (-1.0) ** s + 0.001 * r}, step=s)
        ids.append(run.id)
    return ids


def _chart(url: str, ids: list[str], monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("TRACKBOARD_UI_STORE", url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(runs=",".join(ids), metrics="grad_norm", hpv="0")
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    return json.loads(at.get("plotly_chart")[0].proto.spec)


@pytest.mark.parametrize("runs", [2, charts.ENVELOPE_UP_TO + 3, charts.RAW_LINES_UP_TO + 1])
def test_a_noisy_metric_reads_as_one_line_per_run(sqlite_url: str, runs: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _seed(sqlite_url, runs)
    fig = _chart(sqlite_url, ids, monkeypatch)
    lines = [t for t in fig["data"] if t["meta"]["role"] == "smoothed"]
    assert sorted(t["meta"]["run_id"] for t in lines) == sorted(ids)
    for t in lines:
        ys = decoded(t["y"])
        # One point per stretch (not its two), every one on the middle: no zigzag.
        assert 0.4 * charts.points_per_series(runs) <= len(ys) <= charts.points_per_series(runs) / 2
        assert max(ys) - min(ys) < 0.02, (min(ys), max(ys))
    # The y axis fits the lines, not the 1..3 the values span.
    low, high = fig["layout"]["yaxis"]["range"]
    assert 1.9 < low < 2.0 < 2.0 + 0.001 * (runs - 1) < high < 2.1
    bands = [t for t in fig["data"] if t["meta"]["role"] == "envelope"]
    if runs <= charts.ENVELOPE_UP_TO:
        # A few runs: a faint band per run, one closed polygon from 1 up to 3.
        assert len(bands) == runs and all(b["fill"] == "toself" for b in bands)
        ys = decoded(bands[0]["y"])
        assert min(ys) == pytest.approx(1.0, abs=0.01) and max(ys) == pytest.approx(3.0, abs=0.01)
    else:
        # More runs: no bands (at 12 runs they were one mud); a faint unsmoothed line
        # behind each line up to 12 runs, as in TensorBoard; beyond, only the lines.
        behind = runs <= charts.RAW_LINES_UP_TO
        assert bands == [] and len(fig["data"]) == (2 if behind else 1) * runs


def test_a_step_range_shares_out_the_charts_budget(sqlite_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # 13 runs x 1,500 steps in the range: read whole, that was 19,500 points a chart,
    # each series in WebGL (the 22-50 s step-range change without a GPU).
    runs = charts.RAW_LINES_UP_TO + 1
    ids = []
    for r in range(runs):
        with Run(project="noisy", name=f"run-{r}", store=sqlite_url, system_metrics=False) as run:
            for s in range(3_000):
                run.log({"loss": 1.0 / (1 + s) + 0.01 * r}, step=s)
        ids.append(run.id)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(runs=",".join(ids), metrics="loss", hpv="0", range="1000-2499")
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    budget = charts.points_per_series(runs, charts.CHART_POINTS)  # 12,000 / 13 = 923
    assert {t["type"] for t in fig["data"]} == {"scatter"}  # SVG: no WebGL context
    assert sum(len(decoded(t["x"])) for t in fig["data"]) <= charts.CHART_POINTS
    for t in fig["data"]:
        xs = decoded(t["x"])
        assert budget / 4 <= len(xs) <= budget and 1000 <= min(xs) and max(xs) <= 2499
    # A range that fits the budget is read at full resolution.
    at.text_input(key="cmp_range").set_value("1000-1499").run()
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert all(decoded(t["x"]) == list(range(1000, 1500)) for t in fig["data"])
    # The range box sits with the charts (a change reruns only their fragment) and
    # still lives in the link; a malformed range is said once and shows every step.
    assert at.query_params["range"] == "1000-1499"
    at.text_input(key="cmp_range").set_value("abc").run()
    assert [w.value for w in at.warning if "not like" in w.value] == [
        "Step range 'abc' is not like 1000\\-2000; showing all steps\\."]
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    xs = decoded(fig["data"][0]["x"])
    assert min(xs) < 10 and max(xs) > 2_990 and "range" in at.query_params
