"""A tiny BERT and token data built locally for Trainer tests (nothing is downloaded),
and the Trainer's own log history in the shape `tests.support.loggers.series` returns."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded

import torch  # noqa: E402
from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()


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


def tiny_bert(seed: int = 0, **overrides: Any) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=16, num_labels=2, **overrides)
    return BertForSequenceClassification(config)


def training_args(output_dir: Path | str, **overrides: Any) -> TrainingArguments:
    """Two epochs of 4 steps, a log every step, evaluation every epoch, no checkpoints."""
    settings: dict[str, Any] = dict(
        output_dir=str(output_dir), num_train_epochs=2, per_device_train_batch_size=8,
        per_device_eval_batch_size=8, learning_rate=5e-3, logging_steps=1,
        eval_strategy="epoch", save_strategy="no", report_to="none", use_cpu=True,
        disable_tqdm=True, seed=0)
    settings.update(overrides)
    return TrainingArguments(**settings)


def tiny_trainer(output_dir: Path | str, callbacks: list[Any] | None = None, *,
                 model: Any = None, model_init: Any = None, data_seed: int = 0,
                 **overrides: Any) -> Trainer:
    if model is None and model_init is None:
        model = tiny_bert()
    return Trainer(model=model, model_init=model_init, args=training_args(output_dir, **overrides),
                   train_dataset=TokenDataset(32, data_seed), eval_dataset=TokenDataset(16, 1),
                   callbacks=callbacks)


def history_series(log_history: list[dict[str, Any]], *, offset: int = 0
                   ) -> dict[str, list[tuple[int, float]]]:
    """The Trainer's log history as {key: [(step, value), ...]}; a step logged twice
    keeps its later value, as the store does. Text entries are left out."""
    out: dict[str, dict[int, float]] = {}
    for entry in log_history:
        for key, value in entry.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, {})[entry["step"] + offset] = float(value)
    return {key: sorted(points.items()) for key, points in out.items()}


def merge_series(*parts: dict[str, list[tuple[int, float]]]) -> dict[str, list[tuple[int, float]]]:
    merged: dict[str, dict[int, float]] = {}
    for part in parts:
        for key, points in part.items():
            merged.setdefault(key, {}).update(points)
    return {key: sorted(points.items()) for key, points in merged.items()}


class EventRecorder(TrainerCallback):
    """Records the name of every event the Trainer sends, and the control flags after it."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            def record(args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                self.events.append(name)
            return record
        return super().__getattribute__(name)
