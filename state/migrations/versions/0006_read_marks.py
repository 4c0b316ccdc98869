"""Read marks: how far each destination's bounded reads got (issue 25, item 2).

One row per (destination, object type): `changed_since`, the instant the last run's search for records changed
in the destination started (the next run searches from there, less an overlap), and `verify_cursor`, where the
rotating re-verification of remembered ids goes on. No row means "read everything" (a first run, a store from an
earlier release, or a store whose records were forgotten).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "read_marks",
        sa.Column("destination", sa.String(64), primary_key=True, nullable=False),
        sa.Column("object_type", sa.String(64), primary_key=True, nullable=False),
        sa.Column("changed_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verify_cursor", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("read_marks")
