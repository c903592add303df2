"""TrackboardCallback through a real Hugging Face Trainer's whole program (tiny BERT
built locally, no downloads): train, evaluate and predict before and after it,
train twice, resume from a checkpoint, hyperparameter search, pickling, and hooks
that never raise. Checked against the Trainer's own log history."""

from __future__ import annotations

import copy
import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest
from trackboard.loggers import Run
from trackboard.loggers.transformers import TrackboardCallback
from trackboard.storage import Store
from transformers import TrainerCallback, TrainerControl, TrainerState

from tests.support.loggers import run_info, series
from tests.support.transformers_tiny import (
    TokenDataset,
    history_series,
    merge_series,
    tiny_bert,
    tiny_trainer,
)

pytestmark = pytest.mark.slow


def project_runs(url: str, project: str) -> list[dict[str, Any]]:
    with Store(url) as store:
        return store.runs(project).to_dict("records")


def trackboard_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "trackboard" in str(w.message)]


def test_store_holds_the_trainers_log_history(sqlite_url: str, tmp_path: Path) -> None:
    callback = TrackboardCallback(project="hf-test", name="tiny-bert", store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback])
    trainer.train()

    stored = series(sqlite_url, callback.run.id)
    assert {"loss", "learning_rate", "eval_loss", "epoch", "train_runtime"} <= set(stored)
    assert stored == history_series(trainer.state.log_history)
    assert stored["epoch"][-1] == (trainer.state.global_step, 2.0)

    info = run_info(sqlite_url, callback.run.id)
    assert info["framework"] == "transformers" and info["status"] == "finished"
    assert info["name"] == "tiny-bert"
    params = info["params"]
    assert params["learning_rate"] == 5e-3 and params["num_train_epochs"] == 2
    assert params["hidden_size"] == 16 and params["model_type"] == "bert"


def test_other_processes_do_not_log(sqlite_url: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    callback = TrackboardCallback(project="hf-test", store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback])
    # What a non-zero process of a distributed run sees in the Trainer's state.
    monkeypatch.setattr(trainer.state, "is_world_process_zero", False)
    callback.on_train_begin(trainer.args, trainer.state, trainer.control, model=trainer.model)
    callback.on_log(trainer.args, trainer.state, trainer.control, logs={"loss": 1.0})
    callback.on_predict(trainer.args, trainer.state, trainer.control, metrics={"test_loss": 1.0})
    assert callback.run is None
    assert project_runs(sqlite_url, "hf-test") == []


def test_evaluate_and_predict_after_train_log_into_the_same_run(sqlite_url: str,
                                                                tmp_path: Path) -> None:
    callback = TrackboardCallback(project="hf-life", store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback])
    trainer.train()
    run_id = callback.run.id
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluated = trainer.evaluate()                      # raised "run is finished" before
        predicted = trainer.predict(TokenDataset(8, 2)).metrics
    assert trackboard_warnings(caught) == []

    runs = project_runs(sqlite_url, "hf-life")
    assert [r["id"] for r in runs] == [run_id]
    assert runs[0]["status"] == "finished"                 # finished again after each event
    stored = series(sqlite_url, run_id)
    step = trainer.state.global_step
    # The last evaluation at the final step is replaced by the one evaluate() made.
    assert stored["eval_loss"][-1] == (step, pytest.approx(evaluated["eval_loss"]))
    assert stored["test_loss"] == [(step, pytest.approx(predicted["test_loss"]))]
    assert stored == history_series(trainer.state.log_history) | {
        k: [(step, float(v))] for k, v in predicted.items()}


def test_evaluate_before_train_is_stored_and_training_continues_that_run(
        sqlite_url: str, tmp_path: Path) -> None:
    callback = TrackboardCallback(project="hf-life", name="baseline-first", store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback])
    before = trainer.evaluate()
    before_history = history_series(trainer.state.log_history)
    run_id = callback.run.id
    assert series(sqlite_url, run_id)["eval_loss"] == [(0, pytest.approx(before["eval_loss"]))]
    assert run_info(sqlite_url, run_id)["params"]["hidden_size"] == 16

    trainer.train()
    assert callback.run.id == run_id
    assert [r["id"] for r in project_runs(sqlite_url, "hf-life")] == [run_id]
    stored = series(sqlite_url, run_id)
    # train() starts a new TrainerState: the store keeps what the Trainer forgot.
    assert stored == merge_series(before_history, history_series(trainer.state.log_history))
    assert stored["eval_loss"][0] == (0, pytest.approx(before["eval_loss"]))


