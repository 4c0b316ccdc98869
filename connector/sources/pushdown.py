"""The per-account aggregation, pushed down into the database as SQL generated with SQLAlchemy Core.

The three logical tables arrive as SQLAlchemy selectables with the logical column names (SPEC section 2). Events go
through one pass:

    events -> classified (epoch seconds + the first row-local or duplicate reason, or NULL when accepted)
           -> one GROUP BY (account [, user], reason) with conditional aggregates (CASE, portable to every dialect)
           -> unknown accounts classified on the aggregated rows (an outer join with the distinct account ids)

Accepted rows come back as one row per account (or per account and user); rejected rows as one row per reason (and
per unknown account), so `accepted + rejected = read` holds by construction. `rollup.py` builds the
one-pass (per user, day bit masks) query from the same pieces. Timestamps become UTC epoch seconds through
:class:`EpochSeconds`, compiled per dialect; windows and day buckets are arithmetic on epoch seconds with bound
parameters. The plays' trial events come from a separate query bounded to the trial period (`trial.py`). The Segment
schema is mapped onto the logical tables in `segment.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause, Select, Subquery

from healthsync.connector.sources.plan import capabilities
from healthsync.connector.sources.sqlfunctions import (
    CountIf,
    DayFloor,
    EpochSeconds,
    Instant,
    KthSmallest,
    temporal_kind,
)
from healthsync.scoring.config import ScoringConfig

__all__ = ["DayFloor", "EpochSeconds"]  # re-exported: the logical tables' users build on them

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
    """The instants of one run in epoch seconds: as_of, the wall clock `now`, the window length, and how far back
    the "ever" columns look (`lookback_days`: the latest event, the activation steps; None: all history).

    `scan_from`: the lower bound of every event scan (None: no bound). :func:`window_of` sets it to the furthest
    the run looks back: the lookback or the windows' reach, whichever is longer; the backtest shares one for all
    its snapshots (the earliest one's)."""

    as_of: float
    now: float
    window_days: int
    lookback_days: int | None = None
    scan_from: float | None = None

    @property
    def start(self) -> float:
        return self.as_of - self.window_days * DAY

    @property
    def prev_start(self) -> float:
        return self.as_of - 2 * self.window_days * DAY

    @property
    def history_start(self) -> float | None:
        """The first instant the "ever" columns count (None: all history)."""
        return None if self.lookback_days is None else self.as_of - self.lookback_days * DAY


def reach_days(config: ScoringConfig) -> int:
    """How many days before as_of the windowed columns look: two windows, the last 7 days, the workflows."""
    return max(2 * config.window_days, 7, *(flow.within_days for _, flow in config.workflows()))


def scan_start(as_of: float, config: ScoringConfig) -> float:
    """The earliest instant a read as of `as_of` needs: `lookback_days` or the windows' reach before it."""
    return as_of - max(config.lookback_days, reach_days(config)) * DAY


def window_of(as_of: float, now: float, config: ScoringConfig, scan_from: float | None = None) -> Window:
    """The window of a read as of `as_of` with `config`, its scans bounded to :func:`scan_start` (or `scan_from`)."""
    since = scan_start(as_of, config) if scan_from is None else scan_from
    return Window(as_of, now, config.window_days, config.lookback_days, since)


def _text(value: str) -> ColumnElement[str]:
    """A constant string literal (only ever one of the fixed reason names)."""
    return sa.literal_column(f"'{value}'", sa.String())


def _row_rules(rows: FromClause, now: float) -> list[tuple[ColumnElement[bool], str]]:
    """The row-local rejection reasons with the condition of each, in their order of precedence."""
    return [
        (rows.c.account_id.is_(None), "missing_account_id"),
        (rows.c.user_id.is_(None), "missing_user_id"),
        (rows.c.event.is_(None), "missing_event"),
        (rows.c.ts.is_(None), "unparseable_timestamp"),
        (rows.c.ts > sa.literal(now, sa.Float()), "future_timestamp"),
    ]


def _pre_reason(rows: FromClause, now: float) -> ColumnElement[str]:
    """The first row-local rejection reason of a row (NULL when none applies)."""
    return sa.case(*((condition, _text(reason)) for condition, reason in _row_rules(rows, now)))


def _known_accounts(accounts: FromClause) -> Select[Any]:
    return sa.select(accounts.c.account_id).where(accounts.c.account_id.is_not(None))


@dataclass(frozen=True)
class Classified:
    """Every event row with `ts` (epoch seconds), `reason` (the first row-local or duplicate reason, NULL when
    accepted), the accepted grouping keys, and `hs_dups` (duplicates folded into a kept row, GROUP BY dedup only).

    `accepted` holds only the accepted rows (`account_key`, `user_key`, `event`, `ts`), for the queries that count
    nothing else (activation, per-event counts). Without event_id it filters on the columns themselves: plain
    predicates the database pushes into its scan (DuckDB into the Parquet reader), where the CASE of `reason` has to
    be computed on every row first (at 50M events 2.7 s instead of 4.6 s per query on DuckDB).

    Unknown accounts are not classified here: :func:`known_or_unknown` does it on the aggregated rows.
    """

    rows: Subquery
    accounts: FromClause
    accepted: Subquery


def _with_ranks(rows: FromClause, now: float) -> Subquery:
    """Rows with their pre-reason and, among the rows that passed it, the rank within their event_id.

    Rows without an event_id are never duplicates: they are spread over partitions by account, user and instant
    (their rank is not read), so that they do not all land in one window partition (one worker on a warehouse).
    """
    pre = sa.select(*rows.c, _pre_reason(rows, now).label("pre")).subquery("hs_pre")
    spread = [sa.case((pre.c.event_id.is_(None), pre.c[name])) for name in ("account_id", "user_id", "ts")]
    rank = sa.func.row_number().over(
        partition_by=[pre.c.event_id, pre.c.pre, *spread],
        order_by=[pre.c.ts, pre.c.account_id, pre.c.user_id, pre.c.event],
    )
    return sa.select(*pre.c, rank.label("rn")).subquery("hs_ranked")


def _grouped_dedup(base: Subquery, now: float) -> Subquery:
    """DuckDB: one GROUP BY event_id keeps the first row (min of the ordering tuple) and counts the others.

    A hash aggregate spills to disk under a memory limit; a window over every event holds them all.
    """
    pre = sa.select(*base.c, _pre_reason(base, now).label("pre")).subquery("hs_pre")
    candidate = sa.and_(pre.c.pre.is_(None), pre.c.event_id.is_not(None))
    order = ["ts", "account_id", "user_id", "event", *(c.key for c in base.c if c.key not in _ORDER)]
    first = sa.func.min(sa.func.row(*(pre.c[name] for name in order))).label("hs_first")
    groups = sa.select(pre.c.event_id, first, sa.func.count().label("hs_n")).where(candidate).group_by(pre.c.event_id)
    kept = groups.subquery("hs_kept")
    position = {name: index + 1 for index, name in enumerate(order)}

    def field(name: str) -> ColumnElement[Any]:
        if name == "event_id":
            return kept.c.event_id
        return sa.func.struct_extract(kept.c.hs_first, position[name]).label(name)

    zero = sa.literal_column("0", sa.Integer())
    others = sa.select(*pre.c[: len(base.c)], pre.c.pre.label("reason"), zero.label("hs_dups")).where(~candidate)
    firsts = sa.select(*(field(c.key) for c in base.c), sa.null().label("reason"), (kept.c.hs_n - 1).label("hs_dups"))
    return sa.union_all(others, firsts).subquery("hs_reasoned")


_ORDER = ("ts", "account_id", "user_id", "event")


def since(events: FromClause, moment: float, dialect: str) -> tuple[list[ColumnElement[bool]], bool]:
    """The rows from `moment` on as predicates on the raw timestamp column, which the engine can prune on, and
    whether they are exact. Where the dialect compares typed columns (`Capabilities.raw_bounds`), a typed column
    is compared with a literal of its type (`sqlfunctions.Instant`; exact, except a date column: its day), NULL
    kept (it is rejected as unparseable); ISO text (`Capabilities.iso_text`, SQLite) is compared as text from the
    day before (a value with any UTC offset sorts after it), values that are not text or do not parse kept (they
    are rejected). Otherwise nothing: :func:`classified` bounds the parsed instant, which no engine prunes on."""
    caps = capabilities(dialect)
    column = events.c.timestamp
    kind = temporal_kind(column)
    if kind is not None and caps.raw_bounds:
        return [sa.or_(column >= Instant(moment, kind), column.is_(None))], kind != "date"
    if kind is None and caps.iso_text:
        text = sa.func.typeof(column) == sa.literal_column("'text'")
        return [sa.or_(~text, column >= Instant(moment, "text"), EpochSeconds(column).is_(None))], False
    return [], False


def classified(
    tables: LogicalTables,
    now: float,
    *,
    group_dedup: bool = False,
    fence: bool = False,
    since_epoch: float | None = None,
    dialect: str = "",
) -> Classified:
    """The classified event rows; `group_dedup` (DuckDB only) deduplicates event_id with a GROUP BY.

    `since_epoch`: only the events from that instant on are read (and those whose instant is unknown, which are
    rejected): :func:`since` on the raw column, and the parsed instant compared as well where that is not exact
    (text keeps its parse, which decides as without the bound; a date column compares its day).

    `fence` (PostgreSQL) puts `OFFSET 0` on the subquery that computes the epoch seconds: the planner then keeps it
    as its own scan and computes `ts` once per row, instead of inlining the expression into its every use. That
    holds for a timestamptz column too: without the fence the one-pass query took 36 s instead of 17 s at 5M events
    (serial; 23 s over two parallel workers), so the fence stays although it keeps the aggregation in one process.
    """
    events = tables.events
    base_query = sa.select(*events.c, EpochSeconds(events.c.timestamp).label("ts"))
    raw, exact = since(events, since_epoch, dialect) if since_epoch is not None else ([], True)
    base = (base_query.where(*raw).offset(0) if fence else base_query.where(*raw)).subquery("hs_base")
    if since_epoch is not None and not exact:
        parsed = sa.or_(base.c.ts >= sa.literal(since_epoch, sa.Float()), base.c.ts.is_(None))
        base = sa.select(*base.c).where(parsed).subquery("hs_since")
    if tables.has_event_id and group_dedup:
        reasoned = _grouped_dedup(base, now)
    else:
        if tables.has_event_id:
            rows = _with_ranks(base, now)
            duplicate = sa.and_(rows.c.pre.is_(None), rows.c.event_id.is_not(None), rows.c.rn > 1)
            reason: ColumnElement[str] = sa.case(
                (rows.c.pre.is_not(None), rows.c.pre), (duplicate, _text("duplicate_event_id"))
            )
            columns = [rows.c[column.key] for column in base.c]
        else:
            reason = _pre_reason(base, now)
            columns = list(base.c)
        reasoned = sa.select(*columns, reason.label("reason")).subquery("hs_reasoned")
    accepted = reasoned.c.reason.is_(None)
    account_key = sa.case((accepted, reasoned.c.account_id)).label("account_key")
    user_key = sa.case((accepted, reasoned.c.user_id)).label("user_key")
    rows = sa.select(*reasoned.c, account_key, user_key).subquery("hs_classified")
    if tables.has_event_id:  # a duplicate is only known after the deduplication
        kept = sa.select(rows.c.account_key, rows.c.user_key, rows.c.event, rows.c.ts).where(rows.c.reason.is_(None))
    else:
        kept = sa.select(
            base.c.account_id.label("account_key"), base.c.user_id.label("user_key"), base.c.event, base.c.ts
        ).where(*_passes(base, now))
    return Classified(rows, tables.accounts, kept.subquery("hs_accepted"))


def _passes(rows: FromClause, now: float) -> list[ColumnElement[bool]]:
    """The rows :func:`_pre_reason` gives no reason, as plain predicates (`x IS NOT NULL`, `ts <= now`)."""
    return [sa.not_(condition) for condition, _ in _row_rules(rows, now)]


def known_or_unknown(grouped: Select[Any], accounts: FromClause) -> Select[Any]:
    """The aggregated rows with `reason` 'unknown_account' where an accepted row's account is not in accounts.

    One outer join of the (few) aggregated rows with the distinct known ids, instead of a check on every event.
    """
    rows = grouped.subquery("hs_grouped")
    known = _known_accounts(accounts).distinct().subquery("hs_known")
    unknown = sa.and_(rows.c.reason.is_(None), known.c.account_id.is_(None))
    reason = sa.case((unknown, _text("unknown_account")), else_=rows.c.reason).label("reason")
    columns = [reason if column.key == "reason" else column for column in rows.c]
    joined = rows.outerjoin(known, rows.c.account_id == known.c.account_id)
    return sa.select(*columns).select_from(joined)


def duplicated_events(tables: LogicalTables, since_epoch: float | None = None, dialect: str = "") -> LogicalTables:
    """The logical tables with only the events whose event_id occurs more than once (for duplicate samples), among
    those from `since_epoch` on (all without it)."""
    events = tables.events
    bounded: list[ColumnElement[bool]] = []
    if since_epoch is not None:
        bounded, exact = since(events, since_epoch, dialect)
        if not exact:
            epoch = EpochSeconds(events.c.timestamp)
            bounded.append(sa.or_(epoch >= sa.literal(since_epoch, sa.Float()), epoch.is_(None)))
    ids = sa.select(events.c.event_id).where(events.c.event_id.is_not(None), *bounded).group_by(events.c.event_id)
    repeated = ids.having(sa.func.count() > 1)
    subset = sa.select(*events.c).where(events.c.event_id.in_(repeated), *bounded).subquery("hs_duplicated")
    return LogicalTables(subset, tables.accounts, tables.users, tables.labels)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return sa.case((condition, sa.literal_column("1", sa.Integer())), else_=sa.literal_column("0", sa.Integer()))


def _weight(rows: FromClause, config: ScoringConfig) -> ColumnElement[float]:
    default = sa.literal(float(config.default_weight), sa.Float())
    if not config.weights:
        return default
    whens = {event: sa.literal(float(weight), sa.Float()) for event, weight in config.weights.items()}
    return sa.case(whens, value=rows.c.event, else_=default)


def bounds(rows: Subquery, window: Window) -> dict[str, ColumnElement[bool]]:
    """W (the window), P (the previous one), the last 7 days, and everything before as_of."""
    ts = rows.c.ts
    as_of = sa.literal(window.as_of, sa.Float())
    return {
        "w": sa.and_(ts >= sa.literal(window.start, sa.Float()), ts < as_of),
        "p": sa.and_(ts >= sa.literal(window.prev_start, sa.Float()), ts < sa.literal(window.start, sa.Float())),
        "7d": sa.and_(ts >= sa.literal(window.as_of - 7 * DAY, sa.Float()), ts < as_of),
        "before": _history(rows, window),
    }


def _history(rows: FromClause, window: Window) -> ColumnElement[bool]:
    """The "ever" columns' range: the `lookback_days` before as_of (all history before it without a lookback)."""
    before = rows.c.ts < sa.literal(window.as_of, sa.Float())
    if window.history_start is None:
        return before
    return sa.and_(rows.c.ts >= sa.literal(window.history_start, sa.Float()), before)


def day_bucket(rows: Subquery, window: Window, days: int = 1) -> ColumnElement[float]:
    """floor((as_of - ts) / `days` days): 0 for the last `days` days before as_of."""
    return DayFloor((sa.literal(window.as_of, sa.Float()) - rows.c.ts) / sa.literal(days * DAY, sa.Float()))


def counts(rows: Subquery, config: ScoringConfig, window: Window) -> list[ColumnElement[Any]]:
    """Rows read (and, with GROUP BY dedup, duplicates folded in), events and weights in W and P."""
    within = bounds(rows, window)
    weight = _weight(rows, config)
    zero = sa.literal(0.0, sa.Float())
    columns: list[ColumnElement[Any]] = [sa.func.count().label("n_rows")]
    if "hs_dups" in rows.c:
        columns.append(sa.func.sum(rows.c.hs_dups).label("duplicates"))
    return [
        *columns,
        CountIf(within["w"]).label("events"),
        CountIf(within["p"]).label("events_prev"),
        sa.func.sum(sa.case((within["w"], weight), else_=zero)).label("raw"),
        sa.func.sum(sa.case((within["p"], weight), else_=zero)).label("raw_prev"),
    ]


def latest_features_steps(rows: Subquery, config: ScoringConfig, window: Window) -> list[ColumnElement[Any]]:
    """The latest event before as_of, a flag per feature used in W, a count per activation step before as_of."""
    within = bounds(rows, window)
    columns: list[ColumnElement[Any]] = [sa.func.max(sa.case((within["before"], rows.c.ts))).label("last_active_epoch")]
    for index, events in enumerate(config.features.values()):
        columns.append(sa.func.max(_flag(sa.and_(within["w"], rows.c.event.in_(events)))).label(f"feature_{index}"))
    for index, step in enumerate(config.activation_steps):
        flag = sa.and_(within["before"], rows.c.event == step.event)
        columns.append(CountIf(flag).label(f"step_{index}"))
    return columns


def event_count_query(events: Classified, config: ScoringConfig, window: Window) -> Select[Any]:
    """Per accepted account and weighted event: its count in W (`w`) and in P (`p`), for the explanations.

    Its own GROUP BY (account, event) over the rows of W and P: ~10 rows per account, where the same counts as 2 x
    (weighted events) conditional aggregates of the one-pass query cost a third of that query's time.
    """
    rows = events.accepted
    within = bounds(rows, window)
    wanted = sa.and_(
        rows.c.event.in_(sorted(config.weights)),
        rows.c.ts >= sa.literal(window.prev_start, sa.Float()),
        rows.c.ts < sa.literal(window.as_of, sa.Float()),
    )
    counted = sa.select(
        rows.c.account_key.label("account_id"),
        rows.c.event.label("event"),
        CountIf(within["w"]).label("w"),
        CountIf(within["p"]).label("p"),
    )
    grouped = counted.where(wanted).group_by(rows.c.account_key, rows.c.event).subquery("hs_event_counts")
    return sa.select(*grouped.c)


def activation_query(events: Classified, config: ScoringConfig, window: Window, dialect: str) -> Select[Any]:
    """Per account, the instant (epoch seconds) its last activation step was met: the `min_count`-th event of
    each step among the accepted step events of the lookback before as_of; NULL while any step is unmet.

    One GROUP BY account with the k-th smallest instant per step where the dialect has that aggregate (or every
    step needs only its first event: `min`); elsewhere a window function numbers each account's step events.
    """
    rows = events.accepted
    steps = config.activation_steps
    wanted = sa.and_(_history(rows, window), rows.c.event.in_(sorted({step.event for step in steps})))
    if capabilities(dialect).kth_smallest or all(step.min_count == 1 for step in steps):
        met: list[ColumnElement[Any]] = [
            KthSmallest(sa.case((rows.c.event == step.event, rows.c.ts)), step.min_count) for step in steps
        ]
        source: FromClause = rows
        filters = [wanted]
    else:
        rank = sa.func.row_number().over(partition_by=[rows.c.account_key, rows.c.event], order_by=rows.c.ts)
        ranked = sa.select(rows.c.account_key, rows.c.event, rows.c.ts, rank.label("rn")).where(wanted)
        source = ranked.subquery("hs_nth")
        filters = []
        met = [
            sa.func.min(sa.case((sa.and_(source.c.event == step.event, source.c.rn == step.min_count), source.c.ts)))
            for step in steps
        ]
    last: ColumnElement[Any] = met[0]
    for moment in met[1:]:  # the latest of them, portably (SQLite has no GREATEST)
        last = sa.case((moment > last, moment), else_=last)
    every = sa.and_(*(moment.is_not(None) for moment in met))
    activated = sa.case((every, last)).label("activated_epoch")
    key = source.c.account_key
    return sa.select(key.label("account_id"), activated).where(*filters).group_by(key)


def steps_and_counts_query(events: Classified, config: ScoringConfig, window: Window, dialect: str) -> Select[Any]:
    """:func:`activation_query` and :func:`event_count_query` in one scan: per accepted account and event (the
    step events of the lookback, the weighted events of W and P), its counts in W (`w`) and P (`p`) and, per step i,
    the instant of its `min_count`-th event (`step_at_<i>`, on that step's event's rows); `load.py` turns the rows
    into the two results. One scan of the events where the two queries made two."""
    rows = events.accepted
    steps = config.activation_steps
    as_of = sa.literal(window.as_of, sa.Float())
    weighted = sa.and_(rows.c.event.in_(sorted(config.weights)), rows.c.ts >= sa.literal(window.prev_start, sa.Float()))
    history = _history(rows, window)  # the steps count within the lookback; the weighted events within W and P
    stepped = sa.and_(rows.c.event.in_(sorted({step.event for step in steps})), history)
    wanted = sa.and_(rows.c.ts < as_of, sa.or_(weighted, stepped))
    within = bounds(rows, window)
    if capabilities(dialect).kth_smallest or all(step.min_count == 1 for step in steps):
        source: FromClause = rows
        filters = [wanted]
        met: list[ColumnElement[Any]] = [
            KthSmallest(sa.case((sa.and_(rows.c.event == step.event, history), rows.c.ts)), step.min_count)
            for step in steps
        ]
    else:
        seen = _flag(history).label("hs_seen")
        order = sa.func.row_number().over(partition_by=[rows.c.account_key, rows.c.event, seen], order_by=rows.c.ts)
        source = sa.select(*rows.c, seen, order.label("rn")).where(wanted).subquery("hs_nth")
        filters = []
        met = [
            sa.func.min(
                sa.case(
                    (
                        sa.and_(source.c.event == step.event, source.c.hs_seen == 1, source.c.rn == step.min_count),
                        source.c.ts,
                    )
                )
            )
            for step in steps
        ]
        within = bounds(source, window)
    columns = [
        source.c.account_key.label("account_id"),
        source.c.event.label("event"),
        CountIf(within["w"]).label("w"),
        CountIf(within["p"]).label("p"),
        *(moment.label(f"step_at_{index}") for index, moment in enumerate(met)),
    ]
    return sa.select(*columns).where(*filters).group_by(source.c.account_key, source.c.event)


def _aggregates(rows: Subquery, config: ScoringConfig, window: Window, by_user: bool) -> list[ColumnElement[Any]]:
    within = bounds(rows, window)
    day = day_bucket(rows, window)
    columns = counts(rows, config, window)
    if not by_user:
        columns.append(sa.func.count(sa.distinct(sa.case((within["w"], rows.c.user_id)))).label("active_users"))
        columns.append(sa.func.count(sa.distinct(sa.case((within["p"], rows.c.user_id)))).label("active_users_prev"))
    columns += [
        sa.func.count(sa.distinct(sa.case((within["w"], day)))).label("active_days"),
        sa.func.count(sa.distinct(sa.case((within["7d"], day)))).label("active_days_7d"),
    ]
    return columns + latest_features_steps(rows, config, window)


def share_counts(rows: Subquery, config: ScoringConfig, window: Window) -> list[ColumnElement[Any]]:
    """Per configured share: its events (`share_num_<i>`) and the events it is a share of (`share_den_<i>`) in W."""
    in_w = bounds(rows, window)["w"]
    columns: list[ColumnElement[Any]] = []
    for index, share in enumerate(config.shares.values()):
        columns.append(CountIf(sa.and_(in_w, rows.c.event.in_(share.events))).label(f"share_num_{index}"))
        columns.append(CountIf(sa.and_(in_w, rows.c.event.in_(share.among))).label(f"share_den_{index}"))
    return columns


def full_weeks(rows: Subquery, window: Window) -> ColumnElement[bool]:
    """The window_days // 7 full weeks before as_of (the weeks `active_weeks` counts)."""
    weeks = window.window_days // 7
    start = sa.literal(window.as_of - weeks * 7 * DAY, sa.Float())
    return sa.and_(rows.c.ts >= start, rows.c.ts < sa.literal(window.as_of, sa.Float()))


def workflow_counts(rows: Subquery, config: ScoringConfig, window: Window) -> list[ColumnElement[Any]]:
    """Per user, with personas: each workflow's count in its last `within_days` days."""
    ts = rows.c.ts
    as_of = sa.literal(window.as_of, sa.Float())
    columns: list[ColumnElement[Any]] = []
    for index, (_, flow) in enumerate(config.workflows()):
        recent = sa.and_(ts >= sa.literal(window.as_of - flow.within_days * DAY, sa.Float()), ts < as_of)
        columns.append(CountIf(sa.and_(recent, rows.c.event == flow.event)).label(f"workflow_{index}"))
    return columns


def _persona_aggregates(rows: Subquery, config: ScoringConfig, window: Window) -> list[ColumnElement[Any]]:
    """Per user: distinct full weeks active (`active_weeks`) and each workflow's count in its last days."""
    if not config.personas:
        return []
    week = day_bucket(rows, window, 7)
    active = sa.func.count(sa.distinct(sa.case((full_weeks(rows, window), week)))).label("active_weeks")
    return [active, *workflow_counts(rows, config, window)]


def grouped(
    events: Classified, config: ScoringConfig, window: Window, columns: list[ColumnElement[Any]], *, by_user: bool
) -> Select[Any]:
    """One GROUP BY (account [, user], reason) of `columns`, then the unknown accounts classified on the aggregated
    rows. (Trial events are a separate, range-bounded query: `trial.py`.)"""
    rows = events.rows
    keys = [rows.c.account_key.label("account_id")]
    if by_user:
        keys.append(rows.c.user_key.label("user_id"))
    group = [rows.c.account_key, *([rows.c.user_key] if by_user else []), rows.c.reason]
    query = sa.select(*keys, rows.c.reason, *columns)
    return known_or_unknown(query.group_by(*group), events.accounts)


def activity_query(events: Classified, config: ScoringConfig, window: Window, *, by_user: bool) -> Select[Any]:
    """One GROUP BY over the classified events with COUNT(DISTINCT) for users and days (the portable path): a row
    per accepted account (or account and user), a row per rejection reason, a row per unknown account (and user).

    Accounts also get the share counts; users get the persona counts.
    """
    columns = _aggregates(events.rows, config, window, by_user)
    if by_user:
        columns += _persona_aggregates(events.rows, config, window)
    else:
        columns += share_counts(events.rows, config, window)
    return grouped(events, config, window, columns, by_user=by_user)


def sample_query(
    events: Classified, reasons: Sequence[str], limit: int, columns: Sequence[str], duplicates: Classified | None = None
) -> Select[Any]:
    """One query for the samples of every reason: up to `limit` rejected rows per reason, with `reason` and their
    logical column values. `duplicates` (GROUP BY dedup, which folds duplicates away) classifies the events whose
    event_id repeats with the window dedup, for the duplicate_event_id samples."""
    parts = [_rejected_rows(events, columns, duplicates is not None)]
    if duplicates is not None and "duplicate_event_id" in reasons:
        rows = duplicates.rows
        dup = _text("duplicate_event_id")
        parts.append(sa.select(*(rows.c[name] for name in columns), dup.label("reason")).where(rows.c.reason == dup))
    rejected = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("hs_rejected")
    order = [rejected.c[name] for name in columns]
    rank = sa.func.row_number().over(partition_by=[rejected.c.reason], order_by=order).label("hs_rank")
    wanted = [_text(reason) for reason in reasons]
    ranked = sa.select(*rejected.c, rank).where(rejected.c.reason.in_(wanted)).subquery("hs_samples")
    picked = sa.select(*(ranked.c[name] for name in (*columns, "reason"))).where(ranked.c.hs_rank <= limit)
    return picked.order_by(ranked.c.reason, ranked.c.hs_rank)


def _rejected_rows(events: Classified, columns: Sequence[str], without_duplicates: bool) -> Select[Any]:
    """The rows rejected for a row-local reason, a duplicate, or an unknown account (an outer join with the ids)."""
    rows = events.rows
    known = _known_accounts(events.accounts).distinct().subquery("hs_known_ids")
    unknown = sa.and_(rows.c.reason.is_(None), known.c.account_id.is_(None))
    reason = sa.case((unknown, _text("unknown_account")), else_=rows.c.reason).label("reason")
    joined = rows.outerjoin(known, rows.c.account_id == known.c.account_id)
    query = sa.select(*(rows.c[name] for name in columns), reason).select_from(joined)
    rejected = sa.or_(rows.c.reason.is_not(None), known.c.account_id.is_(None))
    if without_duplicates:
        rejected = sa.and_(rejected, sa.or_(rows.c.reason.is_(None), rows.c.reason != _text("duplicate_event_id")))
    return query.where(rejected)
