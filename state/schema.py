"""The state tables at the head revision, as SQLAlchemy Core metadata (queries only; DDL lives in migrations).

lease          one row per lock name: who holds it and until when
runs           one row per `healthsync` run: command, status, exit code, counts per destination, and the
               fingerprint and JSON of its scoring configuration (revision 0005)
records        what each destination last acknowledged, per (destination, object type, key)
rejections     records a destination refused, with the reason; open until acknowledged later
tasks          task intents and their remote ids, so a task is created exactly once (Slack alerts too)
score_history  one row per account per run: score, tier, plays (revision 0003)
read_marks     per (destination, object type): where the bounded reads of the next run start (revision 0006)
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the state store only takes timezone-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

lease = sa.Table(
    "lease",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("token", sa.String(32), nullable=False),
    sa.Column("acquired_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String(64), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON, nullable=True),  # revision 0002
    sa.Column("scoring_fingerprint", sa.String(16), nullable=True),  # revision 0005
    sa.Column("scoring_config", sa.JSON, nullable=True),  # revision 0005
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("destination", sa.String(64), primary_key=True, nullable=False),
    sa.Column("object_type", sa.String(64), primary_key=True, nullable=False),
    sa.Column("key", sa.Text, primary_key=True, nullable=False),
    sa.Column("remote_id", sa.Text, nullable=True),
    sa.Column("values", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

rejections = sa.Table(
    "rejections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("destination", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(64), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Index("ix_rejections_lookup", "destination", "object_type", "key", "resolved_at"),  # revision 0002
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("destination", sa.String(64), primary_key=True, nullable=False),
    sa.Column("identity", sa.Text, primary_key=True, nullable=False),
    sa.Column("trace_id", sa.String(64), nullable=False),
    sa.Column("account_key", sa.Text, nullable=False),
    sa.Column("play", sa.String(64), nullable=False),
    sa.Column("period", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("remote_id", sa.Text, nullable=True),
    sa.Column("intended_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Index("ix_tasks_status", "destination", "status"),
)

score_history = sa.Table(
    "score_history",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True, nullable=False),
    sa.Column("account_key", sa.Text, primary_key=True, nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("health_score", sa.Integer, nullable=False),
    sa.Column("health_tier", sa.String(16), nullable=False),
    sa.Column("plays", sa.JSON, nullable=False),
    sa.Column("values", sa.JSON, nullable=False),
    sa.Index("ix_score_history_account", "account_key", "run_id"),
)

read_marks = sa.Table(
    "read_marks",
    metadata,
    sa.Column("destination", sa.String(64), primary_key=True, nullable=False),
    sa.Column("object_type", sa.String(64), primary_key=True, nullable=False),
    sa.Column("changed_since", UTCDateTime(), nullable=True),
    sa.Column("verify_cursor", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
