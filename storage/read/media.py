"""Media reads of Store: histograms, their percentile bands (Distributions), images and
their bytes, texts, and what the dashboard lists cheaply (a run's media keys with their
step ranges, the steps a key has).

Every read starts from `media_series` (one row per run, kind and key, with its count
and step range), then reads one kind's rows by (series, step): a range of the primary
key. DataFrame columns are documented in docs/media.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from trackboard.storage.db.blobs import BlobStore, SqlBlobStore
from trackboard.storage.media.histograms import BAND_COLUMNS, percentile_bands_many
from trackboard.storage.media.packing import unpack_array
from trackboard.storage.read.store_base import StoreBase

KINDS = ("histogram", "image", "text")
HISTOGRAM_COLUMNS = ("run_id", "key", "step", "wall_time", "count", "nan_count",
                     "posinf_count", "neginf_count", "min", "max", "sum", "sum_squares",
                     "edges", "counts")
IMAGE_COLUMNS = ("run_id", "key", "step", "index", "wall_time", "width", "height", "channels",
                 "format", "caption", "hash", "size")
TEXT_COLUMNS = ("run_id", "key", "step", "wall_time", "text")
_IN_CHUNK = 500

Steps = Iterable[int] | None
StepRange = tuple[int | None, int | None] | None


class MediaReads(StoreBase):
    """The media reads of Store (see Store for the whole API)."""

    # The seam image bytes are read through (storage/db/blobs.py).
    blob_store: BlobStore = SqlBlobStore()

    def media_keys(self, run_ids: str | Sequence[str], kind: str | None = None) -> pd.DataFrame:
        """The media keys of runs: run_id, kind ("histogram", "image", "text"), key,
        count (steps with a value), first_step, last_step; in the order of `run_ids`,
        then kind and key."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind={kind!r}: use one of {', '.join(KINDS)} (or None for all)")
        uids = _uids(run_ids)
        with self._connect() as conn:
            rows = _series(conn, uids, kind, None)
        return _frame([(r[0], r[2], r[1], r[4], r[5], r[6]) for r in rows],
                      ("run_id", "kind", "key", "count", "first_step", "last_step"),
                      {"count": np.int64})

    def media_steps(self, run_ids: str | Sequence[str], key: str, kind: str) -> pd.DataFrame:
        """The steps at which runs logged `key` (of `kind`): run_id, step, ascending per
        run. An image slider snaps to these."""
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}: use one of {', '.join(KINDS)}")
        uids = _uids(run_ids)
        table = _TABLES[kind]
        out: list[tuple[str, int]] = []
        with self._connect() as conn:
            for uid, _, _, sid, *_ in _series(conn, uids, kind, [key]):
                steps = conn.execute(text(f"SELECT DISTINCT step FROM {table} WHERE "
                                          "series_id = :s ORDER BY step"), {"s": sid}).scalars()
                out.extend((uid, int(s)) for s in steps)
        return _frame(out, ("run_id", "step"))

    def histograms(self, run_ids: str | Sequence[str], keys: Sequence[str] | None = None,
                   steps: Steps = None, *, step_range: StepRange = None,
                   max_steps: int | None = None) -> pd.DataFrame:
        """Histograms as a DataFrame, one row per (run, key, step): HISTOGRAM_COLUMNS,
        `edges` (buckets + 1) and `counts` (buckets) as float64 arrays. `steps` picks
        steps, `step_range=(lo, hi)` bounds them (inclusive), `max_steps` keeps at most
        that many per series, evenly spread, first and last included."""
        rows = self._media_rows("histogram", run_ids, keys, steps, step_range, max_steps)
        data = [(uid, key, st, w, c, nan, pinf, ninf, mn, mx, sm, sq, unpack_array(e),
                 unpack_array(k)) for uid, key, st, w, c, nan, pinf, ninf, mn, mx, sm, sq, e, k
                in rows]
        return _frame(data, HISTOGRAM_COLUMNS)

    def distributions(self, run_ids: str | Sequence[str], keys: Sequence[str] | None = None,
                      steps: Steps = None, *, step_range: StepRange = None,
                      max_steps: int | None = None) -> pd.DataFrame:
        """TensorBoard's Distributions: per (run, key, step), the values at the basis
        points in BAND_COLUMNS ("bp0" the minimum, "bp5000" the median, "bp10000" the
        maximum; 668/9332, 1587/8413, 3085/6915 the bands of +-1.5, 1 and 0.5 sigma of a
        normal distribution), as TensorBoard computes them. Columns: run_id, key, step,
        wall_time, then BAND_COLUMNS (NaN where a histogram has no finite value)."""
        rows = self._media_rows("histogram", run_ids, keys, steps, step_range, max_steps)
        bands = percentile_bands_many([unpack_array(r[12]) for r in rows],
                                      [unpack_array(r[13]) for r in rows],
                                      [r[8] for r in rows], [r[9] for r in rows])
        frame = _frame([r[:4] for r in rows], ("run_id", "key", "step", "wall_time"))
        for i, name in enumerate(BAND_COLUMNS):
            frame[name] = bands[:, i]
        return frame

    def images(self, run_ids: str | Sequence[str], keys: Sequence[str] | None = None,
               steps: Steps = None, *, step_range: StepRange = None,
               max_steps: int | None = None) -> pd.DataFrame:
        """Images as a DataFrame, one row per (run, key, step, index in the step's strip):
        IMAGE_COLUMNS. The bytes are not in it: `image_bytes(hash)` gives them.
        `max_steps` as for histograms (whole strips)."""
        rows = self._media_rows("image", run_ids, keys, steps, step_range, max_steps)
        return _frame(rows, IMAGE_COLUMNS)

    def image_bytes(self, hash_: str) -> bytes | None:
        """The stored file (its format is the `format` column of images()) of an image
        hash, or None when no image has it. `trackboard.storage.media.images.decode_image`
        turns it into pixels."""
        if not isinstance(hash_, str):
            return None
        with self._connect() as conn:
            return self.blob_store.get(conn, hash_)

    def texts(self, run_ids: str | Sequence[str], keys: Sequence[str] | None = None,
              steps: Steps = None, *, step_range: StepRange = None) -> pd.DataFrame:
        """Texts as a DataFrame, one row per (run, key, step): TEXT_COLUMNS."""
        rows = self._media_rows("text", run_ids, keys, steps, step_range, None)
        return _frame(rows, TEXT_COLUMNS)

    # -- the one read all of them share -----------------------------------------------

    def _media_rows(self, kind: str, run_ids: str | Sequence[str], keys: Sequence[str] | None,
                    steps: Steps, step_range: StepRange,
                    max_steps: int | None) -> list[tuple[Any, ...]]:
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(
                max_steps, int) or max_steps < 1):
            raise ValueError(f"max_steps={max_steps!r} must be a whole number of at least 1")
        wanted = None if steps is None else sorted({int(s) for s in steps})
        lo, hi = step_range if step_range is not None else (None, None)
        uids = _uids(run_ids)
        out: list[tuple[Any, ...]] = []
        with self._connect() as conn:
            for uid, key, _, sid, count, first, last in _series(conn, uids, kind, keys):
                a = first if lo is None else max(first, lo)
                b = last if hi is None else min(last, hi)
                if a > b or (wanted is not None and not wanted):
                    continue
                chosen = wanted
                if max_steps is not None:
                    chosen = _spread(conn, kind, sid, a, b, wanted, max_steps)
                out.extend((uid, key, *r) for r in _rows(conn, kind, sid, a, b, chosen))
        return out


