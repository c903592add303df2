"""A look into a serialized TensorBoard Event without decoding it.

Records the importer leaves out (audio, tensors of plugins it does not read such as
graphs, meshes and PR curves) can be large; `peek_summary` walks just the protobuf
wire format of an Event down to each Summary.Value's tag, kind and plugin name, so
the importer can drop those records undecoded. Field numbers are those of
tensorboard/compat/proto/event.proto and summary.proto:

    Event:           1 wall_time (double), 5 summary (Summary)
    Summary:         1 value (repeated Value)
    Value:           1 tag, 2 simple_value, 3 obsolete_old_style_histogram, 4 image,
                     5 histo, 6 audio, 8 tensor, 9 metadata (SummaryMetadata)
    SummaryMetadata: 1 plugin_data (PluginData: 1 plugin_name)

>>> from tensorboard.compat.proto import event_pb2
>>> ev = event_pb2.Event(wall_time=1.5, step=3)
>>> v = ev.summary.value.add(tag="img")
>>> v.image.encoded_image_string = b"x" * 100
>>> peek_summary(ev.SerializeToString())
(1.5, [('img', 4, None)])
>>> peek_summary(event_pb2.Event(wall_time=2.0, file_version="brain.Event:2").SerializeToString())
(2.0, None)
"""

from __future__ import annotations

import struct

SIMPLE_VALUE, OLD_HISTOGRAM, IMAGE, HISTO, AUDIO, TENSOR = 2, 3, 4, 5, 6, 8
# Value kinds the importer leaves out (audio; TensorFlow's obsolete histogram field).
BULKY_KINDS = frozenset((OLD_HISTOGRAM, AUDIO))

_DOUBLE = struct.Struct("<d").unpack_from


class WireError(ValueError):
    """The bytes are not a well-formed Event (the protobuf parser will say more)."""


def peek_summary(raw: bytes) -> tuple[float, list[tuple[str, int, str | None]] | None]:
    """(wall time, [(tag, value kind, plugin name or None), ...]) of an Event record.

    The list is None when the event holds no summary. Value kind 0 means no value
    field (torch's hparams summaries carry only metadata).
    """
    try:
        wall = 0.0
        values: list[tuple[str, int, str | None]] | None = None
        pos, end = 0, len(raw)
        while pos < end:
            key, pos = _varint(raw, pos)
            field, wire = key >> 3, key & 7
            if field == 1 and wire == 1:
                wall = _DOUBLE(raw, pos)[0]
                pos += 8
            elif field == 5 and wire == 2:
                n, pos = _varint(raw, pos)
                values = (values or []) + _summary(raw, pos, pos + n)
                pos += n
            else:
                pos = _skip(raw, pos, wire)
        if pos != end:
            raise WireError("field runs past the end")
        return wall, values
    except (IndexError, struct.error) as exc:
        raise WireError(str(exc)) from None


def _summary(raw: bytes, pos: int, end: int) -> list[tuple[str, int, str | None]]:
    out = []
    while pos < end:
        key, pos = _varint(raw, pos)
        if key == 0x0A:  # field 1, length-delimited: a Value
            n, pos = _varint(raw, pos)
            out.append(_value(raw, pos, pos + n))
            pos += n
        else:
            pos = _skip(raw, pos, key & 7)
    return out


def _value(raw: bytes, pos: int, end: int) -> tuple[str, int, str | None]:
    tag, kind, plugin = "", 0, None
    while pos < end:
        key, pos = _varint(raw, pos)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 2:
            n, pos = _varint(raw, pos)
            tag = raw[pos:pos + n].decode("utf-8", "replace")
            pos += n
        elif field == 9 and wire == 2:
            n, pos = _varint(raw, pos)
            plugin = _plugin_name(raw, pos, pos + n)
            pos += n
        else:
            if field in (SIMPLE_VALUE, OLD_HISTOGRAM, IMAGE, HISTO, AUDIO, TENSOR):
                kind = field
            pos = _skip(raw, pos, wire)
    return tag, kind, plugin


def _plugin_name(raw: bytes, pos: int, end: int) -> str | None:
    name = None
    while pos < end:
        key, pos = _varint(raw, pos)
        if key == 0x0A:  # SummaryMetadata.plugin_data
            n, pos = _varint(raw, pos)
            stop = pos + n
            while pos < stop:
                k2, pos = _varint(raw, pos)
                if k2 == 0x0A:  # PluginData.plugin_name
                    m, pos = _varint(raw, pos)
                    name = raw[pos:pos + m].decode("utf-8", "replace")
                    pos += m
                else:
                    pos = _skip(raw, pos, k2 & 7)
        else:
            pos = _skip(raw, pos, key & 7)
    return name


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    b = raw[pos]
    if b < 0x80:
        return b, pos + 1
    result, shift = b & 0x7F, 7
    while True:
        pos += 1
        b = raw[pos]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos + 1
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _skip(raw: bytes, pos: int, wire: int) -> int:
    if wire == 0:
        return _varint(raw, pos)[1]
    if wire == 1:
        return pos + 8
    if wire == 2:
        n, pos = _varint(raw, pos)
        return pos + n
    if wire == 5:
        return pos + 4
    raise WireError(f"unsupported wire type {wire}")
