"""PyTorch Lightning logger.

    from trackboard.loggers.lightning import TrackboardLogger
    trainer = lightning.Trainer(max_epochs=5, logger=TrackboardLogger(project="churn"))
    trainer.fit(model, train_loader, val_loader)
    trainer.test(model, test_loader)          # the same run, at the step fit ended on

Metrics are stored as Lightning logs them (`self.log("val_loss", ...)`), including
the `epoch` key Lightning adds (0-based), at the trainer's count of optimizer
updates (`trainer.global_step`: trackboard's step in every framework; Lightning's
own loggers write one less while it trains, see trackboard.loggers.training_steps).
Only global rank zero logs. `finalize` maps Lightning's "success" to our "finished" and
"failed" to "failed"; a later stage (validate, test, predict, another fit) on the
same logger reopens that run by id, so one logger is one run for the whole program.
At fit() the trainer's and its first optimizer's settings are also recorded under
the common names `lr`, `optimizer`, `epochs`, ... (docs/hyperparameters.md), unless
the module's hyperparameters or `config=` hold that name.

Media: `log_image(key, images, step=None, caption=None)` (WandbLogger's shape: a
list of images, the step's strip), `log_histogram(key, values, step=None, bins=64)`,
and `logger.experiment.add_histogram(...)`, `add_image`, ... as code written for
TensorBoardLogger calls them (loggers/lightning_experiment.py). Left out, the step is
the trainer's updates done.
"""

from __future__ import annotations

import os
import secrets
import weakref
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trackboard.loggers.adapter_run import AdapterRun, log_params_leniently
from trackboard.loggers.coerce import lenient_step
from trackboard.loggers.distributed import NullRun
from trackboard.loggers.guard import framework_hook, hook_trouble, warn_once
from trackboard.loggers.lightning_experiment import Experiment
from trackboard.loggers.media import Histogram, Image
from trackboard.loggers.param_values import flatten, param_value
from trackboard.loggers.run import Run, run_id_and_mode
from trackboard.loggers.training_steps import lightning_updates
from trackboard.loggers.vocabulary import common_from_lightning, record_common
from trackboard.storage.extras import require
from trackboard.storage.rules import check_key

require("lightning", "lightning")
from lightning.fabric.utilities.logger import (  # noqa: E402
    _add_prefix,
    _convert_params,
    _sanitize_callable_params,
)
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment  # noqa: E402
from lightning.pytorch.utilities.rank_zero import rank_zero_only  # noqa: E402


