"""One hyperparameter vocabulary: every adapter records the common names (`lr`,
`optimizer`, `batch_size`, ...) beside its framework's own, from real tiny
trainings, and never over a value the user logged under that name
(docs/hyperparameters.md is the table these tests check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trackboard.loggers import Run
from trackboard.loggers.vocabulary import COMMON_PARAMS, record_common, uncounted_name

from tests.support.loggers import last_json, run_info, run_python, tiny_classification

ROOT = Path(__file__).resolve().parents[1]


def params_of(url: str, run_id: str) -> dict[str, Any]:
    return run_info(url, run_id)["params"]


def common_of(url: str, run_id: str) -> dict[str, Any]:
    return {k: v for k, v in params_of(url, run_id).items() if k in COMMON_PARAMS}


# -- the Run API under it: defaults never replace what the user logged --------------

def test_param_defaults_keep_what_the_user_logged(sqlite_url: str) -> None:
    with Run(project="vocab", config={"lr": 0.1}, store=sqlite_url,
             system_metrics=False) as run:
        run.log_param_defaults({"lr": 0.5, "seed": 1})          # lr is the user's
        run.log_params({"optimizer": "mine"})
        run.log_param_defaults({"optimizer": "Adam", "seed": 2})  # a later default updates
    assert params_of(sqlite_url, run.id) == {"lr": 0.1, "optimizer": "mine", "seed": 2}


def test_what_the_user_wrote_is_kept_as_written_beside_the_common_names(
        sqlite_url: str) -> None:
    # The rule (loggers/vocabulary.py): the user's keys exactly as written, the common
    # names an adapter read from the framework's objects beside them, no other copy,
    # and a common name the user wrote wins.
    written = {"learning_rate": 0.1, "num_epochs": 3, "seed": 7}
    with Run(project="vocab", config=written, store=sqlite_url,
             system_metrics=False) as run:
        record_common(run, {"lr": 0.1, "optimizer": "Adam", "seed": 1, "epochs": None},
                      taken=written)
    assert params_of(sqlite_url, run.id) == {**written, "lr": 0.1, "optimizer": "Adam"}


def test_keras_optimizer_names_lose_only_keras_own_counter() -> None:
    # Keras names the optimizers it creates adam, adam_1, adam_2, ... per process.
    assert [uncounted_name(n, "Adam") for n in ("adam", "adam_1", "adam_12")] == ["adam"] * 3
    assert uncounted_name("adam_w_3", "AdamW") == "adam_w"
    assert uncounted_name("sgd_1", "SGD") == "sgd"
    # Names the user chose stay as they are, counter or not.
    assert uncounted_name("fast_adam", "Adam") == "fast_adam"
    assert uncounted_name("adam_w_1", "Adam") == "adam_w_1"
    assert uncounted_name("adam_x", "Adam") == "adam_x"


def test_the_documented_table_lists_every_common_name() -> None:
    text = (ROOT / "docs" / "hyperparameters.md").read_text()
    rows = [line.split("|")[1].strip().strip("`") for line in text.splitlines()
            if line.startswith("| `")]
    assert tuple(rows[:len(COMMON_PARAMS)]) == COMMON_PARAMS


# -- Keras ---------------------------------------------------------------------------

KERAS = r"""
import json, sys
import numpy as np
import keras
from trackboard.loggers.keras import TrackboardCallback

store = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x[:, 0] > 0).astype("float32")
keras.utils.set_random_seed(3)

def model(optimizer):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=optimizer, loss="binary_crossentropy")
    return m

schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.5)
adamw = TrackboardCallback(project="vocab", store=store, config={"batch_size": 16})
model(keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.004)).fit(
    x, y, epochs=2, batch_size=16, verbose=0, callbacks=[adamw])

