"""One rule for "which params differ" and one name per run on a page (issue 18 item 14).

The run labels, the param table and the hyperparameter view's default axes each
decided which params differ with rules of their own, and runs had two names on one
page (label in the run list and charts, name in the param and summary tables).
The awkward cases: a param missing from some runs, frameworks' own names for `lr`,
Keras' instance counters, float32 copies of a value, and runs that share a name.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from trackboard.dashboard import hparams, labels, param_diff
from trackboard.dashboard.param_differences import differing_params
from trackboard.loggers import Run

from tests.support.dashboard import APP

# (name, framework, params): what the adapters record, trimmed to the awkward parts.
RUNS = [
    ("same", "keras", {"lr": 0.001, "optimizer.learning_rate": 0.0010000000474974513,
                       "optimizer.name": "adam", "optimizer.beta_1": 0.9, "batch_size": 32}),
    ("same", "keras", {"lr": 0.01, "optimizer.learning_rate": 0.009999999776482582,
                       "optimizer.name": "adam_1", "optimizer.beta_1": 0.9, "batch_size": 32}),
    ("torch-a", "torch", {"lr": 0.01, "optimizer": "AdamW", "batch_size": 64,
                          "weight_decay": 0.01}),
    ("hf-a", "transformers", {"lr": 0.001, "learning_rate": 0.001, "batch_size": 64,
                              "weight_decay": 0.0, "seed": 42}),
]
DIFFERING = ["lr", "batch_size", "weight_decay"]


def _frame() -> pd.DataFrame:
    rows = []
    for i, (name, fw, params) in enumerate(RUNS):
        rows.append({"id": f"team00000000000{i}", "name": name, "framework": fw,
                     **{f"params.{k}": v for k, v in params.items()}})
    return pd.DataFrame(rows)


def test_the_awkward_cases_decide_once() -> None:
    runs = _frame()
    # optimizer: one run has it (missing is no difference); optimizer.name: adam and
    # adam_1 count instances; optimizer.learning_rate and learning_rate repeat lr (as
    # displayed: float32); beta_1 is 0.9 wherever present; seed: one run.
    assert differing_params(runs) == DIFFERING
    # A framework's own name that disagrees with lr is a setting of its own.
    other = runs.assign(**{"params.learning_rate": [None, None, 0.01, 0.5]})
    assert differing_params(other) == ["lr", "learning_rate", "batch_size", "weight_decay"]
    # Values are compared exactly: these read alike but differ.
    close = pd.DataFrame({"params.lr": [0.00312341, 0.00312344], "params.seed": [1, 1]})
    assert differing_params(close) == ["lr"]
    # The labels show the first four, the axes the first six, the table all of them.
    names = labels.run_labels(runs)
    assert names["team000000000003"] == "hf-a · lr=0.001 · batch_size=64 · weight_decay=0"
    assert hparams.default_params(runs) == DIFFERING
    diff = param_diff.param_diff(runs, names)
    assert diff.common.index.tolist() == DIFFERING
    assert all(t.empty for t in diff.by_framework.values())
    assert list(diff.common.columns) == list(names.values())


def test_default_labels_are_unique_on_a_page() -> None:
    # Same name, same params, ids alike in their first 6 characters (team0000...).
    runs = pd.DataFrame({"id": ["team000000000001", "team000000000002", "other"],
                         "name": ["x", "x", "x (team000000000001)"],
                         "params.lr": [0.1, 0.1, 0.1]})
    made = labels.run_labels(runs)
    assert len(set(made.values())) == 3, made
    assert made["team000000000002"] == "x (team000000000002)"
    templated = labels.run_labels(runs, "{params.lr}")
    assert len(set(templated.values())) == 3, templated


def _seed(url: str) -> list[str]:
    ids = []
    for name, fw, params in RUNS:
        with Run(project="p", name=name, framework=fw, store=url, config=params,
                 system_metrics=False) as run:
            for s in range(3):
                run.log({"loss": 1.0 / (s + 1 + len(ids)), "val_loss": 1.0 / (s + 2)}, step=s)
        ids.append(run.id)
    return ids


def test_legend_table_axes_and_names_agree_on_the_page(sqlite_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _seed(sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(runs=",".join(ids), metrics="loss")
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    run_list = next(d for d in at.dataframe if str(d.key).startswith("cmp_runlist_")).value
    legend = dict(zip(run_list["id"], run_list["run"]))
    # Legend: each label names exactly the differing params the run has.
    for rid, (name, _, params) in zip(ids, RUNS):
        shown = [part.split("=")[0] for part in legend[rid].split(" · ")[1:]]
        assert shown == [k for k in DIFFERING if k in params], legend[rid]
    assert len(set(legend.values())) == len(ids)  # the two runs named "same" too
    # Table: the same params, in the same order; its columns are the same names.
    table = at.dataframe[1].value  # after the run list: the common params
    assert table.index.tolist() == DIFFERING
    assert table.columns.tolist() == [legend[r] for r in ids]
    # Axes: the hyperparameter view's default axes are the same params.
    assert at.multiselect(key="hp_params").value == DIFFERING
    # Names: the charts' hovers and the summary table call each run as the legend does.
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["meta"]["run_id"]: t["name"] for t in chart["data"]
            if t.get("hoverinfo") != "skip"} == legend
    summary = at.dataframe[-1].value
    assert set(summary["run"]) == set(legend.values())
    parcoords = json.loads(at.get("plotly_chart")[-2].proto.spec)
    assert [a["text"] for a in parcoords["layout"]["annotations"]][:3] == DIFFERING
