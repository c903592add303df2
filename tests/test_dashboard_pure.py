"""Pure dashboard helpers: smoothing, metric choice, chart traces, tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from trackboard.dashboard import charts, data, tables
from trackboard.dashboard.smoothing import ema, moving_average, smooth
from trackboard.dashboard.param_diff import param_diff
from trackboard.dashboard.plotly_wire import decoded


def test_ema_matches_tensorboards_debiased_formula() -> None:
    values = [1.0, 0.0, 0.0, 0.5, 0.25]
    w = 0.6
    expected, last = [], 0.0
    for i, v in enumerate(values, start=1):
        last = last * w + (1 - w) * v
        expected.append(last / (1 - w ** i))
    assert ema(values, w) == pytest.approx(expected)
    assert ema(values, 0.0).tolist() == values
    assert ema([3.0] * 4, 0.9) == pytest.approx([3.0] * 4)  # debiased: no ramp from zero
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        ema(values, 1.0)


def test_moving_average_is_centred_and_skips_nan() -> None:
    assert moving_average([0.0, 3.0, 6.0, 9.0], 3).tolist() == [1.5, 3.0, 6.0, 7.5]
    out = moving_average([1.0, np.nan, 3.0], 3)
    assert out[0] == 1.0 and np.isnan(out[1]) and out[2] == 3.0
    with pytest.raises(ValueError, match="unknown smoothing"):
        smooth([1.0], "gaussian")


def test_metric_choice_by_name_glob_and_alias() -> None:
    available = ["eval_loss", "loss", "val_acc", "val_loss"]
    assert data.resolve_metrics(["val_*", "loss"], available) == [
        ("val_acc", ["val_acc"]), ("val_loss", ["val_loss"]), ("loss", ["loss"])]
    frame = pd.DataFrame({"run_id": ["a", "a", "b", "c", "c"],
                          "key": ["val_loss", "eval_loss", "eval_loss", "val_loss", "loss"],
                          "step": [0] * 5, "wall_time": [0.0] * 5, "value": [1., 2., 3., 4., 5.]})
    merged = data.merge_aliases(frame, ["val_loss", "eval_loss"])
    assert sorted(zip(merged["run_id"], merged["key"])) == [
        ("a", "val_loss"), ("b", "eval_loss"), ("c", "val_loss")]


def _frame(offsets: tuple[tuple[str, float], ...] = (("r1", 0.0), ("r2", 2.0))) -> pd.DataFrame:
    rows = []
    for rid, offset in offsets:
        for s in range(4):
            rows.append({"run_id": rid, "key": "loss", "step": s, "wall_time": 100.0 + s,
                         "value": s + offset})
    return pd.DataFrame(rows)


def test_metric_figure_overlays_runs_with_consistent_colours() -> None:
    colours = charts.run_colours(["r1", "r2"])
    fig = charts.metric_figure(charts.with_x(_frame(), "step"), "loss",
                               names={"r1": "<b>one</b>", "r2": "two"}, colours=colours)
    roles = [(t.meta["run_id"], t.meta["role"]) for t in fig.data]
    assert roles == [("r1", "raw"), ("r1", "smoothed"), ("r2", "raw"), ("r2", "smoothed")]
    assert fig.data[1].line.color == colours["r1"] == fig.data[0].line.color
    assert fig.data[0].opacity == 0.25
    assert fig.data[1].name == "&lt;b&gt;one&lt;/b&gt;"  # Plotly shows it as typed
    assert decoded(fig.data[1].y) == pytest.approx(ema([0, 1, 2, 3], 0.6))
    log = charts.metric_figure(charts.with_x(_frame(), "relative time"), "loss",
                               names={"r1": "a"}, colours=colours, log_y=True,
                               smoothing="none")
    assert log.layout.yaxis.type == "log" and len(log.data) == 1
    assert decoded(log.data[0].x) == [0.0, 1.0, 2.0, 3.0]


def test_long_series_use_webgl() -> None:
    n = charts.WEBGL_FROM + 1
    frame = pd.DataFrame({"run_id": "r", "key": "k", "step": np.arange(n),
                          "wall_time": np.arange(n, dtype=float), "value": np.ones(n)})
    fig = charts.metric_figure(charts.with_x(frame, "step"), "k", names={"r": "r"},
                               colours={"r": "#000000"})
    assert all(t.type == "scattergl" for t in fig.data)


def test_x_axis_from_another_logged_key_joins_on_step() -> None:
    frame = _frame()
    epochs = pd.DataFrame({"run_id": ["r1", "r1"], "key": ["epoch", "epoch"], "step": [0, 2],
                           "wall_time": [0.0, 0.0], "value": [0.0, 1.0]})
    out = charts.with_x(frame, "epoch", epochs)
    assert out["run_id"].unique().tolist() == ["r1"]  # r2 logged no epoch
    assert out["x"].tolist() == [0.0, 0.0, 1.0, 1.0]


def _band(trace: object) -> tuple[list[float], list[float]]:
    """(upper, lower) of a band drawn as one closed polygon: along the top, back below."""
    y = decoded(trace.y)  # type: ignore[attr-defined]
    half = len(y) // 2
    return y[:half], y[half:][::-1]


def test_grouped_runs_become_mean_and_band() -> None:
    fig = charts.metric_figure(charts.with_x(_frame(), "step"), "loss",
                               names={"r1": "a", "r2": "b"}, colours=charts.run_colours(["r1", "r2"]),
                               smoothing="none", groups={"r1": "g", "r2": "g"})
    roles = [t.meta["role"] for t in fig.data]
    assert roles == ["band", "mean"]
    assert decoded(fig.data[1].y) == [1.0, 2.0, 3.0, 4.0]
    assert _band(fig.data[0]) == ([2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 2.0, 3.0])  # mean +- std 1
    assert decoded(fig.data[0].x) == [0, 1, 2, 3, 3, 2, 1, 0]
    # Three runs (offsets 0, 0, 3): min-max (s .. s+3) differs from mean +- std (s+1 +- 1.41),
    # so a band that ignored band="minmax" would fail here.
    three = _frame((("r1", 0.0), ("r2", 0.0), ("r3", 3.0)))
    names = {"r1": "a", "r2": "b", "r3": "c"}
    groups = {"r1": "g", "r2": "g", "r3": "g"}
    minmax = charts.metric_figure(charts.with_x(three, "step"), "loss", names=names,
                                  colours=charts.run_colours(list(names)), smoothing="none",
                                  groups=groups, band="minmax")
    # What the browser receives: the figure's JSON, one closed band polygon and the mean.
    sent = json.loads(minmax.to_json())["data"]
    assert [t["meta"]["role"] for t in sent] == ["band", "mean"]
    assert sent[0]["fill"] == "toself" and "fill" not in sent[1]
    assert _band(minmax.data[0]) == ([3.0, 4.0, 5.0, 6.0], [0.0, 1.0, 2.0, 3.0])
    std = charts.metric_figure(charts.with_x(three, "step"), "loss", names=names,
                               colours=charts.run_colours(list(names)), smoothing="none",
                               groups=groups)
    assert _band(std.data[0])[0] == pytest.approx([1.0 + 2 ** 0.5 + s for s in range(4)])
    assert decoded(std.data[1].y) == [1.0, 2.0, 3.0, 4.0]


def test_params_diff_and_summary_tables() -> None:
    runs = pd.DataFrame({"id": ["a", "b"], "params.lr": [0.1, 0.01], "params.opt": ["adam"] * 2,
                         "params.layers": [[1, 2], None]})
    # layers is missing from run b: no difference (tests/test_dashboard_hparams.py has more).
    diff = param_diff(runs, {"a": "A", "b": "B"}).common
    assert diff.index.tolist() == ["lr"]
    assert diff.loc["lr"].tolist() == ["0.1", "0.01"]
    assert param_diff(runs, {}, show_all=True).common.index.tolist() == ["lr", "layers", "opt"]
    # The best value follows the metric's direction (max for accuracy, min for a loss);
    # each run reports the first alias key it has; a run without the metric has no row.
    info = {"a": {"val_acc": {"last": .8, "min": .5, "max": .9, "min_step": 0,
                              "max_step": 7, "count": 9},
                  "val_loss": {"last": .3, "min": .2, "max": 1.5, "min_step": 6,
                               "max_step": 0, "count": 9}},
            "b": {"eval_loss": {"last": .4, "min": .1, "max": 2.0, "min_step": 3,
                                "max_step": 1, "count": 5}}}
    summary = tables.summary_table(
        info, [("val_acc", ["val_acc"]), ("loss", ["val_loss", "eval_loss"])],
        {"a": "A", "b": "B"})
    assert summary.to_dict("records") == [
        {"metric": "val_acc", "run": "A", "key": "val_acc", "last": .8, "min": .5, "max": .9,
         "best": .9, "best step": 7, "steps": 9},
        {"metric": "loss", "run": "A", "key": "val_loss", "last": .3, "min": .2, "max": 1.5,
         "best": .2, "best step": 6, "steps": 9},
        {"metric": "loss", "run": "B", "key": "eval_loss", "last": .4, "min": .1, "max": 2.0,
         "best": .1, "best step": 3, "steps": 5}]