# The user's own `lr` (config) wins over the optimizer's, also when a second fit
# reopens the run (the config is not logged again then).
sgd = TrackboardCallback(project="vocab", store=store, config={"lr": 0.5})
m = model(keras.optimizers.SGD(learning_rate=0.05, gradient_accumulation_steps=2))
m.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[sgd])
m.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[sgd])
print(json.dumps({"adamw": adamw.run.id, "sgd": sgd.run.id}))
"""


@pytest.mark.slow
def test_keras_fit_records_the_common_names(sqlite_url: str) -> None:
    _, out, _ = run_python(KERAS, sqlite_url, env={"KERAS_BACKEND": "torch"})
    ids = last_json(out)
    # A schedule is recorded at its initial rate; Keras 3 does not show fit's
    # batch_size to callbacks, so it is there because the user's config had it.
    assert common_of(sqlite_url, ids["adamw"]) == {
        "lr": 0.01, "optimizer": "AdamW", "batch_size": 16, "epochs": 2,
        "weight_decay": 0.004, "seed": 3, "precision": "32-true"}
    params = params_of(sqlite_url, ids["adamw"])
    assert params["optimizer.name"] == "adam_w"          # Keras' own names stay
    assert params["optimizer.learning_rate.class_name"] == "ExponentialDecay"
    assert common_of(sqlite_url, ids["sgd"]) == {
        "lr": 0.5, "optimizer": "SGD", "epochs": 1, "seed": 3, "precision": "32-true",
        "grad_accum_steps": 2}


# -- Transformers ----------------------------------------------------------------------

@pytest.mark.slow
def test_transformers_trainer_records_the_common_names(sqlite_url: str,
                                                      tmp_path: Path) -> None:
    from trackboard.loggers.transformers import TrackboardCallback

    from tests.support.transformers_tiny import tiny_trainer

    callback = TrackboardCallback(project="vocab", store=sqlite_url)
    tiny_trainer(tmp_path / "a", [callback], learning_rate=5e-4, weight_decay=0.01,
                 per_device_train_batch_size=4, gradient_accumulation_steps=2,
                 seed=11).train()
    common = common_of(sqlite_url, callback.run.id)
    # The Trainer's own `max_steps` (-1: none) is one of its arguments and stays as
    # it is; the common one is recorded only when it limits the training.
    assert common.pop("max_steps") == -1
    assert common == {
        "lr": 5e-4, "optimizer": "AdamW", "batch_size": 4, "epochs": 2,
        "weight_decay": 0.01, "seed": 11, "precision": "32-true", "grad_accum_steps": 2}
    params = params_of(sqlite_url, callback.run.id)
    assert params["learning_rate"] == 5e-4 and params["per_device_train_batch_size"] == 4

    # max_steps overrides the epochs in the Trainer, so it replaces them here; the
    # user's config keeps its own optimizer name.
    steps = TrackboardCallback(project="vocab", store=sqlite_url,
                               config={"optimizer": "adamw-custom"})
    tiny_trainer(tmp_path / "b", [steps], max_steps=3, optim="sgd").train()
    common = common_of(sqlite_url, steps.run.id)
    assert common["max_steps"] == 3 and "epochs" not in common
    assert common["optimizer"] == "adamw-custom"


# -- Lightning ---------------------------------------------------------------------------

@pytest.mark.slow
def test_lightning_trainer_and_optimizer_give_the_common_names(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from trackboard.loggers.lightning import TrackboardLogger

    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)

    class Tiny(L.LightningModule):
        def __init__(self, hidden: int) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, i: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x).squeeze(-1), y)
            self.log("loss", loss)
            return loss

        def test_step(self, batch: Any, i: int) -> None:
            self.log("test_loss", torch.tensor(0.5))

        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=0.05, weight_decay=1e-3)
            # A scheduler moves param_groups' lr: the base rate is what is recorded.
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)]

    L.seed_everything(5, verbose=False)
    x, y = tiny_classification(32)
    data = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8)
    logger = TrackboardLogger(project="vocab", store=sqlite_url, save_dir=tmp_path)
    flags: dict[str, Any] = {
        "accelerator": "cpu", "logger": logger, "enable_progress_bar": False,
        "enable_model_summary": False, "enable_checkpointing": False, "log_every_n_steps": 1}
    model = Tiny(hidden=3)
    L.Trainer(max_epochs=2, accumulate_grad_batches=2, **flags).fit(model, data)
    # A test-only Trainer's defaults (max_epochs=1000, ...) replace nothing.
    L.Trainer(**flags).test(model, data)
    assert common_of(sqlite_url, logger.version) == {
        "lr": 0.05, "optimizer": "SGD", "batch_size": 8, "epochs": 2,
        "weight_decay": 1e-3, "seed": 5, "precision": "32-true", "grad_accum_steps": 2}
    assert params_of(sqlite_url, logger.version)["hidden"] == 3  # the module's own stay


# -- torch: the SummaryWriter sees no optimizer, so the user hands it over ---------------

@pytest.mark.slow
def test_torch_log_optimizer_records_the_common_names(sqlite_url: str,
                                                      tmp_path: Path) -> None:
    import torch
    from trackboard.loggers.torch import SummaryWriter, log_optimizer

    model = torch.nn.Linear(4, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
    torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.1)  # warm-up moves the live lr
    with SummaryWriter(tmp_path / "tb", project="vocab", store=sqlite_url,
                       config={"batch_size": 32}) as writer:
        log_optimizer(writer, opt)
        writer.add_scalar("loss", 1.0, 0)
        with pytest.raises(ValueError, match="log_optimizer.. takes a torch.optim.Optimizer"):
            log_optimizer(writer, "adam")
    assert common_of(sqlite_url, writer.run.id) == {
        "lr": 3e-4, "optimizer": "AdamW", "weight_decay": 0.05, "batch_size": 32}

    with Run(project="vocab", store=sqlite_url, system_metrics=False) as run:
        log_optimizer(run, torch.optim.SGD(model.parameters(), lr=0.1))
    assert common_of(sqlite_url, run.id) == {"lr": 0.1, "optimizer": "SGD",
                                             "weight_decay": 0}


# -- JAX / clu: write_hparams stores what was written; optax's injected hyperparameters --

@pytest.mark.slow
def test_jax_write_hparams_is_kept_as_written_and_optax_state_gives_the_common_names(
        sqlite_url: str) -> None:
    import optax
    from trackboard.loggers.jax import MetricWriter, log_optimizer

    state = optax.inject_hyperparams(optax.adamw)(learning_rate=0.02, weight_decay=0.1) \
        .init({"w": np.zeros(3, "float32")})
    written = {"learning_rate": 0.02, "num_epochs": 3, "batch_size": 64, "seed": 1,
               "optimizer": "adamw", "wd": 0.1}
    with MetricWriter(project="vocab", store=sqlite_url) as writer:
        writer.write_hparams(written)
        writer.write_scalars(0, {"loss": 1.0})
    # Exactly what was written (clu's writers do the same): no `lr` or `epochs` copies.
    assert params_of(sqlite_url, writer.run.id) == written

    # The common names come from the optimizer's state, beside the user's own names;
    # the user's own `lr` wins over it.
    with MetricWriter(project="vocab", store=sqlite_url) as writer:
        writer.write_hparams({"learning_rate": 0.25, "num_epochs": 3})
        log_optimizer(writer, state)
    params = params_of(sqlite_url, writer.run.id)
    assert params["learning_rate"] == 0.25 and params["num_epochs"] == 3
    assert params["lr"] == pytest.approx(0.02) and "epochs" not in params
    assert params["weight_decay"] == pytest.approx(0.1)
    with MetricWriter(project="vocab", store=sqlite_url) as writer:
        writer.write_hparams({"lr": 0.5})
        log_optimizer(writer, state)
    assert common_of(sqlite_url, writer.run.id)["lr"] == 0.5