def test_train_twice_continues_the_run_after_the_first(sqlite_url: str, tmp_path: Path) -> None:
    callback = TrackboardCallback(project="hf-life", store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback])
    trainer.train()
    first = history_series(trainer.state.log_history)
    steps = trainer.state.global_step
    trainer.train()                                          # a new TrainerState from step 0
    second = history_series(trainer.state.log_history, offset=steps)

    assert len(project_runs(sqlite_url, "hf-life")) == 1
    stored = series(sqlite_url, callback.run.id)
    assert stored == merge_series(first, second)              # nothing of the first replaced
    assert stored["loss"][-1][0] == 2 * steps
    assert run_info(sqlite_url, callback.run.id)["status"] == "finished"


def test_resume_from_checkpoint_continues_the_same_run_and_replaces_later_steps(
        sqlite_url: str, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    # A config value JSON cannot hold must not break the checkpoint's trainer_state.json.
    first = TrackboardCallback(project="hf-resume", name="long", store=sqlite_url,
                               config={"tokenizer": object()})
    trainer = tiny_trainer(out, [first], save_strategy="epoch")   # checkpoint-4, checkpoint-8
    trainer.train()
    run_id = first.run.id
    before = series(sqlite_url, run_id)
    saved = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert saved["stateful_callbacks"]["TrackboardCallback"]["attributes"] == {
        "_checkpoint_id": run_id}

    # A new process: a new callback and Trainer, resumed from the first epoch's
    # checkpoint on other data (so the second epoch's values change), stopping at
    # step 6 (so the first try's steps 7 and 8 are not simply logged over).
    again = TrackboardCallback(project="hf-resume", name="long", store=sqlite_url)
    resumed = tiny_trainer(out, [again], model=tiny_bert(seed=1), save_strategy="epoch",
                           data_seed=7, max_steps=6)
    resumed.train(resume_from_checkpoint=str(out / "checkpoint-4"))

    assert again.run.id == run_id
    runs = project_runs(sqlite_url, "hf-resume")
    assert [(r["id"], r["status"]) for r in runs] == [(run_id, "finished")]
    stored = series(sqlite_url, run_id)
    # The resumed Trainer's history is the checkpoint's (steps 1-4) plus what it
    # trained again; the store holds exactly that: steps 5-8 of the first try are gone.
    assert stored == history_series(resumed.state.log_history)
    assert [s for s, _ in stored["loss"]] == [1, 2, 3, 4, 5, 6]
    assert [s for s, _ in stored["eval_loss"]] == [4, 6]  # the first try's step-8 eval is gone
    assert dict(stored["loss"])[6] != dict(before["loss"])[6]
    assert dict(stored["loss"])[2] == dict(before["loss"])[2]


class HistoryKeeper(TrainerCallback):
    """Keeps each train()'s log history (a hyperparameter search makes one per trial)."""

    def __init__(self) -> None:
        self.histories: list[list[dict[str, Any]]] = []

    def on_train_end(self, args: Any, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        self.histories.append(copy.deepcopy(state.log_history))


def test_hyperparameter_search_keeps_every_trial_in_its_own_run(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("optuna")
    # The main run's id from the environment must never be taken by a trial.
    monkeypatch.setenv("TRACKBOARD_RUN_ID", "hp-main")
    callback = TrackboardCallback(project="hf-hp", name="search", store=sqlite_url)
    keeper = HistoryKeeper()
    trainer = tiny_trainer(tmp_path / "hf", [callback, keeper], model_init=lambda: tiny_bert(),
                           num_train_epochs=1)
    main = trainer.evaluate()                                 # the main run: one point
    main_id = callback.run.id
    assert main_id == "hp-main"

    def space(trial: Any) -> dict[str, Any]:
        return {"learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True)}

    trainer.hyperparameter_search(hp_space=space, n_trials=2, direction="minimize")

    runs = {r["id"]: r for r in project_runs(sqlite_url, "hf-hp")}
    assert len(runs) == 3 and main_id in runs
    assert series(sqlite_url, main_id) == {
        k: [(0, pytest.approx(v))] for k, v in main.items()}  # untouched by the trials
    trials = sorted((r for r in runs.values() if r["id"] != main_id), key=lambda r: r["name"])
    assert [r["name"] for r in trials] == ["search-trial-1", "search-trial-2"]
    for trial, history in zip(trials, keeper.histories, strict=True):
        assert trial["status"] == "finished"
        assert trial["tags.hp_search"] == "search"
        assert series(sqlite_url, trial["id"]) == history_series(history)
        params = run_info(sqlite_url, trial["id"])["params"]
        assert params["learning_rate"] == pytest.approx(params["trial.learning_rate"])

    # After the search the trainer holds the last trial's state: what it logs then
    # belongs to that trial's run, never to the main run. (Transformers itself
    # cannot evaluate() after a search: its model is gone.)
    trainer.log({"after_search": 1.0})
    assert series(sqlite_url, trials[-1]["id"])["after_search"] == [
        (trainer.state.global_step, 1.0)]
    assert series(sqlite_url, main_id) == {k: [(0, pytest.approx(v))] for k, v in main.items()}
    assert len(project_runs(sqlite_url, "hf-hp")) == 3


class PickleMidRun(TrainerCallback):
    """Pickles (and deep-copies) the TrackboardCallback at step 3 of training."""

    def __init__(self, target: TrackboardCallback) -> None:
        self.target = target
        self.copies: list[TrackboardCallback] = []

    def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if state.global_step == 3:
            self.copies = [pickle.loads(pickle.dumps(self.target)), copy.deepcopy(self.target)]


def test_callback_pickles_before_during_and_after_training(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    callback = TrackboardCallback(project="hf-pickle", store=sqlite_url)
    pickle.loads(pickle.dumps(callback))                      # before any run
    spy = PickleMidRun(callback)
    trainer = tiny_trainer(tmp_path / "hf", [callback, spy])
    trainer.train()
    pickle.loads(pickle.dumps(callback))                      # after the run ended
    run_id = callback.run.id

    # A copy made mid-run (as ddp/spawn or a deepcopy makes one) logs into the same run.
    for n, clone in enumerate(spy.copies):
        assert clone.run is None
        state = TrainerState(global_step=100 + n)
        clone.on_log(trainer.args, state, TrainerControl(), logs={"copied": float(n)})
    assert [r["id"] for r in project_runs(sqlite_url, "hf-pickle")] == [run_id]
    assert series(sqlite_url, run_id)["copied"] == [(100, 0.0), (101, 1.0)]


def test_hooks_never_raise_and_warn_once(sqlite_url: str, tmp_path: Path) -> None:
    run = Run(project="hf-guard", store=sqlite_url, system_metrics=False)
    run.finish()                                              # a run the user already closed
    callback = TrackboardCallback(run=run)
    trainer = tiny_trainer(tmp_path / "hf", [callback])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
        trainer.evaluate()
    assert trainer.state.global_step == 8                     # training went on
    messages = trackboard_warnings(caught)
    assert messages and len(set(messages)) == len(messages)   # once per hook, not per call
    assert any("on_log" in m for m in messages)
    assert all("finished" in m for m in messages)


def test_a_config_that_is_not_a_dict_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="config= takes a dict"):
        TrackboardCallback(config=["lr", 0.1])  # type: ignore[arg-type]


def test_odd_values_are_stored_where_possible_and_warn_once(sqlite_url: str,
                                                            tmp_path: Path) -> None:
    import torch

    class Unprintable:
        def __repr__(self) -> str:
            return "<Unprintable>"

    callback = TrackboardCallback(project="hf-odd", store=sqlite_url)
    model = tiny_bert(custom_thing=Unprintable(), nested={"a": {1: complex(1, 2)}})
    trainer = tiny_trainer(tmp_path / "hf", [callback], model=model, max_steps=2)

    class OddLogs(TrainerCallback):
        def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl,
                        **kwargs: Any) -> None:
            trainer.log({"text": "a summary line", "vector": torch.ones(3),
                         "scalar_tensor": torch.tensor(0.25), "flag": True})

    trainer.add_callback(OddLogs())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    messages = trackboard_warnings(caught)
    assert len(messages) == 2 and all("not stored" in m for m in messages)  # text, vector
    stored = series(sqlite_url, callback.run.id)
    assert stored["scalar_tensor"] == [(1, 0.25), (2, 0.25)]
    assert stored["flag"] == [(1, 1.0), (2, 1.0)]
    assert "text" not in stored and "vector" not in stored
    params = run_info(sqlite_url, callback.run.id)["params"]
    assert params["custom_thing"] == "<Unprintable>"
    assert isinstance(params["nested.a.1"], str) and "2j" in params["nested.a.1"]


RESUMABLE_SCRIPT = """
import sys
from tests.support.transformers_tiny import tiny_trainer
from trackboard.loggers.transformers import TrackboardCallback
store, out, max_steps, checkpoint = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
callback = TrackboardCallback(project="hf-procs", name="resumable", store=store)
trainer = tiny_trainer(out, [callback], max_steps=max_steps, save_strategy="steps",
                       save_steps=1, eval_strategy="no")
trainer.train(resume_from_checkpoint=checkpoint or None)
print(callback.run.id)
"""


def test_resume_in_a_new_process_continues_the_run(sqlite_url: str, tmp_path: Path) -> None:
    from tests.support.loggers import run_python

    out = str(tmp_path / "hf")
    _, first, _ = run_python(RESUMABLE_SCRIPT, sqlite_url, out, "2", "")
    _, second, _ = run_python(RESUMABLE_SCRIPT, sqlite_url, out, "4", out + "/checkpoint-2")
    run_id = first.strip().splitlines()[-1]
    assert second.strip().splitlines()[-1] == run_id
    runs = project_runs(sqlite_url, "hf-procs")
    assert [(r["id"], r["status"]) for r in runs] == [(run_id, "finished")]
    assert [s for s, _ in series(sqlite_url, run_id)["loss"]] == [1, 2, 3, 4]
