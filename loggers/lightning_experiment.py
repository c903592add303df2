"""What `TrackboardLogger.experiment` is: the trackboard Run, plus the methods of the
torch SummaryWriter that Lightning's TensorBoardLogger hands out as its `experiment`.

Lightning code written for TensorBoardLogger logs media through the experiment:

    def on_train_epoch_end(self):
        for name, p in self.named_parameters():
            self.logger.experiment.add_histogram(name, p, self.global_step)

With TrackboardLogger the same lines store histograms (and `add_image`,
`add_images`, `add_figure`, `add_text`, `add_scalar`) with torch's arguments and
meaning (loggers/torch_media.py). Everything else on the experiment is the Run's
(`experiment.log({...})`, `experiment.id`, ...); `experiment.run` is the Run itself.
`global_step` given is stored as given (`self.global_step` is the updates done:
trackboard's step); left out, the trainer's updates done, as for the logger's own
values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from trackboard.loggers.coerce import lenient_scalar
from trackboard.loggers.torch_media import TorchMedia


class _Logger(Protocol):
    def _open_run(self) -> Any: ...

    def _media_step(self, step: Any) -> int | None: ...

    def _log_values(self, values: Mapping[str, Any], step: int | None,
                    wall_time: float | None = None) -> None: ...


class Experiment(TorchMedia):
    """The Run of a TrackboardLogger (every attribute is the Run's) with torch
    SummaryWriter's add_* methods."""

    tensorboard = None  # TorchMedia's tee: none here

    def __init__(self, logger: _Logger) -> None:
        self._logger = logger

    @property
    def run(self) -> Any:
        """The Run itself (a NullRun on ranks other than 0)."""
        return self._logger._open_run()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_logger":  # pickling, copying: not the Run's
            raise AttributeError(name)
        return getattr(self._logger._open_run(), name)

    def add_scalar(self, tag: str, scalar_value: Any, global_step: Any = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """torch's add_scalar: numbers, one-element tensors, bools, numeric strings."""
        value = lenient_scalar(tag, scalar_value)
        self._log_media({tag: value}, self._step(tag, global_step), walltime)

    def _step(self, tag: str, global_step: Any) -> int | None:  # type: ignore[override]
        return self._logger._media_step(global_step)

    def _log_media(self, values: Mapping[str, Any], step: Any,
                   wall_time: float | None = None) -> None:
        self._logger._log_values(values, step, wall_time)

    def __repr__(self) -> str:
        return f"Experiment({self._logger._open_run()!r})"
