"""What Lightning's own logger suites ask of a logger, asked of TrackboardLogger.

Modelled on tests/tests_pytorch/loggers/test_all.py, test_logger.py and test_csv.py in
Lightning-AI/pytorch-lightning (read, not copied): each test names the behaviour it
mirrors. Theirs check calls on mocked experiments; ours train real tiny models and
read the store. Where we deliberately differ (no integer versions, no files, no
empty name, steps that count the updates completed), the test says so and
docs/frameworks.md's Lightning section lists it.
"""

from __future__ import annotations

import pickle
from argparse import Namespace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers.logger import DummyExperiment
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from trackboard.loggers import Run
from trackboard.loggers.lightning import TrackboardLogger

from tests.support.loggers import run_info, series
from tests.test_loggers_lightning import TinyClassifier, loader, stored_runs, trainer

pytestmark = pytest.mark.slow  # needs a framework


def by_step(url: str, run_id: str) -> list[tuple[int, list[str]]]:
    """The stored keys at each step, as Lightning's suites compare log_metrics calls."""
    steps: dict[int, set[str]] = {}
    for key, points in series(url, run_id).items():
        for step, _ in points:
            steps.setdefault(step, set()).add(key)
    return [(s, sorted(keys)) for s, keys in sorted(steps.items())]


