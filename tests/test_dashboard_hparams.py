"""Compare at team scale: group by any run field, the param diff, the hyperparameter view.

Pages run under Streamlit's AppTest on a seeded store (keras, torch and lightning
runs); the table and figure builders are tested as plain functions.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from plotly.colors import sample_colorscale
from trackboard.dashboard import grouping, hparams, param_diff, param_differences

from tests.support.dashboard import KNOWN_LOSS, seed_for_app
from tests.test_dashboard_pages import _figures, _open


@pytest.fixture
def ids(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return seed_for_app(sqlite_url, monkeypatch, read_only=False)


def _three(ids: dict[str, str]) -> str:
    return ",".join(ids[n] for n in ("keras-run", "torch-run", "lightning-run"))


def _means(fig: dict) -> dict[str, list[str]]:
    return {t["meta"]["group"]: t["meta"]["runs"] for t in fig["data"]
            if t["meta"].get("role") == "mean"}


# ---- group by -------------------------------------------------------------------------

def test_group_framework_in_the_url_gives_one_line_per_framework(ids: dict[str, str]) -> None:
    at = _open("compare", runs=_three(ids), metrics="loss", group="framework")
    assert at.selectbox(key="cmp_group").value == "framework"
    (fig,) = _figures(at)
    assert _means(fig) == {"keras": [ids["keras-run"]], "torch": [ids["torch-run"]],
                           "lightning": [ids["lightning-run"]]}
    assert at.query_params["group"] == "framework"
    assert not at.warning


def test_group_by_a_tag_from_the_control_and_a_bare_key_from_the_url(
        ids: dict[str, str]) -> None:
    at = _open("compare", runs=_three(ids), metrics="loss")
    assert {"framework", "status", "project", "params.lr", "tags.seed"} <= set(
        at.selectbox(key="cmp_group").options)
    at.selectbox(key="cmp_group").set_value("tags.seed").run()
    (fig,) = _figures(at)
    assert _means(fig) == {"0": [ids["keras-run"], ids["lightning-run"]],
                           "1": [ids["torch-run"]]}
    assert at.query_params["group"] == "tags.seed"
    at = _open("compare", runs=_three(ids), metrics="loss", group="lr")
    assert set(_means(_figures(at)[0])) == {"0.001", "0.01"}


def test_an_unknown_group_field_is_reported_not_dropped_silently(ids: dict[str, str]) -> None:
    at = _open("compare", runs=_three(ids), metrics="loss", group="params.nope")
    assert "Cannot group by 'params\\.nope'" in at.warning[0].value  # markdown-escaped
    assert _means(_figures(at)[0]) == {}


def test_group_labels_and_options_pure() -> None:
    runs = pd.DataFrame({"id": ["a", "b"], "framework": ["jax", None], "status": ["x", "y"],
                         "params.lr": [3e-4, 3e-4], "tags.t": ["1", None]})
    assert grouping.options(runs) == ["(none)", "framework", "status", "params.lr", "tags.t"]
    assert grouping.run_groups(runs, "framework") == {"a": "jax", "b": "(missing)"}
    assert grouping.run_groups(runs, "params.lr") == {"a": "3e-4", "b": "3e-4"}
    assert grouping.run_groups(runs, "(none)") is None
    with pytest.raises(ValueError, match="cannot group by 'host'"):
        grouping.run_groups(runs, "host")


# ---- param diff -----------------------------------------------------------------------

def _mixed() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["k1", "k2", "t1", "j1"],
        "framework": ["keras", "keras", "torch", "jax"],
        "params.lr": [0.001, 0.001, 0.01, 0.003431348857969162],
        "params.batch_size": [32, 32, 32, None],
        "params.hidden": [16, 32, 16, None],                 # shared by two frameworks
        "params.optimizer.beta_1": [0.9, 0.9, None, None],   # keras only, same value
        "params.optimizer.name": ["adam", "sgd", None, None],  # keras only, differs
        "params.adam_epsilon": [None, None, 1e-8, None],     # torch only, one run
        "params.seed": [None, None, None, 7],                # vocabulary, one run
    })


def test_param_diff_puts_common_params_first_then_frameworks() -> None:
    names = {"k1": "K1", "k2": "K2", "t1": "T1", "j1": "J1"}
    d = param_diff.param_diff(_mixed(), names)
    # lr (vocabulary) before hidden; batch_size is 32 wherever present: no difference.
    assert d.common.index.tolist() == ["lr", "hidden"]
    assert d.common.columns.tolist() == ["K1", "K2", "T1", "J1"]
    assert d.common.loc["lr"].tolist() == ["0.001", "0.001", "0.01", "0.003431"]
    assert d.common.loc["hidden"].tolist() == ["16", "32", "16", ""]
    assert list(d.by_framework) == ["keras", "torch"]
    keras = d.by_framework["keras"]
    assert keras.index.tolist() == ["optimizer.name"] and keras.columns.tolist() == ["K1", "K2"]
    assert d.by_framework["torch"].empty and d.totals == {"common": 4, "keras": 2, "torch": 1}
    # Show all: the params that differ first (as above), then the others.
    every = param_diff.param_diff(_mixed(), names, show_all=True)
    assert every.common.index.tolist() == ["lr", "hidden", "batch_size", "seed"]
    assert every.by_framework["keras"].index.tolist() == ["optimizer.name", "optimizer.beta_1"]


def test_a_param_absent_from_some_runs_is_no_difference() -> None:
    assert not param_differences.differs([0.9, None, None, 0.9])
    assert param_differences.differs([0.9, None, 0.99])
    one_framework = _mixed()[_mixed()["framework"] == "keras"]
    d = param_diff.param_diff(one_framework, {})
    # One framework: nothing is "framework-specific"; beta_1 is the same in both runs.
    assert d.by_framework == {} and d.common.index.tolist() == ["hidden", "optimizer.name"]


def test_compare_page_collapses_framework_params(ids: dict[str, str], sqlite_url: str) -> None:
    from trackboard.loggers import Run

    with Run(project="demo", name="keras-2", framework="keras", store=sqlite_url,
             config={"lr": 0.001, "optimizer": "adam", "layers": 2,
                     "optimizer.beta_1": 0.8}) as run:
        run.log({"loss": 1.0}, step=0)
    pair = f"{ids['keras-run']},{ids['torch-run']},{run.id}"
    at = _open("compare", runs=pair, metrics="loss")
    assert at.dataframe[1].value.index.tolist() == ["lr", "layers"]
    (expander,) = [e for e in at.expander if e.label.startswith("keras-only")]
    assert expander.label == "keras-only params · 0 of 1 differ"  # beta_1 in one Keras run


# ---- hyperparameter view --------------------------------------------------------------

def _lines(fig: dict) -> dict[str, list[tuple[float, str]]]:
    """Run id -> its line's (height, hover text) at each axis, as drawn."""
    out: dict[str, list[tuple[float, str]]] = {}
    for t in fig["data"]:
        if (t.get("meta") or {}).get("role") == "hparam_lines":
            for y, text, run in zip(t["y"], t["text"], t["customdata"]):
                if run is not None:
                    out.setdefault(run, []).append((y, text))
    return out


