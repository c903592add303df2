"""The `trackboard demo` workload: one small task trained in every installed framework.

The task is a synthetic, seeded insurance-claims table (will this policy file a
claim this year?) made with NumPy, so nothing is downloaded. Each framework
trains the same two-layer MLP over a few hyperparameter settings through its
trackboard adapter, on the same schedule (every batch, the last one partial, one
optimizer update each), logging the same names (`loss`, `val_loss`, `accuracy`,
`val_accuracy`, `epoch`) at the same steps (the updates completed) so the runs line
up in the dashboard; every run also has the common hyperparameter names (`lr`,
`optimizer`, `batch_size`, `epochs`, ...; docs/hyperparameters.md), the demo's own
settings under those names too, so `params.lr < 0.01` selects across frameworks.
Every epoch each run also logs its weight histograms and two risk-map images
through its framework's own media calls (loggers/demo_media.py).

    >>> from trackboard.loggers.demo import run_demo
    >>> made = run_demo(store="sqlite:///demo.db", fast=True)   # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from trackboard.loggers import demo_media as media

PROJECT = "insurance-claims-demo"
FEATURES = ("driver_age", "vehicle_age", "annual_mileage_k", "prior_claims",
            "policy_tenure", "credit_score", "urban", "sports_car")


@dataclass(frozen=True)
class ClaimsData:
    """Standardised features and 0/1 labels (1 = a claim was filed)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@dataclass(frozen=True)
class Setting:
    """One hyperparameter setting of the demo MLP."""

    lr: float
    hidden: int
    batch_size: int = 128

    @property
    def label(self) -> str:
        return f"lr{self.lr:g}-h{self.hidden}"

    def params(self) -> dict[str, Any]:
        """The setting under the common names (docs/hyperparameters.md): stored once."""
        return {"lr": self.lr, "hidden": self.hidden, "batch_size": self.batch_size}


@dataclass
class DemoRun:
    """What the demo made: one line of its summary."""

    framework: str
    name: str
    run_id: str
    val_accuracy: float
    seconds: float


@dataclass
class DemoPlan:
    samples: int
    epochs: int
    settings: list[Setting] = field(default_factory=list)


def make_claims(samples: int, seed: int = 7) -> ClaimsData:
    """A seeded synthetic claims table: risk rises with young drivers, mileage, prior
    claims, urban areas and sports cars, and falls with tenure and credit score.

    >>> data = make_claims(1000)
    >>> data.x_train.shape, round(float(data.y_train.mean()), 2)
    ((800, 8), 0.34)
    """
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 80, samples)
    vehicle_age = rng.gamma(2.0, 3.0, samples)
    mileage = rng.lognormal(2.5, 0.5, samples)
    prior = rng.poisson(0.4, samples).astype(float)
    tenure = rng.exponential(4.0, samples)
    credit = rng.normal(680, 60, samples)
    urban = (rng.random(samples) < 0.55).astype(float)
    sports = (rng.random(samples) < 0.12).astype(float)
    logit = (0.09 * np.maximum(30 - age, 0) + 0.06 * np.maximum(age - 65, 0)
             + 0.1 * vehicle_age + 0.05 * (mileage - 12) + 1.4 * prior - 0.15 * tenure
             - 0.012 * (credit - 680) + 0.8 * urban + 1.5 * sports
             + rng.normal(0, 0.5, samples))
    # Centre the base rate near 30% whatever the draws, so every seed is a fair task.
    logit -= np.quantile(logit, 0.7)
    y = (rng.random(samples) < 1 / (1 + np.exp(-logit))).astype("float32")
    x = np.column_stack([age, vehicle_age, mileage, prior, tenure, credit, urban, sports])
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    cut = int(samples * 0.8)
    return ClaimsData(x[:cut], y[:cut], x[cut:], y[cut:])


