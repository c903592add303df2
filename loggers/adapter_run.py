"""The run a framework adapter (Keras, Lightning, Transformers) logs into through the
whole program, and where its steps go.

Frameworks run a program in stages (fit, evaluate, test, predict, fit again) and
tell their callbacks and loggers when each ends. One adapter is one run for all of
them: `AdapterRun.live()` opens the run at the first event that carries data, a
stage's end finishes it (`finish`), and the next stage's first event reopens the
same run by id (`Run(id=..., resume="allow")`), so the store always shows what
was logged and the status between stages is "finished". A run the user passed in
(`run=`) is theirs: it is never finished here. The id is fixed when the adapter
is built (`id=`, else `$TRACKBOARD_RUN_ID`, else the first run's random id), so a
new process given the same id continues the run.

Where each value's step goes, and when a resumed training replaces what a crashed
attempt stored, is `steps` (trackboard.loggers.training_steps): the adapters only
translate their framework's events into `live()`, `steps.training_starts(...)`,
`steps.step(...)` and `finish(...)`.

    >>> from trackboard.loggers.distributed import NullRun
    >>> slot = AdapterRun("demo", NullRun())   # a rank that does not log
    >>> slot.live() is slot.run, slot.owned
    (True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.guard import warn_once
from trackboard.loggers.run import Run
from trackboard.loggers.run_ids import run_id_and_mode
from trackboard.loggers.training_steps import RunSteps


class AdapterRun:
    """The run of one adapter: opened when first needed, reopened by id after a stage
    finished it, finished only when the adapter started it.

    `config` (already JSON-ready) is logged as params when the run is created, not
    again when it is continued (the stored ones stay). `run_args` go to
    `start_run` (project, name, store, ...).
    """

    def __init__(self, framework: str, run: Run | NullRun | None = None, *,
                 id: str | None = None,  # noqa: A002 (the Run API's name)
                 config: Mapping[str, Any] | None = None, **run_args: Any) -> None:
        self.framework = framework
        self.run: Run | NullRun | None = run
        self.owned = run is None
        # A bad id is the user's to fix at the call that gave it, not inside fit().
        self.id: str | None = run.id if run is not None else run_id_and_mode(id, None)[0]
        self.config = dict(config) if config else None
        self.run_args = run_args
        self.steps = RunSteps()

    def live(self, **extra: Any) -> Run | NullRun:
        """The run to log into: the open one, else a new or continued one (`extra`
        goes to `start_run`, e.g. system_metrics=False for a one-event reopen)."""
        run = self.run
        if run is None or (self.owned and run.finished):
            kwargs = {**self.run_args, **extra}
            if self.id is not None:
                kwargs.update(id=self.id, resume="allow")
            run = self.run = start_run(framework=self.framework, **kwargs)
            if isinstance(run, Run):
                self.id = run.id
                if self.config and not run.resumed:
                    run.log_params(self.config)
        return run

    @property
    def is_open(self) -> bool:
        """Whether a run is open now (a stage is under way or was never finished)."""
        return self.run is not None and not self.run.finished

    def finish(self, status: str = "finished") -> None:
        """End the run of a stage that ended; a run passed in is only flushed."""
        run = self.run
        if run is None or run.finished:
            return
        if self.owned:
            run.finish(status)
        else:
            run.flush()

    def __getstate__(self) -> dict[str, Any]:
        # A Run holds threads and a store connection: a copy (pickle, deepcopy, a
        # spawned process) keeps the id and opens the same run when it first logs.
        state = self.__dict__.copy()
        state["run"] = None
        return state

    def __repr__(self) -> str:
        return f"AdapterRun({self.framework!r}, id={self.id!r})"


def log_params_leniently(owner: object, run: Run | NullRun, params: Mapping[str, Any]) -> None:
    """Log JSON-ready params from inside a framework hook: a key the store refuses
    (empty, too long, NUL) warns once on `owner` and costs no other param its place."""
    try:
        run.log_params(params)
    except ValueError:
        for key, value in params.items():
            try:
                run.log_params({key: value})
            except ValueError as exc:
                warn_once(owner, f"param:{key[:40]}", f"trackboard: hyperparameter "
                          f"{key[:40]!r} was not stored ({exc})")
