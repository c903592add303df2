"""Export metric points as flat files: CSV or Parquet, long format.

One row per point: run_id, run_name, key, step, wall_time (Unix seconds), value.

>>> export_points("sqlite:///trackboard.db", "points.csv", "csv", project="churn")  # doctest: +SKIP
12000
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from trackboard.storage.extras import require
from trackboard.storage.interchange.selection import select_runs
from trackboard.storage.read.store import Store, opened_store

COLUMNS = ["run_id", "run_name", "key", "step", "wall_time", "value"]
FORMATS = ("csv", "parquet")


def points_frame(store: Store, run_ids: Sequence[str] | None = None,
                 project: str | None = None) -> pd.DataFrame:
    """Every point of the selected runs at full resolution, in the long format."""
    runs = select_runs(store, run_ids, project)
    hist = store.history(list(runs["id"]))
    names = dict(zip(runs["id"], runs["name"]))
    frame = pd.DataFrame({
        "run_id": hist["run_id"].astype(object),
        "run_name": hist["run_id"].map(names).astype(object),
        "key": hist["key"].astype(object),
        "step": hist["step"].astype(np.int64),
        "wall_time": hist["wall_time"].astype(np.float64),
        "value": hist["value"].astype(np.float64),
    })
    return frame[COLUMNS]


def to_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The frame as CSV or Parquet bytes (for a download button)."""
    buf = io.BytesIO()
    _write(frame, buf, fmt)
    return buf.getvalue()


def export_points(store: Store | str | None, out: str | os.PathLike[str], fmt: str, *,
                  run_ids: Sequence[str] | None = None, project: str | None = None) -> int:
    """Write the selected runs' points to `out`; returns the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        require("pyarrow", "parquet")  # before reading anything: fail fast
    with opened_store(store) as db:
        frame = points_frame(db, run_ids, project)
    with open(out, "wb") as fh:
        _write(frame, fh, fmt)
    return len(frame)


def _write(frame: pd.DataFrame, fh: io.BufferedIOBase | io.BytesIO, fmt: str) -> None:
    if fmt == "csv":
        # repr-exact floats, so values and wall times survive a round trip
        fh.write(frame.to_csv(index=False, float_format=None).encode())
    elif fmt == "parquet":
        require("pyarrow", "parquet")
        frame.to_parquet(fh, index=False, engine="pyarrow")
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
