"""TrackboardLogger in a real Lightning Trainer, checked against Lightning's own CSVLogger
given the same metrics in the same fit."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from tests.support.loggers import run_info, series, tiny_classification
from trackboard.loggers.lightning import TrackboardLogger


class TinyClassifier(L.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 8, fail_at_step: int = -1) -> None:
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
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], i: int) -> None:
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _trainer(loggers: list, tmp_path: Path) -> L.Trainer:
    return L.Trainer(max_epochs=2, logger=loggers, log_every_n_steps=1, accelerator="cpu",
                     enable_progress_bar=False, enable_model_summary=False,
                     enable_checkpointing=False, default_root_dir=str(tmp_path))


def _loader() -> DataLoader:
    x, y = (torch.from_numpy(a) for a in tiny_classification())
    return DataLoader(TensorDataset(x, y), batch_size=16)


def test_store_holds_what_lightning_logged(sqlite_url: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    ours = TrackboardLogger(project="lightning-test", name="tiny", store=sqlite_url)
    reference = CSVLogger(str(tmp_path / "csv"))
    _trainer([ours, reference], tmp_path).fit(TinyClassifier(lr=0.1), _loader(), _loader())

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
        assert [s for s, _ in stored[key]] == [s for s, _ in points], key
        # The CSV holds the floats Lightning passed as repr() text: exact round trip.
        assert [v for _, v in stored[key]] == [v for _, v in points], key
    assert {v for _, v in stored["epoch"]} == {0.0, 1.0}  # Lightning's 0-based epoch

    info = run_info(sqlite_url, ours.version)
    assert info["name"] == "tiny" == ours.name
    assert info["framework"] == "lightning" and info["status"] == "finished"
    assert info["params"]["lr"] == 0.1 and info["params"]["hidden"] == 8
    assert ours.experiment.id == ours.version  # experiment is the Run


def test_a_failing_fit_ends_the_run_failed(sqlite_url: str, tmp_path: Path) -> None:
    ours = TrackboardLogger(project="lightning-test", store=sqlite_url)
    with pytest.raises(RuntimeError, match="loss went NaN"):
        _trainer([ours], tmp_path).fit(TinyClassifier(fail_at_step=2), _loader())
    info = run_info(sqlite_url, ours.version)
    assert info["status"] == "failed" and info["framework"] == "lightning"
    assert [s for s, _ in series(sqlite_url, ours.version)["loss_step"]] == [0, 1]


def test_logging_after_finalize_warns_instead_of_crashing(sqlite_url: str) -> None:
    ours = TrackboardLogger(project="lightning-test", store=sqlite_url)
    ours.log_metrics({"loss": 1.0}, step=0)
    ours.finalize("success")
    with pytest.warns(UserWarning, match="give trainer.validate/test a new TrackboardLogger"):
        ours.log_metrics({"test_loss": 2.0}, step=1)
    assert series(sqlite_url, ours.version) == {"loss": [(0, 1.0)]}
    assert run_info(sqlite_url, ours.version)["status"] == "finished"
