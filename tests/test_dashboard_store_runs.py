"""Store additions for the dashboard: runs(param_keys=, metric_keys=, filter=), param_keys(),
metric_summaries()."""

from __future__ import annotations

import math

from sqlalchemy import text
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.read.run_queries import _decode_params


def test_runs_limits_columns_and_filters(store_url: str) -> None:
    for i in range(3):
        with Run(project="p", name=f"r{i}", store=store_url,
                 config={"lr": 10.0 ** -i, "opt": "adam", "layers": [i, i]}) as run:
            run.log({"loss": 1.0 / (i + 1), "acc": i / 3, "nan": math.nan}, step=0)
    store = Store(store_url)
    full = store.runs()
    assert full["name"].tolist() == ["r2", "r1", "r0"]  # newest first
    assert {"params.lr", "params.opt", "params.layers", "metrics.acc.max",
            "metrics.loss.last", "metrics.nan.min"} <= set(full.columns)
    assert full.set_index("name").loc["r2", "params.layers"] == [2, 2]
    assert math.isnan(full.set_index("name").loc["r0", "metrics.nan.last"])
    some = store.runs(param_keys=["lr"], metric_keys=["loss"], filter="params.lr < 0.5")
    assert sorted(some["name"]) == ["r1", "r2"]
    assert [c for c in some.columns if c.startswith(("params.", "metrics."))] == [
        "params.lr", "metrics.loss.last", "metrics.loss.min", "metrics.loss.max"]
    assert some.set_index("name").loc["r1", "metrics.loss.min"] == 0.5
    none = store.runs(param_keys=[], metric_keys=[])
    assert len(none) == 3 and not any(c.startswith(("params.", "metrics.")) for c in none.columns)
    assert store.param_keys() == ["layers", "lr", "opt"]
    assert store.param_keys([full["id"][0]]) == ["layers", "lr", "opt"]


def test_metric_summaries_of_many_runs_in_one_call(store_url: str) -> None:
    ids = []
    for i in range(3):
        with Run(project="p", name=f"r{i}", store=store_url, system_metrics=False) as run:
            for s in range(4):
                run.log({"loss": abs(s - 1 - i) + 0.5, "nan": math.nan}, step=s)
            if i == 2:
                run.log({"acc": 0.9}, step=9)
        ids.append(run.id)
    store = Store(store_url)
    got = store.metric_summaries([*ids, "no-such-run"])
    assert list(got) == sorted(ids) and set(got[ids[2]]) == {"acc", "loss", "nan"}
    # loss of r1 is 2.5, 1.5, 0.5, 1.5: min at step 2, max at step 0.
    assert got[ids[1]]["loss"] == {"count": 4, "first_step": 0, "last_step": 3, "last": 1.5,
                                   "min": 0.5, "min_step": 2, "max": 2.5, "max_step": 0}
    assert math.isnan(got[ids[0]]["nan"]["min"]) and got[ids[0]]["nan"]["count"] == 4
    # The same numbers as one run's summaries in run(); keys narrow, none gives nothing.
    assert store.run(ids[2])["metrics"]["acc"] == got[ids[2]]["acc"]
    assert store.metric_summaries(ids, ["acc"]) == {ids[2]: {"acc": got[ids[2]]["acc"]}}
    assert store.metric_summaries(ids, []) == {} and store.metric_summaries([]) == {}
    # More ids than one statement may bind (900 a chunk): every run still found.
    many = store.metric_summaries([f"x{i}" for i in range(1000)] + ids[::-1], ["loss"])
    assert sorted(many) == sorted(ids)


def test_param_values_that_are_not_json_still_read(sqlite_url: str) -> None:
    with Run(project="p", name="r", store=sqlite_url, config={"a": 1}) as run:
        pass
    store = Store(sqlite_url)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO params (run_id, key, value) SELECT id, 'legacy', "
                          "'plain text' FROM runs"))
    row = store.runs().iloc[0]
    assert row["params.legacy"] == "plain text" and row["params.a"] == 1
    assert _decode_params(["1, 2", "3"]) == {"1, 2": "1, 2", "3": 3}
    assert run.id == row["id"]