class EpochEndModel(TinyClassifier):
    """Logs as test_all.py's model does: a training value, two values at the end of
    validation, one at the end of test."""

    def training_step(self, batch: Any, i: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train_some_val", loss)
        return loss

    def validation_step(self, batch: Any, i: int) -> None:
        pass

    def on_validation_epoch_end(self) -> None:
        self.log_dict({"early_stop_on": torch.tensor(1), "val_loss": torch.tensor(0.5)})

    def test_step(self, batch: Any, i: int) -> None:
        pass

    def on_test_epoch_end(self) -> None:
        self.log("test_loss", torch.tensor(2))


# -- test_all.py --------------------------------------------------------------------

def test_loggers_fit_test(sqlite_url: str, tmp_path: Path) -> None:
    """test_loggers_fit_test_all: fit then test, the keys at each step."""
    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    t = trainer(ours, tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1,
                num_sanity_val_steps=0)
    model = EpochEndModel()
    t.fit(model, loader(), loader())
    t.test(model, loader())
    # Lightning's three calls (0: train, 0: validation, 1: test) land on one step:
    # all three come after the one update (deliberate difference, docs/frameworks.md:
    # trackboard's step is the updates completed; Lightning writes one less in fit).
    assert by_step(sqlite_url, ours.version) == [
        (1, ["early_stop_on", "epoch", "test_loss", "train_some_val", "val_loss"]),
    ]
    assert stored_runs(sqlite_url) == [ours.version]


def test_loggers_pickle(sqlite_url: str, tmp_path: Path) -> None:
    """test_loggers_pickle_all: pickle after the experiment started and after save();
    a Trainer holding the logger pickles too, and its copy still logs."""
    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    _ = ours.experiment
    ours.log_metrics({"a": 1}, step=0)
    ours.save()
    pickle.dumps(ours)
    copy = pickle.loads(pickle.dumps(L.Trainer(max_epochs=1, logger=ours,
                                               default_root_dir=tmp_path)))
    copy.logger.log_metrics({"acc": 1.0}, step=1)
    assert copy.logger.name == ours.name and copy.logger.save_dir == ours.save_dir
    copy.logger.finalize("success")
    ours.finalize("success")
    assert series(sqlite_url, ours.version) == {"a": [(0, 1.0)], "acc": [(1, 1.0)]}


class LazyInitExperimentCheck(Callback):
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.global_rank == 0:
            assert isinstance(trainer.logger._slot.run, Run)  # opened before setup hooks


class RankZeroLoggerCheck(Callback):
    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        dummy = isinstance(trainer.logger.experiment, DummyExperiment)
        assert dummy is not trainer.is_global_zero
        if dummy:
            assert trainer.logger.experiment.log({"x": 1}) is None


@pytest.mark.slow
def test_logger_initialization_with_ddp_spawn(sqlite_url: str, tmp_path: Path) -> None:
    """test_logger_initialization: two spawned processes; rank 0 has the run before
    setup, rank 1 a DummyExperiment; the parent had already logged hyperparameters."""
    ours = TrackboardLogger(project="ddp", store=sqlite_url, save_dir=tmp_path)
    ours.log_hyperparams({"before_spawn": 1})  # the run is open in the parent
    t = L.Trainer(logger=ours, default_root_dir=tmp_path, strategy="ddp_spawn",
                  accelerator="cpu", devices=2, max_steps=2, log_every_n_steps=1,
                  enable_progress_bar=False, enable_model_summary=False,
                  enable_checkpointing=False,
                  callbacks=[LazyInitExperimentCheck(), RankZeroLoggerCheck()])
    t.fit(TinyClassifier(), loader())
    assert stored_runs(sqlite_url) == [ours.version]
    assert [s for s, _ in series(sqlite_url, ours.version)["loss_step"]] == [1, 2]
    params = run_info(sqlite_url, ours.version)["params"]
    assert params["before_spawn"] == 1 and params["lr"] == 0.1


def test_logger_with_prefix(sqlite_url: str) -> None:
    """test_logger_with_prefix_all: prefix joined with Lightning's '-'."""
    ours = TrackboardLogger(store=sqlite_url, prefix="tmp")
    ours.log_metrics({"test": 1.0}, step=0)
    ours.finalize("success")
    assert series(sqlite_url, ours.version) == {"tmp-test": [(0, 1.0)]}


def test_logger_default_name(sqlite_url: str) -> None:
    """test_logger_default_name: Lightning's file loggers default to "lightning_logs".
    Deliberate difference: ours is the run's own name, the same before and after the
    run opens (a dashboard of runs all named "lightning_logs" tells nothing)."""
    ours = TrackboardLogger(store=sqlite_url)
    before = ours.name
    ours.log_metrics({"x": 1.0}, step=0)
    ours.finalize("success")
    assert before == ours.name == run_info(sqlite_url, ours.version)["name"]
    assert before == f"run-{ours.version[:6]}"


@pytest.mark.slow
def test_logger_reset_correctly(sqlite_url: str, tmp_path: Path) -> None:
    """test_logger_reset_correctly: the tuner leaves the logger in place."""
    from lightning.pytorch.tuner.tuning import Tuner

    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    t = trainer(ours, tmp_path, max_epochs=1)
    model = TinyClassifier()
    Tuner(t).lr_find(model, train_dataloaders=loader(), num_training=5)
    assert t.logger is ours and model.logger is ours


# -- test_logger.py -------------------------------------------------------------------

def test_custom_logger(sqlite_url: str, tmp_path: Path) -> None:
    """test_custom_logger: metrics arrive, checkpoints call back, finalize("success")."""
    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    t = trainer(ours, tmp_path, max_steps=2, enable_checkpointing=True)
    t.fit(TinyClassifier(), loader())
    assert t.state.finished
    assert len(series(sqlite_url, ours.version)["loss_step"]) == 2
    assert run_info(sqlite_url, ours.version)["status"] == "finished"
    assert list((Path(ours.log_dir) / "checkpoints").iterdir())


def test_multiple_loggers(sqlite_url: str, tmp_path: Path) -> None:
    """test_multiple_loggers: two of ours in one Trainer: two runs, both complete."""
    first = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    second = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    trainer([first, second], tmp_path, max_steps=2).fit(TinyClassifier(), loader())
    assert sorted(stored_runs(sqlite_url)) == sorted([first.version, second.version])
    assert series(sqlite_url, first.version) == series(sqlite_url, second.version) != {}
    assert {run_info(sqlite_url, r.version)["status"] for r in (first, second)} == {"finished"}


def test_multiple_loggers_pickle(sqlite_url: str, tmp_path: Path) -> None:
    """test_multiple_loggers_pickle: a Trainer with two loggers round-trips and logs."""
    first = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    second = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    copy = pickle.loads(pickle.dumps(L.Trainer(logger=[first, second])))
    for logger in copy.loggers:
        logger.log_metrics({"acc": 1.0}, 0)
        logger.finalize("success")
    for logger in (first, second):
        assert series(sqlite_url, logger.version) == {"acc": [(0, 1.0)]}


def test_adding_step_key(sqlite_url: str, tmp_path: Path) -> None:
    """test_adding_step_key: a "step" the model logs becomes the step."""

    class StepModel(TinyClassifier):
        def on_train_epoch_end(self) -> None:
            self.log_dict({"step": 10.0 + self.current_epoch, "train_acc": 0.5})

    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    trainer(ours, tmp_path, max_epochs=2).fit(StepModel(), loader())
    assert series(sqlite_url, ours.version)["train_acc"] == [(10, 0.5), (11, 0.5)]


def test_np_sanitization(sqlite_url: str) -> None:
    """test_np_sanitization: numpy scalars become Python values, complex ones text.
    Deliberate difference: complex numbers read "7+2j" (the Run API's text for them,
    the same from every adapter), where Lightning's str() writes "(7+2j)"."""
    ours = TrackboardLogger(store=sqlite_url)
    ours.log_hyperparams(Namespace(**{
        "np.bool_": np.bool_(1), "np.byte": np.byte(2), "np.intc": np.intc(3),
        "np.int_": np.int_(4), "np.longlong": np.longlong(5), "np.single": np.single(6.0),
        "np.double": np.double(8.9), "np.csingle": np.csingle(7 + 2j),
        "np.cdouble": np.cdouble(9 + 4j)}))
    ours.finalize("success")
    # Nested keys are flattened at '.', so "np.bool_" reads back as the key it was.
    assert run_info(sqlite_url, ours.version)["params"] == {
        "np.bool_": True, "np.byte": 2, "np.intc": 3, "np.int_": 4, "np.longlong": 5,
        "np.single": 6.0, "np.double": 8.9, "np.csingle": "7+2j", "np.cdouble": "9+4j"}


@pytest.mark.parametrize("log", [True, False])
def test_log_hyperparams_being_called(sqlite_url: str, tmp_path: Path, log: bool) -> None:
    """test_log_hyperparams_being_called: save_hyperparameters(logger=False) stores none."""

    class Model(TinyClassifier):
        def __init__(self, param_one: str, param_two: str) -> None:
            super().__init__()
            self.save_hyperparameters(logger=log)

    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    trainer(ours, tmp_path, max_steps=1).fit(Model("pytorch", "lightning"), loader())
    params = run_info(sqlite_url, ours.version)["params"]
    assert (params.get("param_one") == "pytorch") is log


@pytest.mark.slow
def test_log_hyperparams_key_collision(sqlite_url: str, tmp_path: Path) -> None:
    """test_log_hyperparams_key_collision: the same hparams in model and datamodule are
    fine; conflicting ones are Lightning's own error, not ours."""

    class Model(TinyClassifier):
        def __init__(self, hparams: dict[str, Any]) -> None:
            super().__init__()
            self.save_hyperparameters(hparams)

    class Data(L.LightningDataModule):
        def __init__(self, hparams: dict[str, Any]) -> None:
            super().__init__()
            self.save_hyperparameters(hparams)

        def train_dataloader(self) -> Any:
            return loader()

    # (Lightning 2.6 compares 0-d tensors by identity here, so theirs had to go.)
    same = {1: 1, "2": 2, "three": 3.0, "4": [4]}
    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    trainer(ours, tmp_path, max_steps=1).fit(Model(same), datamodule=Data(same))
    params = run_info(sqlite_url, ours.version)["params"]
    assert {k: params[k] for k in ("1", "2", "three", "4")} == {
        "1": 1, "2": 2, "three": 3.0, "4": [4]}
    with pytest.raises((MisconfigurationException, RuntimeError),  # 2.6: RuntimeError
                       match="Error while merging hparams"):
        trainer(TrackboardLogger(store=sqlite_url, save_dir=tmp_path), tmp_path,
                max_steps=1).fit(Model(same), datamodule=Data({**same, "2": 0}))


# -- test_csv.py (the file-based logger's contract, where it applies to a store) -----

def test_named_version(sqlite_url: str, tmp_path: Path) -> None:
    """test_named_version: a string version is kept and names the directory.
    (test_automatic_versioning/test_manual_versioning: our versions are run ids, not
    integers counted from existing folders: deliberate difference.)"""
    ours = TrackboardLogger(store=sqlite_url, name="exp", id="2020-02-05-162402",
                            save_dir=tmp_path)
    ours.log_hyperparams({"a": 1, "b": 2})
    ours.save()
    ours.finalize("success")
    assert ours.version == "2020-02-05-162402"
    assert ours.log_dir == str(tmp_path / "exp" / "2020-02-05-162402")
    assert [p.name for p in (tmp_path / "exp").iterdir()] == ["2020-02-05-162402"]
    assert run_info(sqlite_url, "2020-02-05-162402")["params"] == {"a": 1, "b": 2}


def test_no_name_is_refused() -> None:
    """test_no_name: the CSV logger accepts name="" (no sub-folder). Deliberate
    difference: a run needs a name, so "" is a ValueError at the call."""
    with pytest.raises(ValueError, match="empty key"):
        TrackboardLogger(name="")


@pytest.mark.parametrize("step", [10, None])
def test_log_metrics(sqlite_url: str, step: int | None) -> None:
    """test_log_metrics: floats, ints and 0-d tensors, with and without a step."""
    ours = TrackboardLogger(store=sqlite_url)
    ours.log_metrics({"float": 0.3, "int": 1, "FloatTensor": torch.tensor(0.1),
                      "IntTensor": torch.tensor(1)}, step)
    ours.save()
    ours.finalize("success")
    at = 10 if step is not None else 0
    assert series(sqlite_url, ours.version) == {
        "float": [(at, 0.3)], "int": [(at, 1.0)],
        "FloatTensor": [(at, float(torch.tensor(0.1)))], "IntTensor": [(at, 1.0)]}


def test_log_hyperparams(sqlite_url: str) -> None:
    """test_log_hyperparams: every kind of value is kept under its name."""
    ours = TrackboardLogger(store=sqlite_url)
    ours.log_hyperparams({"float": 0.3, "int": 1, "string": "abc", "bool": True,
                          "dict": {"a": {"b": "c"}}, "list": [1, 2, 3],
                          "layer": torch.nn.BatchNorm1d})
    ours.finalize("success")
    params = run_info(sqlite_url, ours.version)["params"]
    assert params == {"float": 0.3, "int": 1, "string": "abc", "bool": True,
                      "dict.a.b": "c", "list": [1, 2, 3], "layer": "BatchNorm1d"}


def test_log_hyperparams_with_metrics(sqlite_url: str) -> None:
    """test_tensorboard_log_hparams_and_metrics (TensorBoardLogger, the one logger that
    stores them): the metrics passed with the hyperparameters are kept, one-element
    tensors as numbers; a bare number is `hp_metric`; `step` places them (none: 0)."""
    ours = TrackboardLogger(store=sqlite_url)
    ours.log_hyperparams({"float": 0.3, "dict": {"a": {"b": "c"}}},
                         {"abc": torch.tensor([0.54]), "hp/acc": 0.75})
    ours.log_hyperparams({"int": 1}, 0.25, step=7)
    ours.finalize("success")
    assert run_info(sqlite_url, ours.version)["params"] == {"float": 0.3, "dict.a.b": "c",
                                                           "int": 1}
    assert series(sqlite_url, ours.version) == {
        "abc": [(0, float(torch.tensor(0.54)))], "hp/acc": [(0, 0.75)],
        "hp_metric": [(7, 0.25)]}


def test_log_hyperparams_with_metrics_inside_fit(sqlite_url: str, tmp_path: Path) -> None:
    """Lightning's docs: log_hyperparams(self.hparams, {"hp/metric": ...}) from a hook;
    without a step the metrics land at the step training has reached."""

    class Reports(TinyClassifier):
        def on_train_end(self) -> None:
            self.logger.log_hyperparams(self.hparams, {"hp/final": 1.5})

    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    trainer(ours, tmp_path, max_epochs=1).fit(Reports(), loader())
    assert series(sqlite_url, ours.version)["hp/final"] == [(4, 1.5)]  # 4 updates done


def test_fit_logger(sqlite_url: str, tmp_path: Path) -> None:
    """test_fit_csv_logger: max_steps=10 with every step logged."""
    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    trainer(ours, tmp_path, max_steps=10, max_epochs=None).fit(TinyClassifier(), loader())
    assert [s for s, _ in series(sqlite_url, ours.version)["loss_step"]] == list(range(1, 11))


def test_append_metrics(sqlite_url: str) -> None:
    """test_append_metrics_file: a new logger with the same version appends.
    (test_flush_n_steps, test_metrics_reset_after_save: there is no flush interval;
    points go to the store in the background and finalize waits for them.)"""
    first = TrackboardLogger(store=sqlite_url, id="exp-0")
    first.log_metrics({"a": 1, "b": 2}, step=0)
    first.log_metrics({"a": 3, "b": 4}, step=1)
    first.finalize("success")
    again = TrackboardLogger(store=sqlite_url, id="exp-0")
    again.log_metrics({"a": 100, "b": 200}, step=2)
    again.finalize("success")
    assert series(sqlite_url, "exp-0") == {"a": [(0, 1.0), (1, 3.0), (2, 100.0)],
                                           "b": [(0, 2.0), (1, 4.0), (2, 200.0)]}


def test_append_columns(sqlite_url: str) -> None:
    """test_append_columns: keys may appear and disappear between calls."""
    ours = TrackboardLogger(store=sqlite_url)
    ours.log_metrics({"a": 1, "b": 2}, step=0)
    ours.log_metrics({"a": 1, "b": 2, "c": 3}, step=1)
    ours.log_metrics({"a": 1, "c": 3}, step=2)
    ours.finalize("success")
    stored = series(sqlite_url, ours.version)
    assert {k: [s for s, _ in v] for k, v in stored.items()} == {
        "a": [0, 1, 2], "b": [0, 1], "c": [1, 2]}
