"""What a TensorBoard Summary proto holds, as the values trackboard stores.

Code that reaches past torch's SummaryWriter writes Summary protos itself
(`writer.file_writer.add_summary(summary)`; Lightning's TensorBoardLogger does so
for hparams). `read_summary` takes one apart: scalars, hparams session info, and
text, legacy histograms (`HistogramProto`, read as TensorBoard reads it) and images
as media values; the rest (audio, tensors of other plugins, ...) is named so the
writer can warn.
TensorBoard is imported only when a proto has to be decoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from trackboard.loggers.media import Histogram, Image, Text
from trackboard.storage.media.tensorboard_buckets import legacy_buckets


def read_summary(summary: Any) -> tuple[dict[str, float], dict[str, Any], dict[str, Any],
                                         list[str]]:
    """A TensorBoard Summary (proto or its bytes) as (scalars, hparams, media values
    (Text, Histogram, Image), the plugins of the values left out).

    >>> from tensorboard.compat.proto.summary_pb2 import Summary
    >>> read_summary(Summary(value=[Summary.Value(tag="loss", simple_value=0.5)]))
    ({'loss': 0.5}, {}, {}, [])
    """
    if isinstance(summary, (bytes, bytearray)):
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary.FromString(bytes(summary))
    scalars: dict[str, float] = {}
    params: dict[str, Any] = {}
    media: dict[str, Any] = {}
    skipped: list[str] = []
    for value in summary.value:
        plugin = value.metadata.plugin_data.plugin_name
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            scalars[value.tag] = float(value.simple_value)
        elif plugin == "scalars" and kind == "tensor":
            scalars[value.tag] = float(_tensor_values(value.tensor)[0])
        elif plugin == "hparams":
            params.update(_session_hparams(value.metadata.plugin_data.content))
        elif plugin == "text" and kind == "tensor":
            media[value.tag.removesuffix("/text_summary")] = Text("\n".join(
                s.decode("utf-8", "replace") for s in value.tensor.string_val))
        elif kind == "histo":
            h = value.histo
            edges, counts = legacy_buckets(h.min, h.max, h.bucket_limit, h.bucket)
            media[value.tag] = Histogram.from_counts(edges, counts, min=h.min, max=h.max,
                                                     sum=h.sum, sum_squares=h.sum_squares)
        elif kind == "image":
            media[value.tag] = Image.from_encoded(value.image.encoded_image_string)
        else:
            skipped.append(plugin or kind or "empty")
    return scalars, params, media, skipped


def _tensor_values(tensor: Any) -> Iterable[float]:
    for field in ("double_val", "float_val", "int64_val", "int_val"):
        values = getattr(tensor, field)
        if len(values):
            return list(values)
    from tensorboard.util.tensor_util import make_ndarray

    return [float(v) for v in np.asarray(make_ndarray(tensor)).ravel()]


def _session_hparams(content: bytes) -> dict[str, Any]:
    """The hyperparameters of an hparams plugin's session-start record ({} for the
    experiment and session-end records, which hold no values)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    if not data.HasField("session_start_info"):
        return {}
    out: dict[str, Any] = {}
    for key, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        out[key] = None if kind in (None, "null_value") else getattr(value, kind)
    return out
