"""The life cycle shared by the writers that own a run (torch's SummaryWriter, clu's
MetricWriter): close, `with`, logging after close, copies for other processes,
and a warning, once per method, for what trackboard does not store.

A writer built on `RunOwner` either started its run (`owned=True`: close() finishes
it) or was given one (`run=`: close() only flushes it; once that run is finished,
what the writer logs warns once and is dropped instead of stopping training).
Logging after close() continues the same run, as torch reopens its event file, and
a pickled copy opens the run on first use and never finishes it (see
trackboard.loggers.reopen). The adapters keep their framework's methods (and
where they see a config or hyperparameters); this module keeps only what they all
do with the run.

    >>> from trackboard.loggers.distributed import NullRun
    >>> class Writer(RunOwner):
    ...     _framework = "demo"
    >>> with Writer(NullRun(), owned=True) as writer:   # a rank that does not log
    ...     writer._live_run() is writer.run
    True
    >>> writer._closed
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from trackboard.loggers.coerce import lenient_scalar, lenient_step
from trackboard.loggers.distributed import NullRun
from trackboard.loggers.guard import warn_once
from trackboard.loggers.reopen import PendingRun, RunHandle, open_again
from trackboard.loggers.run import Run, exit_status

if TYPE_CHECKING:
    from typing_extensions import Self


class RunOwner:
    """Base of the writers that hold a run: close, context manager, reopen, copies.

    Subclasses set `_framework` (the run's framework, used to open it again) and
    may override `_reopened` (called when the writer is live again after close()),
    `_unsupported_message` and `_forward_unsupported`.
    """

    _framework: ClassVar[str] = ""
    #: The verb of the "run passed in is finished" warning: "logs" or "writes".
    _logs: ClassVar[str] = "logs"
    #: What the writer stores, for the warning about what it does not.
    _stores: ClassVar[str] = "scalars, hparams and text"

    def __init__(self, run: Run | NullRun, *, owned: bool) -> None:
        self.run: Run | NullRun | PendingRun = run
        self._owns_run = owned
        self._handle = RunHandle.of(run, self._framework)
        self._warned: set[str] = set()
        self._closed = False
        self._copy = False

    def flush(self) -> None:
        """Wait until everything written so far is in the store."""
        if not isinstance(self.run, PendingRun):  # a copy that never logged: nothing to flush
            self.run.flush()

    def close(self, status: str = "finished") -> None:
        """Finish the run (unless it was passed in or this is a copy in another
        process). Idempotent; writing afterwards continues the same run."""
        if self._closed:
            return
        self._closed = True
        if isinstance(self.run, PendingRun):
            pass  # a copy that never logged: nothing to flush
        elif self._owns_run and not self._copy:
            self.run.finish(status)
        else:
            self.run.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(exit_status(exc_type))

    def __getstate__(self) -> dict[str, Any]:
        """A copy for another process carries the run's handle, not the run (its
        threads and locks stay here); it opens the same run on first use and never
        finishes it (see trackboard.loggers.reopen)."""
        if isinstance(self.run, Run):
            self.run.flush(5.0)  # the copy reads where the run stands from the store
        state = self.__dict__.copy()
        state["run"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._copy = True
        self._closed = False
        self.run = PendingRun(self._open_copy, self._handle)

    def _open_copy(self) -> Run | NullRun:
        self.run = open_again(self, self._handle, copy=True)
        return self.run

    def _live_run(self) -> Run | NullRun | None:
        """The run to log into: reopened (the same run) when this writer closed it,
        None (warned once) when a run passed as run= has been finished."""
        run = self.run
        if isinstance(run, PendingRun):
            return self._open_copy()
        if not run.finished:
            if self._closed:
                self._closed = False
                self._reopened()
            return run
        if not self._owns_run:
            warn_once(self, "finished", f"trackboard: the run {run.id!r} passed to "
                      f"{type(self).__name__}(run=...) is finished; what this writer "
                      f"{self._logs} from now on is NOT stored: give it a run that is still "
                      "open")
            return None
        self.run = open_again(self, self._handle, copy=self._copy)
        self._closed = False
        self._reopened()
        return self.run

    def _reopened(self) -> None:
        """Called when the writer is live again after close(); nothing to do here."""

    def _log_again(self, values: Mapping[str, Any], step: Any,
                   wall_time: float | None = None) -> None:
        """The slow path of logging scalars: values and step as torch and clu convert
        them (ValueError for what they refuse too), into the run reopened if it was
        closed. Run.log, the fast path, is tried first by the caller."""
        converted = {k: lenient_scalar(k, v) for k, v in values.items()}
        step = lenient_step(step)
        run = self._live_run()
        if run is not None:
            run.log(converted, step=step, wall_time=wall_time)

    def _log_media(self, values: Mapping[str, Any], step: Any,
                   wall_time: float | None = None) -> None:
        """Log Histogram, Image and Text values (built, so checked, by the caller) at
        `step`, into the run reopened if this writer closed it; a finished run passed
        as run= takes nothing (warned once)."""
        run = self._live_run()
        if run is not None:
            run.log(values, step=lenient_step(step), wall_time=wall_time)

    def _unsupported(self, method: str, *args: Any, **kwargs: Any) -> None:
        """A call whose data trackboard does not store: warn once per method (where
        the user called it), then hand it on (`_forward_unsupported`)."""
        if method not in self._warned:
            self._warned.add(method)
            warnings.warn(self._unsupported_message(method), stacklevel=3)
        self._forward_unsupported(method, args, kwargs)

    def _unsupported_message(self, method: str) -> str:
        what = method if " " in method else method + "()"
        return f"trackboard stores {self._stores}; {what} is ignored"

    def _forward_unsupported(self, method: str, args: tuple[Any, ...],
                             kwargs: dict[str, Any]) -> None:
        """Where a writer also writes elsewhere (torch's tee), the call goes there."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(run={self.run!r})"
