"""Media events for the exporter: a run's histograms, images and texts -> TensorBoard
Events that its Histograms, Distributions, Images and Text tabs show with default flags.

- a histogram: the "histograms" plugin's [k, 3] float64 tensor (left edge, right edge,
  count), as `tf.summary.histogram` writes it, plus the statistics the buckets cannot
  hold (media_values.histogram_tensor). Both of TensorBoard's loaders show the buckets
  exactly as stored; its Distributions tab computes the same bands as
  `Store.distributions` wherever the histogram's first and last edges are its min and
  max (always for `Histogram(values)`);
- an image strip: the "images" plugin's string tensor [width, height, file, ...], as
  `tf.summary.image` writes it, one per key and step; PNG, JPEG and GIF files as
  stored, trackboard's lossless WebP as PNG (TensorBoard serves no WebP). Captions
  are not shown by TensorBoard (its images have none) and are left out;
- a text: the "text" plugin's string tensor, one per key and step (TensorBoard
  renders it as Markdown).

One Event per key and step, each key's in step order, after the run's scalars:
TensorBoard checks steps going back per tag, so the order of different tags does not
matter. The plugin's metadata rides with each tag's first value, as tf.summary writes
it. Series are read one key at a time, so a run's media never sit in memory at once.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

import numpy as np
from trackboard.storage.interchange.media_files import image_file
from trackboard.storage.interchange.tensorboard.format import RecordSink
from trackboard.storage.interchange.tensorboard.media_values import (
    histogram_tensor,
    images_tensor,
    tensorboard_file,
)
from trackboard.storage.read.store import Store


def write_media(db: Store, run_id: str, writer: RecordSink) -> dict[str, int]:
    """Every histogram, image and text of a run as Events: counts by kind."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.histogram import metadata as histogram_metadata
    from tensorboard.plugins.image import metadata as image_metadata
    from tensorboard.plugins.text import summary_v2 as text_summary

    done = {"histograms": 0, "images": 0, "texts": 0}
    series = db.media_keys(run_id)
    for kind, key in zip(series["kind"], series["key"]):
        first = True
        if kind == "histogram":
            meta = histogram_metadata.create_summary_metadata(display_name=key,
                                                              description="")
            for row in db.histograms(run_id, keys=[key]).itertuples(index=False):
                event = event_pb2.Event(wall_time=row.wall_time, step=row.step)
                value = event.summary.value.add(tag=key, tensor=histogram_tensor(
                    row.edges, row.counts, _stats(row)))
                if first:
                    value.metadata.CopyFrom(meta)
                writer.write(event.SerializeToString())
                done["histograms"] += 1
                first = False
        elif kind == "image":
            meta = image_metadata.create_summary_metadata(display_name=key, description="")
            frame = db.images(run_id, keys=[key])
            for step, rows in groupby(frame.itertuples(index=False), key=lambda r: r.step):
                strip = list(rows)
                files = [tensorboard_file(image_file(db, r.hash), r.format, r.channels)
                         for r in strip]
                event = event_pb2.Event(wall_time=strip[0].wall_time, step=step)
                value = event.summary.value.add(tag=key, tensor=images_tensor(files))
                if first:
                    value.metadata.CopyFrom(meta)
                writer.write(event.SerializeToString())
                done["images"] += len(files)
                first = False
        elif kind == "text":
            for row in db.texts(run_id, keys=[key]).itertuples(index=False):
                event = event_pb2.Event(wall_time=row.wall_time, step=row.step,
                                        summary=text_summary.text_pb(key, row.text))
                writer.write(event.SerializeToString())
                done["texts"] += 1
    return done


def _stats(row: Any) -> tuple[float, ...]:
    """The statistics of a stored histogram in media_values.STATS order (NaN: unknown)."""
    return (row.count, row.nan_count, row.posinf_count, row.neginf_count,
            *(np.nan if v is None else v for v in (row.min, row.max, row.sum,
                                                  row.sum_squares)))
