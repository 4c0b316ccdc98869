"""Score history: one row per account per run (score, tier, plays), for `healthsync history` and trends.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "score_history",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True, nullable=False),
        sa.Column("account_key", sa.String(255), primary_key=True, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("health_score", sa.Integer, nullable=False),
        sa.Column("health_tier", sa.String(16), nullable=False),
        sa.Column("plays", sa.JSON, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
    )
    op.create_index("ix_score_history_account", "score_history", ["account_key", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_score_history_account", table_name="score_history")
    op.drop_table("score_history")