_TABLES = {"histogram": "histograms", "image": "images", "text": "texts"}
_SELECT = {
    "histogram": ("SELECT step, wall_time, count, nan_count, posinf_count, neginf_count, min, "
                  "max, sum, sum_squares, edges, counts FROM histograms h"),
    "image": ("SELECT h.step, h.idx, h.wall_time, h.width, h.height, h.channels, h.format, "
              "h.caption, h.blob, b.size FROM images h JOIN blobs b ON b.hash = h.blob"),
    "text": "SELECT step, wall_time, value FROM texts h",
}
_ORDER = {"histogram": " ORDER BY h.step", "image": " ORDER BY h.step, h.idx",
          "text": " ORDER BY h.step"}


# Column types; every other column holds Python objects: text as typed (None for a
# missing caption), edges and counts as float64 arrays.
_TYPES = {name: np.int64 for name in (
    "step", "first_step", "last_step", "nan_count", "posinf_count",
    "neginf_count", "index", "width", "height", "channels", "size")}
_TYPES.update({name: np.float64 for name in (
    "wall_time", "count", "min", "max", "sum", "sum_squares")})


def _frame(rows: list[tuple[Any, ...]], columns: Sequence[str],
           types: dict[str, Any] | None = None) -> pd.DataFrame:
    """A DataFrame of `rows` with the documented column types, also when empty."""
    types = {**_TYPES, **(types or {})}
    cols = list(zip(*rows)) if rows else [()] * len(columns)
    return pd.DataFrame({name: pd.Series(list(col), dtype=types.get(name, object))
                         for name, col in zip(columns, cols)})


