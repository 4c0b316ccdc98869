"""Run summary (JSON) for `healthsync state`, and an index for looking up open rejections by record.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("summary", sa.JSON, nullable=True))
    op.create_index("ix_rejections_lookup", "rejections", ["destination", "object_type", "key", "resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_rejections_lookup", table_name="rejections")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("summary")