def plan(fast: bool) -> DemoPlan:
    if fast:
        return DemoPlan(samples=1200, epochs=3,
                        settings=[Setting(0.01, 16), Setting(0.003, 32)])
    return DemoPlan(samples=2400, epochs=5,
                    settings=[Setting(0.01, 16), Setting(0.003, 32), Setting(0.03, 8)])


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run_demo(store: str | None = None, *, fast: bool = False,
             report: Callable[[str], None] = print) -> list[DemoRun]:
    """Train the claims task in every installed framework; returns the runs made."""
    p = plan(fast)
    data = make_claims(p.samples)
    trainers: list[tuple[str, str, Callable[..., Iterator[DemoRun]]]] = [
        ("keras", "keras", _keras), ("torch", "torch", _torch),
        ("lightning", "lightning", _lightning), ("jax", "flax", _jax)]
    made: list[DemoRun] = []
    for framework, module, train in trainers:
        needs = [module] + (["torch"] if framework in ("torch", "lightning") else [])
        needs += ["optax"] if framework == "jax" else []
        missing = [m for m in needs if not installed(m)]
        if framework == "keras" and not missing and not _keras_backend():
            missing = ["a Keras backend (torch, jax or tensorflow)"]
        if missing:
            report(f"  skipped {framework}: {', '.join(missing)} not installed "
                   f"(pip install 'trackboard[{framework}]')")
            continue
        for run in train(data, p, store):
            made.append(run)
            report(f"  {run.framework:<10} {run.name:<28} val_accuracy={run.val_accuracy:.3f}"
                   f"  ({run.seconds:.1f}s)  id {run.run_id}")
    return made


def _keras_backend() -> str | None:
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    for backend in ("torch", "jax", "tensorflow"):
        if installed(backend):
            return backend
    return None


def _keras(data: ClaimsData, p: DemoPlan, store: str | None) -> Iterator[DemoRun]:
    # KERAS_BACKEND is read once, at the first `import keras`: choose before it.
    os.environ.setdefault("KERAS_BACKEND", _keras_backend() or "torch")
    import keras
    from trackboard.loggers.keras import TrackboardCallback
    from trackboard.loggers.media import Image

    grid = media.risk_grids(data.x_train.shape[1])

    class RiskMaps(keras.callbacks.Callback):
        """Images through the Run API, at the step TrackboardCallback uses."""

        def __init__(self, tracker: TrackboardCallback) -> None:
            super().__init__()
            self.tracker = tracker

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            maps = media.risk_pixels(self.model.predict_on_batch(grid))
            strip = [Image(m, c) for m, c in zip(maps, media.MAP_CAPTIONS)]
            self.tracker.run.log({media.RISK_MAPS: strip}, step=step)

    for s in p.settings:
        start = time.perf_counter()
        keras.utils.set_random_seed(0)
        # Named so that the weights' keys are the ones every framework logs.
        model = keras.Sequential([keras.Input((data.x_train.shape[1],)),
                                  keras.layers.Dense(s.hidden, activation="relu", name="hidden"),
                                  keras.layers.Dense(1, activation="sigmoid", name="output")],
                                 name="weights")
        model.compile(optimizer=keras.optimizers.Adam(s.lr),
                      loss="binary_crossentropy", metrics=["accuracy"])
        name = f"keras-{keras.backend.backend()}-{s.label}"
        callback = TrackboardCallback(project=PROJECT, name=name, store=store,
                                      config=s.params(), histogram_freq=1)
        history = model.fit(data.x_train, data.y_train, batch_size=s.batch_size,
                            epochs=p.epochs, validation_data=(data.x_val, data.y_val),
                            verbose=0, callbacks=[callback, RiskMaps(callback)])
        yield DemoRun("keras", name, callback.run.id, history.history["val_accuracy"][-1],
                      time.perf_counter() - start)


def _torch_mlp(hidden: int, features: int) -> Any:
    import torch

    return torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, 1))


