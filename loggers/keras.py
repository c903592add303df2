"""Keras 3 callback (TensorFlow, PyTorch and JAX backends alike).

    from trackboard.loggers.keras import TrackboardCallback
    model.fit(x, y, epochs=5, validation_split=0.2,
              callbacks=[TrackboardCallback(project="churn", name="mlp")])

Per epoch it logs what Keras puts in History (`loss`, `val_loss`, every compiled
metric) plus `epoch` (Keras' 0-based epoch index, as in `History.epoch`) and
`learning_rate`, at the optimizer's step count (`optimizer.iterations`: the
updates completed, trackboard's step in every framework). Params: fit's `epochs`
and `steps`, the optimizer's config (`optimizer.*`, its name without Keras'
per-process counter) and the common names `lr`, `optimizer`, `epochs`,
`weight_decay`, `seed`, `precision`, `grad_accum_steps` (docs/hyperparameters.md).
With `log_every_n_steps=N` it also logs the batch logs every N steps as
`batch_<name>`, the names Keras' own TensorBoard callback uses. With
`histogram_freq=N` it logs a histogram of every layer's weights every N epochs, named
as Keras' TensorBoard callback names them (`<weight.path>/histogram`, e.g.
`sequential/dense/kernel/histogram`) with its 30 equal buckets. `evaluate()`
outside fit logs `evaluation_<name>`. One callback is one run: a later fit() or
evaluate() reopens it by id, and `TrackboardCallback(id=...)` continues it in a
new process (`initial_epoch`); where the steps go is the policy of
trackboard.loggers.training_steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from trackboard.loggers.adapter_run import AdapterRun
from trackboard.loggers.distributed import NullRun
from trackboard.loggers.guard import framework_hook, hook_trouble, warn_once
from trackboard.loggers.media import Histogram
from trackboard.loggers.param_values import param_value
from trackboard.loggers.run import Run
from trackboard.loggers.vocabulary import common_from_keras, record_common, uncounted_name
from trackboard.storage.extras import require

keras = require("keras", "keras")

# tf.summary.histogram's default, which Keras' TensorBoard callback leaves in place.
HISTOGRAM_BUCKETS = 30


class TrackboardCallback(keras.callbacks.Callback):
    """Logs a Keras program into one trackboard run: fit, evaluate, fit again, resume.

    Pass `run=` to log into a Run you manage (it is then not finished here).
    Otherwise a run opens at the first fit() or evaluate() (with `config` as
    params) and is finished when it ends; the next fit() or evaluate() with the
    same callback reopens the same run (`Run(id=..., resume="allow")`), so its
    steps continue. Pass `id=` (or set `$TRACKBOARD_RUN_ID`) in a new process to
    continue a run: `fit(initial_epoch=k)` then replaces what was stored from the
    resume step on.
    """

    # Keras makes every step synchronous for a callback with batch hooks unless it
    # declares itself safe to call from its thread pool (callback_list.py). Our
    # batch hook only enqueues, so it is; without per-batch logging we define no
    # batch hook at all.
    async_safe = True

    def __init__(self, run: Run | None = None, *, project: str | None = None,
                 name: str | None = None, store: str | None = None,
                 log_every_n_steps: int | None = None, histogram_freq: int = 0,
                 config: Mapping[str, Any] | None = None, id: str | None = None) -> None:
        super().__init__()
        if log_every_n_steps is not None and (
                isinstance(log_every_n_steps, bool) or not isinstance(log_every_n_steps, int)
                or log_every_n_steps < 1):
            raise ValueError(f"log_every_n_steps={log_every_n_steps!r}: pass a whole number "
                             ">= 1, or None to log once per epoch")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) \
                or histogram_freq < 0:
            raise ValueError(f"histogram_freq={histogram_freq!r}: pass a whole number of "
                             "epochs (0, the default, logs no histograms)")
        self.histogram_freq = histogram_freq
        self._slot = AdapterRun("keras", run, id=id, config=config,
                                project=project or "default", name=name, store=store)
        self._config_keys = tuple(config or ())
        self.log_every_n_steps = log_every_n_steps
        # fit(initial_epoch=k) on a fresh optimizer (weights loaded, optimizer not):
        # the training stands at epoch k's first update although the optimizer counts
        # from 0; added to the optimizer's count.
        self._base = 0
        self._steps_done = 0  # the step of the last update done (batch logging adds to it)
        self._in_fit = False
        self._fit_starts = False  # on_epoch_begin of a fit's first epoch still to come
        self._batch_keys: tuple[str, ...] = ()
        self._batch_names: tuple[str, ...] = ()
        if log_every_n_steps is not None:
            # An instance attribute, so the class keeps Keras' default (no-op) hook.
            self.on_train_batch_end = self._log_batch  # type: ignore[method-assign]

    @property
    def run(self) -> Run | NullRun | None:
        """The run this callback logs into (None before the first fit or evaluate)."""
        return self._slot.run

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        # Keras builds a CallbackList, which calls this, for every fit(), evaluate()
        # and predict(); validation inside fit() reuses fit's list. A fit still under
        # way here has raised (TerminateOnNaN(raise_error=True), an error in a
        # callback or the model): Keras calls no on_train_end then, so end it here.
        if self._in_fit:
            self._fit_raised()

    @framework_hook
    def _fit_raised(self) -> None:
        self._in_fit = self._fit_starts = False
        self._slot.finish("failed")

    # -- fit --------------------------------------------------------------------------

    @framework_hook
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = True
        run = self._slot.live()
        backend = keras.backend.backend()
        run.set_tags({"keras_backend": backend})
        params: dict[str, Any] = {"keras_backend": backend, "keras_version": keras.__version__}
        fit = self.params or {}
        for key in ("epochs", "steps"):
            if fit.get(key) is not None:
                params[key] = fit[key]
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            params["optimizer"] = _optimizer_config(optimizer)
        run.log_params(params)
        # The common names (lr, optimizer, epochs, ...) beside Keras' own; the user's
        # config wins, also on a reopened run that did not log it again.
        record_common(run, common_from_keras(keras, self.model, fit), taken=self._config_keys)
        self._fit_starts = True

    @framework_hook
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._fit_starts:
            return
        # Where this fit starts, decided at its first epoch: by now every callback's
        # on_train_begin has run (BackupAndRestore restores the optimizer there).
        self._fit_starts = False
        iterations = self._optimizer_steps(default=0)
        steps = (self.params or {}).get("steps")
        fresh = epoch > 0 and iterations == 0 and isinstance(steps, int)
        self._base = epoch * steps if fresh else 0  # type: ignore[operator]
        self._steps_done = self._slot.steps.training_starts(self.run, iterations + self._base)

    @framework_hook
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        run = self.run
        if run is None:
            return
        self._steps_done = self._step(default=self._steps_done + 1)
        values = {**(logs or {}), "epoch": epoch}
        if "learning_rate" not in values:
            # ReduceLROnPlateau and LearningRateScheduler put the rate this epoch used
            # in the logs, but only for callbacks after them; before they change it,
            # the optimizer still holds that rate. Keras' TensorBoard logs it always.
            _collect_learning_rate(getattr(self.model, "optimizer", None), values)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            values.update(self._weight_histograms())
        run.log(values, step=self._steps_done)
        self._slot.steps.stored(self._steps_done)

    @framework_hook
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = False
        self._slot.finish()

    # -- evaluate (outside fit; validation inside fit is logged as val_* per epoch) ---

    @framework_hook
    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._in_fit:
            self._slot.live()

    @framework_hook
    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._in_fit or self.run is None or not logs:
            return
        # Keras' TensorBoard callback writes these as evaluation_<name>_vs_iterations
        # at the optimizer's step; every trackboard series is "vs steps" already.
        step = self._step(default=self._steps_done)
        self.run.log({f"evaluation_{k}": v for k, v in logs.items()}, step=step)
        self._slot.steps.stored(step)
        self._slot.finish()

    # -- helpers ------------------------------------------------------------------------

    def _log_batch(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Runs on Keras' callback thread pool (async_safe): Run.log only enqueues.
        # Guarded inline rather than by @framework_hook: this runs every step, and
        # the decorator's extra call frame is a measurable share of its cost.
        try:
            step = self._steps_done + batch + 1
            if logs and step % self.log_every_n_steps == 0:  # type: ignore[operator]
                keys = tuple(logs)
                if keys != self._batch_keys:  # the names repeat: build them once
                    self._batch_keys = keys
                    self._batch_names = tuple(f"batch_{k}" for k in keys)
                self.run.log(dict(zip(self._batch_names, logs.values())),  # type: ignore[union-attr]
                             step=step)
        except Exception as exc:  # noqa: BLE001 - training goes on
            hook_trouble(self, "on_train_batch_end", exc)

    def _weight_histograms(self) -> dict[str, Histogram]:
        """Every layer's weights as Keras' TensorBoard callback logs them (its
        `_log_weights`); a weight that cannot be one (booleans, empty) warns once and
        costs neither another weight nor the epoch's metrics their place."""
        out: dict[str, Histogram] = {}
        torch_backend = keras.backend.backend() == "torch"
        for layer in getattr(self.model, "layers", ()):
            for weight in layer.weights:
                name = f"{getattr(weight, 'path', weight.name)}".replace(":", "_")
                try:
                    # torch tensors are counted on their device; others come to numpy.
                    values = (weight.value if torch_backend
                              else keras.ops.convert_to_numpy(weight.value))
                    out[f"{name}/histogram"] = Histogram(values, bins=HISTOGRAM_BUCKETS)
                except Exception as exc:  # noqa: BLE001 - the epoch's metrics go on
                    warn_once(self, f"histogram:{name}", f"trackboard: no histogram of "
                              f"{name!r} ({type(exc).__name__}: {exc})")
        return out

    def _step(self, default: int) -> int:
        """The step now: the optimizer's updates (placed by `_base` and the policy's
        offset), or `default` for a model without an optimizer."""
        iterations = self._optimizer_steps(default=-1)
        return default if iterations < 0 else self._slot.steps.step(iterations + self._base)

    def _optimizer_steps(self, default: int) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        if iterations is None:
            return default
        return int(keras.ops.convert_to_numpy(iterations))


