"""The per-account aggregation, pushed down into the database as SQL generated with SQLAlchemy Core.

The three logical tables arrive as SQLAlchemy selectables with the logical column names (SPEC section 2). Events go
through one pass:

    events -> classified (epoch seconds + the first rejection reason, or NULL when accepted)
           -> one GROUP BY (account [, user], reason) with conditional aggregates (CASE, portable to every dialect)

Accepted rows come back as one row per account (or per account and user); rejected rows as one row per reason, so
`accepted + rejected = read` holds by construction. Timestamps become UTC epoch seconds through :class:`EpochSeconds`,
compiled per dialect; windows and day buckets are arithmetic on epoch seconds with bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, FromClause, Select, Subquery
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from connector.errors import SourceError
from scoring.config import ScoringConfig

DAY = 86400.0
EVENT_REASONS = (
    "missing_account_id",
    "missing_user_id",
    "missing_event",
    "unparseable_timestamp",
    "future_timestamp",
    "duplicate_event_id",
    "unknown_account",
)
EVENT_COLUMNS = ("account_id", "user_id", "event", "timestamp")
# A loose ISO-8601 shape: guards the text -> timestamptz cast on PostgreSQL < 16 (no pg_input_is_valid there).
_PG_ISO = r"^\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?\s*$"


class EpochSeconds(FunctionElement[float]):
    """UTC epoch seconds (float) of a timestamp column, or NULL when the value does not parse as one."""

    type = sa.Float()
    name = "epoch_seconds"
    inherit_cache = True


class DayFloor(FunctionElement[float]):
    """floor() of a non-negative number (a day bucket)."""

    type = sa.Float()
    name = "day_floor"
    inherit_cache = True


def _arg(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> tuple[str, bool]:
    """The compiled argument and whether its SQL type is known to be a date/time type."""
    (clause,) = element.clauses
    temporal = isinstance(getattr(clause, "type", None), sa.DateTime | sa.Date)
    return compiler.process(clause, **kw), temporal


@compiles(EpochSeconds)
def _epoch_default(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    value, _ = _arg(element, compiler, **kw)
    return f"CAST(EXTRACT(EPOCH FROM CAST({value} AS TIMESTAMP)) AS DOUBLE PRECISION)"


@compiles(EpochSeconds, "duckdb")
def _epoch_duckdb(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # Typed columns skip the cast: TRY_CAST to TIMESTAMPTZ goes through ICU and costs about a third of the scan.
    value, temporal = _arg(element, compiler, **kw)
    return f"epoch({value})" if temporal else f"epoch(TRY_CAST({value} AS TIMESTAMPTZ))"


@compiles(EpochSeconds, "sqlite")
def _epoch_sqlite(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps timestamps as ISO text; julianday() is NULL for text it cannot parse. Rounded to milliseconds.
    value, _ = _arg(element, compiler, **kw)
    return (
        f"(CASE WHEN typeof({value}) = 'text' THEN round((julianday({value}) - 2440587.5) * 86400000.0) / 1000.0 END)"
    )


@compiles(EpochSeconds, "postgresql")
def _epoch_postgresql(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    value, temporal = _arg(element, compiler, **kw)
    if temporal:
        return f"CAST(EXTRACT(EPOCH FROM {value}) AS DOUBLE PRECISION)"
    text = f"CAST({value} AS TEXT)"
    version = compiler.dialect.server_version_info
    valid = (
        f"pg_input_is_valid({text}, 'timestamptz')" if version is None or version >= (16,) else f"{text} ~ '{_PG_ISO}'"
    )
    return f"(CASE WHEN {valid} THEN CAST(EXTRACT(EPOCH FROM CAST({text} AS TIMESTAMPTZ)) AS DOUBLE PRECISION) END)"


@compiles(EpochSeconds, "snowflake")
def _epoch_snowflake(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    value, temporal = _arg(element, compiler, **kw)
    stamp = value if temporal else f"TRY_TO_TIMESTAMP_TZ(TO_VARCHAR({value}))"
    return f"(DATE_PART(epoch_millisecond, {stamp}) / 1000.0)"


@compiles(EpochSeconds, "bigquery")
def _epoch_bigquery(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    value, _ = _arg(element, compiler, **kw)
    return f"(UNIX_MICROS(SAFE_CAST({value} AS TIMESTAMP)) / 1000000)"


@compiles(DayFloor)
def _floor_default(element: DayFloor, compiler: SQLCompiler, **kw: Any) -> str:
    value, _ = _arg(element, compiler, **kw)
    return f"FLOOR({value})"


@compiles(DayFloor, "sqlite")
def _floor_sqlite(element: DayFloor, compiler: SQLCompiler, **kw: Any) -> str:
    # floor() needs SQLite's optional math functions; truncation equals floor for the non-negative day buckets.
    value, _ = _arg(element, compiler, **kw)
    return f"CAST({value} AS INTEGER)"


@dataclass(frozen=True)
class LogicalTables:
    """The three logical tables as selectables with logical column names; `label` names each for messages."""

    events: FromClause
    accounts: FromClause
    users: FromClause
    labels: dict[str, str]

    @property
    def has_event_id(self) -> bool:
        return "event_id" in self.events.c


@dataclass(frozen=True)
class Window:
    """The instants of one run in epoch seconds: as_of, the wall clock `now`, and the window length."""

    as_of: float
    now: float
    window_days: int

    @property
    def start(self) -> float:
        return self.as_of - self.window_days * DAY

    @property
    def prev_start(self) -> float:
        return self.as_of - 2 * self.window_days * DAY


def _text(value: str) -> ColumnElement[str]:
    """A constant string literal (only ever one of the fixed reason names)."""
    return sa.literal_column(f"'{value}'", sa.String())


def _pre_reason(rows: FromClause, now: float) -> ColumnElement[str]:
    """The row-local rejection reasons, in their order of precedence."""
    return sa.case(
        (rows.c.account_id.is_(None), _text("missing_account_id")),
        (rows.c.user_id.is_(None), _text("missing_user_id")),
        (rows.c.event.is_(None), _text("missing_event")),
        (rows.c.ts.is_(None), _text("unparseable_timestamp")),
        (rows.c.ts > sa.literal(now, sa.Float()), _text("future_timestamp")),
    )


def _known_accounts(accounts: FromClause) -> Select[Any]:
    return sa.select(accounts.c.account_id).where(accounts.c.account_id.is_not(None))


def _with_ranks(rows: FromClause, now: float) -> Subquery:
    """Rows with their pre-reason and, among the rows that passed it, the rank within their event_id."""
    pre = sa.select(*rows.c, _pre_reason(rows, now).label("pre")).subquery("hs_pre")
    rank = sa.func.row_number().over(
        partition_by=[pre.c.event_id, pre.c.pre],
        order_by=[pre.c.ts, pre.c.account_id, pre.c.user_id, pre.c.event],
    )
    return sa.select(*pre.c, rank.label("rn")).subquery("hs_ranked")


def classified(tables: LogicalTables, now: float) -> Subquery:
    """Every event row with `ts` (epoch seconds), `reason` (NULL when accepted) and the accepted grouping keys."""
    events = tables.events
    base = sa.select(*events.c, EpochSeconds(events.c.timestamp).label("ts")).subquery("hs_base")
    if tables.has_event_id:
        rows = _with_ranks(base, now)
        duplicate = sa.and_(rows.c.pre.is_(None), rows.c.event_id.is_not(None), rows.c.rn > 1)
        reason = sa.case(
            (rows.c.pre.is_not(None), rows.c.pre),
            (duplicate, _text("duplicate_event_id")),
            (rows.c.account_id.in_(_known_accounts(tables.accounts)), sa.null()),
            else_=_text("unknown_account"),
        )
        columns = [rows.c[column.key] for column in base.c]
    else:
        pre = _pre_reason(base, now)
        known = base.c.account_id.in_(_known_accounts(tables.accounts))
        reason = sa.case((pre.is_not(None), pre), (known, sa.null()), else_=_text("unknown_account"))
        columns = list(base.c)
    reasoned = sa.select(*columns, reason.label("reason")).subquery("hs_reasoned")
    accepted = reasoned.c.reason.is_(None)
    account_key = sa.case((accepted, reasoned.c.account_id)).label("account_key")
    user_key = sa.case((accepted, reasoned.c.user_id)).label("user_key")
    return sa.select(*reasoned.c, account_key, user_key).subquery("hs_classified")


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return sa.case((condition, sa.literal_column("1", sa.Integer())), else_=sa.literal_column("0", sa.Integer()))


def _weight(rows: FromClause, config: ScoringConfig) -> ColumnElement[float]:
    default = sa.literal(float(config.default_weight), sa.Float())
    if not config.weights:
        return default
    whens = {event: sa.literal(float(weight), sa.Float()) for event, weight in config.weights.items()}
    return sa.case(whens, value=rows.c.event, else_=default)


def _aggregates(rows: Subquery, config: ScoringConfig, window: Window, by_user: bool) -> list[ColumnElement[Any]]:
    ts = rows.c.ts
    as_of = sa.literal(window.as_of, sa.Float())
    in_w = sa.and_(ts >= sa.literal(window.start, sa.Float()), ts < as_of)
    in_p = sa.and_(ts >= sa.literal(window.prev_start, sa.Float()), ts < sa.literal(window.start, sa.Float()))
    in_7 = sa.and_(ts >= sa.literal(window.as_of - 7 * DAY, sa.Float()), ts < as_of)
    day = DayFloor((as_of - ts) / sa.literal(DAY, sa.Float()))
    weight = _weight(rows, config)
    zero = sa.literal(0.0, sa.Float())
    columns: list[ColumnElement[Any]] = [
        sa.func.count().label("n_rows"),
        sa.func.sum(_flag(in_w)).label("events"),
        sa.func.sum(_flag(in_p)).label("events_prev"),
        sa.func.sum(sa.case((in_w, weight), else_=zero)).label("raw"),
        sa.func.sum(sa.case((in_p, weight), else_=zero)).label("raw_prev"),
    ]
    if not by_user:
        columns.append(sa.func.count(sa.distinct(sa.case((in_w, rows.c.user_id)))).label("active_users"))
        columns.append(sa.func.count(sa.distinct(sa.case((in_p, rows.c.user_id)))).label("active_users_prev"))
    columns += [
        sa.func.count(sa.distinct(sa.case((in_w, day)))).label("active_days"),
        sa.func.count(sa.distinct(sa.case((in_7, day)))).label("active_days_7d"),
        sa.func.max(sa.case((ts < as_of, ts))).label("last_active_epoch"),
    ]
    for index, events in enumerate(config.features.values()):
        columns.append(sa.func.max(_flag(sa.and_(in_w, rows.c.event.in_(events)))).label(f"feature_{index}"))
    for index, step in enumerate(config.activation_steps):
        columns.append(sa.func.sum(_flag(sa.and_(ts < as_of, rows.c.event == step.event))).label(f"step_{index}"))
    return columns


def activity_query(rows: Subquery, config: ScoringConfig, window: Window, *, by_user: bool) -> Select[Any]:
    """One GROUP BY over the classified events: a row per accepted account (and user), a row per rejection reason."""
    keys = [rows.c.account_key.label("account_id")]
    if by_user:
        keys.append(rows.c.user_key.label("user_id"))
    group = [rows.c.account_key, *([rows.c.user_key] if by_user else []), rows.c.reason]
    return sa.select(*keys, rows.c.reason, *_aggregates(rows, config, window, by_user)).group_by(*group)


def sample_query(rows: Subquery, reason: str, limit: int, columns: Sequence[str]) -> Select[Any]:
    """Up to `limit` rows rejected for `reason`, with their logical column values."""
    return sa.select(*(rows.c[name] for name in columns)).where(rows.c.reason == _text(reason)).limit(limit)


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
