"""One step meaning across frameworks: the same schedule trained in every framework
lands on the same steps (docs/frameworks.md, loggers/training_steps.py).

The schedule: 48 training examples in batches of 8 (6 optimizer updates an
epoch), 2 epochs, the training loss logged every 3 updates, the validation loss
after each epoch. A step is the number of updates completed when the value was
logged, so every framework must store the training loss at 3, 6, 9, 12 and the
validation loss at 6 and 12: Keras (torch backend) through its callback, plain
torch through SummaryWriter, Lightning, the Transformers Trainer and a Flax loop
through the clu-style MetricWriter. (The demo's own runs are checked in
test_loggers_demo.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.loggers import last_json, run_python, series, tiny_classification

pytestmark = pytest.mark.slow  # trains in five frameworks

N_TRAIN, N_VAL, BATCH, EPOCHS, EVERY = 48, 16, 8, 2, 3
TRAIN_STEPS = [3, 6, 9, 12]   # updates completed at each training log
VAL_STEPS = [6, 12]           # updates completed at each epoch's validation


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = tiny_classification(N_TRAIN + N_VAL)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def steps_of(url: str, run_id: str, train_key: str, val_key: str) -> tuple[list[int], list[int]]:
    stored = series(url, run_id)
    return [s for s, _ in stored[train_key]], [s for s, _ in stored[val_key]]


KERAS = f"""
import json, sys
import numpy as np
import keras
from trackboard.loggers.keras import TrackboardCallback
from tests.support.loggers import tiny_classification

x, y = tiny_classification({N_TRAIN + N_VAL})
keras.utils.set_random_seed(0)
m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                      keras.layers.Dense(1, activation="sigmoid")])
m.compile(optimizer="sgd", loss="binary_crossentropy")
cb = TrackboardCallback(project="steps", name="keras", store=sys.argv[1],
                        log_every_n_steps={EVERY})
m.fit(x[:{N_TRAIN}], y[:{N_TRAIN}], batch_size={BATCH}, epochs={EPOCHS}, verbose=0,
      validation_data=(x[{N_TRAIN}:], y[{N_TRAIN}:]), callbacks=[cb])
print(json.dumps({{"run": cb.run.id}}))
"""


def keras_steps(url: str, tmp_path: Path) -> tuple[list[int], list[int]]:
    _, out, _ = run_python(KERAS, url, env={"KERAS_BACKEND": "torch"})
    # Keras' names: batch logs as batch_<name> (its TensorBoard callback's), History's val_*.
    return steps_of(url, last_json(out)["run"], "batch_loss", "val_loss")


def torch_steps(url: str, tmp_path: Path) -> tuple[list[int], list[int]]:
    import torch
    from trackboard.loggers.torch import SummaryWriter

    x, y, xv, yv = (torch.from_numpy(a) for a in data())
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    with SummaryWriter(tmp_path / "torch", project="steps", store=url) as writer:
        step = 0
        for _ in range(EPOCHS):
            for i in range(0, N_TRAIN, BATCH):
                loss = bce(model(x[i:i + BATCH]).squeeze(-1), y[i:i + BATCH])
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1  # the update is done: this is its step
                if step % EVERY == 0:
                    writer.add_scalar("loss", loss.item(), step)
            with torch.no_grad():
                writer.add_scalar("val_loss", bce(model(xv).squeeze(-1), yv).item(), step)
    return steps_of(url, writer.run.id, "loss", "val_loss")


def lightning_steps(url: str, tmp_path: Path) -> tuple[list[int], list[int]]:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from trackboard.loggers.lightning import TrackboardLogger

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 1)

        def _loss(self, batch: Any) -> Any:
            xb, yb = batch
            return torch.nn.functional.binary_cross_entropy_with_logits(
                self.net(xb).squeeze(-1), yb)

        def training_step(self, batch: Any, i: int) -> Any:
            loss = self._loss(batch)
            self.log("loss", loss, on_step=True, on_epoch=False)
            return loss

        def validation_step(self, batch: Any, i: int) -> None:
            self.log("val_loss", self._loss(batch))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    x, y, xv, yv = (torch.from_numpy(a) for a in data())
    logger = TrackboardLogger(project="steps", store=url, save_dir=tmp_path)
    L.Trainer(max_epochs=EPOCHS, log_every_n_steps=EVERY, logger=logger, accelerator="cpu",
              enable_progress_bar=False, enable_model_summary=False,
              enable_checkpointing=False, num_sanity_val_steps=0).fit(
        Tiny(), DataLoader(TensorDataset(x, y), batch_size=BATCH),
        DataLoader(TensorDataset(xv, yv), batch_size=N_VAL))
    return steps_of(url, logger.version, "loss", "val_loss")


def transformers_steps(url: str, tmp_path: Path) -> tuple[list[int], list[int]]:
    from trackboard.loggers.transformers import TrackboardCallback

    from tests.support.transformers_tiny import TokenDataset, tiny_bert, training_args
    from transformers import Trainer

    callback = TrackboardCallback(project="steps", store=url)
    Trainer(model=tiny_bert(), args=training_args(
                tmp_path / "hf", num_train_epochs=EPOCHS, per_device_train_batch_size=BATCH,
                logging_steps=EVERY, eval_strategy="epoch"),
            train_dataset=TokenDataset(N_TRAIN, 0), eval_dataset=TokenDataset(N_VAL, 1),
            callbacks=[callback]).train()
    return steps_of(url, callback.run.id, "loss", "eval_loss")


def jax_steps(url: str, tmp_path: Path) -> tuple[list[int], list[int]]:
    import jax
    import jax.numpy as jnp
    import optax
    from trackboard.loggers.jax import MetricWriter

    x, y, xv, yv = (jnp.asarray(a) for a in data())
    params = {"w": jnp.zeros(4), "b": jnp.zeros(())}
    tx = optax.sgd(0.1)
    opt_state = tx.init(params)

    def loss_fn(p: Any, xb: Any, yb: Any) -> Any:
        return optax.sigmoid_binary_cross_entropy(xb @ p["w"] + p["b"], yb).mean()

    @jax.jit
    def train_step(p: Any, s: Any, xb: Any, yb: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(p, xb, yb)
        updates, s = tx.update(grads, s)
        return optax.apply_updates(p, updates), s, loss

    with MetricWriter(project="steps", store=url, logdir=tmp_path / "flax") as writer:
        step = 0
        for _ in range(EPOCHS):
            for i in range(0, N_TRAIN, BATCH):
                params, opt_state, loss = train_step(params, opt_state, x[i:i + BATCH],
                                                     y[i:i + BATCH])
                step += 1  # as Flax's examples write `step + 1` after the update
                if step % EVERY == 0:
                    writer.write_scalars(step, {"loss": loss})
            writer.write_scalars(step, {"val_loss": loss_fn(params, xv, yv)})
    return steps_of(url, writer.run.id, "loss", "val_loss")


@pytest.mark.parametrize("train", [keras_steps, torch_steps, lightning_steps,
                                   transformers_steps, jax_steps],
                         ids=["keras", "torch", "lightning", "transformers", "jax"])
def test_the_same_schedule_lands_on_the_same_steps(train: Any, sqlite_url: str,
                                                  tmp_path: Path) -> None:
    training, validation = train(sqlite_url, tmp_path)
    assert training == TRAIN_STEPS
    assert validation == VAL_STEPS
