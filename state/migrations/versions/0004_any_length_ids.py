"""Ids of any length: record keys, remote ids and task identities become TEXT (PostgreSQL enforced 255).

An account id of 300 characters failed every run on PostgreSQL after HubSpot had committed the batch. SQLite
does not enforce VARCHAR lengths, so there the columns are only retyped in the model.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

COLUMNS = {
    "records": ("key", "remote_id"),
    "rejections": ("key",),
    "tasks": ("identity", "account_key", "remote_id"),
    "score_history": ("account_key",),
}


def _retype(to: sa.types.TypeEngine[str], existing: sa.types.TypeEngine[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        for column in columns:
            op.alter_column(table, column, type_=to, existing_type=existing)


def upgrade() -> None:
    _retype(sa.Text(), sa.String(255))


def downgrade() -> None:
    _retype(sa.String(255), sa.Text())
