"""A drop-in for torch.utils.tensorboard.SummaryWriter that logs into trackboard.

    from trackboard.loggers.torch import SummaryWriter   # was: torch.utils.tensorboard
    writer = SummaryWriter(comment="_lr0.1")
    writer.add_scalar("loss", loss.item(), global_step=step)

The methods and argument names are torch's, and so is the life cycle: `log_dir`
is created at once (save checkpoints next to the logs), `close()` and logging
again continues the same run, one log directory is one run (a writer on a
directory that already has a run continues it; `purge_step` drops what it logged
from that step on), each `add_hparams` call is a child run of its own. Scalars,
hyperparameters, text per step, histograms, images and figures are stored
(loggers/torch_media.py); graphs, audio, video, embeddings and the rest warn once
and do nothing, unless `tensorboard=True`, which also writes real event files
through torch's own SummaryWriter (every call is forwarded).

A SummaryWriter never sees the optimizer: `log_optimizer(writer, optimizer)`
records its `lr`, `optimizer` (class name) and `weight_decay` under the common
names every adapter uses (docs/hyperparameters.md).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from trackboard.loggers.coerce import lenient_scalar as _torch_scalar
from trackboard.loggers.coerce import lenient_step as _torch_step
from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.param_values import param_value
from trackboard.loggers.reopen import (
    child_run_id,
    directory_name,
    start_directory_run,
    stored_form,
)
from trackboard.loggers.run import Run
from trackboard.loggers.run_owner import RunOwner
from trackboard.loggers.summary_proto import read_summary
from trackboard.loggers.torch_media import TorchMedia
from trackboard.loggers.vocabulary import log_optimizer as log_optimizer  # re-exported
from trackboard.storage.extras import require

# What torch's SummaryWriter can write and our store cannot hold.
UNSUPPORTED = (
    "add_tensor", "add_image_with_boxes", "add_video", "add_audio", "add_onnx_graph",
    "add_graph", "add_embedding", "add_pr_curve", "add_pr_curve_raw",
    "add_custom_scalars_multilinechart", "add_custom_scalars_marginchart",
    "add_custom_scalars", "add_mesh",
)


class SummaryWriter(TorchMedia, RunOwner):
    """torch.utils.tensorboard.SummaryWriter's API over a trackboard Run.

    The first six arguments are torch's. `log_dir` names the run when `name` is
    not given, and identifies it: a writer on a log directory that already has a
    run in the store continues that run (TensorBoard, too, shows one run per
    directory); without `log_dir` every writer starts a new run, in torch's
    default `runs/<time>_<host><comment>` directory. `purge_step=N` removes the
    points that earlier writers of this directory logged at steps >= N (resuming
    from a checkpoint of step N, as in torch).

    trackboard's own arguments are keywords: `project`, `name`, `store`, `config`
    (logged as params), `id` (the run id, instead of the one derived from
    `log_dir`), `run` (log into a Run you manage; close() does not finish it)
    and `tensorboard` (also write TensorBoard event files).

    One difference: `global_step=None` stores the next step of that tag (0, 1,
    2, ...) where TensorBoard would store step 0 every time and keep only one.
    """

    _framework = "torch"
    _stores = "scalars, hparams, text, histograms and images"

    def __init__(self, log_dir: str | os.PathLike[str] | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "", *, project: str | None = None,
                 name: str | None = None, store: str | None = None,
                 config: Mapping[str, Any] | None = None, id: str | None = None,  # noqa: A002
                 run: Run | None = None, tensorboard: bool = False) -> None:
        named_dir = bool(log_dir)
        if not log_dir:
            # torch's default, so `log_dir` and the tee's directory match it.
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = os.fspath(log_dir)
        # torch creates the directory at once; scripts save checkpoints into it.
        os.makedirs(self.log_dir, exist_ok=True)
        self.purge_step = None if purge_step is None else _torch_step(purge_step)
        self.max_queue, self.flush_secs = max_queue, flush_secs
        self.filename_suffix = filename_suffix
        started: Run | NullRun
        if run is not None:
            started = run
        else:
            # Only a directory the user named is a run to continue: torch's default
            # (a time stamp) is a new run each time.
            started = start_directory_run(
                "torch", self.log_dir if named_dir else None, project=project, store=store,
                config=config, id=id,
                name=name or directory_name(self.log_dir))
        super().__init__(started, owned=run is None)
        if self.purge_step is not None:
            self.run.purge(self.purge_step)
            self.purge_step = None  # like torch: purged once, not again on reopening
        elif getattr(self.run, "resumed", False) and (id is not None or named_dir):
            warnings.warn(
                f"SummaryWriter: the store already has run {self.run.id!r} (log_dir "
                f"{self.log_dir!r}); continuing it (TensorBoard shows one run per directory), "
                "and values logged again at a step replace the earlier ones. Pass "
                "purge_step=N to drop its points from step N on, or use a new log_dir for "
                "a new run", stacklevel=2)
        self._next_step: dict[str, int] = {}
        self.file_writer: FileWriter | None = None
        self.all_writers: dict[str, FileWriter] | None = None
        self._reopened()
        self.tensorboard: Any = None
        if tensorboard:
            self._open_tee(comment, None if purge_step is None else _torch_step(purge_step))

    def _open_tee(self, comment: str = "", purge_step: int | None = None) -> None:
        require("torch", "torch")
        tb = require("torch.utils.tensorboard", "tensorboard")
        self.tensorboard = tb.SummaryWriter(self.log_dir, comment, purge_step,
                                            self.max_queue, self.flush_secs,
                                            self.filename_suffix)

    def get_logdir(self) -> str:
        """Return the directory where event files will be written."""
        return self.log_dir

    def _get_file_writer(self) -> FileWriter:
        """torch's accessor: the writer's FileWriter, recreated (the run reopened)
        after close()."""
        if self.file_writer is None:
            self._live_run()
        assert self.file_writer is not None
        return self.file_writer

    def add_scalar(self, tag: str, scalar_value: Any, global_step: Any = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """Add one scalar; `walltime` (seconds since the epoch) overrides the time stamp.

        Values are what torch takes: numbers, one-element tensors and arrays, bools
        (1.0 / 0.0) and numeric strings; steps are whole numbers (floats are
        truncated, as torch does)."""
        step = self._step(tag, global_step)
        try:
            self.run.log({tag: scalar_value}, step=step, wall_time=walltime)
        except ValueError:
            # The rare paths: a value torch takes and Run does not, or a closed run.
            self._log_again({tag: scalar_value}, step, walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_scalar(tag, scalar_value, global_step, walltime, new_style,
                                        double_precision)

    def add_scalars(self, main_tag: str, tag_scalar_dict: Mapping[str, Any],
                    global_step: Any = None, walltime: float | None = None) -> None:
        """Add several scalars of one chart, stored as "main_tag/tag" keys."""
        if not isinstance(tag_scalar_dict, Mapping):
            raise ValueError(f"add_scalars() takes a dict of tag -> value, got "
                             f"{type(tag_scalar_dict).__name__}")
        values = {f"{main_tag}/{tag}": v for tag, v in tag_scalar_dict.items()}
        step = self._step(main_tag, global_step)
        try:
            self.run.log(values, step=step, wall_time=walltime)
        except ValueError:
            self._log_again(values, step, walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_scalars(main_tag, tag_scalar_dict, global_step, walltime)

    def add_hparams(self, hparam_dict: Mapping[str, Any], metric_dict: Mapping[str, Any],
                    hparam_domain_discrete: Mapping[str, list[Any]] | None = None,
                    run_name: str | None = None, global_step: Any = None) -> None:
        """One hyperparameter trial, as torch writes it: a child run of its own (torch:
        the sub-directory `run_name`, else a time stamp) holding `hparam_dict` as
        params and `metric_dict` as metrics at `global_step` (default 0). This
        writer's run is left alone; the child is tagged `parent` = its id, in the
        same project, named "<this run's name>/<run_name or time stamp>". Calling
        again with the same `run_name` updates that child; each call without one
        adds a trial. `hparam_domain_discrete` only concerns TensorBoard."""
        if not isinstance(hparam_dict, Mapping) or not isinstance(metric_dict, Mapping):
            raise ValueError("add_hparams() takes two dicts: hparam_dict and metric_dict")
        step = 0 if global_step is None else _torch_step(global_step)
        metrics = {k: _torch_scalar(k, v) for k, v in metric_dict.items()}
        params = {str(k): param_value(v, strict=False) for k, v in hparam_dict.items()}
        parent = self._live_run()
        if parent is not None and not isinstance(parent, NullRun):
            label = str(run_name) if run_name else repr(time.time())
            child = start_run(
                framework="torch", project=parent.project, name=f"{parent.name}/{label}",
                store=parent.store_url, config=params, tags={"parent": parent.id},
                id=(stored_form(child_run_id(parent.id, label), parent.store_url) if run_name
                    else secrets.token_hex(8)),
                system_metrics=False)
            with child:
                if metrics:
                    child.log(metrics, step=step)
        if self.tensorboard is not None:
            self.tensorboard.add_hparams(dict(hparam_dict), dict(metric_dict),
                                         hparam_domain_discrete, run_name, global_step)

    def flush(self) -> None:
        """Wait until everything added so far is in the store (and on disk, with the tee)."""
        super().flush()
        if self.tensorboard is not None:
            self.tensorboard.flush()

    def close(self, status: str = "finished") -> None:
        """Finish the run (unless it was passed in or this is a copy in another
        process) and close the tee. Idempotent; logging afterwards reopens the
        same run, as torch reopens its event file."""
        if self._closed:
            return
        self.file_writer = self.all_writers = None
        super().close(status)
        if self.tensorboard is not None:
            self.tensorboard.close()

    def __getstate__(self) -> dict[str, Any]:
        """A copy for another process (see RunOwner); the tee is opened again there
        (a new event file in the same directory, which TensorBoard reads as the
        same run)."""
        state = super().__getstate__()
        state["tensorboard"] = self.tensorboard is not None
        state["file_writer"] = state["all_writers"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        tee = state.pop("tensorboard")
        super().__setstate__(state)
        self.tensorboard = None
        self._reopened()
        if tee:
            self._open_tee()

    def _step(self, tag: str, global_step: Any) -> int:
        if global_step is None:
            step = self._next_step.get(tag, 0)
        elif type(global_step) is int and global_step >= 0:
            step = global_step
        else:
            step = _torch_step(global_step)
        self._next_step[tag] = step + 1
        return step

    def _reopened(self) -> None:
        self.file_writer = FileWriter(self)
        self.all_writers = {self.log_dir: self.file_writer}

    def _add_summary(self, summary: Any, global_step: Any = None,
                     walltime: float | None = None) -> None:
        """A TensorBoard Summary proto handed to file_writer.add_summary: its scalars,
        texts, histograms and images are logged, hparams session info becomes params."""
        scalars, params, media, skipped = read_summary(summary)
        step = 0 if global_step is None else _torch_step(global_step)
        run = self._live_run()
        if run is not None:
            if scalars or media:
                run.log({**scalars, **media}, step=step, wall_time=walltime)
            if params:
                run.log_params(params)
        for plugin in skipped:
            self._unsupported(f"file_writer.add_summary() of {plugin} data")
        if self.tensorboard is not None:
            self.tensorboard._get_file_writer().add_summary(summary, global_step, walltime)

    def _unsupported_message(self, method: str) -> str:
        where = ("written to TensorBoard only" if self.tensorboard is not None
                 else "ignored; pass tensorboard=True to also write TensorBoard files")
        what = method if " " in method else method + "()"
        return f"trackboard stores {self._stores}; {what} is {where}"

    def _forward_unsupported(self, method: str, args: tuple[Any, ...],
                             kwargs: dict[str, Any]) -> None:
        if self.tensorboard is not None and method.startswith("add_"):
            getattr(self.tensorboard, method)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"SummaryWriter(log_dir={self.log_dir!r}, run={self.run!r})"


class FileWriter:
    """`SummaryWriter.file_writer` (and `_get_file_writer()`, `all_writers`) for code
    that reaches past the writer, as Lightning's TensorBoardLogger and many scripts
    do to write hparams into the run itself:

        exp, ssi, sei = torch.utils.tensorboard.summary.hparams(hparams, metrics)
        writer.file_writer.add_summary(ssi)          # params of this run

    `add_summary` / `add_event` store the scalars, hparams and text in a Summary
    proto; `flush` flushes the writer; `close` only flushes (the run is the
    SummaryWriter's to finish)."""

    def __init__(self, writer: SummaryWriter) -> None:
        self._writer = writer

    def get_logdir(self) -> str:
        return self._writer.log_dir

    def add_summary(self, summary: Any, global_step: Any = None,
                    walltime: float | None = None) -> None:
        self._writer._add_summary(summary, global_step, walltime)

    def add_event(self, event: Any, step: Any = None, walltime: float | None = None) -> None:
        if event.HasField("summary"):
            self._writer._add_summary(event.summary, event.step if step is None else step,
                                      walltime if walltime is not None
                                      else (event.wall_time or None))

    def add_graph(self, *args: Any, **kwargs: Any) -> None:
        self._writer._unsupported("file_writer.add_graph")

    def add_onnx_graph(self, *args: Any, **kwargs: Any) -> None:
        self._writer._unsupported("file_writer.add_onnx_graph")

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.flush()

    def reopen(self) -> None:
        """Nothing to reopen: the run stays open until the SummaryWriter closes it."""

    def __repr__(self) -> str:
        return f"FileWriter(log_dir={self._writer.log_dir!r})"


def _make_unsupported(method: str) -> Any:
    def unsupported(self: SummaryWriter, *args: Any, **kwargs: Any) -> None:
        self._unsupported(method, *args, **kwargs)
    unsupported.__name__ = method
    unsupported.__doc__ = "Not stored by trackboard (warns once); forwarded to the tee."
    return unsupported


for _method in UNSUPPORTED:
    setattr(SummaryWriter, _method, _make_unsupported(_method))
