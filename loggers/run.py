"""Run: the handle training code logs through.

Every call validates its input at once (programmer errors raise ValueError here,
in the training loop, where they can be fixed), stamps the wall time, and hands a
small tuple to the store's background writer. No call does I/O or waits on the
store, except finish(), which drains the writer.
"""

from __future__ import annotations

import atexit
import math
import os
import secrets
import sys
import threading
import time
import weakref
from array import array
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from trackboard.loggers.guard import warn_once
from trackboard.loggers.media import media_records
from trackboard.loggers.param_values import encode_params as _encode_params
from trackboard.loggers.provenance import command_line as _command_line
from trackboard.loggers.provenance import git_commit as _git_commit
from trackboard.loggers.provenance import host_name as _host_name
from trackboard.loggers.run_ids import run_id_and_mode
from trackboard.loggers.system import DEFAULT_INTERVAL, SystemSampler
from trackboard.loggers.values import check_wall_time, to_float
from trackboard.storage.db.urls import mask_url
from trackboard.storage.errors import TrackboardError
from trackboard.storage.read.run_state import StoredRun, stored_run
from trackboard.storage.rules import (
    MAX_STEP,
    check_framework,
    check_key,
    check_step,
    check_tags,
    check_text,
)
from trackboard.storage.write.records import (
    NOTES,
    PARAMS,
    POINTS,
    PURGE,
    STATUS,
    TAGS,
    Record,
    record_weight,
)
from trackboard.storage.write.writer import Writer, writer_for

# How long a new Run waits for its writer's first connection to the store (once per
# writer: later runs find it connected).
CONNECT_WAIT_S = 1.0

_active: weakref.WeakSet[Run] = weakref.WeakSet()


