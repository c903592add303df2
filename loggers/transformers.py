"""Hugging Face Transformers `TrainerCallback`.

    from trackboard.loggers.transformers import TrackboardCallback
    trainer = Trainer(model, args, train_dataset=ds, report_to="none",
                      callbacks=[TrackboardCallback(project="churn")])

At train begin the TrainingArguments and the model config are recorded as params
(merged as Transformers' own W&B and MLflow callbacks merge them: arguments win).
Every `on_log` is stored as metrics at `state.global_step`, keys as the Trainer
names them (`loss`, `learning_rate`, `grad_norm`, `eval_loss`, `epoch`, ...;
`epoch` is the Trainer's float epoch progress). The run ends at train end. Only
the world process zero logs.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.requires import require
from trackboard.loggers.run import Run
from trackboard.loggers.values import param_value

transformers = require("transformers", "transformers")


class TrackboardCallback(transformers.TrainerCallback):
    """Logs a `Trainer.train()` into trackboard.

    Pass `run=` to log into a Run you manage (it is then not finished here).
    """

    def __init__(self, run: Run | None = None, *, project: str | None = None,
                 name: str | None = None, store: str | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        self.run: Run | NullRun | None = run
        self._owns_run = run is None
        self._run_args = {"project": project or "default", "name": name, "store": store,
                          "config": config}

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if self.run is None or (self._owns_run and self.run.finished):
            self.run = start_run(framework="transformers", **self._run_args)
        params: dict[str, Any] = {}
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            params.update(config.to_dict())
        params.update(args.to_dict())
        self.run.log_params({k: param_value(v, strict=False) for k, v in params.items()})

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or self.run is None or not logs:
            return
        # The Trainer's logs also carry text (e.g. a summary line); the store holds numbers.
        numbers_only = {k: v for k, v in logs.items()
                        if isinstance(v, numbers.Real) and not isinstance(v, bool)}
        if numbers_only:
            self.run.log(numbers_only, step=state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.run is not None and self._owns_run:
            self.run.finish("finished")
