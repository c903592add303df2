"""A JAX / Flax metric writer with the interface of `clu.metric_writers.MetricWriter`.

    from trackboard.loggers.jax import MetricWriter
    writer = MetricWriter(project="churn", name="flax-mlp")
    writer.write_scalars(step, {"loss": loss, "accuracy": acc})   # JAX arrays are fine

Code written against clu's writers (`write_scalars`, `write_hparams`,
`write_texts`, `write_histograms`, `write_images`, `flush`, `close`; clu's
`AsyncWriter`, `MultiWriter`, `ensure_flushes` and `write_values` around it) can
take this one without depending on clu. JAX arrays are copied to the host as NumPy
(np.asarray: about 4 us a scalar, a tenth of jax.device_get on a dict). Texts,
histograms (clu's TensorBoard writer's buckets) and images (NHWC, TensorFlow's
pixel rule) are stored per step; videos, audio and point clouds warn once and are
dropped. `write_hparams` stores
exactly what it is given, as clu's writers do (name your settings `lr`, `epochs`,
... to line them up with other frameworks: docs/hyperparameters.md);
`log_optimizer(writer, state)` records the common names of an
`optax.inject_hyperparams` state.

`logdir=` (clu's writers take one) identifies the run: a writer on a workdir that
already has a run continues it, as a Flax training loop restored from the
checkpoint in its workdir expects. Writing after close() continues the same run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from trackboard.loggers.distributed import NullRun
from trackboard.loggers.media import Histogram, Text
from trackboard.loggers.param_values import param_value
from trackboard.loggers.reopen import start_directory_run
from trackboard.loggers.run import Run
from trackboard.loggers.run_owner import RunOwner
from trackboard.loggers.tensorboard_values import tf_images
from trackboard.loggers.vocabulary import log_optimizer as log_optimizer  # re-exported
from trackboard.storage.extras import require

jax = require("jax", "jax")
import numpy as np  # noqa: E402

# tf.summary.histogram's default, which clu's TensorBoard writer leaves in place.
DEFAULT_BUCKETS = 30


class MetricWriter(RunOwner):
    """clu-style metric writer over a trackboard Run (framework "jax").

    Pass `run=` to write into a Run you manage (close() then does not finish it),
    `id=` to continue a run by its id, or `logdir=` to continue the run of that
    directory (the id is derived from its absolute path and the project).
    """

    _framework = "jax"
    _logs = "writes"
    _stores = "scalars, hparams, texts, histograms and images"

    def __init__(self, run: Run | None = None, *, project: str | None = None,
                 name: str | None = None, store: str | None = None,
                 config: Mapping[str, Any] | None = None, id: str | None = None,  # noqa: A002
                 logdir: str | os.PathLike[str] | None = None) -> None:
        started: Run | NullRun
        if run is not None:
            started = run
        else:
            started = start_directory_run(
                "jax", os.fspath(logdir) if logdir else None, project=project, name=name,
                store=store, config=config, id=id)
        super().__init__(started, owned=run is None)

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Record scalars (Python numbers, NumPy or JAX scalars; bools as 1.0 / 0.0,
        as clu's writers cast them) at `step` (an int or a JAX / NumPy integer)."""
        if not isinstance(scalars, Mapping):
            raise ValueError(f"write_scalars() takes a dict of name -> value, got "
                             f"{type(scalars).__name__}")
        values = {k: _on_host(v) for k, v in scalars.items()}
        try:
            self.run.log(values, step=step)
        except ValueError:
            self._log_again(values, step)  # the rare paths: bools, float steps, closed

    def write_summaries(self, step: int, values: Mapping[str, Any],
                        metadata: Mapping[str, Any] | None = None) -> None:
        """clu's generic summaries: the one-element ones are stored as scalars."""
        if not isinstance(values, Mapping):
            raise ValueError(f"write_summaries() takes a dict of name -> array, got "
                             f"{type(values).__name__}")
        host = {k: _on_host(v) for k, v in values.items()}
        scalars = {k: v for k, v in host.items() if np.size(v) == 1}
        if len(scalars) < len(host):
            self._unsupported("write_summaries (non-scalar values)")
        if scalars:
            self.write_scalars(step, scalars)

    def write_hparams(self, hparams: Mapping[str, Any], *step_and_hparams: Any) -> None:
        """Record hyperparameters of any type as params (nested dicts become "a.b"
        keys; lists stay lists; what JSON cannot hold is stored as its repr).

        clu's `write_values` calls `write_hparams(step, hparams)`; that works too."""
        if step_and_hparams and not isinstance(hparams, Mapping):
            hparams = step_and_hparams[0]
        if not isinstance(hparams, Mapping):
            raise ValueError(f"write_hparams() takes a dict, got {type(hparams).__name__}")
        params = {str(k): param_value(v, strict=False) for k, v in hparams.items()}
        run = self._live_run()
        if run is not None:
            # Exactly what was written (clu's writers' tests read back just that): no
            # common-name copies of the user's own keys (loggers/vocabulary.py).
            run.log_params(params)

    def write_texts(self, step: int, texts: Mapping[str, Any]) -> None:
        """Store each text at `step` (every step's text is kept)."""
        _mapping(texts, "write_texts", "text")
        self._log_media({k: Text(str(v)) for k, v in texts.items()}, step)

    def write_images(self, step: int, images: Mapping[str, Any]) -> None:
        """Store images at `step`: each value [N, H, W, C] (that step's strip of N) or
        [H, W, C], C 1, 3 or 4; uint8 as it is, floats in [0, 1] converted as
        tf.summary.image does (values outside are clipped)."""
        _mapping(images, "write_images", "image")
        self._log_media({k: tf_images(_on_host(v)) for k, v in images.items()}, step)

    def write_videos(self, step: int, videos: Mapping[str, Any]) -> None:
        self._unsupported("write_videos")

    def write_audios(self, step: int, audios: Mapping[str, Any], *, sample_rate: int) -> None:
        self._unsupported("write_audios")

    def write_histograms(self, step: int, arrays: Mapping[str, Any],
                         num_buckets: Mapping[str, int] | None = None) -> None:
        """Store a histogram of each array at `step`: `num_buckets[key]` equal buckets
        (default 30, as clu's TensorBoard writer) from its smallest to its largest
        value, the buckets tf.summary.histogram draws; NaN and inf counted apart."""
        _mapping(arrays, "write_histograms", "array")
        buckets = num_buckets or {}
        self._log_media({k: Histogram(_on_host(v), bins=buckets.get(k) or DEFAULT_BUCKETS)
                         for k, v in arrays.items()}, step)

    def write_pointcloud(self, step: int, point_clouds: Mapping[str, Any], *,
                         point_colors: Any = None, configs: Any = None) -> None:
        self._unsupported("write_pointcloud")


def _mapping(values: Any, method: str, what: str) -> None:
    if not isinstance(values, Mapping):
        raise ValueError(f"{method}() takes a dict of name -> {what}, got "
                         f"{type(values).__name__}")


def _on_host(value: Any) -> Any:
    """A JAX array as a host value (a Python number when it holds one element)."""
    if isinstance(value, jax.Array):
        value = np.asarray(value)
        return value.item() if value.size == 1 else value
    return value