def test_parcoords_holds_the_chosen_params_and_metric(ids: dict[str, str]) -> None:
    at = _open("compare", runs=_three(ids), metrics="loss", hp="lr,optimizer,layers",
               hpm="loss", hps="min", hpx="lr")
    par, scatter = _figures(at, hparams=True)
    meta = par["data"][0]["meta"]
    titles = ["lr", "optimizer", "layers", "loss (min)"]
    assert [a["title"] for a in meta["axes"]] == titles
    assert [a["text"] for a in par["layout"]["annotations"]] == titles
    order = [ids["keras-run"], ids["torch-run"], ids["lightning-run"]]
    assert meta["run_ids"] == order
    lr, opt, layers, metric = meta["axes"]
    assert lr["values"] == [0.001, 0.01, 0.001] and layers["values"] == [2, 3, 4]
    assert opt["ticktext"] == ["adam"] and opt["values"] == [0, 0, 0]
    expected = [min(KNOWN_LOSS), math.exp(-3.9) + 1, math.exp(-3.9) + 2]
    assert metric["values"] == pytest.approx(expected)
    # Each run is one line through its four axes; its hover names the run and value.
    lines = _lines(par)
    assert sorted(lines) == sorted(order) and all(len(v) == 4 for v in lines.values())
    height, text = lines[ids["torch-run"]][0]
    assert height == pytest.approx(1.0 - 0.05 / 1.1)
    assert text == "torch-run · lr=0.01 · layers=3<br>lr = 0.01"
    # Coloured by the metric, a loss's lowest value brightest: the colour bar reversed,
    # the lowest-loss run drawn in Viridis' top colour, last (on top).
    assert par["data"][0]["marker"]["reversescale"] is True
    colour = {t["customdata"][0]: t["line"]["color"] for t in par["data"]
              if (t.get("meta") or {}).get("role") == "hparam_lines"}
    assert colour[ids["keras-run"]] == sample_colorscale("Viridis", [1 - 0.5 / 32])[0]
    assert colour[ids["lightning-run"]] == sample_colorscale("Viridis", [0.5 / 32])[0]
    assert scatter["data"][0]["x"] == [0.001, 0.01, 0.001]
    assert scatter["data"][0]["y"] == pytest.approx(expected)
    # The controls follow the URL and write it back.
    at.radio(key="hp_stat").set_value("last").run()
    par, _ = _figures(at, hparams=True)
    assert par["data"][0]["meta"]["axes"][-1]["title"] == "loss (last)"
    assert at.query_params["hps"] == "last" and at.query_params["hp"] == "lr,optimizer,layers"
    # Switched off, it stays off when that link is opened again, settings kept.
    at.toggle(key="hp_on").set_value(False).run()
    assert _figures(at, hparams=True) == [] and at.query_params["hpv"] == "0"
    again = _open("compare", **{k: at.query_params[k] for k in at.query_params})
    assert _figures(again, hparams=True) == [] and again.query_params["hp"] == "lr,optimizer,layers"
    # Switched on again, the link no longer says so.
    again.toggle(key="hp_on").set_value(True).run()
    assert len(_figures(again, hparams=True)) == 2 and "hpv" not in again.query_params


