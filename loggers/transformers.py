"""Hugging Face Transformers `TrainerCallback`.

    from trackboard.loggers.transformers import TrackboardCallback
    trainer = Trainer(model, args, train_dataset=ds, report_to="none",
                      callbacks=[TrackboardCallback(project="churn")])
    trainer.train()
    trainer.evaluate()            # into the same run, at the last training step
    trainer.predict(test_ds)      # `test_*` metrics, same run, same step

One run follows the Trainer through the whole program:

- The run opens at the first event that carries data (`train()`, or an
  `evaluate()`/`predict()` before it), never at `Trainer(...)`: a trainer that
  goes on to resume a checkpoint must not leave an empty run behind.
- The TrainingArguments and the model config are recorded as params (merged as
  Transformers' own W&B and MLflow callbacks merge them: arguments win). Values of
  any type are stored: JSON where possible, else a readable string. Beside them,
  the common names `lr`, `optimizer`, `batch_size`, ... (docs/hyperparameters.md).
- Every `on_log` is stored at `state.global_step` (the updates completed:
  trackboard's step in every framework), keys as the Trainer names them
  (`loss`, `learning_rate`, `grad_norm`, `eval_loss`, `epoch`, ...); `on_predict`
  stores `predict()`'s metrics the same way.
- The run is finished when `train()` ends. An event after that (evaluate, predict)
  resumes the same run by id, logs, and finishes it again, so the store always
  shows everything and the status is "finished" between calls.
- A second `train()` continues the run: its steps follow the first one's.
- `train(resume_from_checkpoint=...)` continues the run whose id the checkpoint
  holds (the callback is an `ExportableState`, so its run id is saved in the
  checkpoint's trainer_state.json), and drops the points that run stored after
  the checkpoint's step: they are trained again, as TensorBoard's purge_step shows.
  Both are the one policy of trackboard.loggers.training_steps.
- `hyperparameter_search` logs every trial into a run of its own (tagged with the
  search and trial), never into the main run.
- Only the world process zero logs. No hook raises because of trackboard's own
  state: trouble warns once and training goes on.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from trackboard.loggers.adapter_run import log_params_leniently
from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.guard import framework_hook, warn_once
from trackboard.loggers.param_values import flatten, param_value
from trackboard.loggers.run import Run
from trackboard.loggers.training_steps import RunSteps
from trackboard.loggers.values import to_float
from trackboard.loggers.vocabulary import common_from_training_arguments, record_common
from trackboard.storage.extras import require
from trackboard.storage.rules import check_key

transformers = require("transformers", "transformers")
from transformers.trainer_callback import ExportableState  # noqa: E402


class TrackboardCallback(transformers.TrainerCallback, ExportableState):
    """Logs a Hugging Face `Trainer` (train, evaluate, predict, resume, trials) into trackboard.

    Pass `run=` to log into a Run you manage: it is then never finished here, and
    hyperparameter-search trials still get runs of their own.
    """

    def __init__(self, run: Run | None = None, *, project: str | None = None,
                 name: str | None = None, store: str | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        if config is not None and not isinstance(config, Mapping):
            raise ValueError(f"config= takes a dict, got {type(config).__name__}; e.g. "
                             "TrackboardCallback(config={'dataset': 'v2'})")
        self.run: Run | NullRun | None = run   # the run events go to now
        self._user_run = run
        # The config goes to the store as given where JSON can hold it, else as text:
        # an odd value must not stop a run from starting inside train().
        self._run_args: dict[str, Any] = {
            "project": project or "default", "name": name, "store": store,
            "config": None if config is None else param_value(dict(config), strict=False)}
        # The main run (not a trial's): its id, and where its steps go (a second
        # train() continues after the first, a resumed one replaces what the
        # interrupted try stored past its checkpoint).
        self._main_id: str | None = run.id if run is not None else None
        self._main_steps = RunSteps()
        self._steps = self._main_steps  # the current run's: the main run's or a trial's
        self._training = False    # between on_train_begin and on_train_end
        self._trial: dict[str, Any] | None = None  # Run kwargs of the current trial's run
        self._trials = 0

    # -- Trainer events ------------------------------------------------------------

    @framework_hook
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self._training = True
        if state.is_hyper_param_search:
            self._start_trial(args, state, model)
            return
        self._trial = None
        resume_id = self._checkpoint_run_id(state) if state.global_step > 0 else None
        run = self._open_main(resume_id or self._main_id, system_metrics=True)
        self._steps = self._main_steps
        self._steps.training_starts(run, state.global_step)
        self._log_params(run, args, model, optimizer=kwargs.get("optimizer"))

    @framework_hook
    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        history = state.log_history
        if history and len(history[-1]) > len(logs) + 1:
            # A callback before us took values out of the shared dict (PrinterCallback
            # pops "total_flos"); the Trainer's own copy of this entry still has them.
            entry = history[-1]
            if entry.get("step") == state.global_step:
                logs = {**{k: v for k, v in entry.items() if k != "step"}, **logs}
        self._record(logs, state, args, kwargs.get("model"))

    @framework_hook
    def on_predict(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
        # predict() does not go through Trainer.log(): its metrics come only here.
        if not state.is_world_process_zero or not metrics:
            return
        self._record(metrics, state, args, kwargs.get("model"))

    @framework_hook
    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self._training = False
        self._steps.stored(self._steps.step(state.global_step))
        if self.run is not None and self.run is not self._user_run:
            self.run.finish("finished")

    # -- checkpoints and pickling ------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What the Trainer saves in a checkpoint's trainer_state.json (plain JSON).

        `args` rebuild an equal callback when the user sets
        `restore_callback_states_from_checkpoint=True`; a store URL with a password
        is left out (it would be written in clear text): the store then comes from
        `TRACKBOARD_STORE`.
        """
        store = self._run_args["store"]
        if store is not None and _has_password(store):
            store = None
        return {"args": {"project": self._run_args["project"], "name": self._run_args["name"],
                         "store": store, "config": self._run_args["config"]},
                "attributes": {"_checkpoint_id": self._main_id}}

    def __getstate__(self) -> dict[str, Any]:
        # A Run holds threads and a store connection: a copy (pickle, deepcopy) keeps
        # the run's id instead and resumes that run at its first event.
        state = self.__dict__.copy()
        state["run"] = state["_user_run"] = None
        state["_training"] = False  # the copy resumes the run for each event until its train()
        state.pop("_trackboard_warned", None)
        if self._trial is not None and self.run is not None:
            state["_trial"] = {**self._trial, "id": self.run.id}
        return state

    # -- helpers -----------------------------------------------------------------

    def _record(self, values: Mapping[str, Any], state: Any, args: Any, model: Any) -> None:
        run = self.run
        reopened = False
        if run is None or (run.finished and run is not self._user_run):
            # Outside train(): resume the same run for this one event, then finish it
            # again so that everything is stored and the status stays "finished".
            if self._trial is not None:
                run = self._open_trial(resume="allow", system_metrics=False)
            else:
                run = self._open_main(self._main_id, system_metrics=False)
                if not getattr(run, "resumed", False):
                    self._log_params(run, args, model)
            reopened = True
        step = self._steps.step(state.global_step)
        try:
            run.log(values, step=step)
        except ValueError:
            if run.finished:
                raise
            run.log(self._numbers(values), step=step)
        self._steps.stored(step)
        if reopened and not self._training:
            run.finish("finished")

    def _numbers(self, values: Mapping[str, Any]) -> dict[str, float]:
        """The values the store can hold; the rest (text, odd objects) warns once.
        The Trainer's logs carry text now and then (e.g. a summary line)."""
        out: dict[str, float] = {}
        for key, value in values.items():
            try:
                out[check_key(key)] = float(value) if isinstance(value, bool) \
                    else to_float(key, value)
            except ValueError as exc:
                warn_once(self, f"value:{key}",
                          f"trackboard: {key!r} is not stored ({exc}); this warning is shown once")
        return out

    def _open_main(self, run_id: str | None, *, system_metrics: bool) -> Run | NullRun:
        """The main run: the user's, the open one, or a new or resumed one of ours."""
        if self._user_run is not None:
            self.run = self._user_run
            return self.run
        current = self.run
        if current is not None and not current.finished:
            if self._trial is None and current.id == run_id:
                return current
            current.finish("finished")
        kwargs = dict(self._run_args)
        if run_id is not None:
            kwargs.update(id=run_id, resume="allow")
        self.run = start_run(framework="transformers", system_metrics=system_metrics, **kwargs)
        if not isinstance(self.run, NullRun):
            self._main_id = self.run.id
        return self.run

    def _open_trial(self, *, resume: str, system_metrics: bool) -> Run | NullRun:
        assert self._trial is not None
        self.run = start_run(framework="transformers", system_metrics=system_metrics,
                             resume=resume, **self._trial)
        return self.run

    def _start_trial(self, args: Any, state: Any, model: Any) -> None:
        current = self.run
        if current is not None and current is not self._user_run and not current.finished:
            current.finish("finished")  # e.g. a pruned trial, which ends without on_train_end
        self._trials += 1
        label = state.trial_name or f"trial-{self._trials}"
        search = self._run_args["name"] or "hp-search"
        # An explicit new id: TRACKBOARD_RUN_ID (the main run's) must never be reused.
        self._trial = {**self._run_args, "name": f"{search}-{label}",
                       "id": secrets.token_hex(8), "tags": {"hp_search": search, "trial": label}}
        self._steps = RunSteps()  # a trial is a run of its own, from step 0
        run = self._open_trial(resume="never", system_metrics=True)
        self._log_params(run, args, model, trial_params=state.trial_params)

    def _checkpoint_run_id(self, state: Any) -> str | None:
        """The run id a resumed checkpoint holds for this callback, if any."""
        saved = (getattr(state, "stateful_callbacks", None) or {}).get(type(self).__name__)
        entries = saved if isinstance(saved, list) else [saved]
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            saved_args = entry.get("args") or {}
            run_id = (entry.get("attributes") or {}).get("_checkpoint_id")
            same = (saved_args.get("project"), saved_args.get("name")) == \
                (self._run_args["project"], self._run_args["name"])
            if isinstance(run_id, str) and (same or len(entries) == 1):
                return run_id
        return None

    def _log_params(self, run: Run | NullRun, args: Any, model: Any,
                    trial_params: Mapping[str, Any] | None = None, *,
                    optimizer: Any = None) -> None:
        params: dict[str, Any] = {}
        config = getattr(model, "config", None)
        if config is not None:
            params.update(config if isinstance(config, Mapping) else config.to_dict())
        if args is not None:
            params.update(args.to_dict())
        if trial_params:
            params.update({f"trial.{k}": v for k, v in trial_params.items()})
        log_params_leniently(self, run, flatten({str(k): param_value(v, strict=False)
                                                 for k, v in params.items()}))
        if args is not None:
            # The common names (lr, batch_size, ...) beside the Trainer's own; the
            # user's config wins (docs/hyperparameters.md).
            record_common(run, common_from_training_arguments(args, optimizer),
                          taken=self._run_args["config"] or ())


def _has_password(url: str) -> bool:
    """
    >>> _has_password("postgresql+psycopg://me:secret@db/tb"), _has_password("sqlite:///a.db")
    (True, False)
    """
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return True
