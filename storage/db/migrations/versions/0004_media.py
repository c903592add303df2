"""Media: histograms, images and texts per step, and the blobs images point at.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10

Self-contained (as 0001): it must keep creating exactly these tables after schema.py
moves on. Downgrading drops every logged histogram, image and text.
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("first_step", sa.BigInteger, nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("run_id", "kind", "key", name="uq_media_series_run_kind_key"),
    )
    op.create_table(
        "histograms",
        sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("logged_at", sa.Double, nullable=False),
        sa.Column("wall_time", sa.Double, nullable=False),
        sa.Column("count", sa.Double, nullable=False),
        sa.Column("nan_count", sa.BigInteger, nullable=False),
        sa.Column("posinf_count", sa.BigInteger, nullable=False),
        sa.Column("neginf_count", sa.BigInteger, nullable=False),
        sa.Column("min", sa.Double),
        sa.Column("max", sa.Double),
        sa.Column("sum", sa.Double),
        sa.Column("sum_squares", sa.Double),
        sa.Column("buckets", sa.Integer, nullable=False),
        sa.Column("edges", sa.LargeBinary, nullable=False),
        sa.Column("counts", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "images",
        sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("logged_at", sa.Double, nullable=False),
        sa.Column("wall_time", sa.Double, nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("channels", sa.SmallInteger, nullable=False),
        sa.Column("caption", sa.Text),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_images_blob", "images", ["blob"])
    op.create_table(
        "texts",
        sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("logged_at", sa.Double, nullable=False),
        sa.Column("wall_time", sa.Double, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "blobs",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Encoded images do not compress: keep PostgreSQL from trying (TOAST's pglz)
        # on every one; they are still stored out of line.
        op.execute("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    for name in ("blobs", "texts", "images", "histograms", "media_series"):
        op.drop_table(name)