def _torch(data: ClaimsData, p: DemoPlan, store: str | None) -> Iterator[DemoRun]:
    import torch
    from trackboard.loggers.torch import SummaryWriter, log_optimizer

    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    xv, yv = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    grid = torch.from_numpy(media.risk_grids(x.shape[1]))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for s in p.settings:
        start = time.perf_counter()
        torch.manual_seed(0)
        model = _torch_mlp(s.hidden, x.shape[1])
        opt = torch.optim.Adam(model.parameters(), lr=s.lr)
        name = f"torch-{s.label}"
        # A fresh log_dir per demo: one directory is one run (as TensorBoard shows it),
        # so a fixed runs/<name> would continue the previous demo's runs.
        log_dir = tempfile.mkdtemp(prefix=f"trackboard-demo-{name}-")
        # A SummaryWriter sees no optimizer or loop: the common names (lr, epochs,
        # ...; docs/hyperparameters.md) come from the config and log_optimizer.
        with SummaryWriter(log_dir, name=name, project=PROJECT, store=store,
                           config={**s.params(), "epochs": p.epochs, "seed": 0}) as writer:
            log_optimizer(writer, opt)
            step = 0
            for epoch in range(p.epochs):
                order = torch.randperm(len(x))
                total, correct = 0.0, 0.0
                for i in range(0, len(x), s.batch_size):
                    idx = order[i:i + s.batch_size]
                    logits = model(x[idx]).squeeze(-1)
                    loss = bce(logits, y[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    step += 1
                    total += loss.item() * len(idx)
                    correct += ((logits > 0).float() == y[idx]).sum().item()
                with torch.no_grad():
                    val_logits = model(xv).squeeze(-1)
                    val_loss = bce(val_logits, yv).item()
                    val_acc = ((val_logits > 0).float() == yv).float().mean().item()
                writer.add_scalar("loss", total / len(x), step)
                writer.add_scalar("accuracy", correct / len(x), step)
                writer.add_scalar("val_loss", val_loss, step)
                writer.add_scalar("val_accuracy", val_acc, step)
                writer.add_scalar("epoch", epoch, step)
                for pname, param in model.named_parameters():
                    writer.add_histogram(media.TORCH_NAMES[pname], param, step)
                with torch.no_grad():
                    maps = media.risk_pixels(media.sigmoid(model(grid).squeeze(-1).numpy()))
                writer.add_images(media.RISK_MAPS, np.stack(maps), step, dataformats="NHWC")
        yield DemoRun("torch", name, writer.run.id, val_acc, time.perf_counter() - start)


def _lightning(data: ClaimsData, p: DemoPlan, store: str | None) -> Iterator[DemoRun]:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    # The demo prints its own summary: keep Lightning's banners and tips out of it.
    for noisy in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")

    from trackboard.loggers.lightning import TrackboardLogger

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    grid = torch.from_numpy(media.risk_grids(data.x_train.shape[1]))

    class ClaimsMLP(L.LightningModule):
        def __init__(self, lr: float, hidden: int, batch_size: int) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = _torch_mlp(hidden, data.x_train.shape[1])

        def _step(self, batch: Any, prefix: str) -> Any:
            xb, yb = batch
            logits = self.net(xb).squeeze(-1)
            loss = bce(logits, yb)
            self.log(f"{prefix}loss", loss, on_step=False, on_epoch=True)
            self.log(f"{prefix}accuracy", ((logits > 0).float() == yb).float().mean(),
                     on_step=False, on_epoch=True)
            return loss

        def training_step(self, batch: Any, i: int) -> Any:
            return self._step(batch, "")

        def validation_step(self, batch: Any, i: int) -> None:
            self._step(batch, "val_")

        def on_train_epoch_end(self) -> None:
            # Histograms as TensorBoardLogger users log them, images as WandbLogger's.
            for pname, param in self.net.named_parameters():
                self.logger.experiment.add_histogram(media.TORCH_NAMES[pname], param,
                                                     self.global_step)
            with torch.no_grad():
                maps = media.risk_pixels(media.sigmoid(self.net(grid).squeeze(-1).numpy()))
            self.logger.log_image(media.RISK_MAPS, maps, caption=list(media.MAP_CAPTIONS))

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    train = TensorDataset(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    val = TensorDataset(torch.from_numpy(data.x_val), torch.from_numpy(data.y_val))
    for s in p.settings:
        start = time.perf_counter()
        L.seed_everything(0, verbose=False)
        name = f"lightning-{s.label}"
        logger = TrackboardLogger(project=PROJECT, name=name, store=store)
        trainer = L.Trainer(max_epochs=p.epochs, logger=logger, accelerator="cpu",
                            enable_progress_bar=False, enable_model_summary=False,
                            enable_checkpointing=False, log_every_n_steps=1,
                            num_sanity_val_steps=0)
        trainer.fit(ClaimsMLP(**s.params()),
                    DataLoader(train, batch_size=s.batch_size, shuffle=True),
                    DataLoader(val, batch_size=1024))
        yield DemoRun("lightning", name, logger.version,
                      float(trainer.callback_metrics["val_accuracy"]),
                      time.perf_counter() - start)


def _jax(data: ClaimsData, p: DemoPlan, store: str | None) -> Iterator[DemoRun]:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import linen as nn
    from trackboard.loggers.jax import MetricWriter

    class MLP(nn.Module):
        hidden: int

        @nn.compact
        def __call__(self, x: Any) -> Any:
            hidden = nn.relu(nn.Dense(self.hidden, name="hidden")(x))
            return nn.Dense(1, name="output")(hidden).squeeze(-1)

    def metrics(model: MLP, params: Any, x: Any, y: Any) -> tuple[Any, Any]:
        logits = model.apply(params, x)
        return (optax.sigmoid_binary_cross_entropy(logits, y).mean(),
                ((logits > 0) == (y > 0.5)).mean())

    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    xv, yv = jnp.asarray(data.x_val), jnp.asarray(data.y_val)
    grid = media.risk_grids(data.x_train.shape[1])
    for s in p.settings:
        start = time.perf_counter()
        model = MLP(s.hidden)
        params = model.init(jax.random.PRNGKey(0), x[:1])
        tx = optax.adam(s.lr)
        opt_state = tx.init(params)

        @jax.jit
        def train_step(params: Any, opt_state: Any, xb: Any, yb: Any,
                       model: MLP = model, tx: Any = tx) -> Any:
            (loss, acc), grads = jax.value_and_grad(
                lambda p: metrics(model, p, xb, yb), has_aux=True)(params)
            updates, opt_state = tx.update(grads, opt_state)
            return optax.apply_updates(params, updates), opt_state, loss, acc

        name = f"flax-{s.label}"
        rng = np.random.default_rng(0)
        with MetricWriter(project=PROJECT, name=name, store=store) as writer:
            # optax keeps its settings in closures: the program names them itself,
            # under the common names (write_hparams stores what it is given).
            writer.write_hparams({**s.params(), "optimizer": "Adam", "epochs": p.epochs,
                                  "seed": 0})
            step = 0
            for epoch in range(p.epochs):
                order = rng.permutation(len(x))
                total, correct = 0.0, 0.0
                # Every batch, the last one partial, as the other frameworks train (a
                # second compiled shape): the same updates, so the same steps.
                for i in range(0, len(x), s.batch_size):
                    idx = order[i:i + s.batch_size]
                    params, opt_state, loss, acc = train_step(params, opt_state,
                                                              x[idx], y[idx])
                    total += loss * len(idx)
                    correct += acc * len(idx)
                    step += 1
                val_loss, val_acc = metrics(model, params, xv, yv)
                writer.write_scalars(step, {
                    "loss": total / len(x), "accuracy": correct / len(x),
                    "val_loss": val_loss, "val_accuracy": val_acc, "epoch": epoch})
                writer.write_histograms(step, {
                    media.WEIGHT_KEYS[layer][kind]: value
                    for layer, weights in params["params"].items()
                    for kind, value in weights.items()})
                maps = media.risk_pixels(media.sigmoid(media.mlp_logits(grid, params["params"])))
                writer.write_images(step, {media.RISK_MAPS: np.stack(maps)})
        yield DemoRun("jax", name, writer.run.id, float(val_acc),
                          time.perf_counter() - start)