def _uids(run_ids: str | Sequence[str]) -> list[str]:
    return [run_ids] if isinstance(run_ids, str) else list(run_ids)


def _series(conn: Connection, uids: list[str], kind: str | None,
            keys: Sequence[str] | None) -> list[tuple[Any, ...]]:
    """(uid, key, kind, series id, count, first_step, last_step) of the series with
    values, in the order of `uids`, then `keys` (or kind and key)."""
    if not uids or (keys is not None and not list(keys)):
        return []
    sql = ("SELECT r.uid, s.key, s.kind, s.id, s.count, s.first_step, s.last_step "
           "FROM media_series s JOIN runs r ON r.id = s.run_id "
           "WHERE r.uid IN :u AND s.count > 0")
    params: dict[str, Any] = {"u": uids}
    if kind is not None:
        sql += " AND s.kind = :kind"
        params["kind"] = kind
    if keys is not None:
        sql += " AND s.key IN :k"
        params["k"] = list(keys)
    stmt = text(sql).bindparams(bindparam("u", expanding=True))
    if keys is not None:
        stmt = stmt.bindparams(bindparam("k", expanding=True))
    rows = [tuple(r) for r in conn.execute(stmt, params).all()]
    order = {u: i for i, u in enumerate(uids)}
    key_order = {k: i for i, k in enumerate(keys)} if keys is not None else None
    rows.sort(key=lambda r: (order[r[0]], r[2],
                             key_order[r[1]] if key_order is not None else r[1]))
    return rows


def _rows(conn: Connection, kind: str, sid: int, lo: int, hi: int,
          steps: list[int] | None) -> list[tuple[Any, ...]]:
    sql = _SELECT[kind] + " WHERE h.series_id = :s AND h.step BETWEEN :lo AND :hi"
    params: dict[str, Any] = {"s": sid, "lo": lo, "hi": hi}
    if steps is None:
        return [tuple(r) for r in conn.execute(text(sql + _ORDER[kind]), params)]
    chosen = [s for s in steps if lo <= s <= hi]
    stmt = text(sql + " AND h.step IN :st" + _ORDER[kind]).bindparams(
        bindparam("st", expanding=True))
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(chosen), _IN_CHUNK):
        out.extend(tuple(r) for r in conn.execute(stmt, {**params,
                                                         "st": chosen[i:i + _IN_CHUNK]}))
    return out


def _spread(conn: Connection, kind: str, sid: int, lo: int, hi: int,
            wanted: list[int] | None, n: int) -> list[int]:
    """At most `n` of the series' steps in [lo, hi] (among `wanted`), evenly spread,
    the first and the last included."""
    present = conn.execute(text(f"SELECT DISTINCT step FROM {_TABLES[kind]} WHERE "
                                "series_id = :s AND step BETWEEN :lo AND :hi ORDER BY step"),
                           {"s": sid, "lo": lo, "hi": hi}).scalars().all()
    if wanted is not None:
        keep = set(wanted)
        present = [s for s in present if s in keep]
    if len(present) <= n:
        return list(present)
    picks = np.unique(np.round(np.linspace(0, len(present) - 1, n)).astype(int))
    return [present[i] for i in picks]
