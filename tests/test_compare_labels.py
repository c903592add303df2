"""Compare at team scale, pure parts: run labels, readable numbers, run colours."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from trackboard.dashboard import charts, colors, labels
from trackboard.dashboard.colour_space import ciede2000, closest_pair, lab
from trackboard.dashboard.number_format import readable
from trackboard.dashboard.param_differences import differing_params
from trackboard.dashboard.smoothing import ema


@pytest.mark.parametrize(("value", "text"), [
    (0.003431348857969162, "0.003431"), (0.0034, "0.0034"), (3.4e-4, "3.4e-4"),
    (0.001, "0.001"), (0.000999, "9.99e-4"), (1e-5, "1e-5"), (0.1 + 0.2, "0.3"),
    (32, "32"), (2.0, "2"), (12.3456, "12.35"), (123456.7, "123457"), (2.5e7, "2.5e7"),
    (-0.00012, "-1.2e-4"), (0.0, "0"), (np.float32(0.1), "0.1"), (np.int64(7), "7"),
    (True, "True"), ("adam", "adam"), (math.nan, "nan"), (math.inf, "inf")])
def test_numbers_read_as_people_write_them(value: object, text: str) -> None:
    assert readable(value) == text


def _runs() -> pd.DataFrame:
    """Three frameworks' runs as Store.runs gives them: a Keras-only param, an lr
    under two names, one param the same everywhere."""
    return pd.DataFrame({
        "id": ["k1aaaaaa", "k2bbbbbb", "t3cccccc"], "name": ["keras-1", "keras-2", "torch-3"],
        "framework": ["keras", "keras", "torch"], "status": ["finished"] * 3,
        "params.learning_rate": [0.01, 0.003431348857969162, 0.01],
        "params.lr": [0.01, 0.003431348857969162, 0.01],
        "params.optimizer.beta_1": [0.9, 0.9, None],
        "params.optimizer.learning_rate": [0.01, 0.003431348857969162, None],
        "params.optimizer.name": ["adam", "adam_1", None],  # Keras' instance counter
        "params.hidden": [32, 32, 16], "params.batch_size": [128, 128, 128],
        "tags.seed": ["0", "1", None]})


def test_default_labels_show_the_params_that_differ() -> None:
    runs = _runs()
    # lr (the common name) first; learning_rate and optimizer.learning_rate repeat it;
    # beta_1 is absent from torch-3 but the same in both Keras runs: no difference;
    # Keras' optimizer names adam and adam_1 only count instances.
    assert differing_params(runs) == ["lr", "hidden"]
    assert labels.run_labels(runs) == {
        "k1aaaaaa": "keras-1 · lr=0.01 · hidden=32",
        "k2bbbbbb": "keras-2 · lr=0.003431 · hidden=32",
        "t3cccccc": "torch-3 · lr=0.01 · hidden=16"}


def test_default_labels_tell_twins_apart() -> None:
    # A setting run twice under one name (repeats whose seed is not a param): the same
    # name, no param that differs, yet each curve needs a label of its own.
    runs = pd.DataFrame({"id": ["a1b2c3d4e5", "f6e5d4c3b2", "0123456789"],
                         "name": ["mlp", "mlp", "cnn"], "params.lr": [0.1, 0.1, 0.1]})
    got = labels.run_labels(runs)
    assert len(set(got.values())) == 3, got
    assert got["0123456789"] == "cnn"
    assert all(got[rid].startswith("mlp") for rid in ("a1b2c3d4e5", "f6e5d4c3b2"))


def test_template_labels_and_their_problems() -> None:
    runs = _runs()
    assert labels.run_labels(runs, "{name} {params.lr}") == {
        "k1aaaaaa": "keras-1 0.01", "k2bbbbbb": "keras-2 0.003431", "t3cccccc": "torch-3 0.01"}
    # Missing values render empty; identical labels get a short id; no format tricks.
    same = labels.run_labels(runs, "{framework} {tags.seed}")
    assert same["t3cccccc"] == "torch"
    assert labels.run_labels(runs, "{framework}")["k1aaaaaa"] == "keras (k1aaaa)"
    assert labels.run_labels(runs, "{name.__class__} {0}")["k1aaaaaa"] == "keras-1"
    assert labels.template_problems("{name} {params.lrr} {tags.seed}", list(runs.columns)) == [
        "params.lrr"]


# The smallest CIEDE2000 difference between any two runs on a page of n runs, at least
# (bench/colours.py measures it: the hashed colours before gave pages with pairs at 5).
CLOSEST_AT = {2: 70.0, 6: 40.0, 12: 20.0, 50: 11.0}


@pytest.mark.parametrize("n", sorted(CLOSEST_AT))
def test_the_runs_on_a_page_get_colours_far_apart(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(20):  # any ids: the colours follow the order, not a hash of the id
        ids = [f"{v:016x}" for v in rng.integers(0, 2**62, n)]
        shown = list(colors.colours(ids).values())
        assert len(set(shown)) == n
        assert closest_pair(shown) >= CLOSEST_AT[n], shown


def test_colours_are_stable_for_the_runs_on_a_page() -> None:
    ids = [f"run-{i:02d}" for i in range(12)]
    started = {rid: 1000.0 - i for i, rid in enumerate(ids)}  # the last id started first
    styles = colors.styles(ids, started)
    assert {s.dash for s in styles.values()} == {"solid"}
    # The same set in any order gives the same colours (a reload, another page).
    assert colors.styles(list(reversed(ids)), started) == styles
    # Oldest first: the first run started takes the palette's first colour.
    assert styles["run-11"].colour == colors.PALETTE[0]
    # A run started after every other joins with the next colour; nobody else changes.
    newer = colors.styles([*ids, "late"], {**started, "late": 2000.0})
    assert {r: s for r, s in newer.items() if r != "late"} == styles
    assert newer["late"].colour == colors.PALETTE[12]
    # Past the palette, colours repeat with dashes: still no two runs drawn alike.
    many = colors.styles(f"run-{i}" for i in range(2 * len(colors.PALETTE) + 5))
    assert len({(s.colour, s.dash) for s in many.values()}) == len(many)
    assert {s.dash for s in many.values()} == {"solid", "dash", "dot"}


def test_palette_is_glasbey_visible_on_white_and_farthest_first() -> None:
    import colorcet

    glasbey = {c.upper() for c in colorcet.glasbey_dark}
    assert set(colors.PALETTE) <= glasbey and len(set(colors.PALETTE)) == len(colors.PALETTE)
    assert all(25 <= lab(c)[0] <= 75 for c in colors.PALETTE)
    # Each colour is the free one farthest from all before it.
    points = lab(list(colors.PALETTE))
    for k in (1, 5, 11, 49):
        nearest = np.min([ciede2000(points, points[j]) for j in range(k)], axis=0)
        assert int(np.argmax(np.where(np.arange(len(points)) < k, -1, nearest))) == k


def _history(runs: int, steps: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"run_id": np.repeat([f"r{i:02d}" for i in range(runs)], steps),
                         "key": "loss", "step": np.tile(np.arange(steps), runs),
                         "wall_time": 0.0,
                         "value": np.tile(np.linspace(1, 0, steps), runs)
                         + np.repeat(np.arange(runs), steps)})


def test_charts_have_no_legend_and_sort_the_hover() -> None:
    frame = charts.with_x(_history(50), "step")
    ids = sorted(frame["run_id"].unique())
    styles = colors.styles(ids)
    fig = charts.metric_figure(frame, "val_loss", names={r: f"run {r}" for r in ids},
                               colours={r: s.colour for r, s in styles.items()},
                               dashes={r: s.dash for r, s in styles.items()})
    layout = fig.layout
    assert layout.showlegend is False and layout.hovermode == "x unified"
    assert layout.hoversort == "value ascending"  # a loss: the best (lowest) first
    assert layout.hoverlabel.namelength == -1      # whole labels, not 15 characters
    assert len(fig.data) == 50 and {t.meta["role"] for t in fig.data} == {"smoothed"}
    assert {t.line.color for t in fig.data} == {s.colour for s in styles.values()}
    assert fig.data[0].yhoverformat == ".4~g"
    acc = charts.metric_figure(frame, "val_accuracy", names={"r00": "a"},
                               colours={"r00": "#000000"})
    assert acc.layout.hoversort == "value descending"
    assert [t.meta["role"] for t in acc.data] == ["raw", "smoothed"]  # few runs: raw too
    # The chart is as tall at 50 runs as at 1 (no legend to make room for).
    assert acc.layout.height == layout.height


def test_one_smoothing_pass_matches_each_runs_own() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=300)
    values[[5, 150, 299]] = np.nan
    values[40] = np.inf
    run_ids = np.repeat(np.array(["a", "b", "c"]), [120, 30, 150])
    out = charts.smooth_runs(run_ids, values, "ema", 0.8)
    expected = np.concatenate([ema(values[:120], 0.8), ema(values[120:150], 0.8),
                               ema(values[150:], 0.8)])
    np.testing.assert_allclose(out, expected, equal_nan=True)
    assert charts.points_per_series(50) * 50 <= charts.CHART_POINTS
    assert charts.points_per_series(3) == 1000