class Run:
    """One training run.

    >>> run = Run(project="churn", name="mlp", config={"lr": 1e-3}, store=url)  # doctest: +SKIP
    >>> run.log({"loss": 0.41}, step=12)                                         # doctest: +SKIP
    >>> run.finish()                                                             # doctest: +SKIP

    Continue a run (after a crash, from a checkpoint, in another process) by giving
    its id; steps go on after its last stored step:

    >>> run = Run(id="mlp-7", resume="allow", store=url)  # doctest: +SKIP
    >>> run.resumed, run.step                              # doctest: +SKIP
    (True, 1200)

    `id` defaults to `$TRACKBOARD_RUN_ID`. `resume`: "allow" (the default when an id
    is given) continues the run if it exists, else creates it; "must" raises
    ValueError when there is no such run; "never" raises when there is one.

    System metrics (CPU, memory, GPUs; `system/...` keys) are sampled on a thread of
    their own: just after start, every 10 s, and once more in finish(), so a run of a
    second has two samples. `system_metrics=False` switches them off, a number sets
    the interval in seconds.
    """

    def __init__(self, project: str = "default", name: str | None = None,
                 config: Mapping[str, Any] | None = None,
                 tags: Mapping[str, Any] | None = None, store: str | None = None, *,
                 id: str | None = None, resume: str | None = None,  # noqa: A002 (W&B's names)
                 framework: str | None = None, notes: str | None = None,
                 system_metrics: bool | float = True,
                 writer: Writer | None = None) -> None:
        check_key(project)
        if name is not None:
            check_key(name)
        if framework is not None:
            check_framework(framework)
        if notes is not None:
            notes = check_text(str(notes), "notes")
        uid, resume = run_id_and_mode(id, resume)
        # Validated before anything is sent: a refused Run leaves nothing in the store.
        params = _encode_params(config) if config else {}
        clean_tags = check_tags(tags) if tags else {}
        self._sampler: SystemSampler | None = None
        if system_metrics is not False:
            # True: the default interval; a number: seconds between samples. Built
            # (and so validated) before anything is sent to the store.
            interval = DEFAULT_INTERVAL if system_metrics is True else system_metrics
            self._sampler = SystemSampler(self, interval=interval)
        self._writer = writer or writer_for(store)
        stored = self._look_up(uid, resume) if resume is not None else None
        self._uid = uid or secrets.token_hex(8)
        self.resumed = stored is not None
        self.project = stored.project if stored is not None else project
        self.name = name or (stored.name if stored is not None else f"run-{self._uid[:6]}")
        self.framework = framework
        self._step = 0 if stored is None or stored.last_step is None else stored.last_step + 1
        self._finished = False
        self._known_keys: set[str] = set()
        # Param keys recorded through config= and log_params() on this handle: the
        # adapters' common names (log_param_defaults) never overwrite them.
        self._param_keys: set[str] = set(params)
        self._last_keys: tuple[str, ...] = ()
        self._lock = threading.Lock()  # only for finish(): log() stays lock-free
        self._pid = os.getpid()  # a forked child logs into this run but never ends it
        now = time.time()
        self.created_at = stored.created_at if stored is not None else now
        record: dict[str, Any] = {
            "uid": self._uid, "project": self.project, "name": self.name,
            "framework": framework, "host": _host_name(),
            "git_commit": _git_commit(), "command": _command_line(),
            "created_at": self.created_at, "status": "running",
        }
        if resume is not None:
            # Also when the run was not found: with "allow" and an unreachable store
            # we cannot know, and the store's upsert makes it the same run either way.
            record.update(resumed_at=now, rename=name is not None)
        self._writer.register_run(record)  # also queues the RUN record
        if params:
            self._writer.submit((PARAMS, self._uid, params))
        if clean_tags:
            self._writer.submit((TAGS, self._uid, clean_tags))
        if notes:
            self._writer.submit((NOTES, self._uid, notes))
        _active.add(self)
        # Bounded: an unreachable store costs the start at most this, then logging
        # goes to the spool as usual.
        self._writer.wait_ready(CONNECT_WAIT_S)
        if self._sampler is not None:
            if stored is not None and stored.last_system_step is not None:
                self._sampler.samples = stored.last_system_step + 1
            self._sampler.start()

    def _look_up(self, uid: str | None, resume: str) -> StoredRun | None:
        """The stored run this one continues (None: a new run), checked against
        `resume`; one bounded read of the store."""
        assert uid is not None
        # Records of this id still queued in this process (a run finished moments
        # ago) must be in the store before we read where it stopped.
        self._writer.flush(CONNECT_WAIT_S * 5)
        try:
            stored = stored_run(self._writer.url, uid)
        except TrackboardError as exc:
            if resume != "allow":
                raise ValueError(
                    f"cannot check whether run {uid!r} exists ({exc}); resume={resume!r} "
                    "needs the store: fix the store, or use resume='allow'") from None
            warn_once(self._writer, "resume-lookup",
                      f"trackboard: cannot check whether run {uid!r} exists ({exc}); "
                      "continuing as resume='allow': if it exists, this is the same run, "
                      "but steps restart at 0 unless you pass step=")
            return None
        if resume == "must" and stored is None:
            raise ValueError(f"no run with id {uid!r} in {mask_url(self._writer.url)}; check "
                             "the id and the store, or use resume='allow' to create it")
        if resume == "never" and stored is not None:
            raise ValueError(f"run {uid!r} already exists (project {stored.project!r}, name "
                             f"{stored.name!r}); pick another id, or use resume='allow' to "
                             "continue it")
        return stored

    @property
    def id(self) -> str:
        """Stable unique id of this run: the `id` given, else 16 random hex characters."""
        return self._uid

    @property
    def step(self) -> int:
        """The step the next log() without an explicit step will use."""
        return self._step

    @property
    def store_url(self) -> str:
        return self._writer.url

    @property
    def finished(self) -> bool:
        return self._finished

    def log(self, metrics: Mapping[str, Any], step: int | None = None, *,
            wall_time: float | None = None) -> None:
        """Record metric values at a step (default: one past the last step used):
        numbers, and Histogram, Image (or a list of them: the step's strip) and Text
        values (trackboard.loggers.media, docs/media.md).

        Logging a step again replaces its values: the later call wins, whatever the
        wall times. `wall_time` (seconds since the epoch) is stored as the points' time,
        e.g. SummaryWriter's `walltime`; by default the time of this call. It is data:
        the order of calls decides what replaces what and what a purge() removes.
        """
        stamp = time.time()  # the time of the call: orders this record among the others
        if wall_time is not None:
            wall_time = check_wall_time(wall_time)
        if self._finished:
            raise ValueError(f"run {self.name!r} is finished; start a new Run to log more")
        if step is None:
            step = self._step
        elif type(step) is not int or not 0 <= step <= MAX_STEP:
            step = check_step(step)
        if not isinstance(metrics, Mapping):
            raise ValueError(f"log() takes a dict of metric values, got "
                             f"{type(metrics).__name__}; e.g. run.log({{'loss': 0.3}})")
        values: list[float] = []
        known = self._known_keys
        media: list[Record] | None = None
        for key, value in metrics.items():
            if key not in known:
                known.add(check_key(key))
            if type(value) is float:
                values.append(value)
                continue
            try:
                values.append(to_float(key, value))
            except ValueError:  # a Histogram, Image, Text or strip? (free for numbers)
                found = media_records(self._uid, step, stamp, key, value)
                if found is None:
                    raise
                if wall_time is not None:  # the caller's wall time rides along as data
                    found = [rec + (wall_time,) for rec in found]
                media = found if media is None else media + found
        self._step = step + 1
        if media is not None:
            for rec in media:  # weighed by their bytes: a burst of images wakes the writer
                self._writer.submit(rec, record_weight(rec))
            if values:
                media_keys = {r[4] for r in media}
                keys = tuple(k for k in metrics if k not in media_keys)
                point: Record = (POINTS, self._uid, step, stamp, keys, array("d", values))
                if wall_time is not None:  # the caller's wall time rides along as data
                    point += (wall_time,)
                self._writer.submit(point, len(values))
            return
        if values:
            keys = tuple(metrics)
            if keys == self._last_keys:
                keys = self._last_keys  # share one tuple while the keys repeat
            else:
                self._last_keys = keys
            if wall_time is None:
                self._writer.submit((POINTS, self._uid, step, stamp, keys, array("d", values)),
                                    len(values))
            else:  # the caller's wall time rides along as data
                self._writer.submit((POINTS, self._uid, step, stamp, keys, array("d", values),
                                     wall_time), len(values))

    def log_aside(self, metrics: Mapping[str, float], step: int) -> None:
        """Record values on a step sequence of their own (system metrics): like log(),
        but the run's step counter is left alone and nothing is raised after finish()."""
        if self._finished:
            return
        values = {check_key(k): to_float(k, v) for k, v in metrics.items()}
        if values:
            self._writer.submit((POINTS, self._uid, check_step(step), time.time(),
                                 tuple(values), array("d", values.values())), len(values))

    def purge(self, step: int) -> None:
        """Remove the points of this run at steps >= `step` that were logged before
        this call (TensorBoard's purge_step): after resuming from a checkpoint of
        step N, purge(N) drops what the crashed attempt logged past it. `system/*`
        keys are left alone; points logged after this call are kept. The next log()
        without a step uses `step`.

        >>> run = Run(id="mlp-7", store=url)  # doctest: +SKIP
        >>> run.purge(1000)                    # doctest: +SKIP
        """
        if self._finished:
            raise ValueError(f"run {self.name!r} is finished; purge before finish()")
        step = check_step(step)
        # Points logged before this call carry a call time <= now; spinning past
        # `now` makes every later call's time strictly greater, so "before the
        # call" is exactly "call time < the cutoff" (whatever wall_time= said).
        now = time.time()
        while time.time() <= now:
            pass
        self._writer.submit((PURGE, self._uid, step, math.nextafter(now, math.inf)))
        self._step = step

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything logged so far is stored; False when `timeout` ran out."""
        return self._writer.flush(timeout)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record hyperparameters; nested dicts are flattened to "a.b" keys.

        Values the store cannot hold faithfully raise ValueError (text that is not
        UTF-8 or holds NUL, integers beyond float64, cycles, nesting deeper than 100
        levels, objects of unknown types); pass them through
        `param_value(v, strict=False)` to store readable text instead.
        """
        encoded = _encode_params(params)
        if encoded:
            self._param_keys.update(encoded)
            self._writer.submit((PARAMS, self._uid, encoded))

    def log_param_defaults(self, params: Mapping[str, Any]) -> None:
        """Record params, except those whose keys this handle has recorded through
        `config=` or `log_params()` (W&B's `config.setdefaults`). The adapters record
        the common hyperparameter names (`lr`, `batch_size`, ...; see
        trackboard.loggers.vocabulary) this way, so a value the user logged under
        such a name wins. Calling it again updates the defaults it recorded.

        >>> run = Run(config={"lr": 0.1}, store=url)                      # doctest: +SKIP
        >>> run.log_param_defaults({"lr": 0.001, "optimizer": "Adam"})    # doctest: +SKIP
        >>> # stored: lr = 0.1 (the user's), optimizer = "Adam"
        """
        encoded = {k: v for k, v in _encode_params(params).items()
                   if k not in self._param_keys}
        if encoded:
            self._writer.submit((PARAMS, self._uid, encoded))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Attach string tags (numbers are turned into text)."""
        clean = check_tags(tags)
        if clean:
            self._writer.submit((TAGS, self._uid, clean))

    def finish(self, status: str = "finished", *, timeout: float = 60.0) -> None:
        """End the run and wait (up to `timeout` s) until its data is stored. Idempotent.
        In a forked child (a DataLoader worker) it only waits: the process that started
        the run ends it."""
        if status not in ("finished", "failed", "killed"):
            raise ValueError(f"status {status!r}: use 'finished', 'failed' or 'killed'")
        if os.getpid() != self._pid:
            # A forked child (a DataLoader worker): what it logged is stored, but the
            # run belongs to the process that started it, which ends it.
            self._writer.flush(timeout)
            return
        with self._lock:
            if self._finished:
                return
            if self._sampler is not None:
                self._sampler.stop()  # no sample may land after the status record
            self._finished = True
        self._writer.run_ended(self._uid)
        self._writer.submit((STATUS, self._uid, status, time.time()))
        self._writer.flush(timeout)
        _active.discard(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.finish(exit_status(exc_type))

    def __repr__(self) -> str:
        return f"Run(id={self._uid!r}, project={self.project!r}, name={self.name!r})"


def exit_status(exc_type: type[BaseException] | None) -> str:
    """The run status for leaving a `with` block: Ctrl-C is "killed", any other
    exception "failed".

    >>> exit_status(None), exit_status(KeyboardInterrupt), exit_status(ValueError)
    ('finished', 'killed', 'failed')
    """
    if exc_type is None:
        return "finished"
    return "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"


def _finish_active_runs() -> None:
    # An uncaught exception leaves sys.last_value set before atexit handlers run.
    status = "failed" if getattr(sys, "last_value", None) is not None else "finished"
    for run in list(_active):
        try:
            run.finish(status, timeout=10.0)
        except Exception:  # at exit nothing may raise; the writer reports its own trouble
            pass


# Registered after the writer module's own atexit hook, so it runs before it.
atexit.register(_finish_active_runs)
