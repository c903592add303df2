"""Opening a writer's run again: after close(), and in an unpickled copy.

torch's SummaryWriter reopens its event file when it is used after close(), and
TensorBoard shows every writer of one log directory as one run. The writers here
(`loggers.torch.SummaryWriter`, `loggers.jax.MetricWriter`) keep that: each
remembers how to find its run again (`RunHandle`: the run's id and where it is
stored) and continues the SAME run through the Run API's `id=` / `resume="allow"`.

A writer sent to another process (multiprocessing, `mp.spawn`) carries only its
handle; its copy opens the run on first use (`PendingRun`), so the rank check of
`start_run` runs in the child after the user's code set up distributed training.
A copy never finishes the run: the writer that created it does. The writers'
shared life cycle (close, `with`, reopening, copies) is `loggers.run_owner.RunOwner`.

Derived ids (docs/logging.md#run-ids): a directory's run is `<20 hex>-tb`, a named
add_hparams child `<20 hex>-hp`, hash first so that a short prefix tells runs apart.
Earlier versions put the marker first (`tb-<hash>`); a store that holds a run under
that form keeps it (`stored_form`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trackboard.loggers import run as run_module
from trackboard.loggers.distributed import NullRun, process_rank, start_run
from trackboard.loggers.guard import warn_once
from trackboard.loggers.run import Run
from trackboard.storage.db.urls import resolve_url
from trackboard.storage.errors import TrackboardError
from trackboard.storage.read.run_state import stored_run
from trackboard.storage.rules import MAX_KEY_LENGTH, storable_text

# Hex digits of a derived id's hash (80 bits): ids stay unique across every
# directory a team will ever log, and fit the 32-character id column with a marker.
_DIGEST_LENGTH = 20


def directory_run_id(directory: str, project: str) -> str:
    """The run id of a log directory: the same absolute path (and project) always
    gives the same id, so reopening a directory continues its run, as TensorBoard
    shows one run per directory. The hash comes first, so a few leading characters
    tell runs apart (`trackboard show 3f2a`); `-tb` says where the id came from.

    >>> directory_run_id("runs/exp1", "churn") == directory_run_id("./runs/exp1/", "churn")
    True
    >>> directory_run_id("runs/exp1", "churn") == directory_run_id("runs/exp2", "churn")
    False
    >>> len(directory_run_id("runs/exp1", "churn")), directory_run_id("runs/exp1", "c")[-3:]
    (23, '-tb')
    """
    path = os.path.abspath(os.path.normpath(os.fspath(directory)))
    return _digest(project, path) + "-tb"


def child_run_id(parent_id: str, child_name: str) -> str:
    """The id of a named child run (add_hparams' run_name) of a parent run:
    logging the same child again continues it instead of adding a duplicate.

    >>> child_run_id("3f2a-tb", "trial-3") == child_run_id("3f2a-tb", "trial-3")
    True
    >>> child_run_id("3f2a-tb", "trial-3") == child_run_id("9c0d-tb", "trial-3")
    False
    >>> child_run_id("3f2a-tb", "trial-3")[-3:]
    '-hp'
    """
    return _digest(parent_id, child_name) + "-hp"


def earlier_form(run_id: str) -> str | None:
    """The id earlier trackboard versions derived for the same directory or child
    run (the marker first: `tb-<hash>`, `hp-<hash>`), or None for other ids.

    >>> earlier_form("0123456789abcdef0123-tb")
    'tb-0123456789abcdef0123'
    >>> earlier_form("0123456789abcdef") is None
    True
    """
    head, sep, marker = run_id.rpartition("-")
    if sep and marker in ("tb", "hp") and len(head) == _DIGEST_LENGTH:
        return f"{marker}-{head}"
    return None


def stored_form(run_id: str, store: str | None) -> str:
    """`run_id` (a derived id), or its earlier form when the store already holds the
    run under that one: a directory logged by an older trackboard keeps its run.
    A store that cannot be read gives `run_id` (the Run itself then warns)."""
    earlier = earlier_form(run_id)
    if earlier is None or process_rank() != 0:
        return run_id
    try:
        return earlier if stored_run(resolve_url(store), earlier) is not None else run_id
    except TrackboardError:
        return run_id


def directory_name(directory: str | os.PathLike[str]) -> str:
    """A run's name from its directory: the last part, as the store can hold it
    (a folder name need not be UTF-8, and may hold control characters)."""
    name = os.path.basename(os.path.normpath(os.fspath(directory))) or "run"
    return storable_text(name, MAX_KEY_LENGTH, one_line=True)


def _digest(*parts: str) -> str:
    # surrogatepass: a path that is not UTF-8 hashes too (valid text hashes as before).
    joined = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(joined).hexdigest()[:_DIGEST_LENGTH]


def start_directory_run(framework: str, directory: str | None, *, project: str | None,
                        name: str | None, id: str | None,  # noqa: A002 (the Run API's name)
                        **run_args: Any) -> Run | NullRun:
    """`start_run` for a writer bound to a log directory (torch's log_dir, clu's
    logdir): the directory's run unless an `id` (or $TRACKBOARD_RUN_ID) says
    otherwise, named after the directory unless `name` is given."""
    project = project or "default"
    if directory and id is None and not os.environ.get("TRACKBOARD_RUN_ID", "").strip():
        id = stored_form(directory_run_id(directory, project),  # noqa: A001
                         run_args.get("store"))
    if directory and name is None:
        name = directory_name(directory)
    return start_run(framework=framework, project=project, name=name, id=id, **run_args)


@dataclass(frozen=True)
class RunHandle:
    """What it takes to open a writer's run again, in this process or another.

    `id` is empty for a rank that does not log (its copies do not log either).
    """

    framework: str
    id: str
    project: str
    store: str | None

    @classmethod
    def of(cls, run: Run | NullRun, framework: str) -> RunHandle:
        if isinstance(run, NullRun):
            return cls(framework, "", "", None)
        return cls(framework, run.id, run.project, run.store_url)

    def open(self, *, copy: bool) -> Run | NullRun:
        """The run again (status back to "running"), or a NullRun on a rank that does
        not log. No system metrics: a copy's creator samples them already, and a
        reopened run's sampler would count its samples from 0 again, over the ones
        the run stored before. A copy is left out of the finish-at-exit list: the
        process that created the writer finishes the run, not every process that
        received a copy of it."""
        if not self.id:
            return NullRun()
        run = start_run(framework=self.framework, project=self.project, store=self.store,
                        id=self.id, resume="allow", system_metrics=False)
        if copy and isinstance(run, Run):
            run_module._active.discard(run)
        return run


class PendingRun:
    """Stands in for the run of an unpickled writer until its first use, which opens it.

    `open_run` opens the run and installs it on the writer (so later calls go
    straight to the run); attribute access here forwards to it.
    """

    def __init__(self, open_run: Callable[[], Run | NullRun], handle: RunHandle) -> None:
        self._open_run = open_run
        self.handle = handle

    @property
    def id(self) -> str:
        return self.handle.id

    @property
    def finished(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._open_run(), name)

    def __repr__(self) -> str:
        return f"PendingRun(id={self.handle.id!r})"


def open_again(owner: object, handle: RunHandle, *, copy: bool) -> Run | NullRun:
    """`handle.open()`, but trouble with the store warns once (on `owner`) and the
    values go to a NullRun instead of stopping the user's training loop."""
    try:
        return handle.open(copy=copy)
    except Exception as exc:  # noqa: BLE001 - trackboard's own trouble never stops training
        warn_once(owner, f"reopen:{type(exc).__name__}",
                  f"trackboard: could not open run {handle.id!r} again ({type(exc).__name__}: "
                  f"{exc}); what this writer logs from now on is NOT stored")
        return NullRun()