def _optimizer_config(optimizer: Any) -> dict[str, Any]:
    """The optimizer's config as params: its rate as the decimal the user wrote, and
    its name without the counter Keras adds per process (`adam_2` -> `adam`)."""
    config = param_value(optimizer.get_config(), strict=False)
    if isinstance(config.get("learning_rate"), float):
        config["learning_rate"] = _float32(config["learning_rate"])
    if isinstance(config.get("name"), str):
        base = keras.src.utils.naming.to_snake_case(type(optimizer).__name__)
        config["name"] = uncounted_name(config["name"], base)
    return config


def _collect_learning_rate(optimizer: Any, logs: dict[str, Any]) -> None:
    """Add the optimizer's current rate(s) to `logs` under the names Keras' own
    callbacks use: `learning_rate`, or `learning_rate_<name>` per inner optimizer."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if optimizer is None:
        return
    inner = getattr(optimizer, "optimizers", None)
    for opt in inner if inner else (optimizer,):
        key = f"learning_rate_{opt.name}" if inner else "learning_rate"
        rate = getattr(opt, "learning_rate", None)
        if key not in logs and rate is not None:
            logs[key] = float(keras.ops.convert_to_numpy(rate))


def _float32(value: float) -> float:
    """A float32 read back as the shortest decimal it stands for: Keras keeps the
    learning rate in a float32 variable, and 0.01 should read 0.01, not 0.0099999998.

    >>> _float32(0.009999999776482582)
    0.01
    """
    return float(str(np.float32(value)))
