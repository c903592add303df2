"""TrackboardLogger in real Lightning Trainers through a whole program: validate and
test before and after fit, fit twice, resume from a checkpoint, pickling into a
spawned process, directories, hyperparameters of any type, and trouble that must
not stop training. The reference is what Lightning itself hands its loggers, at
trackboard's step: the trainer's count of optimizer updates when it logged
(Lightning's own loggers write one less while it trains)."""

from __future__ import annotations

import csv
import datetime
import multiprocessing
import os
import pickle
import warnings
from argparse import Namespace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from torch.utils.data import DataLoader, TensorDataset
from trackboard.loggers import Run
from trackboard.loggers.lightning import TrackboardLogger
from trackboard.storage import Store

from tests.support.loggers import run_info, series, tiny_classification

pytestmark = pytest.mark.slow  # needs a framework


class TinyClassifier(L.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 8, fail_at_step: int = -1,
                 attempt: int = 1, **extra: Any) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden, 1))

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.binary_cross_entropy_with_logits(
            self.net(x).squeeze(-1), y)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> torch.Tensor:
        if self.global_step == self.hparams.fail_at_step:
            raise RuntimeError("loss went NaN")
        loss = self._loss(batch)
        self.log("loss", loss, on_step=True, on_epoch=True)
        # Which attempt logged a step: the resume test tells the two trainings apart.
        self.log("attempt", float(self.hparams.attempt))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> None:
        self.log("val_loss", self._loss(batch))

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> None:
        self.log("test_loss", self._loss(batch))

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> torch.Tensor:
        return self.net(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class Recorder(Logger):
    """A real Lightning logger that keeps every call: what Lightning handed over, at
    the trainer's count of updates when it did (the trainer as log_graph shows it)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, dict[str, float]]] = []
        self.finalized: list[str] = []
        self.trainer: Any = None

    name, version = "recorder", "0"

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        self.trainer = model.trainer

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append((self.trainer.global_step, dict(metrics)))

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def finalize(self, status: str) -> None:
        self.finalized.append(status)

    def expected(self) -> dict[str, list[tuple[int, float]]]:
        out: dict[str, dict[int, float]] = {}
        for step, metrics in self.calls:
            for key, value in metrics.items():
                out.setdefault(key, {})[step] = float(value)  # the later call wins
        return {k: sorted(v.items()) for k, v in out.items()}


def trainer(loggers: Any, tmp_path: Path, **kwargs: Any) -> L.Trainer:
    args: dict[str, Any] = dict(max_epochs=2, log_every_n_steps=1, accelerator="cpu",
                                enable_progress_bar=False, enable_model_summary=False,
                                enable_checkpointing=False, default_root_dir=str(tmp_path))
    return L.Trainer(logger=loggers, **{**args, **kwargs})


def loader(seed: int = 0) -> DataLoader:
    x, y = (torch.from_numpy(a) for a in tiny_classification(seed=seed))
    return DataLoader(TensorDataset(x, y), batch_size=16)


def stored_runs(url: str) -> list[str]:
    with Store(url) as store:
        return list(store.runs()["id"])


def test_store_holds_what_lightning_logged(sqlite_url: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    ours = TrackboardLogger(project="lightning-test", name="tiny", store=sqlite_url,
                            save_dir=tmp_path)
    reference = CSVLogger(str(tmp_path / "csv"))
    trainer([ours, reference], tmp_path).fit(TinyClassifier(lr=0.1), loader(), loader())

    # Lightning's CSV file: one row per log_metrics call, blank where a key was absent.
    expected: dict[str, list[tuple[int, float]]] = {}
    with open(Path(reference.log_dir) / "metrics.csv") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "step" and value != "":
                    expected.setdefault(key, []).append((int(row["step"]), float(value)))
    for key in expected:  # the same step logged twice keeps the later value, as ours does
        expected[key] = sorted(dict(expected[key]).items())

    stored = series(sqlite_url, ours.version)
    assert {"loss_step", "loss_epoch", "val_loss", "epoch"} <= set(stored)
    assert stored.keys() == expected.keys()
    for key, points in expected.items():
        # Lightning writes the metrics of its Nth update at N - 1; trackboard at N,
        # as Keras, the Trainer and a torch or Flax loop count (docs/frameworks.md).
        assert [s for s, _ in stored[key]] == [s + 1 for s, _ in points], key
        # The CSV holds the floats Lightning passed as repr() text: exact round trip.
        assert [v for _, v in stored[key]] == [v for _, v in points], key
    assert {v for _, v in stored["epoch"]} == {0.0, 1.0}  # Lightning's 0-based epoch

    info = run_info(sqlite_url, ours.version)
    assert info["name"] == "tiny" == ours.name
    assert info["framework"] == "lightning" and info["status"] == "finished"
    assert info["params"]["lr"] == 0.1 and info["params"]["hidden"] == 8
    assert ours.experiment.id == ours.version  # experiment is the Run


def test_a_failing_fit_ends_the_run_failed(sqlite_url: str, tmp_path: Path) -> None:
    ours = TrackboardLogger(project="lightning-test", store=sqlite_url, save_dir=tmp_path)
    with pytest.raises(RuntimeError, match="loss went NaN"):
        trainer([ours], tmp_path).fit(TinyClassifier(fail_at_step=2), loader())
    info = run_info(sqlite_url, ours.version)
    assert info["status"] == "failed" and info["framework"] == "lightning"
    assert [s for s, _ in series(sqlite_url, ours.version)["loss_step"]] == [1, 2]


@pytest.mark.slow
def test_every_stage_before_and_after_fit_logs_into_one_run(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    torch.manual_seed(0)
    ours = TrackboardLogger(project="lightning-test", store=sqlite_url, save_dir=tmp_path)
    recorder = Recorder()
    t = trainer([ours, recorder], tmp_path)
    model = TinyClassifier()
    t.validate(model, loader())                   # before fit: step 0
    t.test(model, loader())
    t.fit(model, loader(), loader())
    assert run_info(sqlite_url, ours.version)["status"] == "finished"  # fit finalized it
    t.validate(model, loader())                   # after fit: the step fit ended on
    t.test(model, loader())
    predictions = t.predict(model, loader())
    assert len(predictions) == 4

    assert stored_runs(sqlite_url) == [ours.version]  # one program, one run
    stored = series(sqlite_url, ours.version)
    assert stored == recorder.expected()
    end = t.global_step
    assert [s for s, _ in stored["test_loss"]] == [0, end]
    assert [s for s, _ in stored["val_loss"]][-1] == end
    info = run_info(sqlite_url, ours.version)
    assert info["status"] == "finished"  # predict's finalize ended it again
    assert info["params"]["lr"] == 0.1
    assert recorder.finalized == ["success"] * 6


@pytest.mark.slow
def test_fit_twice_continues_the_run(sqlite_url: str, tmp_path: Path) -> None:
    ours = TrackboardLogger(project="lightning-test", store=sqlite_url, save_dir=tmp_path)
    recorder = Recorder()
    t = trainer([ours, recorder], tmp_path, max_epochs=1)
    model = TinyClassifier()
    t.fit(model, loader())
    t.fit_loop.max_epochs = 2
    t.fit(model, loader())
    stored = series(sqlite_url, ours.version)
    assert [s for s, _ in stored["loss_step"]] == list(range(1, 9))  # 2 epochs x 4 batches
    assert stored == recorder.expected()
    assert stored_runs(sqlite_url) == [ours.version]
    assert run_info(sqlite_url, ours.version)["status"] == "finished"


@pytest.mark.slow
def test_fit_resumed_from_a_checkpoint_replaces_the_steps_after_it(
        sqlite_url: str, tmp_path: Path) -> None:
    ckpts = tmp_path / "ckpts"
    first = TrackboardLogger(project="lightning-test", store=sqlite_url, id="resumable",
                             save_dir=tmp_path)
    every_epoch = ModelCheckpoint(dirpath=ckpts, save_top_k=-1, every_n_epochs=1)
    trainer([first], tmp_path, max_epochs=4, enable_checkpointing=True,
            callbacks=[every_epoch]).fit(TinyClassifier(attempt=1), loader(), loader())
    before = series(sqlite_url, "resumable")
    assert [s for s, _ in before["attempt"]] == list(range(1, 17))

    # A new logger with the same id (as in a restarted process) and the checkpoint
    # written after the second epoch: global step 8. It trains one epoch less, so
    # the first attempt's steps 13-16 are never logged again: only a purge drops them.
    second = TrackboardLogger(project="lightning-test", store=sqlite_url, id="resumable",
                              save_dir=tmp_path)
    assert (second.name, second.version) == (first.name, first.version)
    recorder = Recorder()
    t = trainer([second, recorder], tmp_path, max_epochs=3)
    t.fit(TinyClassifier(attempt=2), loader(), loader(),
          ckpt_path=str(ckpts / "epoch=1-step=8.ckpt"))

    after = series(sqlite_url, "resumable")
    assert stored_runs(sqlite_url) == ["resumable"]
    # Steps 1-8 from the first attempt (step 8, the checkpoint's, was logged before it
    # was saved), 9-12 from the resumed one, each once.
    assert after["attempt"] == [(s, 1.0) for s in range(1, 9)] + [(s, 2.0) for s in range(9, 13)]
    resumed = recorder.expected()
    for key, points in after.items():
        kept = [p for p in before[key] if p[0] <= 8]
        assert points == kept + [p for p in resumed.get(key, []) if p[0] > 8], key
    info = run_info(sqlite_url, "resumable")
    assert info["status"] == "finished" and info["params"]["attempt"] == 2


def _log_from_child(pickled: bytes) -> None:
    # Runs in a spawned interpreter: the logger arrives as bytes, as ddp_spawn sends it.
    logger = pickle.loads(pickled)
    logger.log_metrics({"child_loss": 0.25}, step=7)
    logger.finalize("success")


class _PickleMidRun(Callback):
    """Pickles the trainer's logger in the middle of fit, after log_hyperparams."""

    def __init__(self) -> None:
        self.copies: list[bytes] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == 2:
            self.copies.append(pickle.dumps(trainer.logger))


@pytest.mark.slow
def test_the_logger_pickles_mid_run_and_a_spawned_child_logs_into_the_same_run(
        sqlite_url: str, tmp_path: Path) -> None:
    ours = TrackboardLogger(project="lightning-test", store=sqlite_url, save_dir=tmp_path)
    spy = _PickleMidRun()
    trainer(ours, tmp_path, max_epochs=1, callbacks=[spy]).fit(TinyClassifier(), loader())
    copy = pickle.loads(spy.copies[0])
    assert (copy.name, copy.version, copy.save_dir) == (ours.name, ours.version, ours.save_dir)

    child = multiprocessing.get_context("spawn").Process(target=_log_from_child,
                                                         args=(spy.copies[0],))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    stored = series(sqlite_url, ours.version)
    assert stored["child_loss"] == [(7, 0.25)]
    assert len(stored["loss_step"]) == 4  # the parent's points are all still there
    assert stored_runs(sqlite_url) == [ours.version]
    assert run_info(sqlite_url, ours.version)["status"] == "finished"


def test_name_version_and_directories_are_real_and_stable(sqlite_url: str,
                                                          tmp_path: Path) -> None:
    ours = TrackboardLogger(project="lightning-test", store=sqlite_url,
                            save_dir=tmp_path / "out")
    name, version = ours.name, ours.version
    assert version and name
    t = trainer(ours, tmp_path, max_epochs=1, enable_checkpointing=True)
    t.fit(TinyClassifier(), loader())
    assert (ours.name, ours.version) == (name, version)  # same before and after the run
    info = run_info(sqlite_url, version)
    assert info["name"] == name and info["id"] == version

    log_dir = tmp_path / "out" / name / version
    assert ours.log_dir == str(log_dir) and log_dir.is_dir()
    assert t.log_dir == str(tmp_path / "out")  # Lightning asks other loggers for save_dir
    # Checkpoints go where Lightning puts them for a logger: save_dir/name/version.
    assert [p.name for p in (log_dir / "checkpoints").iterdir()] == ["epoch=0-step=4.ckpt"]
    torch.save({"x": 1}, os.path.join(ours.log_dir, "extra.pt"))  # a usable directory


def test_the_run_id_comes_from_the_environment(sqlite_url: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKBOARD_RUN_ID", "from-env")
    ours = TrackboardLogger(store=sqlite_url, save_dir=tmp_path)
    ours.log_metrics({"loss": 1.0}, step=0)
    ours.finalize("success")
    assert ours.version == "from-env"
    assert series(sqlite_url, "from-env") == {"loss": [(0, 1.0)]}
    with pytest.raises(ValueError, match="not a valid run id"):
        TrackboardLogger(id="no spaces please")


@pytest.mark.slow
def test_hyperparameters_of_any_type_are_stored_and_never_stop_fit(
        sqlite_url: str, tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    ours = TrackboardLogger(project="lightning-test", store=sqlite_url, save_dir=tmp_path)
    model = TinyClassifier(
        when=np.datetime64("2024-05-06T07:08"), span=np.timedelta64(3, "D"),
        z=np.complex128(1 - 2j), day=datetime.date(2024, 1, 2),
        layers=OmegaConf.create([64, 32]),
        optim=OmegaConf.create({"name": "sgd", "lr": "${lr_value}", "lr_value": 0.5}),
        nested=Namespace(inner=Namespace(depth=2, tags=("a", "b"))),
        array=np.arange(3), layer=torch.nn.BatchNorm1d, odd=object())
    trainer(ours, tmp_path, max_epochs=1).fit(model, loader())
    params = run_info(sqlite_url, ours.version)["params"]
    assert params["when"] == "2024-05-06T07:08" and params["span"] == "3 days"
    assert params["z"] == "1-2j" and params["day"] == "2024-01-02"
    assert params["layers"] == [64, 32]                        # a list, not a repr
    assert params["optim.lr"] == 0.5 and params["optim.name"] == "sgd"  # resolved
    assert params["nested.inner.depth"] == 2 and params["nested.inner.tags"] == ["a", "b"]
    assert params["array"] == [0, 1, 2]
    assert "BatchNorm1d" in params["layer"] and params["odd"].startswith("<object object")

    # A value that cannot even be printed is stored as its type; training goes on.
    ours = TrackboardLogger(project="lightning-test", store=sqlite_url, save_dir=tmp_path)
    trainer(ours, tmp_path, max_epochs=1).fit(TinyClassifier(bad=Unprintable()), loader())
    assert len(series(sqlite_url, ours.version)["loss_step"]) == 4
    info = run_info(sqlite_url, ours.version)
    assert info["status"] == "finished" and info["params"]["bad"].endswith("Unprintable object>")


def test_one_bad_hyperparameter_key_keeps_the_others(sqlite_url: str) -> None:
    ours = TrackboardLogger(store=sqlite_url)
    with pytest.warns(RuntimeWarning, match="was not stored"):
        ours.log_hyperparams({"lr": 0.1, "x" * 300: 1})
    ours.finalize("success")
    assert run_info(sqlite_url, ours.version)["params"] == {"lr": 0.1}


def test_a_finished_run_warns_once_and_training_goes_on(sqlite_url: str,
                                                        tmp_path: Path) -> None:
    run = Run(project="lightning-test", store=sqlite_url, system_metrics=False)
    run.log({"loss": 1.0}, step=0)
    run.finish()  # the user ended their own run before handing it to Lightning
    ours = TrackboardLogger(run=run, save_dir=tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer(ours, tmp_path, max_epochs=1).fit(TinyClassifier(), loader())
    ours_warnings = [w for w in caught if "trackboard" in str(w.message)]
    assert len({str(w.message) for w in ours_warnings}) == len(ours_warnings) >= 1
    assert "is finished" in str(ours_warnings[0].message)
    assert series(sqlite_url, run.id) == {"loss": [(0, 1.0)]}  # nothing lost, nothing added


def test_a_run_passed_in_is_not_finished_by_lightning(sqlite_url: str, tmp_path: Path) -> None:
    with Run(project="lightning-test", store=sqlite_url, system_metrics=False) as run:
        ours = TrackboardLogger(run=run, save_dir=tmp_path)
        t = trainer(ours, tmp_path, max_epochs=1)
        t.fit(TinyClassifier(), loader())
        t.test(TinyClassifier(), loader())
        assert not run.finished and ours.version == run.id
    stored = series(sqlite_url, run.id)
    assert len(stored["loss_step"]) == 4 and stored["test_loss"][0][0] == 4


def test_a_run_continued_by_id_keeps_its_stored_name(sqlite_url: str) -> None:
    with Run(project="lightning-test", name="from-script", id="named", store=sqlite_url,
             system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    ours = TrackboardLogger(store=sqlite_url, id="named")  # no name given here
    ours.log_metrics({"loss": 0.5}, step=1)
    ours.finalize("success")
    info = run_info(sqlite_url, "named")
    assert info["name"] == "from-script" and info["project"] == "lightning-test"
    assert series(sqlite_url, "named") == {"loss": [(0, 1.0), (1, 0.5)]}
