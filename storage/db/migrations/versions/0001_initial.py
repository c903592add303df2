"""The first released schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Self-contained on purpose: it must keep creating exactly the first schema even
after schema.py moves on.
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("framework", sa.String(64)),
        sa.Column("host", sa.String(255)),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("command", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double),
        sa.Column("heartbeat_at", sa.Double),
    )
    op.create_index("ix_runs_project_created", "runs", ["project_id", "created_at"])
    for name in ("params", "tags"):
        op.create_table(
            name,
            sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"),
                      primary_key=True),
            sa.Column("key", sa.String(255), primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    op.create_table(
        "metric_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
    )
    op.create_table(
        "points",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("wall_time", sa.Double, nullable=False),
        sa.Column("value", sa.Double),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "point_buckets",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("bucket", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("min_step", sa.BigInteger, nullable=False),
        sa.Column("min_wall", sa.Double, nullable=False),
        sa.Column("min_value", sa.Double),
        sa.Column("max_step", sa.BigInteger, nullable=False),
        sa.Column("max_wall", sa.Double, nullable=False),
        sa.Column("max_value", sa.Double),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "metric_summaries",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_step", sa.BigInteger, nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("last_wall", sa.Double, nullable=False),
        sa.Column("last_value", sa.Double),
        sa.Column("min_step", sa.BigInteger, nullable=False),
        sa.Column("min_value", sa.Double),
        sa.Column("max_step", sa.BigInteger, nullable=False),
        sa.Column("max_value", sa.Double),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for name in ("metric_summaries", "point_buckets", "points", "metric_keys", "tags",
                 "params", "runs", "projects"):
        op.drop_table(name)
