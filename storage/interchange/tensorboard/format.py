"""What the TensorBoard export and import share: event-file conventions and the record writer."""

from __future__ import annotations

import importlib.util
from typing import Any, Protocol

from trackboard.storage.extras import require

# TensorBoard treats every file whose name contains "tfevents" as an event file.
EVENT_FILE_MARK = "tfevents"
# Scalars TensorBoard's own writers mark with this plugin (tf.summary.scalar, ours).
SCALARS_PLUGIN = "scalars"
TEXT_PLUGIN = "text"
HPARAMS_PLUGIN = "hparams"
# Text tags the exporter writes and the importer reads back into the same fields.
NOTES_TAG = "trackboard/notes"
TAGS_TAG = "trackboard/tags"

# Exported scalars are rank-0 DT_FLOAT tensors holding the value twice: float_val,
# the float32 rounding both TensorBoard loaders read (the default Rust loader drops
# DT_DOUBLE scalars as data loss), and double_val, the exact float64, which
# TensorBoard ignores for a DT_FLOAT tensor and the importer reads back.
SCALAR_DTYPE = 1  # types_pb2.DT_FLOAT


class RecordSink(Protocol):
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


def native_crc_available() -> bool:
    """Whether tensorboardX and the C `crc32c` package are both installed."""
    return (importlib.util.find_spec("crc32c") is not None
            and importlib.util.find_spec("tensorboardX") is not None)


def open_record_writer(path: str, *, fast: bool | None = None) -> RecordSink:
    """A TFRecord writer for an event file; the framing is always a library's.

    TensorBoard's own RecordWriter checksums every byte in pure Python (~6 MB/s,
    about 150,000 scalars/s). tensorboardX's RecordWriter writes the same format
    with the C `crc32c` package (hundreds of MB/s), so it is used when both are
    installed (`fast=None`); `fast=False` forces TensorBoard's.
    """
    if fast is None:
        fast = native_crc_available()
    if fast:
        record_writer = require("tensorboardX.record_writer", "tensorboard")
        return record_writer.RecordWriter(path)  # type: ignore[no-any-return]
    tb_record_writer = require("tensorboard.summary.writer.record_writer", "tensorboard")
    return _ClosingRecordWriter(tb_record_writer.RecordWriter(open(path, "wb")))


class _ClosingRecordWriter:
    """TensorBoard's RecordWriter over a plain buffered file (no TensorFlow gfile)."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def close(self) -> None:
        self._writer.close()

