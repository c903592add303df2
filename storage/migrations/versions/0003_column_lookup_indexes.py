"""Index params by key and summaries by metric: the runs table shows a few chosen
param and metric columns out of many, and without these indexes each one scans
every run's rows (both primary keys start with run_id).

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
    op.create_index("ix_params_key_run", "params", ["key", "run_id"])
    op.create_index("ix_metric_summaries_key_run", "metric_summaries", ["key_id", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_metric_summaries_key_run", table_name="metric_summaries")
    op.drop_index("ix_params_key_run", table_name="params")
