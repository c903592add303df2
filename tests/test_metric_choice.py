"""The metrics people decide by: one rule (dashboard/metric_choice.py) for the Runs
page's default columns, `trackboard runs`, the hyperparameter view's default metric and
the order of Compare's charts.

The rule is fed the awkward names; then each of its three users is checked from the
outside on a store whose metric names put `val_loss` last in alphabetical order (so
"the first metrics by name" can never pass): the Runs page and the Compare page under
AppTest, `trackboard runs` as the installed script.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from trackboard.dashboard import metric_choice
from trackboard.loggers import Run

from tests.support.dashboard import APP

TRACKBOARD = Path(sys.executable).with_name("trackboard")


@pytest.mark.parametrize(("keys", "first"), [
    # Keras: training metrics sort before val_* by name
    (["accuracy", "epoch", "learning_rate", "loss", "val_accuracy", "val_loss"],
     ["val_loss", "val_accuracy", "loss", "accuracy", "learning_rate", "epoch"]),
    # Hugging Face: eval_ prefix, a runtime that is neither loss nor accuracy
    (["epoch", "eval_loss", "eval_runtime", "grad_norm", "learning_rate", "loss"],
     ["eval_loss", "eval_runtime", "loss", "grad_norm", "learning_rate", "epoch"]),
    # slash-separated names, validation as a later part, system samples last
    (["system/cpu_percent", "train/acc", "train/loss", "loss/valid", "acc/valid"],
     ["loss/valid", "acc/valid", "train/loss", "train/acc", "system/cpu_percent"]),
    # "interval" and "evaluate_every" hold no validation part; f1 is accuracy-like
    (["interval", "f1", "val_f1", "mse"], ["val_f1", "mse", "f1", "interval"]),
])
def test_decision_order(keys: list[str], first: list[str]) -> None:
    assert metric_choice.decision_order(keys) == first
    assert metric_choice.decision_order(reversed(keys)) == first  # input order is no hint


def test_best_value_is_min_for_losses_max_for_accuracies_last_otherwise() -> None:
    cases = {"val_loss": "min", "eval_loss": "min", "perplexity": "min", "val/error": "min",
             "val_accuracy": "max", "auc": "max", "bleu": "max", "reward": "max",
             "learning_rate": "last", "grad_norm": "last", "epoch": "last"}
    assert {k: metric_choice.best_stat(k) for k in cases} == cases
    assert metric_choice.summary_columns("val_accuracy") == [
        "val_accuracy.max", "val_accuracy.last"]


def test_default_metrics_prefer_what_more_runs_have() -> None:
    keys = ["eval_loss", "loss", "val_loss"]
    assert metric_choice.decision_order(keys, runs_with={"eval_loss": 1, "val_loss": 9})[0] == \
        "val_loss"
    assert metric_choice.default_metrics(["epoch", "system/gpu0/util"]) == []


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Two Keras-like runs: accuracy, learning_rate and loss come before val_* by name."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    for name, lr, shift in (("fast", 0.01, 0.0), ("slow", 0.001, 0.2)):
        with Run(project="p", name=name, config={"lr": lr}, store=url, framework="keras",
                 system_metrics=False) as run:
            for step in range(10):
                run.log({"accuracy": 0.5 + step / 30, "learning_rate": lr, "loss": 1 - step / 20,
                         "val_accuracy": 0.4 + step / 40 - shift / 4,
                         "val_loss": 1.2 - step / 25 + shift, "epoch": step}, step=step)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    return url


@pytest.mark.slow  # AppTest runs of whole pages
def test_runs_page_defaults_to_validation_metrics_with_their_best(store_url: str) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    metrics = [c for c in table.columns if c.rsplit(".", 1)[-1] in ("min", "max", "last")]
    assert metrics == ["val_loss.min", "val_loss.last", "val_accuracy.max",
                       "val_accuracy.last", "loss.min", "loss.last"]
    fast = table.set_index("name").loc["fast"]
    assert fast["val_loss.min"] == pytest.approx(1.2 - 9 / 25)  # the best (lowest) loss
    assert fast["val_accuracy.max"] == pytest.approx(0.4 + 9 / 40)
    assert at.query_params["m"] == "val_loss,val_accuracy,loss"


@pytest.mark.slow
def test_compare_charts_and_the_hyperparameter_view_start_with_validation(store_url: str
                                                                          ) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    ids = ",".join(at.dataframe[0].value["id"])
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(runs=ids)
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception, at.exception
    # Every metric is charted, in the order people decide by (it was by name, so the
    # first chart was `accuracy`); the counter `epoch` is not charted.
    assert at.text_input(key="cmp_metrics").value.split(",") == [
        "val_loss", "val_accuracy", "loss", "accuracy", "learning_rate"]
    assert at.selectbox(key="hp_metric").value == "val_loss"
    assert at.query_params["hpm"] == "val_loss"


def _runs(url: str, *args: str) -> list[str]:
    done = subprocess.run([str(TRACKBOARD), "runs", "--store", url, *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_trackboard_runs_shows_the_metrics_people_decide_by(store_url: str) -> None:
    header, *rows = _runs(store_url)
    assert header.split()[7:] == ["val_loss.min", "val_accuracy.max", "loss.min"]
    assert [r.split()[1] for r in rows] == ["slow", "fast"]  # newest first
    assert rows[1].split()[-3:] == ["0.84", "0.625", "0.55"]
    header, *rows = _runs(store_url, "--metrics", "learning_rate,val_loss",
                          "--filter", "val_loss.min < 1")
    assert header.split()[7:] == ["learning_rate.last", "val_loss.min"]
    assert [r.split()[1] for r in rows] == ["fast"] and rows[0].split()[-2:] == ["0.01", "0.84"]
    assert _runs(store_url, "--filter", "val_loss.min < 0") == ["no runs pass the filter"]
