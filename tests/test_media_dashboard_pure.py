"""The media views' pure builders: figures from Store frames of real runs, image rows,
keys and steps (dashboard/media_charts.py, media_images.py, media_pick.py)."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from trackboard.dashboard import media_charts, media_images, media_pick
from trackboard.loggers import Histogram, Run
from trackboard.storage import Store

from tests.support.media_seed import figure_json, seed_media

NAMES_HOSTILE = "<b>x</b> %{x} <img src=x onerror=alert(1)>"


@pytest.fixture
def two_runs(sqlite_url: str) -> tuple[Store, list[str]]:
    ids = seed_media(sqlite_url, runs=2, steps=range(0, 101, 20), images=False)
    return Store(sqlite_url, read_only=True), ids


def _lightness(colour: str) -> int:
    h = colour.lstrip("#")
    return sum(int(h[i:i + 2], 16) for i in (0, 2, 4))


def test_distribution_panels_are_nested_bands_of_each_run(two_runs) -> None:
    store, ids = two_runs
    frame = store.distributions(ids, ["weights/fc1"])
    names = {ids[0]: "keras-0", ids[1]: "torch-1"}
    colours = {ids[0]: "#1CA71C", ids[1]: "#FB0D0D"}
    fig = media_charts.distribution_figure(frame, "weights/fc1", names=names, colours=colours)
    data = figure_json(fig.to_json())["data"]
    # Per run: four bands (outermost first) and the median, on its own panel.
    assert [(t["meta"]["run_id"], t["meta"]["role"]) for t in data] == [
        (rid, role) for rid in ids for role in ["band"] * 4 + ["median"]]
    assert {t["xaxis"] for t in data if t["meta"]["run_id"] == ids[1]} == {"x2"}
    first = frame[frame["run_id"] == ids[0]].sort_values("step")
    outer = data[0]
    n = len(first)
    # The polygon runs along the maximum and back along the minimum.
    assert np.allclose(outer["y"][:n], first["bp10000"]) and np.allclose(
        outer["y"][n:], first["bp0"].to_numpy()[::-1])
    assert data[0]["meta"]["band"] == ["bp0", "bp10000"]
    assert data[3]["meta"]["band"] == ["bp3085", "bp6915"]
    assert np.allclose(data[4]["y"], first["bp5000"])
    assert data[4]["line"]["color"] == "#1CA71C" and "rgba(251,13,13," in data[5]["fillcolor"]
    layout = figure_json(fig.to_json())["layout"]
    # Panels share their axes, so the runs read on one scale.
    assert layout["yaxis2"]["matches"] == "y" and layout["xaxis2"]["matches"] == "x"
    assert [a["text"].split("</span> ")[1] for a in layout["annotations"]] == ["keras-0", "torch-1"]


def test_distribution_overlay_draws_median_and_one_sigma_band(two_runs) -> None:
    store, ids = two_runs
    frame = store.distributions(ids, ["weights/fc1"])
    fig = media_charts.distribution_figure(
        frame, "weights/fc1", names={ids[1]: "b", ids[0]: "a"},
        colours={ids[0]: "#1CA71C", ids[1]: "#FB0D0D"}, mode="overlay")
    data = figure_json(fig.to_json())["data"]
    assert [(t["meta"]["run_id"], t["meta"]["role"]) for t in data] == [
        (ids[1], "band"), (ids[1], "median"), (ids[0], "band"), (ids[0], "median")]
    assert data[0]["meta"]["band"] == ["bp1587", "bp8413"]
    assert {t.get("xaxis", "x") for t in data} == {"x"}
    with pytest.raises(ValueError, match="use 'runs' or 'overlay'"):
        media_charts.distribution_figure(frame, "k", names={}, colours={}, mode="stacked")


def test_steps_without_finite_values_leave_no_gap_in_the_bands(sqlite_url: str) -> None:
    with Run(project="p", name="nan", store=sqlite_url, system_metrics=False) as run:
        for step in range(4):
            values = np.full(10, np.nan) if step == 2 else np.arange(10.0) + step
            run.log({"w": Histogram(values, bins=5)}, step=step)
    frame = Store(sqlite_url, read_only=True).distributions(run.id)
    assert frame["bp5000"].isna().tolist() == [False, False, True, False]
    fig = media_charts.distribution_figure(frame, "w", names={run.id: "nan"},
                                           colours={run.id: "#1CA71C"})
    median = figure_json(fig.to_json())["data"][4]
    assert list(median["x"]) == [0, 1, 3]
    assert np.isfinite(np.asarray(figure_json(fig.to_json())["data"][0]["y"], float)).all()


def test_ridge_draws_later_steps_in_front_lower_and_darker(two_runs) -> None:
    store, ids = two_runs
    frame = store.histograms(ids, ["weights/fc1"])
    fig = media_charts.ridge_figure(frame, "weights/fc1", names={ids[0]: "a", ids[1]: "b"},
                                    colours={ids[0]: "#1CA71C", ids[1]: "#FB0D0D"})
    data = figure_json(fig.to_json())["data"]
    mine = [t for t in data if t["meta"]["run_id"] == ids[0]]
    steps = [t["meta"]["step"] for t in mine]
    assert steps == [0, 20, 40, 60, 80, 100]  # drawn in this order: the latest on top
    lightness = [_lightness(t["fillcolor"]) for t in mine]
    assert lightness == sorted(lightness, reverse=True) and lightness[0] > lightness[-1]
    assert mine[-1]["fillcolor"] == "#1CA71C"  # the latest in the run's own colour
    for trace in mine:
        ys = np.asarray(trace["y"], float)
        # Each outline starts and ends on its step's baseline and rises above it
        # (towards earlier steps, the axis is reversed).
        assert ys[0] == ys[-1] == trace["meta"]["step"] and ys.min() < ys[0]
    layout = figure_json(fig.to_json())["layout"]
    assert layout["yaxis"]["autorange"] == "reversed"
    assert set(layout["yaxis"]["tickvals"]) <= set(steps)


def test_histogram_overlay_is_a_density_at_each_runs_step(two_runs) -> None:
    store, ids = two_runs
    frame = pd.concat([store.histograms(ids[0], ["weights/fc2"], steps=[40]),
                       store.histograms(ids[1], ["weights/fc2"], steps=[60])])
    fig = media_charts.overlay_figure(frame, "weights/fc2", names={ids[0]: "a", ids[1]: "b"},
                                      colours={ids[0]: "#1CA71C", ids[1]: "#FB0D0D"})
    data = figure_json(fig.to_json())["data"]
    assert [(t["meta"]["run_id"], t["meta"]["step"]) for t in data] == [(ids[0], 40), (ids[1], 60)]
    row = frame.iloc[0]
    widths = np.diff(row["edges"])
    assert np.isclose((np.asarray(data[0]["y"]) * widths).sum(), 1.0)
    assert "step 40" in data[0]["hovertemplate"]


def test_density_merges_buckets_keeping_the_mass() -> None:
    edges = np.linspace(-1, 1, 1004)  # 1,003 buckets: merged 6 by 6, the last alone
    counts = np.random.default_rng(0).integers(0, 9, 1003).astype(float)
    xs, ys = media_charts.density(edges, counts, most=200)
    merged = edges[np.r_[np.arange(0, 1003, 6), 1003]]
    assert len(xs) == 168
    assert np.allclose(xs, (merged[:-1] + merged[1:]) / 2)
    assert np.isclose((ys * np.diff(merged)).sum(), 1.0)
    assert ys[-1] == pytest.approx(counts[-1] / (counts.sum() * (edges[-1] - edges[-2])))


def test_nonfinite_values_are_said_in_the_hover(sqlite_url: str) -> None:
    with Run(project="p", name="r", store=sqlite_url, system_metrics=False) as run:
        run.log({"w": Histogram([1.0, 2.0, np.nan, np.inf, np.inf], bins=2)}, step=0)
    frame = Store(sqlite_url, read_only=True).histograms(run.id)
    fig = media_charts.overlay_figure(frame, "w", names={run.id: "r"}, colours={run.id: "#1CA71C"})
    assert "not drawn: NaN 1, +inf 2" in figure_json(fig.to_json())["data"][0]["hovertemplate"]
    assert media_charts.nonfinite_steps(frame) == {run.id: 1}


def test_user_text_in_figures_is_escaped(two_runs) -> None:
    store, ids = two_runs
    frame = store.histograms(ids[:1], ["weights/fc1"])
    for fig in (media_charts.ridge_figure(frame, NAMES_HOSTILE, names={ids[0]: NAMES_HOSTILE},
                                          colours={ids[0]: "#1CA71C"}),
                media_charts.distribution_figure(store.distributions(ids[:1]), NAMES_HOSTILE,
                                                 names={ids[0]: NAMES_HOSTILE},
                                                 colours={ids[0]: "red' x='"})):
        text = fig.to_json()
        assert "<img" not in text and "<b>x" not in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text
        # A name is never part of a hover template, where %{x} would be read.
        assert all("%{x} <" not in t.get("hovertemplate", "") for t in figure_json(fig.to_json())["data"])
    # A colour that is not #RRGGBB never reaches the panel title's markup.
    assert "red'" not in str(figure_json(text)["layout"]["annotations"])


def test_image_rows_escape_captions_and_keep_the_strip_order() -> None:
    rows = [media_images.RunRow(NAMES_HOSTILE, "#1CA71C", 40, [
        media_images.Shown(media_images.data_url(b"\x89PNG one", "png"), 28, 28, "first **a**"),
        media_images.Shown(media_images.data_url(b"\x89PNG two", "png"), 28, 28,
                           "<img src=x onerror=alert(1)>\nline 2"),
    ], left_out=3), media_images.RunRow("other", "#FB0D0D", None)]
    out = media_images.rows_html(rows, 35)
    srcs = re.findall(r'src="data:image/png;base64,([^"]+)"', out)
    assert [base64.b64decode(s) for s in srcs] == [b"\x89PNG one", b"\x89PNG two"]
    assert "first **a**" in out and "&lt;img src=x onerror=alert(1)&gt;\nline 2" in out
    assert "<img src=x" not in out and "&lt;b&gt;x&lt;/b&gt;" in out
    assert "step 40 (nearest to 35)" in out and "3 more not shown" in out
    assert "no image logged" in out


def test_big_strips_are_cut_to_the_budget() -> None:
    # At most 24 of each run's strip; the byte budget is the card's, all runs together.
    assert media_images.within_budget([[5] * 30, [5] * 3]) == [[True] * 24 + [False] * 6,
                                                               [True] * 3]
    assert media_images.within_budget([[10, 50], [10, 10]], budget=25) == [[True, False],
                                                                          [True, False]]
    with pytest.raises(ValueError, match="expected one of"):
        media_images.data_url(b"x", "bmp")


def test_nearest_steps_and_slider_stride() -> None:
    by_run = {"a": [0, 20, 40, 60], "b": [0, 30, 60]}
    assert media_pick.union_steps(by_run) == [0, 20, 30, 40, 60]
    assert media_pick.slider_stride(media_pick.union_steps(by_run)) == 10
    assert media_pick.nearest_steps(by_run, 40) == {"a": 40, "b": 30}
    assert media_pick.nearest_steps(by_run, 46) == {"a": 40, "b": 60}
    assert media_pick.nearest_step([10, 20], 15) == 10  # a tie goes to the earlier step


def test_key_steps_round_trip_through_the_link() -> None:
    steps = {"weights/fc1": 120, "a,b": 5, "x=y": -1, "`tick`": 3}
    assert media_pick.parse_key_steps(media_pick.format_key_steps(steps)) == steps
    assert media_pick.parse_key_steps("a=1,b=x,=3,c") == {"a": 1}


def test_keys_are_grouped_and_picked() -> None:
    keys = ["weights/fc1", "samples", "grads/fc1", "weights/fc2"]
    assert media_pick.key_groups(keys) == [("weights", ["weights/fc1", "weights/fc2"]),
                                           ("", ["samples"]), ("grads", ["grads/fc1"])]
    assert media_pick.pick_keys(["weights/*", "samples"], keys) == [
        "weights/fc1", "weights/fc2", "samples"]


def test_overlays_stay_readable_as_runs_pile_up(sqlite_url: str) -> None:
    ids = seed_media(sqlite_url, runs=6, steps=range(0, 41, 20), images=False)
    store = Store(sqlite_url, read_only=True)
    colours = dict(zip(ids, ["#1CA71C", "#FB0D0D", "#636EFA", "#E6AB02", "#B00068", "#17BECF"]))

    def band_alpha(n: int) -> float:
        fig = media_charts.distribution_figure(
            store.distributions(ids[:n], ["weights/fc1"]), "weights/fc1",
            names={r: r for r in ids[:n]}, colours=colours, mode="overlay")
        return float(figure_json(fig.to_json())["data"][0]["fillcolor"].rsplit(",", 1)[1][:-1])

    # Two runs' bands read at 0.18; six stacked at 0.18 made one brown mass.
    assert band_alpha(2) == 0.18 and band_alpha(6) < 0.1

    def fills(n: int) -> set[str]:
        fig = media_charts.overlay_figure(store.histograms(ids[:n], ["weights/fc1"], steps=[40]),
                                          "weights/fc1", names={r: r for r in ids[:n]},
                                          colours=colours)
        return {t["fill"] for t in figure_json(fig.to_json())["data"]}

    assert fills(4) == {"tozeroy"} and fills(5) == {"none"}
