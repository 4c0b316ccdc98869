"""The Segment / RudderStack warehouse schema (`tracks`, `identifies`, `groups`) mapped onto the three logical tables.

Events are `tracks` (the account from `context_group_id`, else the user's latest group call); accounts the latest
`groups` call per group; users the latest `identifies` call per user. Traits are read where the columns exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause, Subquery

from healthsync.connector.sources.pushdown import EpochSeconds, LogicalTables
from healthsync.errors import SourceError

# Segment / RudderStack warehouse schema: logical column -> default physical column, per source table.
SEGMENT_TABLES = {"events": "tracks", "accounts": "groups", "users": "identifies"}
SEGMENT_COLUMNS = {
    "events": {"event_id": "id", "account_id": "context_group_id", "user_id": "user_id", "event": "event"},
    "accounts": {"account_id": "group_id", "user_id": "user_id"},
    "users": {"user_id": "user_id"},
}
SEGMENT_TRAITS = {
    "accounts": ("name", "domain", "plan", "status", "created_at", "seats_limit", "mrr"),
    "users": ("email", "role", "created_at"),
}


@dataclass(frozen=True)
class SegmentSchema:
    """The three Segment tables (reflected FROM clauses), the column overrides, and a label per logical table."""

    tracks: FromClause
    identifies: FromClause
    groups: FromClause
    columns: dict[str, dict[str, str]]
    labels: dict[str, str]

    def source(self, table: str) -> FromClause:
        return {"events": self.tracks, "accounts": self.groups, "users": self.identifies}[table]

    def name(self, table: str, logical: str) -> str:
        default = SEGMENT_COLUMNS[table].get(logical, logical)
        return self.columns.get(table, {}).get(logical, default)

    def column(self, table: str, logical: str) -> ColumnElement[Any]:
        """The physical column of a logical one; a SourceError naming the table and the column when missing."""
        name = self.name(table, logical)
        source = self.source(table)
        if name not in source.c:
            available = ", ".join(source.c.keys())
            raise SourceError(f"{self.labels[table]}: column {name!r} not found (columns: {available})")
        return source.c[name]

    def optional(self, table: str, logical: str) -> ColumnElement[Any] | None:
        """The column when present; None when absent, unless source.columns names it (then it must exist)."""
        if logical in self.columns.get(table, {}) or self.name(table, logical) in self.source(table).c:
            return self.column(table, logical)
        return None


def _latest(key: ColumnElement[Any], stamp: ColumnElement[Any]) -> ColumnElement[int]:
    """row_number() = 1 marks the latest call per key (ties broken arbitrarily)."""
    return sa.func.row_number().over(partition_by=[key], order_by=[EpochSeconds(stamp).desc().nulls_last()])


def _user_groups(schema: SegmentSchema) -> Subquery:
    """Each user's latest group (the account of users, and of tracks without context_group_id)."""
    user = schema.column("accounts", "user_id")
    group = schema.column("accounts", "account_id")
    rank = _latest(user, schema.column("accounts", "timestamp"))
    ranked = sa.select(user.label("user_id"), group.label("account_id"), rank.label("rn")).where(user.is_not(None))
    inner = ranked.subquery("hs_user_groups_ranked")
    return sa.select(inner.c.user_id, inner.c.account_id).where(inner.c.rn == 1).subquery("hs_user_groups")


def _traits(schema: SegmentSchema, table: str) -> list[ColumnElement[Any]]:
    found = ((logical, schema.optional(table, logical)) for logical in SEGMENT_TRAITS[table])
    return [column.label(logical) for logical, column in found if column is not None]


def _segment_accounts(schema: SegmentSchema) -> Subquery:
    group = schema.column("accounts", "account_id")
    rank = _latest(group, schema.column("accounts", "timestamp"))
    ranked = sa.select(group.label("account_id"), *_traits(schema, "accounts"), rank.label("rn"))
    inner = ranked.subquery("hs_groups_ranked")
    return sa.select(*(c for c in inner.c if c.key != "rn")).where(inner.c.rn == 1).subquery("hs_accounts")


def _segment_users(schema: SegmentSchema, groups: Subquery) -> Subquery:
    """The latest identify per user (anonymous identifies carry no user and are left out)."""
    user = schema.column("users", "user_id")
    rank = _latest(user, schema.column("users", "timestamp"))
    ranked = sa.select(user.label("user_id"), *_traits(schema, "users"), rank.label("rn")).where(user.is_not(None))
    inner = ranked.subquery("hs_identifies_ranked")
    traits = [c for c in inner.c if c.key not in ("user_id", "rn")]
    joined = inner.outerjoin(groups, inner.c.user_id == groups.c.user_id)
    query = sa.select(inner.c.user_id, groups.c.account_id, *traits).select_from(joined).where(inner.c.rn == 1)
    return query.subquery("hs_users")


def _segment_events(schema: SegmentSchema, groups: Subquery) -> Subquery:
    """tracks with the account from context_group_id when set, else from the user's latest group."""
    user = schema.column("events", "user_id")
    context = schema.optional("events", "account_id")
    account = groups.c.account_id if context is None else sa.func.coalesce(context, groups.c.account_id)
    columns = [
        account.label("account_id"),
        user.label("user_id"),
        schema.column("events", "event").label("event"),
        schema.column("events", "timestamp").label("timestamp"),
    ]
    event_id = schema.optional("events", "event_id")
    if event_id is not None:
        columns.append(event_id.label("event_id"))
    joined = schema.tracks.outerjoin(groups, user == groups.c.user_id)
    return sa.select(*columns).select_from(joined).subquery("hs_events")


def segment_tables(schema: SegmentSchema) -> LogicalTables:
    """tracks -> events, groups (latest call per group) -> accounts, identifies (latest per user) -> users."""
    groups = _user_groups(schema)
    return LogicalTables(
        events=_segment_events(schema, groups),
        accounts=_segment_accounts(schema),
        users=_segment_users(schema, groups),
        labels=schema.labels,
    )