def test_hparam_view_follows_the_runs_shown(ids: dict[str, str]) -> None:
    at = _open("compare", runs=_three(ids), metrics="loss", hide=ids["torch-run"])
    par, scatter = _figures(at, hparams=True)  # on by default
    assert par["data"][0]["meta"]["run_ids"] == [ids["keras-run"], ids["lightning-run"]]
    assert scatter["data"][0]["customdata"] == [ids["keras-run"], ids["lightning-run"]]
    # Default axes: the params that differ, vocabulary first.
    assert par["data"][0]["meta"]["params"] == ["layers"]


def test_default_axes_leave_out_a_frameworks_own_name_for_the_same_setting() -> None:
    # Keras stores optimizer.learning_rate (as float32), Hugging Face learning_rate,
    # beside the common lr; hidden equals batch_size here by chance and stays.
    runs = pd.DataFrame({
        "params.lr": [0.003, 0.03, 0.01, 0.001],
        "params.optimizer.learning_rate": [0.003000000026077032, 0.029999999329447746,
                                           None, None],
        "params.learning_rate": [None, None, 0.01, 0.001],
        "params.batch_size": [16, 32, 16, 32], "params.hidden": [16, 32, 16, 32]})
    assert hparams.default_params(runs) == ["lr", "batch_size", "hidden"]
    # A framework's name that disagrees with lr is a setting of its own: it stays.
    other = runs.assign(**{"params.learning_rate": [None, None, 0.5, 0.001]})
    assert "learning_rate" in hparams.default_params(other)
    # Values are compared exactly to find what differs (only aliases as displayed).
    close = pd.DataFrame({"params.lr": [0.00312341, 0.00312344], "params.seed": [1, 1]})
    assert hparams.default_params(close) == ["lr"]


