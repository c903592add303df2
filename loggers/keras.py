"""Keras 3 callback (TensorFlow, PyTorch and JAX backends alike).

    from trackboard.loggers.keras import TrackboardCallback
    model.fit(x, y, epochs=5, validation_split=0.2,
              callbacks=[TrackboardCallback(project="churn", name="mlp")])

Per epoch it logs what Keras puts in History (`loss`, `val_loss`, every compiled
metric) plus `epoch` (Keras' 0-based epoch index, as in `History.epoch`), at the
optimizer's step count. With `log_every_n_steps=N` it also logs the batch logs
every N steps as `batch_<name>`, the names Keras' own TensorBoard callback uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.requires import require
from trackboard.loggers.run import Run
from trackboard.loggers.values import param_value

keras = require("keras", "keras")


class TrackboardCallback(keras.callbacks.Callback):
    """Logs a `model.fit` into trackboard: epoch metrics, optimizer config, backend.

    Pass `run=` to log into a Run you manage (it is then not finished here);
    otherwise a run is opened at train begin (with `config` as params) and finished
    at train end. A second fit() with the same callback opens a new run.
    """

    # Keras makes every step synchronous for a callback with batch hooks unless it
    # declares itself safe to call from its thread pool (callback_list.py). Our
    # batch hook only enqueues, so it is; without per-batch logging we define no
    # batch hook at all.
    async_safe = True

    def __init__(self, run: Run | None = None, *, project: str | None = None,
                 name: str | None = None, store: str | None = None,
                 log_every_n_steps: int | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if log_every_n_steps is not None and (
                isinstance(log_every_n_steps, bool) or not isinstance(log_every_n_steps, int)
                or log_every_n_steps < 1):
            raise ValueError(f"log_every_n_steps={log_every_n_steps!r}: pass a whole number "
                             ">= 1, or None to log once per epoch")
        self.run: Run | NullRun | None = run
        self._owns_run = run is None
        self._run_args = {"project": project or "default", "name": name, "store": store,
                          "config": config}
        self.log_every_n_steps = log_every_n_steps
        self._steps_done = 0
        if log_every_n_steps is not None:
            # An instance attribute, so the class keeps Keras' default (no-op) hook.
            self.on_train_batch_end = self._log_batch  # type: ignore[method-assign]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.run is None or (self._owns_run and self.run.finished):
            # A second fit() with the same callback is a new run.
            self.run = start_run(framework="keras", **self._run_args)
        backend = keras.backend.backend()
        self.run.set_tags({"keras_backend": backend})
        params: dict[str, Any] = {"keras_backend": backend, "keras_version": keras.__version__}
        fit = self.params or {}
        for key in ("epochs", "steps"):
            if fit.get(key) is not None:
                params[key] = fit[key]
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            config = param_value(optimizer.get_config(), strict=False)
            if isinstance(config.get("learning_rate"), float):
                config["learning_rate"] = _float32(config["learning_rate"])
            params["optimizer"] = config
            params["learning_rate"] = _learning_rate(optimizer)
        self.run.log_params(params)
        self._steps_done = self._optimizer_steps(default=0)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.run is None:
            return
        self._steps_done = self._optimizer_steps(default=self._steps_done + 1)
        self.run.log({**(logs or {}), "epoch": epoch}, step=self._steps_done)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.run is not None and self._owns_run:
            self.run.finish("finished")

    def _log_batch(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Runs on Keras' callback thread pool (async_safe): Run.log only enqueues.
        assert self.log_every_n_steps is not None and self.run is not None
        step = self._steps_done + batch + 1
        if logs and step % self.log_every_n_steps == 0:
            self.run.log({f"batch_{k}": v for k, v in logs.items()}, step=step)

    def _optimizer_steps(self, default: int) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        if iterations is None:
            return default
        return int(keras.ops.convert_to_numpy(iterations))


def _learning_rate(optimizer: Any) -> Any:
    """The optimizer's learning rate as a number (a schedule: its config)."""
    rate = getattr(optimizer, "_learning_rate", None)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return param_value(keras.optimizers.schedules.serialize(rate), strict=False)
    return _float32(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))


def _float32(value: float) -> float:
    """A float32 read back as the shortest decimal it stands for: Keras keeps the
    learning rate in a float32 variable, and 0.01 should read 0.01, not 0.0099999998.

    >>> _float32(0.009999999776482582)
    0.01
    """
    return float(str(np.float32(value)))
