"""PyTorch Lightning logger.

    from trackboard.loggers.lightning import TrackboardLogger
    trainer = lightning.Trainer(max_epochs=5, logger=TrackboardLogger(project="churn"))
    trainer.fit(model, train_loader, val_loader)

Metrics are stored as Lightning logs them (`self.log("val_loss", ...)`), at
Lightning's step, including the `epoch` key Lightning adds (0-based). Only global
rank zero logs. `finalize` maps Lightning's "success" to our "finished" and
"failed" to "failed".
"""

from __future__ import annotations

import warnings
from argparse import Namespace
from typing import Any

from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.requires import require
from trackboard.loggers.run import Run
from trackboard.loggers.values import param_value

require("lightning", "lightning")
from lightning.fabric.utilities.logger import (  # noqa: E402
    _convert_params,
    _sanitize_callable_params,
)
from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment  # noqa: E402
from lightning.pytorch.utilities.rank_zero import rank_zero_only  # noqa: E402


class TrackboardLogger(Logger):
    """A Lightning `Logger` writing into a trackboard Run.

    The run opens the first time Lightning touches `experiment` (at fit start) and
    ends in `finalize`. Pass `run=` to log into a Run you manage instead (then
    finalize only waits for the data to be stored).
    """

    def __init__(self, project: str | None = None, name: str | None = None,
                 store: str | None = None, *, run: Run | None = None,
                 config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._project = project or "default"
        self._name = name
        self._store = store
        self._config = config
        self._run: Run | NullRun | None = run
        self._owns_run = run is None
        self._warned_finished = False

    @property
    @rank_zero_experiment
    def experiment(self) -> Run | NullRun:
        """The trackboard Run (opened on first use)."""
        if self._run is None:
            self._run = start_run(framework="lightning", project=self._project,
                                  name=self._name, store=self._store, config=self._config)
        return self._run

    @property
    def name(self) -> str:
        """The run's name (Lightning uses it, with `version`, in checkpoint paths)."""
        if self._name is None and isinstance(self._run, Run):
            return self._run.name
        return self._name or "trackboard"

    @property
    def version(self) -> str:
        """The run's id."""
        run = self.experiment
        return run.id if isinstance(run, Run) else ""

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any,
                        **kwargs: Any) -> None:
        params = _sanitize_callable_params(_convert_params(params))
        self.experiment.log_params({k: param_value(v, strict=False) for k, v in params.items()})

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        run = self.experiment
        if run.finished:
            # Lightning finalizes after fit; a later trainer.test() must not crash.
            if not self._warned_finished:
                self._warned_finished = True
                warnings.warn("TrackboardLogger: this run was finalized after fit(); give "
                              "trainer.validate/test a new TrackboardLogger to record them",
                              stacklevel=2)
            return
        run.log(metrics, step=step)

    @rank_zero_only
    def save(self) -> None:
        # Lightning calls this after every log_metrics: it must not wait for I/O.
        # The writer thread stores within a fraction of a second; finalize() waits.
        pass

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._run is None:
            return  # nothing was ever logged (e.g. a fast_dev_run without metrics)
        if not self._owns_run or status not in ("success", "failed"):
            # "finished" comes before a SLURM requeue: keep the run open, store the data.
            self._run.flush()
            return
        self._run.finish("finished" if status == "success" else "failed")
