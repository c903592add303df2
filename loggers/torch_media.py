"""torch SummaryWriter's histogram, image, figure and text methods, with torch's
arguments and meaning, stored as trackboard media (mixed into
trackboard.loggers.torch.SummaryWriter, and used by Lightning's `logger.experiment`).

Each call builds its values first (a bad argument is a ValueError there, as torch
raises, and nothing is logged), then stores them at the step (`global_step`, or the
tag's next step when it is None, as for scalars) with `walltime`, then, with the
tee, hands the same call to torch's own writer. What differs from TensorBoard's
files is in docs/frameworks.md: "tensorflow" bins are 64 equal buckets, a batch of
`add_images` is a strip of images (TensorBoard draws one grid), grey stays grey.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trackboard.loggers.media import Text
from trackboard.loggers.tensorboard_values import (
    figure_images,
    raw_histogram,
    torch_histogram,
    torch_images,
)


class TorchMedia:
    """The media half of torch's SummaryWriter API. The class it is mixed into
    provides `_step(tag, global_step)`, `_log_media(values, step, walltime)` and
    `tensorboard` (torch's own writer, or None)."""

    tensorboard: Any

    if TYPE_CHECKING:  # provided by the writer (a stub here would shadow RunOwner's)
        def _step(self, tag: str, global_step: Any) -> int: ...

        def _log_media(self, values: Mapping[str, Any], step: Any,
                       wall_time: float | None = None) -> None: ...

    def add_histogram(self, tag: str, values: Any, global_step: Any = None,
                      bins: Any = "tensorflow", walltime: float | None = None,
                      max_bins: int | None = None) -> None:
        """The distribution of `values` (a tensor or array of any shape) at this step.

        `bins` as in torch: "tensorflow" (the default; stored as 64 equal buckets
        from the smallest to the largest value), a number of equal buckets, a numpy
        rule ("auto", "fd", "sturges", ...) or the bucket edges; `max_bins` merges
        adjacent buckets as torch does. NaN and infinities are counted apart."""
        histogram = torch_histogram(values, bins, max_bins)
        self._log_media({tag: histogram}, self._step(tag, global_step), walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_histogram(tag, values, global_step, bins, walltime, max_bins)

    def add_histogram_raw(self, tag: str, min: Any, max: Any, num: Any,  # noqa: A002
                          sum: Any, sum_squares: Any, bucket_limits: Any,  # noqa: A002
                          bucket_counts: Any, global_step: Any = None,
                          walltime: float | None = None) -> None:
        """A histogram counted elsewhere, in TensorBoard's form: `bucket_limits` are
        the right edges of the buckets; the first bucket starts at `min`, the last
        ends at `max`, as TensorBoard reads them."""
        histogram = raw_histogram(min, max, num, sum, sum_squares, bucket_limits,
                                  bucket_counts)
        self._log_media({tag: histogram}, self._step(tag, global_step), walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_histogram_raw(tag, min, max, num, sum, sum_squares,
                                               bucket_limits, bucket_counts, global_step,
                                               walltime)

    def add_image(self, tag: str, img_tensor: Any, global_step: Any = None,
                  walltime: float | None = None, dataformats: str = "CHW") -> None:
        """One image: `dataformats` "CHW" (the default), "HWC", "HW", ... uint8 is
        stored as it is; other types are multiplied by 255 and clipped, as torch does."""
        images = torch_images(img_tensor, dataformats)
        # A batch ("NCHW") is torch's grid: here the step's strip, as add_images.
        value = images if "N" in str(dataformats).upper() else images[0]
        self._log_media({tag: value}, self._step(tag, global_step), walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_image(tag, img_tensor, global_step, walltime, dataformats)

    def add_images(self, tag: str, img_tensor: Any, global_step: Any = None,
                   walltime: float | None = None, dataformats: str = "NCHW") -> None:
        """A batch of images ("NCHW" by default, "NHWC", ...) stored as this step's
        strip, one image per item (TensorBoard draws them as one grid)."""
        images = torch_images(img_tensor, dataformats)
        self._log_media({tag: images}, self._step(tag, global_step), walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_images(tag, img_tensor, global_step, walltime, dataformats)

    def add_figure(self, tag: str, figure: Any, global_step: Any = None, close: bool = True,
                   walltime: float | None = None) -> None:
        """A matplotlib figure (an RGB image), or a list of them (this step's strip);
        `close=True` closes them afterwards, as torch does."""
        images = figure_images(figure)
        self._log_media({tag: images if isinstance(figure, list) else images[0]},
                        self._step(tag, global_step), walltime)
        if self.tensorboard is not None:  # torch's add_figure draws and closes them itself
            self.tensorboard.add_figure(tag, figure, global_step, close, walltime)
        elif close:
            pyplot = sys.modules.get("matplotlib.pyplot")
            if pyplot is not None:  # no pyplot imported: no figure is open in it
                for fig in figure if isinstance(figure, list) else [figure]:
                    pyplot.close(fig)

    def add_text(self, tag: str, text_string: Any, global_step: Any = None,
                 walltime: float | None = None) -> None:
        """Text at this step; every step's text is kept. Shown as typed (TensorBoard
        renders it as Markdown)."""
        self._log_media({tag: Text(str(text_string))}, self._step(tag, global_step), walltime)
        if self.tensorboard is not None:
            self.tensorboard.add_text(tag, text_string, global_step, walltime)

