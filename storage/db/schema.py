"""Table definitions (SQLAlchemy Core). Migrations under migrations/ create them.

The points table is 99% of the bytes and all of the hot path, so it is narrow:
integer run and key ids, an integer step, a float64 wall time and value, keyed by
(run_id, key_id, step) with no rowid on SQLite, so a series is one contiguous range
of the primary-key B-tree and a history read is a single range scan.

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
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
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

points = Table(
    "points", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("step", BigInteger, primary_key=True, autoincrement=False),
    Column("wall_time", Double, nullable=False),
    Column("value", Double, nullable=True),  # SQLite stores NaN as NULL: read back as NaN
    sqlite_with_rowid=False,
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
