"""One tiny real training per adapter, for tests/test_conformance_adapters.py.

Run in a fresh interpreter (`python -c "from tests.support.adapter_cases import main;
main()" ADAPTER STORE WORKDIR`), it trains three times with the same adapter:

1. "finished": a normal training (inside the adapter's context manager where it has
   one), with params;
2. "rank1": the same with RANK=1, as torchrun sets it on the second process: the
   adapter must hand out a NullRun and store nothing;
3. "failed": a training that raises mid-way and is not caught, so the process ends
   with the exception as a real crashed training does (Keras and Transformers have no
   hook for a crash: the run ends "failed" when the process does).

Before each training ends it prints one JSON line: the phase, the type of run the
adapter used, its id, and the loss values the framework itself computed or reported,
which the test compares with the store. A fresh process per adapter also keeps the
frameworks' global state (Keras' backend, Lightning's rank) apart.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.loggers import tiny_classification

PROJECT = "conformance"
CONFIG = {"lr": 0.1, "hidden": 8, "optimizer": "sgd"}
FAIL_AT = 2  # the failing training raises at this step (or epoch), after logging it


class Exploded(RuntimeError):
    """The failure every failing training raises."""


def report(phase: str, run: Any, losses: list[float]) -> None:
    print(json.dumps({"phase": phase, "type": type(run).__name__,
                      "id": getattr(run, "id", None), "losses": [float(v) for v in losses]}),
          flush=True)


def _explode(phase: str, step: int, run: Any, losses: list[float]) -> None:
    if phase == "failed" and step == FAIL_AT:
        report(phase, run, losses)
        raise Exploded("loss exploded")


def torch_case(phase: str, store: str, workdir: Path) -> None:
    import torch
    from trackboard.loggers.torch import SummaryWriter

    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in tiny_classification())
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=CONFIG["lr"])
    losses: list[float] = []
    with SummaryWriter(workdir / phase, project=PROJECT, name=phase, store=store,
                       config=CONFIG) as writer:
        for step in range(4):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(x).squeeze(-1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            writer.add_scalar("loss", loss.item(), step)
            losses.append(loss.item())
            _explode(phase, step, writer.run, losses)
        report(phase, writer.run, losses)


def keras_case(phase: str, store: str, workdir: Path) -> None:
    import keras
    from trackboard.loggers.keras import TrackboardCallback

    keras.utils.set_random_seed(0)
    x, y = tiny_classification()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=CONFIG["lr"]),
                  loss="binary_crossentropy")
    ours = TrackboardCallback(project=PROJECT, name=phase, store=store, config=CONFIG)
    losses: list[float] = []

    class Watch(keras.callbacks.Callback):  # after ours: sees what ours logged
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            losses.append(float((logs or {})["loss"]))
            _explode(phase, epoch, ours.run, losses)

    model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[ours, Watch()])
    report(phase, ours.run, losses)


def lightning_case(phase: str, store: str, workdir: Path) -> None:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from trackboard.loggers.lightning import TrackboardLogger

    losses: list[float] = []
    used: list[Any] = []
    ours = TrackboardLogger(project=PROJECT, name=phase, store=store, config=CONFIG,
                            save_dir=workdir)

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                           torch.nn.Linear(8, 1))

        def training_step(self, batch: Any, i: int) -> torch.Tensor:
            xb, yb = batch
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                self.net(xb).squeeze(-1), yb)
            used.append(ours.experiment.run)  # what the logger logs into, while it is open
            _explode(phase, self.global_step, used[0], losses)
            self.log("loss", loss, on_step=True, on_epoch=False)
            losses.append(loss.item())
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=CONFIG["lr"])

    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in tiny_classification())
    trainer = L.Trainer(logger=ours, max_epochs=1, log_every_n_steps=1, accelerator="cpu",
                        enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, default_root_dir=str(workdir))
    trainer.fit(Tiny(), DataLoader(TensorDataset(x, y), batch_size=16))
    # Not ours.experiment now: after finalize it reopens the run, as a later stage would.
    report(phase, used[0], losses)


def transformers_case(phase: str, store: str, workdir: Path) -> None:
    from trackboard.loggers.transformers import TrackboardCallback
    from transformers import TrainerCallback

    from tests.support.transformers_tiny import tiny_trainer

    ours = TrackboardCallback(project=PROJECT, name=phase, store=store, config=CONFIG)
    losses: list[float] = []

    class Watch(TrainerCallback):  # after ours: sees the logs ours was handed
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            if "loss" in (logs or {}):
                losses.append(float(logs["loss"]))
                _explode(phase, state.global_step, ours.run, losses)

    trainer = tiny_trainer(workdir / phase, [ours, Watch()], max_steps=4,
                           eval_strategy="no")
    trainer.train()
    report(phase, ours.run, losses)


def jax_case(phase: str, store: str, workdir: Path) -> None:
    import jax
    import jax.numpy as jnp
    from trackboard.loggers.jax import MetricWriter

    x, y = (jnp.asarray(a) for a in tiny_classification())

    def loss_fn(w: jax.Array) -> jax.Array:
        return jnp.mean((x @ w - y) ** 2)

    step_fn = jax.jit(jax.value_and_grad(loss_fn))
    w = jnp.zeros(4)
    losses: list[float] = []
    with MetricWriter(project=PROJECT, name=phase, store=store, config=CONFIG) as writer:
        for step in range(4):
            loss, grad = step_fn(w)
            w = w - CONFIG["lr"] * grad
            writer.write_scalars(step, {"loss": loss})
            losses.append(float(loss))
            _explode(phase, step, writer.run, losses)
        report(phase, writer.run, losses)


def run_case(phase: str, store: str, workdir: Path) -> None:
    from trackboard.loggers.distributed import start_run

    x, y = tiny_classification()
    w = np.zeros(4, dtype=np.float32)
    losses: list[float] = []
    with start_run(framework="numpy", project=PROJECT, name=phase, store=store,
                   config=CONFIG) as run:
        for step in range(4):
            err = x @ w - y
            losses.append(float(np.mean(err ** 2)))
            w = w - CONFIG["lr"] * 2 * x.T @ err / len(y)
            run.log({"loss": losses[-1]}, step=step)
            _explode(phase, step, run, losses)
        report(phase, run, losses)


CASES = {"torch": torch_case, "keras": keras_case, "lightning": lightning_case,
         "transformers": transformers_case, "jax": jax_case, "run": run_case}


def main() -> None:
    adapter, store, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    case = CASES[adapter]
    case("finished", store, workdir)
    os.environ["RANK"] = "1"
    try:
        case("rank1", store, workdir)
    finally:
        del os.environ["RANK"]
    case("failed", store, workdir)  # raises Exploded: the process ends with it
