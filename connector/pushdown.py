"""The per-account aggregation, pushed down into the database as SQL generated with SQLAlchemy Core.

The three logical tables arrive as SQLAlchemy selectables with the logical column names (SPEC section 2). Events go
through one pass:

    events -> classified (epoch seconds + the first rejection reason, or NULL when accepted)
           -> one GROUP BY (account [, user], reason) with conditional aggregates (CASE, portable to every dialect)

Accepted rows come back as one row per account (or per account and user); rejected rows as one row per reason, so
`accepted + rejected = read` holds by construction. Timestamps become UTC epoch seconds through :class:`EpochSeconds`,
compiled per dialect; windows and day buckets are arithmetic on epoch seconds with bound parameters. The account
pass joins one row per account (its start) when the plays' trial signal is on. The Segment schema is mapped onto the
logical tables in :mod:`connector.segment`.
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


def _share_aggregates(rows: Subquery, config: ScoringConfig, window: Window) -> list[ColumnElement[Any]]:
    """Per configured share: its events (`share_num_<i>`) and the events it is a share of (`share_den_<i>`) in W."""
    ts = rows.c.ts
    in_w = sa.and_(ts >= sa.literal(window.start, sa.Float()), ts < sa.literal(window.as_of, sa.Float()))
    columns: list[ColumnElement[Any]] = []
    for index, share in enumerate(config.shares.values()):
        columns.append(sa.func.sum(_flag(sa.and_(in_w, rows.c.event.in_(share.events)))).label(f"share_num_{index}"))
        columns.append(sa.func.sum(_flag(sa.and_(in_w, rows.c.event.in_(share.among)))).label(f"share_den_{index}"))
    return columns


def _persona_aggregates(rows: Subquery, config: ScoringConfig, window: Window) -> list[ColumnElement[Any]]:
    """Per user: distinct full weeks active (`active_weeks`) and each workflow's count in its last days."""
    if not config.personas:
        return []
    ts = rows.c.ts
    as_of = sa.literal(window.as_of, sa.Float())
    weeks = window.window_days // 7
    in_weeks = sa.and_(ts >= sa.literal(window.as_of - weeks * 7 * DAY, sa.Float()), ts < as_of)
    week = DayFloor((as_of - ts) / sa.literal(7 * DAY, sa.Float()))
    columns: list[ColumnElement[Any]] = [sa.func.count(sa.distinct(sa.case((in_weeks, week)))).label("active_weeks")]
    for index, (_, flow) in enumerate(config.workflows()):
        recent = sa.and_(ts >= sa.literal(window.as_of - flow.within_days * DAY, sa.Float()), ts < as_of)
        columns.append(sa.func.sum(_flag(sa.and_(recent, rows.c.event == flow.event))).label(f"workflow_{index}"))
    return columns


def trial_days(config: ScoringConfig) -> int:
    """The trial length the multi_user_activation play compares against; 0 when the signal is off."""
    play = config.plays.multi_user_activation
    return play.trial_days if play.enabled else 0


def _account_starts(accounts: FromClause) -> Subquery:
    """One row per account id with its start (`created_epoch`, epoch seconds; the earliest if listed twice)."""
    start = sa.func.min(EpochSeconds(accounts.c.created_at)).label("created_epoch")
    query = sa.select(accounts.c.account_id, start).where(accounts.c.account_id.is_not(None))
    return query.group_by(accounts.c.account_id).subquery("hs_account_starts")


def _trial_events(rows: Subquery, starts: Subquery, days: int, window: Window) -> ColumnElement[Any]:
    """Events in [created_at, created_at + days) before as_of."""
    ts = rows.c.ts
    end = starts.c.created_epoch + sa.literal(days * DAY, sa.Float())
    trial = sa.and_(ts >= starts.c.created_epoch, ts < end, ts < sa.literal(window.as_of, sa.Float()))
    return sa.func.sum(_flag(trial)).label("trial_events")


def activity_query(
    rows: Subquery, config: ScoringConfig, window: Window, *, by_user: bool, accounts: FromClause | None = None
) -> Select[Any]:
    """One GROUP BY over the classified events: a row per accepted account (and user), a row per rejection reason.

    Accounts also get the share counts and, when `accounts` (with a `created_at` column) is given and the trial
    signal is on, `trial_events` (a join with one row per account); users get the persona counts.
    """
    keys = [rows.c.account_key.label("account_id")]
    if by_user:
        keys.append(rows.c.user_key.label("user_id"))
    group = [rows.c.account_key, *([rows.c.user_key] if by_user else []), rows.c.reason]
    columns = _aggregates(rows, config, window, by_user)
    if by_user:
        return sa.select(*keys, rows.c.reason, *columns, *_persona_aggregates(rows, config, window)).group_by(*group)
    columns += _share_aggregates(rows, config, window)
    days = trial_days(config)
    if accounts is None or days <= 0 or "created_at" not in accounts.c:
        return sa.select(*keys, rows.c.reason, *columns).group_by(*group)
    starts = _account_starts(accounts)
    joined = rows.outerjoin(starts, rows.c.account_key == starts.c.account_id)
    columns.append(_trial_events(rows, starts, days, window))
    return sa.select(*keys, rows.c.reason, *columns).select_from(joined).group_by(*group)


def sample_query(rows: Subquery, reason: str, limit: int, columns: Sequence[str]) -> Select[Any]:
    """Up to `limit` rows rejected for `reason`, with their logical column values."""
    return sa.select(*(rows.c[name] for name in columns)).where(rows.c.reason == _text(reason)).limit(limit)
