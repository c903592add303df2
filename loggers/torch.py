"""A drop-in for torch.utils.tensorboard.SummaryWriter that logs into trackboard.

    from trackboard.loggers.torch import SummaryWriter   # was: torch.utils.tensorboard
    writer = SummaryWriter(comment="_lr0.1")
    writer.add_scalar("loss", loss.item(), global_step=step)

The methods and argument names are torch's. Scalars, hyperparameters and text are
stored; images, histograms, graphs, embeddings and the rest warn once and do
nothing, unless `tensorboard=True`, which also writes real event files through
torch's own SummaryWriter (every call is forwarded to it).
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.requires import require
from trackboard.loggers.run import Run, exit_status
from trackboard.loggers.values import check_step, param_value

# What torch's SummaryWriter can write and our store cannot hold.
UNSUPPORTED = (
    "add_tensor", "add_histogram", "add_histogram_raw", "add_image", "add_images",
    "add_image_with_boxes", "add_figure", "add_video", "add_audio", "add_onnx_graph",
    "add_graph", "add_embedding", "add_pr_curve", "add_pr_curve_raw",
    "add_custom_scalars_multilinechart", "add_custom_scalars_marginchart",
    "add_custom_scalars", "add_mesh",
)


class SummaryWriter:
    """torch.utils.tensorboard.SummaryWriter's API over a trackboard Run.

    The first six arguments are torch's (`log_dir` names the run when `name` is
    not given). trackboard's own are keywords: `project`, `name`, `store`,
    `config` (logged as params), `run` (log into a Run you manage; not finished
    by close()) and `tensorboard` (also write TensorBoard event files).

    One difference: `global_step=None` stores the next step of that tag (0, 1,
    2, ...) where TensorBoard would store step 0 every time and keep only one.
    """

    def __init__(self, log_dir: str | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "", *, project: str | None = None,
                 name: str | None = None, store: str | None = None,
                 config: Mapping[str, Any] | None = None, run: Run | None = None,
                 tensorboard: bool = False) -> None:
        if not log_dir:
            # torch's default, so `log_dir` and the tee's directory match it.
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = str(log_dir)
        self._owns_run = run is None
        self.run: Run | NullRun = run if run is not None else start_run(
            framework="torch", project=project or "default",
            name=name or os.path.basename(os.path.normpath(self.log_dir)), store=store,
            config=config)
        self._next_step: dict[str, int] = {}
        self._warned: set[str] = set()
        self._closed = False
        self.tensorboard: Any = None
        if tensorboard:
            require("torch", "torch")
            tb = require("torch.utils.tensorboard", "tensorboard")
            self.tensorboard = tb.SummaryWriter(self.log_dir, comment, purge_step, max_queue,
                                                flush_secs, filename_suffix)

    def get_logdir(self) -> str:
        """Return the directory where event files will be written."""
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """Add one scalar; `walltime` (seconds since the epoch) overrides the time stamp."""
        self.run.log({tag: scalar_value}, step=self._step(tag, global_step),
                     wall_time=walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_scalar(tag, scalar_value, global_step, walltime, new_style,
                                        double_precision)

    def add_scalars(self, main_tag: str, tag_scalar_dict: Mapping[str, Any],
                    global_step: int | None = None, walltime: float | None = None) -> None:
        """Add several scalars of one chart, stored as "main_tag/tag" keys."""
        if not isinstance(tag_scalar_dict, Mapping):
            raise ValueError(f"add_scalars() takes a dict of tag -> value, got "
                             f"{type(tag_scalar_dict).__name__}")
        self.run.log({f"{main_tag}/{tag}": v for tag, v in tag_scalar_dict.items()},
                     step=self._step(main_tag, global_step), wall_time=walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_scalars(main_tag, tag_scalar_dict, global_step, walltime)

    def add_hparams(self, hparam_dict: Mapping[str, Any], metric_dict: Mapping[str, Any],
                    hparam_domain_discrete: Mapping[str, list[Any]] | None = None,
                    run_name: str | None = None, global_step: int | None = None) -> None:
        """Record hyperparameters as params and `metric_dict` as metrics at `global_step`
        (default 0). `hparam_domain_discrete` and `run_name` only concern TensorBoard."""
        if not isinstance(hparam_dict, Mapping) or not isinstance(metric_dict, Mapping):
            raise ValueError("add_hparams() takes two dicts: hparam_dict and metric_dict")
        self.run.log_params({k: param_value(v, strict=False) for k, v in hparam_dict.items()})
        if metric_dict:
            self.run.log(dict(metric_dict), step=0 if global_step is None else global_step)
        if self.tensorboard is not None:
            self.tensorboard.add_hparams(dict(hparam_dict), dict(metric_dict),
                                         hparam_domain_discrete, run_name, global_step)

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """Store text as the run's tag `tag` (the latest text per tag is kept)."""
        self.run.set_tags({tag: str(text_string)})
        if self.tensorboard is not None:
            self.tensorboard.add_text(tag, text_string, global_step, walltime)

    def flush(self) -> None:
        """Wait until everything added so far is in the store (and on disk, with the tee)."""
        self.run.flush()
        if self.tensorboard is not None:
            self.tensorboard.flush()

    def close(self, status: str = "finished") -> None:
        """Finish the run (unless it was passed in) and close the tee. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_run:
            self.run.finish(status)
        else:
            self.run.flush()
        if self.tensorboard is not None:
            self.tensorboard.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(exit_status(exc_type))

    def _step(self, tag: str, global_step: int | None) -> int:
        step = self._next_step.get(tag, 0) if global_step is None else check_step(global_step)
        self._next_step[tag] = step + 1
        return step

    def _unsupported(self, method: str, *args: Any, **kwargs: Any) -> None:
        if method not in self._warned:
            self._warned.add(method)
            where = ("written to TensorBoard only" if self.tensorboard is not None
                     else "ignored; pass tensorboard=True to also write TensorBoard files")
            warnings.warn(f"trackboard stores scalars, hparams and text; {method}() is "
                          f"{where}", stacklevel=3)
        if self.tensorboard is not None:
            getattr(self.tensorboard, method)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"SummaryWriter(log_dir={self.log_dir!r}, run={self.run!r})"


def _make_unsupported(method: str) -> Any:
    def unsupported(self: SummaryWriter, *args: Any, **kwargs: Any) -> None:
        self._unsupported(method, *args, **kwargs)
    unsupported.__name__ = method
    unsupported.__doc__ = "Not stored by trackboard (warns once); forwarded to the tee."
    return unsupported


for _method in UNSUPPORTED:
    setattr(SummaryWriter, _method, _make_unsupported(_method))
