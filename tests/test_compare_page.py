"""The Compare page's run list, labels, colours and layout under Streamlit's AppTest."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Dataframe
from trackboard.dashboard import colors

from tests.support.dashboard import APP, seed_for_app


@pytest.fixture
def ids(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return seed_for_app(sqlite_url, monkeypatch, read_only=True)


def _compare(**query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query)
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> list[dict]:
    """The metric charts (not the hyperparameter view's two, at the page's end)."""
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [f for f in figs if not str(
        ((f.get("data") or [{}])[0].get("meta") or {}).get("role", "")).startswith("hparam")]


def _lines(fig: dict) -> dict[str, tuple[str, str]]:
    """run id -> (trace name, colour) of a chart's hover (smoothed or only) lines."""
    return {t["meta"]["run_id"]: (t["name"], t["line"]["color"]) for t in fig["data"]
            if t.get("hoverinfo") != "skip"}


def _run_list(at: AppTest) -> Dataframe:
    return next(d for d in at.dataframe if str(d.key).startswith("cmp_runlist_"))


def _three(ids: dict[str, str]) -> list[str]:
    return [ids[n] for n in ("keras-run", "torch-run", "lightning-run")]


def test_run_list_and_labels_tell_the_runs_apart(ids: dict[str, str]) -> None:
    three = _three(ids)
    at = _compare(runs=",".join(three), metrics="loss,val_loss|eval_loss")
    rows = _run_list(at).value
    # seed(): lr 0.001 / 0.01 / 0.001, layers 2 / 3 / 4, optimizer adam everywhere;
    # lr is a common hyperparameter name, so it comes first.
    assert rows["run"].tolist() == ["keras-run · lr=0.001 · layers=2",
                                    "torch-run · lr=0.01 · layers=3",
                                    "lightning-run · lr=0.001 · layers=4"]
    assert rows["framework"].tolist() == ["keras", "torch", "lightning"]
    assert rows["status"].tolist() == ["✓ finished"] * 3 and rows["show"].all()
    for fig in _charts(at):
        assert fig["layout"]["showlegend"] is False
        names = {rid: name for rid, (name, _) in _lines(fig).items()}
        assert names[ids["torch-run"]] == "torch-run · lr=0.01 · layers=3"
    # A template from the control goes to the URL and into every label.
    at.text_input(key="cmp_label").set_value("{name} lr={params.lr} {params.nope}").run()
    assert at.query_params["label"] == "{name} lr={params.lr} {params.nope}"
    assert _run_list(at).value["run"].tolist()[:2] == ["keras-run lr=0.001",
                                                       "torch-run lr=0.01"]
    assert _lines(_charts(at)[0])[ids["keras-run"]][0] == "keras-run lr=0.001"
    assert "No selected run has \\{params\\.nope\\}" in at.warning[0].value


def test_colours_come_from_the_runs_and_match_the_swatches(ids: dict[str, str]) -> None:
    three = _three(ids)
    # seed() starts keras-run, torch-run, lightning-run in turn: the oldest gets the
    # palette's first colour, whatever the ids and the order in the link.
    expected = dict(zip(three, colors.PALETTE))
    at = _compare(runs=",".join(reversed(three)), metrics="loss,val_loss|eval_loss")
    for fig in _charts(at):
        assert {rid: c for rid, (_, c) in _lines(fig).items()} == expected
    rows = _run_list(at).value
    for rid, swatch in zip(rows["id"], rows["colour"]):
        assert f"fill='{expected[rid].replace('#', '%23')}'" in unquote(swatch.replace(
            "%23", "%2523"))
    # Another order of the same runs (another link, a reload): the same colours.
    again = _compare(runs=",".join(three), metrics="loss")
    assert {rid: c for rid, (_, c) in _lines(_charts(again)[0]).items()} == expected


def test_hidden_runs_leave_every_chart_and_live_in_the_url(ids: dict[str, str]) -> None:
    three = _three(ids)
    at = _compare(runs=",".join(three), metrics="loss,val_loss|eval_loss",
                  hide=ids["torch-run"])
    assert _run_list(at).value["show"].tolist() == [True, False, True]
    for fig in _charts(at):
        assert set(_lines(fig)) == {ids["keras-run"], ids["lightning-run"]}
    # The summary names the runs shown as the run list does.
    summary = at.dataframe[-1].value
    rows = _run_list(at).value
    assert set(summary["run"]) == set(rows.loc[rows["show"], "run"]) == {
        "keras-run · lr=0.001 · layers=2", "lightning-run · lr=0.001 · layers=4"}
    at.button(key="cmp_show_all").click().run()
    assert _run_list(at).value["show"].all() and "hide" not in at.query_params
    assert all(len(_lines(fig)) == 3 for fig in _charts(at))
    at.button(key="cmp_hide_all").click().run()
    assert at.query_params["hide"] == ",".join(three)
    assert not _charts(at) and "Every run is hidden" in at.info[0].value


def test_charts_per_row_from_the_url_and_same_height(ids: dict[str, str]) -> None:
    three = _three(ids)
    at = _compare(runs=",".join(three), metrics="loss,val_loss|eval_loss,epoch", cols="3")
    assert at.radio(key="cmp_cols").value == 3
    figs = _charts(at)
    assert len(figs) == 3 and len({f["layout"]["height"] for f in figs}) == 1
    one = _compare(runs=ids["keras-run"], metrics="loss", cols="3")
    assert _charts(one)[0]["layout"]["height"] == figs[0]["layout"]["height"]
    at.radio(key="cmp_cols").set_value(1).run()
    assert at.query_params["cols"] == "1"
    assert _compare(runs=ids["keras-run"], cols="7").radio(key="cmp_cols").value == 2


def test_grouped_runs_share_their_groups_colour(ids: dict[str, str]) -> None:
    three = _three(ids)
    at = _compare(runs=",".join(three), metrics="loss", group="tags.seed", smooth="none")
    expected = colors.colours(["0", "1"])  # the group labels: seed 0 and seed 1
    means = {t["meta"]["group"]: t["line"]["color"] for t in _charts(at)[0]["data"]
             if t["meta"]["role"] == "mean"}
    assert means == expected
    rows = _run_list(at).value
    assert rows["group"].tolist() == ["0", "1", "0"]
    for group, swatch in zip(rows["group"], rows["colour"]):
        assert expected[group].replace("#", "%23") in swatch
