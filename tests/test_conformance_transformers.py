"""Conformance with what Hugging Face Transformers asks of a Trainer callback and of
a logging integration, modelled on its own suites (tests/trainer/test_trainer_callback.py,
test_trainer_hyperparameter.py, test_trainer_resume.py) and on how its W&B, MLflow and
TensorBoard integrations (integrations/integration_utils.py) treat the same events.
Our own tests of those behaviours, against a real Trainer and a real SQLite store.

Where we deliberately differ, README.md ("Hugging Face Transformers") says so."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from trackboard.loggers.transformers import TrackboardCallback
from trackboard.storage import Store
from transformers import (
    DefaultFlowCallback,
    EarlyStoppingCallback,
    PrinterCallback,
    TrainerCallback,
    TrainerControl,
    TrainerState,
)

from tests.support.loggers import run_info, series
from tests.support.transformers_tiny import (
    EventRecorder,
    TokenDataset,
    history_series,
    tiny_bert,
    tiny_trainer,
)

pytestmark = pytest.mark.slow


def project_runs(url: str, project: str = "default") -> list[dict[str, Any]]:
    with Store(url) as store:
        return store.runs(project).to_dict("records")


def ours(trainer: Any) -> TrackboardCallback:
    found = [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, TrackboardCallback)]
    assert len(found) == 1
    return found[0]


# -- registration (test_trainer_callback.py: add / remove / pop) ----------------------

def test_added_by_class_logs_to_the_store_named_by_the_environment(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Trainer instantiates a class with no arguments: the store comes from
    # TRACKBOARD_STORE, the project is "default".
    monkeypatch.setenv("TRACKBOARD_STORE", sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [TrackboardCallback], max_steps=2)
    trainer.train()
    callback = ours(trainer)
    assert [r["id"] for r in project_runs(sqlite_url)] == [callback.run.id]
    assert series(sqlite_url, callback.run.id) == history_series(trainer.state.log_history)


def test_added_later_removed_and_popped(sqlite_url: str, tmp_path: Path) -> None:
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", max_steps=2)
    trainer.add_callback(callback)
    assert callback in trainer.callback_handler.callbacks
    assert trainer.pop_callback(TrackboardCallback) is callback
    trainer.add_callback(callback)
    trainer.remove_callback(callback)
    trainer.train()
    assert callback.run is None and project_runs(sqlite_url) == []  # removed: nothing logged


# -- event flow and control (test_trainer_callback.py: event flow, stopping) -------------

@pytest.mark.parametrize("settings", [
    {},
    {"logging_steps": 3, "eval_strategy": "steps", "eval_steps": 5, "save_strategy": "no"},
    {"gradient_accumulation_steps": 2, "logging_steps": 2},
], ids=["epoch-eval", "log3-eval5", "grad-accum"])
def test_the_trainer_runs_exactly_as_without_us(settings: dict[str, Any], sqlite_url: str,
                                                tmp_path: Path) -> None:
    runs: dict[bool, Any] = {}
    for with_us in (False, True):
        recorder = EventRecorder()
        callbacks = [recorder] + ([TrackboardCallback(store=sqlite_url)] if with_us else [])
        trainer = tiny_trainer(tmp_path / f"hf{with_us}", callbacks, **settings)
        trainer.train()
        runs[with_us] = (recorder.events, trainer.state.global_step,
                         [{k: v for k, v in entry.items() if "runtime" not in k
                           and "per_second" not in k} for entry in trainer.state.log_history],
                         trainer)
    assert runs[True][:3] == runs[False][:3]   # same events, steps and logged values
    trainer = runs[True][3]
    assert series(sqlite_url, ours(trainer).run.id) == history_series(trainer.state.log_history)


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> TrainerControl:
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def test_another_callback_stopping_training_ends_our_run_there(sqlite_url: str,
                                                               tmp_path: Path) -> None:
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [StopAt(1), callback], max_steps=10)
    trainer.train()
    assert trainer.state.global_step == 1
    stored = series(sqlite_url, callback.run.id)
    assert stored["loss"] == history_series(trainer.state.log_history)["loss"]
    assert stored["train_runtime"][0][0] == 1
    assert run_info(sqlite_url, callback.run.id)["status"] == "finished"


def test_early_stopping_beside_us(sqlite_url: str, tmp_path: Path) -> None:
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [EarlyStoppingCallback(early_stopping_patience=1,
                                                                   early_stopping_threshold=10.0),
                                             callback],
                           num_train_epochs=6, save_strategy="epoch", load_best_model_at_end=True,
                           metric_for_best_model="eval_loss")
    trainer.train()
    assert trainer.state.global_step < 24                      # stopped early
    assert series(sqlite_url, callback.run.id) == history_series(trainer.state.log_history)


# -- stateful callbacks (test_trainer_callback.py: StatefulCallbackTest) -----------------

def test_our_state_is_plain_json_in_every_checkpoint(tmp_path: Path) -> None:
    callback = TrackboardCallback(project="p", name="n",
                                  store="postgresql+psycopg://me:secret@db.example/tb",
                                  config={"odd": object(), "lr": 0.1})
    state = TrainerState(stateful_callbacks=[callback])
    path = tmp_path / "trainer_state.json"
    state.save_to_json(str(path))
    text = path.read_text()
    assert "secret" not in text                                  # no password in clear text
    loaded = TrainerState.load_from_json(str(path)).stateful_callbacks["TrackboardCallback"]
    assert loaded["args"]["project"] == "p" and loaded["args"]["store"] is None
    assert loaded["args"]["config"]["lr"] == 0.1
    rebuilt = TrackboardCallback(**loaded["args"])             # as the Trainer rebuilds it
    assert rebuilt.state()["args"]["name"] == "n"


def test_restored_from_checkpoint_the_rebuilt_callback_continues_the_run(
        sqlite_url: str, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    first = TrackboardCallback(project="hf-restore", store=sqlite_url)
    tiny_trainer(out, [first], save_strategy="epoch").train()
    run_id = first.run.id

    again = TrackboardCallback(project="hf-restore", store=sqlite_url)
    trainer = tiny_trainer(out, [again], save_strategy="epoch",
                           restore_callback_states_from_checkpoint=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train(resume_from_checkpoint=str(out / "checkpoint-4"))
    rebuilt = ours(trainer)
    assert rebuilt is not again                                   # the Trainer rebuilt it
    assert rebuilt.run.id == run_id
    assert [r["id"] for r in project_runs(sqlite_url, "hf-restore")] == [run_id]
    assert series(sqlite_url, run_id) == history_series(trainer.state.log_history)
    assert not [w for w in caught if "trackboard" in str(w.message)]


def test_resume_in_a_new_output_dir_as_transformers_tests_it(sqlite_url: str,
                                                             tmp_path: Path) -> None:
    # Interrupted after 2 of 8 steps with a checkpoint every step, then resumed by a
    # new Trainer writing elsewhere (test_trainer_resume.py's shape).
    first = TrackboardCallback(project="hf-resume", store=sqlite_url)
    tiny_trainer(tmp_path / "a", [first], max_steps=2, save_strategy="steps",
                 save_steps=1, eval_strategy="no").train()
    run_id = first.run.id
    again = TrackboardCallback(project="hf-resume", store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "b", [again], save_strategy="steps", save_steps=1,
                           eval_strategy="no", num_train_epochs=1)
    trainer.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2"))
    assert (tmp_path / "b" / "checkpoint-4").is_dir()
    assert again.run.id == run_id
    stored = series(sqlite_url, run_id)
    expected = history_series(trainer.state.log_history)
    for key in ("loss", "learning_rate", "grad_norm"):
        assert stored[key] == expected[key]
    assert [s for s, _ in stored["loss"]] == [1, 2, 3, 4]
    # The interrupted try's closing summary (logged after its checkpoint, at the
    # checkpoint's step) stays beside the resumed one's: both ends really happened.
    assert [s for s, _ in stored["train_runtime"]] == [2, 4]


# -- what the integrations do (integration_utils.py) ------------------------------------

def test_params_merge_the_model_config_and_the_arguments_which_win(sqlite_url: str,
                                                                   tmp_path: Path) -> None:
    # W&B and MLflow merge {**model.config.to_dict(), **args.to_dict()}.
    callback = TrackboardCallback(store=sqlite_url)
    model = tiny_bert(learning_rate=123.0, only_in_config="kept")
    trainer = tiny_trainer(tmp_path / "hf", [callback], model=model, max_steps=1)
    trainer.train()
    params = run_info(sqlite_url, callback.run.id)["params"]
    assert params["learning_rate"] == 5e-3 and params["only_in_config"] == "kept"
    assert params["output_dir"] == str(tmp_path / "hf")
    assert params["report_to"] == [] or params["report_to"] == "none"


def test_metrics_land_at_the_global_step_under_the_trainers_names(sqlite_url: str,
                                                                  tmp_path: Path) -> None:
    # MLflow and TensorBoard log every on_log at state.global_step, keys unchanged
    # (we keep "eval_loss"; W&B and TensorBoard rewrite it to "eval/loss").
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback], logging_steps=2)
    trainer.train()
    stored = series(sqlite_url, callback.run.id)
    assert [s for s, _ in stored["loss"]] == [2, 4, 6, 8]
    assert [s for s, _ in stored["eval_loss"]] == [4, 8]
    assert "eval/loss" not in stored


def test_predict_metrics_are_logged_like_wandbs_on_predict(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback])
    output = trainer.predict(TokenDataset(8, 3), metric_key_prefix="holdout")
    stored = series(sqlite_url, callback.run.id)
    assert stored["holdout_loss"] == [(0, pytest.approx(output.metrics["holdout_loss"]))]
    assert run_info(sqlite_url, callback.run.id)["status"] == "finished"


def test_the_run_ends_with_training_as_mlflows_does(sqlite_url: str, tmp_path: Path) -> None:
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback], max_steps=2)

    class StatusAtEnd(TrainerCallback):
        seen: list[str] = []

        def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl,
                        **kwargs: Any) -> None:
            self.seen.append("finished" if callback.run.finished else "running")

    trainer.add_callback(StatusAtEnd())
    trainer.train()
    assert StatusAtEnd.seen == ["running", "running"]
    assert callback.run.finished
    assert run_info(sqlite_url, callback.run.id)["status"] == "finished"


def _search(trainer: Any, **kwargs: Any) -> Any:
    def space(trial: Any) -> dict[str, Any]:
        return {"learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True)}
    return trainer.hyperparameter_search(hp_space=space, n_trials=2, **kwargs)


def test_trials_named_by_hp_name_each_in_a_run_with_their_checkpoints(sqlite_url: str,
                                                                     tmp_path: Path) -> None:
    # test_trainer_hyperparameter.py's shape: hp_name, an evaluation and a checkpoint
    # every epoch, the best model loaded at the end. W&B names a trial's run by
    # state.trial_name and groups it under the run name.
    pytest.importorskip("optuna")
    callback = TrackboardCallback(project="hf-hp", name="sweep", store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback], model_init=lambda: tiny_bert(),
                           save_strategy="epoch", load_best_model_at_end=True, num_train_epochs=1)
    _search(trainer, direction="minimize", hp_name=lambda trial: f"lr{trial.number}")
    runs = sorted(project_runs(sqlite_url, "hf-hp"), key=lambda r: r["name"])
    assert [(r["name"], r["tags.trial"], r["status"]) for r in runs] == [
        ("sweep-lr0", "lr0", "finished"), ("sweep-lr1", "lr1", "finished")]
    for run in runs:
        assert [s for s, _ in series(sqlite_url, run["id"])["loss"]] == [1, 2, 3, 4]
    assert (tmp_path / "hf" / "lr1" / "checkpoint-4").is_dir()


def test_multi_objective_search(sqlite_url: str, tmp_path: Path) -> None:
    pytest.importorskip("optuna")

    def accuracy(prediction: Any) -> dict[str, float]:
        return {"accuracy": float((prediction.predictions.argmax(-1) ==
                                   prediction.label_ids).mean())}

    callback = TrackboardCallback(project="hf-hp2", store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback], model_init=lambda: tiny_bert(),
                           num_train_epochs=1)
    trainer.compute_metrics = accuracy
    best = _search(trainer, direction=["minimize", "maximize"],
                   compute_objective=lambda m: (m["eval_loss"], m["eval_accuracy"]))
    assert isinstance(best, list) and best
    runs = project_runs(sqlite_url, "hf-hp2")
    assert len(runs) == 2
    for run in runs:
        assert "eval_accuracy" in series(sqlite_url, run["id"])


def test_only_the_world_process_zero_logs(sqlite_url: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Every integration returns early unless state.is_world_process_zero; we also
    # ask RANK (torchrun, Accelerate) before opening a run.
    monkeypatch.setenv("RANK", "1")
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback], max_steps=1)
    trainer.train()
    trainer.evaluate()
    assert project_runs(sqlite_url) == []


@pytest.mark.parametrize("printer_first", [False, True], ids=["us-first", "printer-first"])
def test_values_are_recorded_whatever_the_callback_order(printer_first: bool, sqlite_url: str,
                                                         tmp_path: Path) -> None:
    # PrinterCallback pops "total_flos" from the logs dict every callback shares.
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback], max_steps=2)
    if printer_first:
        trainer.remove_callback(callback)
        trainer.add_callback(callback)                            # now after the printer
    names = [type(cb).__name__ for cb in trainer.callback_handler.callbacks]
    assert (names.index("PrinterCallback") < names.index("TrackboardCallback")) == printer_first
    trainer.train()
    stored = series(sqlite_url, callback.run.id)
    assert stored == history_series(trainer.state.log_history)
    assert stored["total_flos"][0][0] == 2


def test_text_in_the_logs_is_left_out_with_one_warning(sqlite_url: str, tmp_path: Path) -> None:
    # TensorBoard's callback writes text as text, MLflow's drops it with a warning
    # each time; we store numbers only and warn once per key.
    callback = TrackboardCallback(store=sqlite_url)
    trainer = tiny_trainer(tmp_path / "hf", [callback], max_steps=3)

    class Summary(TrainerCallback):
        def on_step_end(self, args: Any, state: TrainerState, control: TrainerControl,
                        **kwargs: Any) -> None:
            trainer.log({"summary": "fine", "ratio": 0.5})

    trainer.add_callback(Summary())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    assert len([w for w in caught if "'summary'" in str(w.message)]) == 1
    assert series(sqlite_url, callback.run.id)["ratio"] == [(1, 0.5), (2, 0.5), (3, 0.5)]


def test_default_callbacks_unchanged_by_us(tmp_path: Path, sqlite_url: str) -> None:
    trainer = tiny_trainer(tmp_path / "hf", [TrackboardCallback(store=sqlite_url)])
    names = sorted(type(cb).__name__ for cb in trainer.callback_handler.callbacks)
    assert names == sorted([DefaultFlowCallback.__name__, PrinterCallback.__name__,
                            TrackboardCallback.__name__])
    # Creating the Trainer opens no run (on_init_end): nothing is in the store yet.
    assert project_runs(sqlite_url) == []
    json.dumps(TrainerState(stateful_callbacks=[ours(trainer)]).stateful_callbacks)
