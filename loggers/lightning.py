"""PyTorch Lightning logger.

    from trackboard.loggers.lightning import TrackboardLogger
    trainer = lightning.Trainer(max_epochs=5, logger=TrackboardLogger(project="churn"))
    trainer.fit(model, train_loader, val_loader)
    trainer.test(model, test_loader)          # the same run, at the step fit ended on

Metrics are stored as Lightning logs them (`self.log("val_loss", ...)`), at
Lightning's step, including the `epoch` key Lightning adds (0-based). Only global
rank zero logs. `finalize` maps Lightning's "success" to our "finished" and
"failed" to "failed"; a later stage (validate, test, predict, another fit) on the
same logger reopens that run by id, so one logger is one run for the whole program.
At fit() the trainer's and its first optimizer's settings are also recorded under
the common names `lr`, `optimizer`, `epochs`, ... (docs/hyperparameters.md), unless
the module's hyperparameters or `config=` hold that name.
"""

from __future__ import annotations

import os
import secrets
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.guard import framework_hook, hook_trouble, warn_once
from trackboard.loggers.param_values import flatten, param_value
from trackboard.loggers.run import Run, run_id_and_mode
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
        self._id = run_id_and_mode(id, None)[0] or secrets.token_hex(8)
        # A run continued by id keeps its stored name unless a name is given here.
        self._name_given = name is not None
        self._name = name or f"run-{self._id[:6]}"
        self._store = store
        self._config = config
        self._save_dir = os.fspath(save_dir)
        self._prefix = prefix
        self._run: Run | NullRun | None = run
        self._owns_run = run is None
        # The last step this logger stored, and whether the run (re)opened here still
        # has to decide about replacing stored steps (see _first_log).
        self._last_step: int | None = None
        self._opened = False

    # -- what Lightning reads ------------------------------------------------------

    @property
    @rank_zero_experiment
    def experiment(self) -> Run | NullRun:
        """The trackboard Run (opened on first use, reopened after finalize)."""
        run = self._run
        if run is None or (self._owns_run and run.finished):
            run = self._run = self._open()
        return run

    @property
    def name(self) -> str:
        """The run's name (Lightning uses it, with `version`, in checkpoint paths)."""
        return self._name

    @property
    def version(self) -> str:
        """The run's id."""
        return self._id

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
        path = os.path.join(self.root_dir, self._id)
        os.makedirs(path, exist_ok=True)
        return path

    # -- Lightning's hooks: trackboard trouble warns once, training goes on -----------

    @rank_zero_only
    @framework_hook
    def log_hyperparams(self, params: dict[str, Any] | Namespace | None, *args: Any,
                        **kwargs: Any) -> None:
        if params is None:
            return
        params = _sanitize_callable_params(_convert_params(params))
        flat = _flat_params(params)
        run = self.experiment
        try:
            run.log_params(flat)
        except ValueError:
            # One odd key must not cost the others: store them one by one.
            for key, value in flat.items():
                try:
                    run.log_params({key: value})
                except ValueError as exc:
                    warn_once(self, f"param:{key}", f"trackboard: hyperparameter {key!r} "
                              f"was not stored ({exc})")

    @rank_zero_only
    @framework_hook
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        # Lightning calls this for every logger at the start of each stage, after
        # log_hyperparams and after the optimizers are set up: the one hook that
        # sees the trainer. Only fit() has the training settings (a test-only
        # Trainer's defaults must not replace them).
        trainer = getattr(model, "_trainer", None)
        if trainer is None or getattr(trainer.state, "fn", None) != "fit":
            return
        record_common(self.experiment, common_from_lightning(trainer),
                      taken=self._config or ())

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        # Guarded inline rather than by @framework_hook: Lightning calls this every
        # logged step, and the decorator's extra call frame is a measurable share.
        try:
            run = self._run
            if run is None or (self._owns_run and run.finished):
                run = self.experiment
            if self._prefix:
                metrics = _add_prefix(dict(metrics), self._prefix, self.LOGGER_JOIN_CHAR)
            if self._opened and step is not None:
                self._first_log(run, step)
            run.log(metrics, step=step)
            self._last_step = step if step is not None else run.step - 1
        except Exception as exc:  # noqa: BLE001 - training goes on
            hook_trouble(self, "log_metrics", exc)

    @rank_zero_only
    def save(self) -> None:
        # Lightning calls this after every log_metrics: it must not wait for I/O.
        # The writer thread stores within a fraction of a second; finalize() waits.
        pass

    @rank_zero_only
    @framework_hook
    def finalize(self, status: str) -> None:
        if self._run is None or self._run.finished:
            return  # nothing was ever logged (e.g. a fast_dev_run without metrics)
        if not self._owns_run or status not in ("success", "failed"):
            # "finished" comes before a SLURM requeue: keep the run open, store the data.
            self._run.flush()
            return
        self._run.finish("finished" if status == "success" else "failed")

    # -- pickling: ddp_spawn, multiprocessing, Trainer pickles ------------------------

    def __getstate__(self) -> dict[str, Any]:
        # A Run holds threads and a store connection. The copy keeps the id and
        # reopens the same run when it first logs.
        state = self.__dict__.copy()
        state["_run"] = None
        state["_opened"] = False
        state.pop("_trackboard_warned", None)
        return state

    # -- helpers ---------------------------------------------------------------------

    def _open(self) -> Run | NullRun:
        try:
            run = start_run(framework="lightning", project=self._project,
                            name=self._name if self._name_given else None,
                            store=self._store, id=self._id, resume="allow")
        except Exception as exc:  # noqa: BLE001 - a store problem must not stop fit()
            warn_once(self, "open", f"trackboard: could not open run {self._id!r} ({exc}); "
                      "training goes on without recording")
            return NullRun()
        if self._config and not getattr(run, "resumed", False):
            run.log_params(_flat_params(self._config))
        self._opened = True
        return run

    def _first_log(self, run: Run | NullRun, step: int) -> None:
        """On the first point after the run opened: a fit resumed from a checkpoint
        (`ckpt_path`) in a new process logs steps the store already holds; as
        TensorBoard's purge_step, what was stored from that step on is dropped, so
        the curve shows the resumed training once. Steps below what this logger
        itself logged in this process never purge (test/validate after fit log at
        the step fit ended on), and neither does step 0 (a fresh Trainer's test())."""
        self._opened = False
        if self._last_step is not None or step <= 0 or not getattr(run, "resumed", False):
            return
        if step <= run.step - 1:
            run.purge(step)


def _flat_params(params: Mapping[Any, Any]) -> dict[str, Any]:
    """Hyperparameters as JSON-ready values with string keys, nested ones as "a.b":
    anything at all is stored, as JSON where possible, else as readable text.

    >>> _flat_params({"opt": Namespace(lr=0.1, betas=(0.9, 0.99)), 1: complex(1, 2)})
    {'opt.lr': 0.1, 'opt.betas': [0.9, 0.99], '1': '1+2j'}
    """
    return flatten(param_value(dict(params), strict=False))

