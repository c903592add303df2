"""Table definitions (SQLAlchemy Core). Migrations under migrations/ create them.

Points are 99% of the bytes and all of the hot path. A series (run, key) is sealed
chunks of CHUNK_POINTS points (point_chunks: one row each, the columns compressed,
keyed by (run_id, key_id, first_step); a rowid table on SQLite, see below) plus a narrow row-per-point head for its live
tail (points_head: keyed by (run_id, key_id, step) with no rowid on SQLite, so a
series' tail is one contiguous range of the primary-key B-tree). point_chunks.py
keeps the two apart; the view `points` (migration 0005) shows both as rows.

point_buckets holds min/max roll-ups of each series at several resolutions
(bucket = step >> shift); the dashboard reads those instead of millions of raw
points. metric_summaries holds one row per (run, key) for the runs table.
Neither has a foreign key: a per-row FK check on every point costs ingest speed,
and deleting a run removes its rows explicitly (Store.delete_run).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Roll-up levels: level L groups steps by step >> BUCKET_SHIFTS[L - 1].
BUCKET_SHIFTS: tuple[int, ...] = (6, 8, 10, 12, 14, 16, 18, 20)

projects = Table(
    "projects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(32), nullable=False, unique=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("framework", String(64), nullable=True),
    Column("host", String(255), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("command", Text, nullable=True),
    Column("notes", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("ended_at", Double, nullable=True),
    Column("heartbeat_at", Double, nullable=True),
    Index("ix_runs_project_created", "project_id", "created_at"),
    Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
)

params = Table(
    "params", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),  # JSON text
    Index("ix_params_key_run", "key", "run_id"),  # + value on SQLite (migration 0003)
)

tags = Table(
    "tags", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

metric_keys = Table(
    "metric_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
)

points_head = Table(
    "points_head", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("step", BigInteger, primary_key=True, autoincrement=False),
    Column("wall_time", Double, nullable=False),
    Column("value", Double, nullable=True),  # SQLite stores NaN as NULL: read back as NaN
    sqlite_with_rowid=False,
)

# On PostgreSQL a chunk is arrays (steps BIGINT[] or NULL when regular, walls DOUBLE
# PRECISION[], vals DOUBLE PRECISION[] or vals4 REAL[]) in place of `data`, so SQL can
# unnest it (migration 0005, point_chunks.CHUNK_COLUMNS_PG).
point_chunks = Table(
    "point_chunks", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("first_step", BigInteger, primary_key=True, autoincrement=False),
    Column("last_step", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # storage/db/chunk_codec.py
    # A rowid table on SQLite (its key is a separate index): a chunk (~5 KB) spills
    # into overflow pages, and an index B-tree (WITHOUT ROWID) keeps at most ~1 KB of
    # a row in its leaf, so the last overflow page of most chunks was half empty:
    # 7.8 bytes a point on disk for 4.9 of payload. A table leaf keeps up to ~4 KB
    # and SQLite then fills every overflow page (bench/chunks.py, bytes).
)

point_buckets = Table(
    "point_buckets", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False),
    Column("min_step", BigInteger, nullable=False),
    Column("min_wall", Double, nullable=False),
    Column("min_value", Double, nullable=True),  # NULL: every value in the bucket is NaN
    Column("max_step", BigInteger, nullable=False),
    Column("max_wall", Double, nullable=False),
    Column("max_value", Double, nullable=True),
    sqlite_with_rowid=False,
)

metric_summaries = Table(
    "metric_summaries", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False),
    Column("first_step", BigInteger, nullable=False),
    Column("last_step", BigInteger, nullable=False),
    Column("last_wall", Double, nullable=False),
    Column("last_value", Double, nullable=True),
    Column("min_step", BigInteger, nullable=False),
    Column("min_value", Double, nullable=True),
    Column("max_step", BigInteger, nullable=False),
    Column("max_value", Double, nullable=True),
    Index("ix_metric_summaries_key_run", "key_id", "run_id", "last_value", "min_value",
          "max_value"),
    sqlite_with_rowid=False,
)

# -- media (migration 0004): histograms, images and texts per step -----------------
#
# One row per logged value, never per bucket or pixel: a histogram's edges and counts
# are packed, compressed arrays (storage/media/packing.py); an image row points at its
# encoded bytes by content hash, so an image logged twice is stored once. The bytes
# live behind one seam, storage/db/blobs.py (the `blobs` table here; an object store
# later). media_series names each (run, kind, key) once and keeps its step range, so
# listing a run's media keys never scans the values. No foreign keys on the value
# tables (as for points); deleting a run removes their rows explicitly.

MEDIA_KINDS: tuple[str, ...] = ("histogram", "image", "text")

media_series = Table(
    "media_series", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # one of MEDIA_KINDS
    Column("key", String(255), nullable=False),
    Column("count", BigInteger, nullable=False),  # steps with a value
    Column("first_step", BigInteger, nullable=False),
    Column("last_step", BigInteger, nullable=False),
    UniqueConstraint("run_id", "kind", "key", name="uq_media_series_run_kind_key"),
)

histograms = Table(
    "histograms", metadata,
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("step", BigInteger, primary_key=True, autoincrement=False),
    Column("logged_at", Double, nullable=False),  # the log() call: orders rewrites
    Column("wall_time", Double, nullable=False),  # as logged (data)
    Column("count", Double, nullable=False),  # every value, NaN and infinities included
    Column("nan_count", BigInteger, nullable=False),
    Column("posinf_count", BigInteger, nullable=False),
    Column("neginf_count", BigInteger, nullable=False),
    Column("min", Double, nullable=True),  # of the finite values; NULL when there are none
    Column("max", Double, nullable=True),
    Column("sum", Double, nullable=True),
    Column("sum_squares", Double, nullable=True),
    Column("buckets", Integer, nullable=False),
    Column("edges", LargeBinary, nullable=False),  # packing.pack_edges: buckets + 1 values
    Column("counts", LargeBinary, nullable=False),  # packing.pack_array: buckets values
    sqlite_with_rowid=False,
)

images = Table(
    "images", metadata,
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("step", BigInteger, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),  # place in the step's strip
    Column("logged_at", Double, nullable=False),  # the log() call: orders rewrites
    Column("wall_time", Double, nullable=False),  # as logged (data)
    Column("blob", String(64), nullable=False),  # sha256 hex of the encoded bytes
    Column("format", String(8), nullable=False),  # webp, png, jpeg, gif
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("channels", SmallInteger, nullable=False),
    Column("caption", Text, nullable=True),
    Index("ix_images_blob", "blob"),
    sqlite_with_rowid=False,
)

texts = Table(
    "texts", metadata,
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("step", BigInteger, primary_key=True, autoincrement=False),
    Column("logged_at", Double, nullable=False),  # the log() call: orders rewrites
    Column("wall_time", Double, nullable=False),  # as logged (data)
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

blobs = Table(
    "blobs", metadata,
    Column("hash", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
