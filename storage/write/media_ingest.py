"""The media records of a batch (histograms, images, texts) into the store.

Two phases, so that the slow part never holds the database's write lock:

- `prepare` (before the transaction, on the writer thread or in `trackboard sync`):
  every record is checked against the same rules the loggers apply (a record from a
  damaged spool file raises ValueError, and delivery sets it aside alone), histograms
  are packed, and the images are encoded (storage/media/images.py) and hashed
  (image_jobs.py: each distinct image once, none this process stored lately, on a
  thread of their own where the machine has a core to spare, else here);
- `write` (inside the batch's transaction, after the points): waits for the encoding,
  then blobs through the BlobStore seam (an image whose remembered blob has left the
  store since is encoded there and then), one upsert per row, and each touched
  series' count and step range.

"The later call wins", decided by the time of the log() call (the record's stamp,
kept as `logged_at`), never by the wall time a caller passed (that is data, stored as
`wall_time`): a histogram or text replaces the stored one of its (key, step) only when
logged later; an image strip replaces the older strip of its (key, step) as a whole (a
strip of 3 logged over a strip of 5 leaves 3), and a spooled copy of an older strip
delivered late changes nothing. Unlike points, media rows keep their call time, so this
holds across processes and spool files too.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from trackboard.storage.db.blobs import (
    BlobStore,
    SqlBlobStore,
    delete_unreferenced,
    lock_for_put,
)
from trackboard.storage.media.packing import pack_array, pack_edges
from trackboard.storage.write import image_jobs
from trackboard.storage.write.image_jobs import Done, Encoding, Job, RecentImages, image_key
from trackboard.storage.write.media_checks import FIELDS, check_media_record
from trackboard.storage.write.records import HISTOGRAM, TEXT, Record

TABLE = {"histogram": "histograms", "image": "images", "text": "texts"}


@dataclass
class Prepared:
    """A batch's media, checked, packed and being encoded: rows keyed by run uid, not yet
    by series. Image rows are complete once `resolve()` has waited for the encoder."""

    histograms: list[tuple[Any, ...]] = field(default_factory=list)
    images: list[tuple[Any, ...]] = field(default_factory=list)
    texts: list[tuple[Any, ...]] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    # Blobs known from RecentImages (not encoded now) and their images, by hash: one
    # that has left the store since is encoded from here, in the transaction.
    remembered: dict[str, Job] = field(default_factory=dict)
    # (uid, key, step, stamp, index, strip_size, caption, image, wall) until resolved;
    # `image` indexes the batch's distinct images: their keys, jobs and what is known
    # of their blobs (None: being encoded)
    pending: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    known: list[Done | None] = field(default_factory=list)
    encoding: Encoding | None = None
    recent: RecentImages | None = None

    def resolve(self) -> Prepared:
        """Wait for the images' encoding (raises what it raised); image rows then hold
        (..., hash, format, width, height, channels)."""
        if self.pending:
            encoded = iter(self.encoding.wait() if self.encoding is not None else ())
            done: list[Done] = []
            for key, job, known in zip(self.keys, self.jobs, self.known):
                if known is None:
                    known = next(encoded)
                    self.blobs.setdefault(known[0], known[1])  # type: ignore[arg-type]
                    if self.recent is not None:
                        self.recent.put(key, known)
                elif known[0] not in self.blobs:
                    self.remembered[known[0]] = job
                done.append(known)
            self.images = [(*row[:7], done[row[7]][0], *done[row[7]][2:], row[8])
                           for row in self.pending]
            self.encoding, self.pending = None, []
        return self

    def __bool__(self) -> bool:
        return bool(self.histograms or self.images or self.texts or self.pending)


class MediaIngest:
    """Writes the media of batches into one store; caches series ids between batches."""

    def __init__(self, dialect: str, blob_store: BlobStore | None = None) -> None:
        self.dialect = dialect
        self.blobs: BlobStore = blob_store or SqlBlobStore()
        # (run uid, run id, kind, key) -> series id. The uid too: SQLite gives a new
        # run the id of a run deleted meanwhile (by another process) when it was the
        # last, and the deleted run's series must not be taken for the new run's.
        self._series: dict[tuple[str, int, str, str], int] = {}
        self.recent = RecentImages()

    def forget(self) -> None:
        """Ids cached in a transaction that rolled back may not exist (nor its blobs)."""
        self._series.clear()
        self.recent.clear()

    # -- before the transaction -------------------------------------------------------

    def prepare(self, records: list[Record]) -> Prepared:
        """Check every record (ValueError names the first bad one), then pack and encode."""
        for rec in records:
            check_media_record(rec)
        out = Prepared(recent=self.recent)
        images: dict[bytes, int] = {}  # the same image twice in a batch: encoded once
        for rec in records:
            # Rows carry the call's stamp where records do (it orders them) and the wall
            # time to store (the caller's, else the stamp) last.
            op, uid, step, stamp, key = rec[:5]
            wall = float(rec[FIELDS[op]] if len(rec) > FIELDS[op] else stamp)
            if op == HISTOGRAM:
                edges, counts = rec[5], rec[6]
                out.histograms.append((
                    uid, key, step, float(stamp), float(rec[7]), rec[8], rec[9], rec[10],
                    *(None if v is None else float(v) for v in rec[11:15]), len(counts),
                    pack_edges(np.frombuffer(edges, np.float64) if isinstance(edges, array)
                               else np.asarray(edges, np.float64)),
                    pack_array(np.frombuffer(counts, np.float64) if isinstance(counts, array)
                               else np.asarray(counts, np.float64)), wall))
            elif op == TEXT:
                out.texts.append((uid, key, step, float(stamp), rec[5], wall))
            else:
                index, size, caption = rec[5:8]
                job: Job = rec[8:13]
                ident = image_key(job)
                at = images.get(ident)
                if at is None:
                    at = images[ident] = len(out.keys)
                    out.keys.append(ident)
                    out.jobs.append(job)
                    out.known.append(self.recent.get(ident))
                out.pending.append((uid, key, step, float(stamp), index, size, caption, at,
                                    wall))
        todo = [job for job, known in zip(out.jobs, out.known) if known is None]
        if todo:
            out.encoding = Encoding(todo)
        return out

    # -- in the transaction -----------------------------------------------------------

    def write(self, conn: Connection, prepared: Prepared, run_ids: Mapping[str, int],
              purged: Mapping[str, list[tuple[int, float]]]) -> int:
        """Write the prepared rows (minus those a purge seen so far removes); returns
        how many values were written."""
        prepared.resolve()
        if purged:
            prepared = _drop_purged(prepared, purged)
        touched: set[tuple[str, int]] = set()
        hist = self._rows(conn, prepared.histograms, "histogram", run_ids, touched)
        txt = self._rows(conn, prepared.texts, "text", run_ids, touched)
        img = self._rows(conn, prepared.images, "image", run_ids, touched)
        if hist:
            conn.execute(text(
                "INSERT INTO histograms (series_id, step, logged_at, wall_time, count, "
                "nan_count, posinf_count, neginf_count, min, max, sum, sum_squares, buckets, "
                "edges, counts) VALUES (:s, :st, :lg, :w, :c, :nan, :pinf, :ninf, :mn, :mx, "
                ":sm, :sq, :n, :e, :k) ON CONFLICT (series_id, step) DO UPDATE SET "
                "logged_at = excluded.logged_at, wall_time = excluded.wall_time, "
                "count = excluded.count, "
                "nan_count = excluded.nan_count, posinf_count = excluded.posinf_count, "
                "neginf_count = excluded.neginf_count, min = excluded.min, max = excluded.max, "
                "sum = excluded.sum, sum_squares = excluded.sum_squares, "
                "buckets = excluded.buckets, edges = excluded.edges, counts = excluded.counts "
                "WHERE excluded.logged_at >= histograms.logged_at"),
                [dict(zip(("s", "st", "lg", "c", "nan", "pinf", "ninf", "mn", "mx", "sm", "sq",
                           "n", "e", "k", "w"), r)) for r in _latest(hist)])
        if txt:
            conn.execute(text(
                "INSERT INTO texts (series_id, step, logged_at, wall_time, value) VALUES "
                "(:s, :st, :lg, :w, :v) ON CONFLICT (series_id, step) DO UPDATE SET "
                "logged_at = excluded.logged_at, wall_time = excluded.wall_time, "
                "value = excluded.value WHERE excluded.logged_at >= texts.logged_at"),
                [dict(zip(("s", "st", "lg", "v", "w"), r)) for r in _latest(txt)])
        if img:
            self._write_images(conn, img, prepared.blobs, prepared.remembered)
        self._summarise(conn, touched)
        return len(hist) + len(txt) + len(img)

    def purge(self, conn: Connection, run_id: int, from_step: int, before: float) -> None:
        """A PURGE record: remove the run's media at steps >= from_step logged before
        the purge call at `before` (and the blobs no image names any more)."""
        series = conn.execute(text(
            "SELECT id, kind FROM media_series WHERE run_id = :r AND last_step >= :s"),
            {"r": run_id, "s": from_step}).all()
        args = {"s": from_step, "w": before}
        hashes: list[str] = []
        for sid, kind in series:
            table = TABLE[kind]
            where = f"WHERE series_id = {int(sid)} AND step >= :s AND logged_at < :w"
            if kind == "image":
                hashes += conn.execute(text(f"SELECT blob FROM images {where}"), args).scalars()
            conn.execute(text(f"DELETE FROM {table} {where}"), args)
        self._summarise(conn, {(kind, sid) for sid, kind in series})
        delete_unreferenced(conn, self.blobs, hashes)

    # -- steps ------------------------------------------------------------------------

    def _rows(self, conn: Connection, rows: list[tuple[Any, ...]], kind: str,
              run_ids: Mapping[str, int], touched: set[tuple[str, int]]) -> list[tuple[Any, ...]]:
        """Rows with (series id, step, ...) in place of (uid, key, step, ...)."""
        if not rows:
            return []
        wanted = {(r[0], run_ids[r[0]], kind, r[1]) for r in rows}
        missing = [w for w in wanted if w not in self._series]
        if missing:
            conn.execute(text(
                "INSERT INTO media_series (run_id, kind, key, count, first_step, last_step) "
                "VALUES (:r, :k, :n, 0, 0, 0) ON CONFLICT (run_id, kind, key) DO NOTHING"),
                [{"r": r, "k": k, "n": n} for _, r, k, n in missing])
            for w in missing:
                _, r, k, n = w
                self._series[w] = int(conn.execute(text(
                    "SELECT id FROM media_series WHERE run_id = :r AND kind = :k AND key = :n"),
                    {"r": r, "k": k, "n": n}).scalar_one())
        out = []
        for r in rows:
            sid = self._series[(r[0], run_ids[r[0]], kind, r[1])]
            touched.add((kind, sid))
            out.append((sid, *r[2:]))
        return out

    def _write_images(self, conn: Connection, rows: list[tuple[Any, ...]],
                      blobs: Mapping[str, bytes], remembered: Mapping[str, Job]) -> None:
        # rows: (series, step, stamp, index, strip_size, caption, hash, format, w, h, c,
        # wall)
        lock_for_put(conn)  # before `has`: no deletion of unreferenced blobs runs now
        needed = {r[6] for r in rows}
        stored = self.blobs.has(conn, needed)
        missing = needed - stored
        gone = [h for h in missing if h not in blobs]  # remembered, deleted since
        if gone:
            self.recent.clear()
            rows, blobs = _encode_again(rows, dict(blobs), remembered, gone)
            missing = {r[6] for r in rows} - stored
        self.blobs.put(conn, {h: blobs[h] for h in missing})
        # The latest strip of each (series, step) in this batch replaces every image
        # logged there before it; an older strip changes nothing.
        newest: dict[tuple[int, int], float] = {}
        for r in rows:
            at = (r[0], r[1])
            newest[at] = max(newest.get(at, r[2]), r[2])
        rows = [r for r in rows if r[2] == newest[(r[0], r[1])]]
        conn.execute(text("DELETE FROM images WHERE series_id = :s AND step = :st AND "
                          "logged_at < :w"),
                     [{"s": s, "st": st, "w": w} for (s, st), w in newest.items()])
        conn.execute(text(
            "INSERT INTO images (series_id, step, idx, logged_at, wall_time, blob, format, "
            "width, height, channels, caption) SELECT :s, :st, :i, :lg, :w, :b, :f, :wd, :ht, "
            ":ch, :cap WHERE NOT EXISTS (SELECT 1 FROM images WHERE series_id = :s AND "
            "step = :st AND logged_at > :lg) ON CONFLICT (series_id, step, idx) DO UPDATE SET "
            "logged_at = excluded.logged_at, wall_time = excluded.wall_time, "
            "blob = excluded.blob, format = excluded.format, width = excluded.width, "
            "height = excluded.height, channels = excluded.channels, "
            "caption = excluded.caption WHERE excluded.logged_at >= images.logged_at"),
            [{"s": r[0], "st": r[1], "lg": r[2], "i": r[3], "cap": r[5], "b": r[6], "f": r[7],
              "wd": r[8], "ht": r[9], "ch": r[10], "w": r[11]} for r in rows])

    def _summarise(self, conn: Connection, touched: Iterable[tuple[str, int]]) -> None:
        """Each touched series' count of steps and its step range, from its rows."""
        by_kind: dict[str, list[int]] = {}
        for kind, sid in touched:
            by_kind.setdefault(kind, []).append(sid)
        for kind, sids in by_kind.items():
            table = TABLE[kind]
            steps = "count(DISTINCT step)" if kind == "image" else "count(*)"
            conn.execute(text(
                f"UPDATE media_series SET count = (SELECT {steps} FROM {table} t WHERE "
                "t.series_id = media_series.id), first_step = COALESCE((SELECT min(step) "
                f"FROM {table} t WHERE t.series_id = media_series.id), 0), last_step = "
                f"COALESCE((SELECT max(step) FROM {table} t WHERE t.series_id = "
                "media_series.id), 0) WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)), {"ids": sorted(sids)})


def _latest(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One row per (series, step): the latest logged (one upsert may not touch a row
    twice). Rows are (series, step, wall, ...)."""
    best: dict[tuple[int, int], tuple[Any, ...]] = {}
    for r in rows:
        old = best.get((r[0], r[1]))
        if old is None or r[2] >= old[2]:
            best[(r[0], r[1])] = r
    return list(best.values())


def _encode_again(rows: list[tuple[Any, ...]], blobs: dict[str, bytes],
                  remembered: Mapping[str, Job], gone: list[str]
                  ) -> tuple[list[tuple[Any, ...]], dict[str, bytes]]:
    """Encode the images whose remembered blobs have left the store (an encoder that
    changed meanwhile may give other bytes: the rows then name those)."""
    renamed: dict[str, Done] = {}
    for h in gone:
        done = image_jobs.encode(remembered[h])
        blobs[done[0]] = done[1]  # type: ignore[assignment]
        renamed[h] = done
    rows = [r if r[6] not in renamed else (*r[:6], renamed[r[6]][0], renamed[r[6]][2], *r[8:])
            for r in rows]
    return rows, blobs


def _drop_purged(prepared: Prepared, purged: Mapping[str, list[tuple[int, float]]]) -> Prepared:
    """Rows logged before a purge of their run that covers their step: they may reach
    this process after the purge itself (a split batch, a spool file)."""
    def keep(r: tuple[Any, ...]) -> bool:
        cuts = purged.get(r[0])
        return cuts is None or not any(r[2] >= s and r[3] < w for s, w in cuts)

    return Prepared([r for r in prepared.histograms if keep(r)],
                    [r for r in prepared.images if keep(r)],
                    [r for r in prepared.texts if keep(r)], prepared.blobs,
                    prepared.remembered)
