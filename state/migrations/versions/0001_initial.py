"""Initial schema: lease, runs, records, rejections, tasks.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lease",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("acquired_at", _UTC, nullable=False),
        sa.Column("expires_at", _UTC, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("command", sa.String(64), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("counts", sa.JSON, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=True),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("destination", "object_type", "key", name="pk_records"),
    )
    op.create_table(
        "rejections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", name="fk_rejections_run"), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_seen_at", _UTC, nullable=False),
        sa.Column("last_seen_at", _UTC, nullable=False),
        sa.Column("resolved_at", _UTC, nullable=True),
    )
    op.create_table(
        "tasks",
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("identity", sa.String(255), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("account_key", sa.String(255), nullable=False),
        sa.Column("play", sa.String(64), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=True),
        sa.Column("intended_at", _UTC, nullable=False),
        sa.Column("created_at", _UTC, nullable=True),
        sa.Column("completed_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("destination", "identity", name="pk_tasks"),
    )
    op.create_index("ix_tasks_status", "tasks", ["destination", "status"])


def downgrade() -> None:
    op.drop_index("ix_tasks_status", table_name="tasks")
    for table in ("tasks", "rejections", "records", "runs", "lease"):
        op.drop_table(table)
