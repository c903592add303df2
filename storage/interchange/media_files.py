"""Export histograms, images and texts as flat files (`trackboard export csv|parquet
--kind ...`), one row per logged value, written run by run so a large export never sits
in memory at once:

- histograms: one row per (run, key, step): run_id, run_name, key, step, wall_time,
  count, nan_count, posinf_count, neginf_count, min, max, sum, sum_squares, edges,
  counts. In Parquet `edges` and `counts` are lists of doubles; in CSV JSON arrays
  (exact: every float written with its shortest round-trip repr);
- texts: one row per (run, key, step): run_id, run_name, key, step, wall_time, text;
- images (Parquet only: a CSV cell is no place for a file): one row per image of a
  step's strip: run_id, run_name, key, step, index, wall_time, width, height, channels,
  format, caption, data (the stored PNG/WebP/JPEG/GIF file as binary).

>>> export_media("sqlite:///trackboard.db", "h.parquet", "parquet", "histograms")  # doctest: +SKIP
640
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from trackboard.storage.extras import require
from trackboard.storage.interchange.selection import select_runs
from trackboard.storage.read.store import Store, opened_store

KINDS = ("histograms", "images", "texts")
HISTOGRAM_COLUMNS = ["run_id", "run_name", "key", "step", "wall_time", "count", "nan_count",
                     "posinf_count", "neginf_count", "min", "max", "sum", "sum_squares",
                     "edges", "counts"]
TEXT_COLUMNS = ["run_id", "run_name", "key", "step", "wall_time", "text"]
IMAGE_COLUMNS = ["run_id", "run_name", "key", "step", "index", "wall_time", "width",
                 "height", "channels", "format", "caption", "data"]
_COLUMNS = {"histograms": HISTOGRAM_COLUMNS, "images": IMAGE_COLUMNS, "texts": TEXT_COLUMNS}


def image_file(db: Store, hash_: str) -> bytes:
    """The stored file of an image hash an export just read (ValueError if it is gone)."""
    data = db.image_bytes(hash_)
    if data is None:  # deleted between the two reads (the run was purged meanwhile)
        raise ValueError(f"image {hash_[:12]} vanished from the store during the export; "
                         "export again")
    return data


def media_frames(db: Store, kind: str, run_ids: Sequence[str] | None = None,
                 project: str | None = None) -> Iterator[pd.DataFrame]:
    """The selected runs' media of `kind`, one DataFrame (in the layout above) per run."""
    runs = select_runs(db, run_ids, project)
    for rid, name in zip(runs["id"], runs["name"]):
        if kind == "histograms":
            frame = db.histograms(rid)
        elif kind == "texts":
            frame = db.texts(rid)
        else:
            frame = db.images(rid)
            frame["data"] = [image_file(db, h) for h in frame["hash"]]
        frame.insert(1, "run_name", pd.Series([name] * len(frame), dtype=object))
        yield frame[_COLUMNS[kind]]


def export_media(store: Store | str | None, out: str | os.PathLike[str], fmt: str,
                 kind: str, *, run_ids: Sequence[str] | None = None,
                 project: str | None = None) -> int:
    """Write the selected runs' histograms, images or texts to `out`; returns the rows."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of points, {', '.join(KINDS)}")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}; use csv or parquet")
    if fmt == "csv" and kind == "images":
        raise ValueError("images go to Parquet (each file in a binary column) or to "
                         "TensorBoard: `trackboard export parquet OUT --kind images`")
    if fmt == "parquet":
        require("pyarrow", "parquet")  # before reading anything: fail fast
    rows = 0
    with opened_store(store) as db, open(out, "wb") as fh:
        writer = _ParquetWriter(fh, kind) if fmt == "parquet" else None
        for i, frame in enumerate(media_frames(db, kind, run_ids, project)):
            rows += len(frame)
            if writer is not None:
                writer.write(frame)
            else:
                fh.write(_csv(frame, header=i == 0).encode())
        if writer is not None:
            writer.close()
    return rows


def _csv(frame: pd.DataFrame, header: bool) -> str:
    if "edges" in frame:
        frame = frame.assign(edges=[_json_list(e) for e in frame["edges"]],
                             counts=[_json_list(c) for c in frame["counts"]])
    return frame.to_csv(index=False, header=header)  # repr-exact floats


def _json_list(values: np.ndarray) -> str:
    return json.dumps(np.asarray(values, np.float64).tolist())


class _ParquetWriter:
    """pyarrow's ParquetWriter with the kind's fixed schema (a run whose captions are
    all missing must not make the column null-typed for the next)."""

    def __init__(self, fh: Any, kind: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        text, i64, f64 = pa.string(), pa.int64(), pa.float64()
        head = [("run_id", text), ("run_name", text), ("key", text), ("step", i64)]
        fields = {
            "histograms": head + [("wall_time", f64), ("count", f64), ("nan_count", i64),
                                  ("posinf_count", i64), ("neginf_count", i64),
                                  ("min", f64), ("max", f64), ("sum", f64),
                                  ("sum_squares", f64), ("edges", pa.list_(f64)),
                                  ("counts", pa.list_(f64))],
            "texts": head + [("wall_time", f64), ("text", text)],
            "images": head + [("index", i64), ("wall_time", f64), ("width", i64),
                              ("height", i64), ("channels", i64), ("format", text),
                              ("caption", text), ("data", pa.binary())],
        }[kind]
        self._pa = pa
        self.schema = pa.schema(fields)
        self._writer = pq.ParquetWriter(fh, self.schema)

    def write(self, frame: pd.DataFrame) -> None:
        self._writer.write_table(self._pa.Table.from_pandas(frame, schema=self.schema,
                                                            preserve_index=False))

    def close(self) -> None:
        self._writer.close()