def test_log_axes_where_values_span_decades() -> None:
    runs = pd.DataFrame({"id": ["a", "b", "c", "d"],
                         "params.lr": [1e-4, 1e-3, 1e-2, None],
                         "params.opt": ["adam", "sgd", None, "adam"]})
    values = pd.Series([0.5, 0.2, 0.9, 0.4], index=["a", "b", "c", "d"])
    table = hparams.hparam_table(runs, ["a", "b", "c", "d"], ["lr", "opt"], values)
    fig = hparams.parcoords_figure(table, ["lr", "opt"], "val_accuracy", "best")
    lr, opt, _metric = fig.data[0].meta["axes"]
    assert lr["title"] == "lr (log)" and lr["values"][:3] == pytest.approx([-4, -3, -2])
    assert lr["ticktext"][0] == "(missing)" and lr["values"][3] < -4
    assert lr["ticktext"][1:] == ["1e-4", "0.001", "0.01"]
    assert opt["ticktext"] == ["adam", "sgd", "(missing)"]
    assert opt["values"] == [0, 1, 2, 0]
    # An accuracy: the highest is brightest.
    assert fig.data[0].marker.reversescale is False
    # Every line and tick stays inside the axes' span [0, 1]; the missing tick lowest.
    heights = [y for t in fig.data[1:] for y in t.y if y is not None]
    assert min(heights) >= 0 and max(heights) <= 1
    ticks = fig.data[-1]
    assert ticks.text[0] == "(missing)" and ticks.y[0] == min(ticks.y[:4])
    scatter = hparams.scatter_figure(table, "lr", "val_accuracy", "best", {}, {})
    assert scatter.layout.xaxis.type == "log" and list(scatter.data[0].x) == [1e-4, 1e-3, 1e-2]
    assert hparams.scatter_figure(table, "opt", "val_accuracy", "best", {}, {}
                                  ).layout.xaxis.type == "category"
    narrow = table.assign(lr=[0.01, 0.02, 0.03, 0.04])
    assert hparams.scatter_figure(narrow, "lr", "m", "best", {}, {}).layout.xaxis.type == "linear"
    with pytest.raises(ValueError, match="use one of best"):
        hparams.metric_values(pd.DataFrame({"id": []}), "loss", "median")


# ---- Runs page ------------------------------------------------------------------------

def test_runs_table_default_columns_and_order() -> None:
    from trackboard.dashboard import tables

    keys = ["batch_size", "hidden", "lr", "note", "optimizer", "optimizer.beta_1", "seed"]
    usage = {"lr": 1.0, "optimizer": 1.0, "batch_size": 0.6, "seed": 0.1, "hidden": 0.8,
             "optimizer.beta_1": 0.34, "note": 0.01}
    assert tables.default_param_columns(keys, usage) == [
        "lr", "optimizer", "batch_size", "seed", "hidden"]
    assert tables.default_param_columns(keys, usage, limit=2) == ["lr", "optimizer"]
    frame = pd.DataFrame({
        "id": ["a"], "name": ["n"], "project": ["p"], "status": ["finished"],
        "framework": ["jax"], "duration": [1.0], "created_at": [pd.Timestamp(0, tz="UTC")],
        "params.lr": [0.1], "tags.seed": ["1"], "metrics.loss.last": [0.5]})
    assert tables.runs_view(frame).columns.tolist() == [
        "name", "open", "status", "framework", "loss.last", "lr", "project", "duration (s)",
        "created", "tags", "id"]
    assert tables.table_height(500) >= 21 * tables.ROW_PX and tables.table_height(2) < 200
