"""TrackboardCallback in a real Hugging Face Trainer on a tiny BERT built locally
(no downloads), checked against the Trainer's own log history."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded

import torch  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

from tests.support.loggers import run_info, series  # noqa: E402
from trackboard.loggers.transformers import TrackboardCallback  # noqa: E402


class TokenDataset(torch.utils.data.Dataset):
    """Sequences of 8 token ids; the label says whether token 5 occurs."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 30, (n, 8), generator=g)
        self.labels = (self.ids == 5).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def _trainer(tmp_path: Path, callback: TrackboardCallback) -> Trainer:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=16, num_labels=2)
    args = TrainingArguments(output_dir=str(tmp_path / "hf"), num_train_epochs=2,
                             per_device_train_batch_size=8, per_device_eval_batch_size=8,
                             learning_rate=5e-3, logging_steps=1, eval_strategy="epoch",
                             save_strategy="no", report_to="none", use_cpu=True,
                             disable_tqdm=True, seed=0)
    return Trainer(model=BertForSequenceClassification(config), args=args,
                   train_dataset=TokenDataset(32, 0), eval_dataset=TokenDataset(16, 1),
                   callbacks=[callback])


def test_store_holds_the_trainers_log_history(sqlite_url: str, tmp_path: Path) -> None:
    callback = TrackboardCallback(project="hf-test", name="tiny-bert", store=sqlite_url)
    trainer = _trainer(tmp_path, callback)
    trainer.train()

    expected: dict[str, list[tuple[int, float]]] = {}
    for entry in trainer.state.log_history:
        for key, value in entry.items():
            if key != "step" and isinstance(value, (int, float)):
                expected.setdefault(key, []).append((entry["step"], float(value)))
    for key in expected:  # a step logged twice keeps its later value
        expected[key] = sorted(dict(expected[key]).items())
    stored = series(sqlite_url, callback.run.id)
    assert {"loss", "learning_rate", "eval_loss", "epoch", "train_runtime"} <= set(stored)
    assert stored == expected
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
    trainer = _trainer(tmp_path, callback)
    # What a non-zero process of a distributed run sees in the Trainer's state.
    monkeypatch.setattr(trainer.state, "is_world_process_zero", False)
    callback.on_train_begin(trainer.args, trainer.state, trainer.control, model=trainer.model)
    callback.on_log(trainer.args, trainer.state, trainer.control, logs={"loss": 1.0})
    assert callback.run is None
