"""Index params by key and summaries by metric: the runs table shows a few chosen
param and metric columns out of many, and without these indexes each one scans
every run's rows (both primary keys start with run_id). The indexes cover the
values too, so a column is read from the index alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # PostgreSQL caps an index entry at ~2.7 kB and a param's JSON can be longer,
    # so there the index leaves the value out.
    covering = op.get_bind().dialect.name == "sqlite"
    op.create_index("ix_params_key_run", "params",
                    ["key", "run_id", "value"] if covering else ["key", "run_id"])
    op.create_index("ix_metric_summaries_key_run", "metric_summaries",
                    ["key_id", "run_id", "last_value", "min_value", "max_value"])


def downgrade() -> None:
    op.drop_index("ix_metric_summaries_key_run", table_name="metric_summaries")
    op.drop_index("ix_params_key_run", table_name="params")
