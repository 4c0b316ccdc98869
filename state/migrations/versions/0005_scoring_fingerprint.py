"""The scoring configuration of every run: its fingerprint and the configuration itself (JSON).

`healthsync history` marks the runs where the fingerprint changed; `plan` scores the current data again with
the previous run's configuration to count the accounts the change moves. Runs of earlier releases keep NULL in
both columns (their configuration is unknown, not changed).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("scoring_fingerprint", sa.String(16), nullable=True))
        batch.add_column(sa.Column("scoring_config", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("scoring_config")
        batch.drop_column("scoring_fingerprint")