class TrackboardLogger(Logger):
    """A Lightning `Logger` writing into a trackboard Run.

    The run opens the first time Lightning touches `experiment` (at the start of
    fit, validate, test or predict) and is finished by `finalize`; the next stage
    reopens the same run (`Run(id=..., resume="allow")`). `version` is the run's
    id, fixed when the logger is built (`id=`, else `$TRACKBOARD_RUN_ID`, else a
    new random id): pass the same `id=` in a new process, with
    `trainer.fit(..., ckpt_path=...)`, to continue the run; points stored from the
    resume step on are replaced. Pass `run=` to log into a Run you manage instead
    (then finalize only waits for the data to be stored).

    `save_dir` (default ".", as WandbLogger) is where Lightning puts checkpoints:
    `save_dir/name/version/checkpoints`; `log_dir` is `save_dir/name/version`.

    >>> logger = TrackboardLogger(project="churn", name="mlp", id="mlp-1", save_dir="out")
    >>> logger.name, logger.version, logger.save_dir
    ('mlp', 'mlp-1', 'out')
    """

    LOGGER_JOIN_CHAR = "-"  # prefix="tmp" logs "loss" as "tmp-loss", as Lightning's loggers

    def __init__(self, project: str | None = None, name: str | None = None,
                 store: str | None = None, *, run: Run | None = None,
                 config: Mapping[str, Any] | None = None, id: str | None = None,
                 save_dir: str | os.PathLike[str] = ".", prefix: str = "") -> None:
        super().__init__()
        # The user's own arguments: a bad one is a ValueError here, not inside fit().
        self._project = check_key(project or "default")
        if name is not None:
            check_key(name)
        if run is not None:
            id = run.id
            name = name or run.name
        # The id (Lightning's `version`) is fixed now, so `version`, `name`, `log_dir`
        # and the checkpoint folder are the same before and after the run opens, in
        # every process that unpickles this logger, and after a restart with `id=`.
        run_id = run_id_and_mode(id, None)[0] or secrets.token_hex(8)
        # A run continued by id keeps its stored name unless a name is given here.
        self._name = name or f"run-{run_id[:6]}"
        self._save_dir = os.fspath(save_dir)
        self._prefix = prefix
        self._config_keys = tuple(_flat_params(config)) if config else ()
        self._slot = AdapterRun("lightning", run, id=run_id,
                                config=_flat_params(config) if config else None,
                                project=self._project, name=name, store=store)
        # The Trainer, as Lightning shows it to log_graph at the start of each stage
        # (loggers get no other reference): its count of updates is the step.
        self._trainer: weakref.ReferenceType[Any] | None = None
        # A fit resumed from a checkpoint whose step was not visible at its start:
        # its first logged point decides what to replace (see _fit_starts).
        self._resume_at_first_log = False
        self._experiment: Experiment | None = None

    # -- what Lightning reads ------------------------------------------------------

    @property
    @rank_zero_experiment
    def experiment(self) -> Experiment:
        """The trackboard Run (opened on first use, reopened after finalize): its
        attributes and methods, plus torch SummaryWriter's `add_histogram`,
        `add_image`, `add_images`, `add_figure`, `add_text` and `add_scalar`, as
        TensorBoardLogger's experiment has them."""
        self._open_run()
        if self._experiment is None:
            self._experiment = Experiment(self)
        return self._experiment

    def _open_run(self) -> Run | NullRun:
        """The run to log into: the open one, else opened (or reopened by id)."""
        slot = self._slot
        if slot.run is None or (slot.owned and slot.run.finished):
            try:
                return slot.live()
            except Exception as exc:  # noqa: BLE001 - a store problem must not stop fit()
                warn_once(self, "open", f"trackboard: could not open run {slot.id!r} ({exc}); "
                          "training goes on without recording")
                slot.run = NullRun()
        return slot.run

    @property
    def name(self) -> str:
        """The run's name (Lightning uses it, with `version`, in checkpoint paths)."""
        return self._name

    @property
    def version(self) -> str:
        """The run's id."""
        return self._slot.id  # type: ignore[return-value]

    @property
    def save_dir(self) -> str:
        """Where Lightning saves checkpoints: `save_dir/name/version/checkpoints`."""
        return self._save_dir

    @property
    def root_dir(self) -> str:
        return os.path.join(self._save_dir, self._name)

    @property
    def log_dir(self) -> str:
        """`save_dir/name/version`, created when asked for (files saved next to the run)."""
        path = os.path.join(self.root_dir, self.version)
        os.makedirs(path, exist_ok=True)
        return path

    # -- Lightning's hooks: trackboard trouble warns once, training goes on -----------

    @rank_zero_only
    @framework_hook
    def log_hyperparams(self, params: dict[str, Any] | Namespace | None,
                        metrics: Mapping[str, Any] | Any = None, step: int | None = None,
                        *args: Any, **kwargs: Any) -> None:
        """Store hyperparameters as params and, as TensorBoardLogger does, `metrics`
        (a dict, or one number stored as `hp_metric`) at `step`, else at the step
        training has reached (0 before it)."""
        run = self._open_run()
        if params is not None:
            log_params_leniently(self, run, _flat_params(
                _sanitize_callable_params(_convert_params(params))))
        if metrics is not None:
            if not isinstance(metrics, Mapping):
                metrics = {"hp_metric": metrics}
            if step is None:
                updates = self._updates()
                step = 0 if updates is None else self._slot.steps.step(updates)
            self._record(dict(metrics), step)

    @rank_zero_only
    @framework_hook
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        # Lightning calls this for every logger at the start of each stage, after
        # log_hyperparams and after the optimizers are set up: the one hook that
        # sees the trainer. Only fit() has the training settings (a test-only
        # Trainer's defaults must not replace them), and only fit() trains.
        trainer = getattr(model, "_trainer", None)
        if trainer is None:
            return
        self._trainer = weakref.ref(trainer)
        if getattr(trainer.state, "fn", None) != "fit":
            return
        run = self._open_run()
        record_common(run, common_from_lightning(trainer), taken=self._config_keys)
        self._fit_starts(run, trainer)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        # Guarded inline rather than by @framework_hook: Lightning calls this every
        # logged step, and the decorator's extra call frame is a measurable share.
        try:
            trainer = self._trainer() if self._trainer is not None else None
            if trainer is not None:
                try:  # Lightning's own step while it trains (private: None if it moves)
                    default = trainer.fit_loop.epoch_loop._batches_that_stepped
                except AttributeError:
                    default = None
                updates = lightning_updates(step, default, trainer.global_step)
                if updates is not None:
                    if self._resume_at_first_log:
                        self._resume_at_first_log = False
                        self._slot.steps.training_starts(self._open_run(), max(updates - 1, 0))
                    step = self._slot.steps.step(updates)
            self._record(metrics, step)
        except Exception as exc:  # noqa: BLE001 - training goes on
            hook_trouble(self, "log_metrics", exc)

    @rank_zero_only
    def log_image(self, key: str, images: list[Any], step: int | None = None,
                  caption: list[Any] | None = None, **kwargs: Any) -> None:
        """Log a list of images as the step's strip (WandbLogger's shape): arrays and
        tensors (HWC, CHW, HW; uint8 or floats in [0, 1]), PIL images, matplotlib
        figures or image files' paths; `caption` a list as long as `images`. Other
        lists WandbLogger passes on to wandb (masks, boxes, ...) are not stored (one
        warning). `step` left out: the trainer's updates done."""
        if not isinstance(images, (list, tuple)) or not images:
            got = images if isinstance(images, (list, tuple)) else type(images).__name__
            raise ValueError(f"log_image() takes a list of images, got {got}; e.g. images=[x]")
        captions = [None] * len(images) if caption is None else caption
        for name, given in {"caption": captions, **kwargs}.items():
            if not isinstance(given, (list, tuple)) or len(given) != len(images):
                found = len(given) if isinstance(given, (list, tuple)) else type(given).__name__
                raise ValueError(f"Expected {len(images)} items but only found {found} "
                                 f"for {name}: pass a list, one per image")
        for name in kwargs:
            warn_once(self, f"log_image:{name}", f"trackboard: log_image({name}=...) is not "
                      "stored; the images and captions are")
        strip = [_image(img, cap) for img, cap in zip(images, captions)]
        self._log_values({key: strip}, self._media_step(step))

    @rank_zero_only
    def log_histogram(self, key: str, values: Any, step: int | None = None,
                      bins: int = 64) -> None:
        """Log the distribution of `values` (a tensor or array of any shape) in `bins`
        equal buckets. `step` left out: the trainer's updates done."""
        self._log_values({key: Histogram(values, bins=bins)}, self._media_step(step))

    def _media_step(self, step: Any) -> int | None:
        """A step the user gave, as given; else the trainer's updates done (None: no
        trainer seen, the run's next step)."""
        if step is not None:
            return lenient_step(step)
        updates = self._updates()
        return None if updates is None else self._slot.steps.step(updates)

    def _log_values(self, values: Mapping[str, Any], step: int | None,
                    wall_time: float | None = None) -> None:
        """Log values the user's call built (and so checked): trackboard trouble
        warns once and training goes on."""
        try:
            self._record(values, step, wall_time)
        except Exception as exc:  # noqa: BLE001 - training goes on
            hook_trouble(self, "log_image/log_histogram", exc)

    @rank_zero_only
    def save(self) -> None:
        # Lightning calls this after every log_metrics: it must not wait for I/O.
        # The writer thread stores within a fraction of a second; finalize() waits.
        pass

    @rank_zero_only
    @framework_hook
    def finalize(self, status: str) -> None:
        if not self._slot.is_open:
            return  # nothing was ever logged (e.g. a fast_dev_run without metrics)
        if status not in ("success", "failed"):
            # "finished" comes before a SLURM requeue: keep the run open, store the data.
            self._slot.run.flush()  # type: ignore[union-attr]
            return
        self._slot.finish("finished" if status == "success" else "failed")

    # -- pickling: ddp_spawn, multiprocessing, Trainer pickles ------------------------

    def __getstate__(self) -> dict[str, Any]:
        # A Run holds threads and a store connection (the AdapterRun leaves it out):
        # the copy keeps the id and reopens the same run when it first logs.
        state = self.__dict__.copy()
        state["_trainer"] = None
        state["_experiment"] = None
        state.pop("_trackboard_warned", None)
        return state

    # -- helpers ---------------------------------------------------------------------

    def _record(self, metrics: Mapping[str, Any], step: int | None,
                wall_time: float | None = None) -> None:
        slot = self._slot
        run = slot.run
        if run is None or (slot.owned and run.finished):
            run = self._open_run()
        if self._prefix:
            metrics = _add_prefix(dict(metrics), self._prefix, self.LOGGER_JOIN_CHAR)
        run.log(metrics, step=step, wall_time=wall_time)
        slot.steps.stored(step if step is not None else run.step - 1)

    def _updates(self) -> int | None:
        """The trainer's count of optimizer updates (None: no trainer seen)."""
        trainer = self._trainer() if self._trainer is not None else None
        return None if trainer is None else int(trainer.global_step)

    def _fit_starts(self, run: Run | NullRun, trainer: Any) -> None:
        """A fit starts: where its steps go (trackboard.loggers.training_steps). Lightning
        restores a checkpoint's counts only after this hook; the checkpoint it loaded
        for that already says where the training stands."""
        if trainer.ckpt_path is None:
            self._slot.steps.training_starts(run, int(trainer.global_step))
            return
        loaded = getattr(getattr(trainer, "_checkpoint_connector", None),
                         "_loaded_checkpoint", None)
        start = loaded.get("global_step") if isinstance(loaded, Mapping) else None
        if isinstance(start, int):
            self._slot.steps.training_starts(run, start)
        else:  # a strategy that restores later: the first logged point is one past it
            self._resume_at_first_log = True


def _image(image: Any, caption: Any) -> Image:
    """One image of log_image: a path is an image file, the rest as Image takes it."""
    text = None if caption is None else str(caption)
    if isinstance(image, (str, os.PathLike)):
        return Image.from_encoded(Path(image).read_bytes(), text)
    return Image(image, text)


def _flat_params(params: Mapping[Any, Any]) -> dict[str, Any]:
    """Hyperparameters as JSON-ready values with string keys, nested ones as "a.b":
    anything at all is stored, as JSON where possible, else as readable text.

    >>> _flat_params({"opt": Namespace(lr=0.1, betas=(0.9, 0.99)), 1: complex(1, 2)})
    {'opt.lr': 0.1, 'opt.betas': [0.9, 0.99], '1': '1+2j'}
    """
    return flatten(param_value(dict(params), strict=False))
