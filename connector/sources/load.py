"""Usage data in: the `sql`, `files` and `segment` sources, read by running a read plan (`plan.py`).

`load_source` opens the source as three logical tables (SPEC section 2), then runs the named statements of its plan
and nothing else: the event pass (pushed down: only per-account, and per-user, rows and per-reason rejection counts
come back, `pushdown.py`, `rollup.py`), the accounts and users tables (validated in pandas: they are small), the
activation moments, the per-event counts, the trial events and the rejected samples. `files` is an in-memory DuckDB
with views over the files; `segment` maps the Segment/RudderStack warehouse schema (`segment.py`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.util
import logging
import warnings
from collections.abc import Callable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql import FromClause, Subquery

from healthsync.connector.settings import Settings, SourceConfig
from healthsync.connector.sources.files import FileRejects, duckdb_engine, file_format, file_view, files_engine
from healthsync.connector.sources.frames import (
    TableReport,
    accounts_frame,
    activity_frame,
    reason_counts,
    sample_values,
    users_frame,
)
from healthsync.connector.sources.plan import (
    Capabilities,
    ReadNeeds,
    ReadPlan,
    Statement,
    capabilities,
    dialect_of,
    opening,
    read_plan,
)
from healthsync.connector.sources.presets import events_mapping, preset_of, projection, skipped_duplicates
from healthsync.connector.sources.pushdown import (
    EVENT_COLUMNS,
    Classified,
    LogicalTables,
    Window,
    activation_query,
    activity_query,
    classified,
    duplicated_events,
    event_count_query,
    sample_query,
    steps_and_counts_query,
    window_of,
)
from healthsync.connector.sources.rollup import account_counts, account_pass_query, roll_up, user_pass_query
from healthsync.connector.sources.segment import SEGMENT_TABLES, SegmentSchema, segment_tables
from healthsync.connector.sources.trial import TrialRange, trial_query, trial_range, with_trial_events
from healthsync.errors import RejectedShareError, SourceError, first_line
from healthsync.scoring.config import ScoringConfig

__all__ = [
    "OpenedSource",
    "SharedReads",
    "SourceData",
    "TableReport",
    "account_ids",
    "arrow_frame",
    "check_rejected_share",
    "explain",
    "load_source",
    "opened_source",
    "planned",
    "read_activation",
    "read_entities",
    "read_trial",
    "read_window",
    "validated_users",
]

_T = TypeVar("_T")
_S = TypeVar("_S", bound=Sized)
log = logging.getLogger("healthsync")
TABLES = ("events", "accounts", "users")
REQUIRED = {
    "events": EVENT_COLUMNS,
    "accounts": ("account_id",),
    "users": ("user_id", "account_id"),
    "outcomes": ("account_id", "outcome", "occurred_at"),
}
OPTIONAL = {
    "events": ("event_id",),
    "accounts": ("name", "domain", "plan", "status", "created_at", "seats_limit", "mrr", "churned_at"),
    "users": ("email", "role", "created_at"),
    "outcomes": ("value",),
}
# DuckDB, ClickHouse (`Nullable(DateTime64(6, 'UTC'))`: the name inside the wrappers) and Spark name their result
# types; other drivers compare equal to the PEP 249 DATETIME type object.
TEMPORAL = frozenset({"DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"})
TEMPORAL_CLICKHOUSE = frozenset({"DATE", "DATE32", "DATETIME", "DATETIME64"})


@dataclass
class SourceData:
    """What the scoring needs: entities, per-account (and per-user) activity, and the input reports."""

    accounts: pd.DataFrame
    users: pd.DataFrame
    account_activity: pd.DataFrame
    user_activity: pd.DataFrame | None
    reports: dict[str, TableReport] = field(default_factory=dict)
    plan: ReadPlan | None = None  # the statements this read ran, with their rows and seconds


def load_source(settings: Settings, as_of: datetime, now: datetime, *, with_users: bool) -> SourceData:
    """Read the configured source as of `as_of`; `now` (wall clock) decides which timestamps lie in the future.

    The read runs the statements of its plan (`plan.py`, :func:`planned`), and only those: the event pass (one
    scan per (account, user) with day masks, rolled up to accounts, where the dialect has a bit_or aggregate;
    elsewhere one COUNT(DISTINCT) query per account and, with `with_users`, a second one per user), the accounts
    and users tables, the activation moments, the per-event counts, the trial events and the rejected samples.
    On a concurrent dialect (`Capabilities.concurrent`) the event pass runs in a second session while this one runs
    the others, so their time hides behind the scan's.
    """
    with opened_source(settings) as opened:
        return read_window(opened, settings, as_of, now, with_users=with_users)


@dataclass(frozen=True)
class OpenedSource:
    """A connection to the source, its logical tables, and the lines of CSV files DuckDB could not read."""

    conn: sa.Connection
    tables: LogicalTables
    file_rejects: dict[str, FileRejects]
    opening: list[Statement] = field(default_factory=list)  # the statements that opened it (`plan.opening`)


@contextmanager
def opened_source(settings: Settings) -> Iterator[OpenedSource]:
    """The source opened once, for one read (`load_source`) or several (`healthsync backtest`'s snapshots)."""
    with _opened(settings) as (conn, tables, file_rejects):
        caps = capabilities(conn.dialect.name)
        formats = _formats(settings) if settings.source.kind == "files" else None
        statements = opening(caps, settings.source.kind, formats, _projected(settings))
        yield OpenedSource(conn, tables, file_rejects, statements)


@dataclass(frozen=True)
class SharedReads:
    """Results a caller already holds for this `as_of` (the backtest reads them once for every snapshot): the
    activation moments (`activated_epoch` per account), the per-event counts (`account_id`, `event`, `w`, `p` of
    the weighted events), the trial events (`account_id`, `trial_events`), the entity tables as fetched and the
    event pass's rows; None = read them here."""

    moments: pd.DataFrame | None = None
    per_event: pd.DataFrame | None = None
    trial: pd.DataFrame | None = None
    entities: tuple[pd.DataFrame, pd.DataFrame] | None = None  # the accounts and users tables as fetched
    # the event pass's (account rows, user rows, events report), computed for every snapshot at once
    event_rows: tuple[pd.DataFrame, pd.DataFrame | None, TableReport] | None = None
    # the accepted users and their report (`users_frame`): they depend on which accounts are accepted, and that
    # does not depend on `as_of` (a later `created_at` is nulled, the account stays)
    users: tuple[pd.DataFrame, TableReport] | None = None
    # the lower bound of the event scans (epoch seconds) when it is not this read's own (`pushdown.window_of`): the
    # backtest reads every snapshot from the earliest one's, so that its reads and their reports agree
    scan_from: float | None = None


def read_window(
    opened: OpenedSource,
    settings: Settings,
    as_of: datetime,
    now: datetime,
    *,
    with_users: bool,
    shared: SharedReads | None = None,
) -> SourceData:
    """One read of the opened source as of `as_of` (see :func:`load_source`): the statements of :func:`planned`."""
    shared = shared or SharedReads()
    source = settings.source
    conn, tables, file_rejects = opened.conn, opened.tables, opened.file_rejects
    plan = planned(capabilities(conn.dialect.name), settings, with_users=with_users, shared=shared)
    plan.opening = opened.opening
    window = window_of(as_of.timestamp(), now.timestamp(), settings.scoring, shared.scan_from)
    plan.since = window.scan_from
    for line in plan.lines():
        log.debug(line)
    label = f"aggregating {tables.labels['events']}"
    events = _classified(conn, tables, window)  # the one classification every events query builds on
    with _event_rows(conn, label, lambda session: _event_pass(session, events, settings, window, plan), shared) as (
        passed
    ):
        raw_accounts, raw_users = shared.entities or (
            _fetch(conn, tables, "accounts", plan),
            _fetch(conn, tables, "users", plan),
        )
        accounts, accounts_report = accounts_frame(raw_accounts, source.sample_rows, window.as_of)
        if shared.users is not None:
            users, users_report = shared.users[0], copy.deepcopy(shared.users[1])
        else:
            users, users_report = validated_users(opened, raw_users, accounts, source.sample_rows)
        with _translated(label):
            moments, per_event = shared.moments, shared.per_event
            if "steps_and_counts" in plan.names:
                moments, per_event = _steps_and_counts(conn, events, settings, window, plan)
            if moments is None:
                moments = _activation(conn, events, settings, window, plan)
            if per_event is None:
                per_event = _per_event(conn, events, settings, window, plan)
            trial = shared.trial
            if trial is None:
                trial = _trial_counts(conn, tables, settings, window, as_of, accounts, plan)
            account_raw, user_raw, events_report = passed()
            events_report = skipped_duplicates(events_report, source)
    with _translated(label):
        account_raw = _with_moments(account_raw, moments)
        account_raw = _with_event_counts(account_raw, per_event, settings.scoring)
        if trial is not None:
            account_raw = with_trial_events(account_raw, trial)
        if events_report.rejected and source.sample_rows > 0 and not events_report.samples:
            events_report.samples = _samples(
                conn, tables, events, list(events_report.rejected), source.sample_rows, window, plan
            )
    reports = {"events": events_report, "accounts": accounts_report, "users": users_report}
    for table, rejects in file_rejects.items():
        if table in reports:
            reports[table].add_rejects(rejects.counts, rejects.samples, source.sample_rows)
    check_rejected_share(reports, source.max_rejected_share)
    return SourceData(
        accounts=accounts,
        users=users,
        account_activity=activity_frame(account_raw, settings.scoring, by_user=False),
        user_activity=None if user_raw is None else activity_frame(user_raw, settings.scoring, by_user=True),
        reports=reports,
        plan=plan,
    )


def validated_users(
    opened: OpenedSource, raw_users: pd.DataFrame, accounts: pd.DataFrame, sample_rows: int
) -> tuple[pd.DataFrame, TableReport]:
    """The accepted users of the fetched users table and their report (`frames.users_frame`)."""
    rejected_ids = opened.file_rejects["accounts"].ids if "accounts" in opened.file_rejects else set()
    return users_frame(raw_users, sample_rows, accounts, rejected_ids)


def planned(caps: Capabilities, settings: Settings, *, with_users: bool, shared: SharedReads | None = None) -> ReadPlan:
    """The read plan of one read with `settings` on a dialect with `caps` (the reads `shared` holds left out)."""
    shared = shared or SharedReads()
    held = {
        name
        for name, value in (
            ("event_pass", shared.event_rows),
            ("entities", shared.entities),
            ("activation", shared.moments),
            ("event_counts", shared.per_event),
            ("trial", shared.trial),
        )
        if value is not None
    }
    config = settings.scoring
    needs = ReadNeeds(
        with_users=with_users,
        window_days=config.window_days,
        activation=bool(config.activation_steps),
        weights=bool(config.weights),
        samples=settings.source.sample_rows > 0,
        held=frozenset(held),
    )
    return read_plan(caps, needs)


def explain(settings: Settings, *, with_users: bool) -> ReadPlan:
    """The plan of `healthsync score` (`--users`: `with_users`) with `settings`, without connecting: the dialect
    from the source's kind and URL; user rows also where the account table needs them (personas, ...)."""
    source = settings.source
    caps = capabilities(dialect_of(source.kind, source.url))
    users = with_users or settings.scoring.needs_user_activity()
    plan = planned(caps, settings, with_users=users)
    plan.opening = opening(
        caps, source.kind, _formats(settings) if source.kind == "files" else None, _projected(settings)
    )
    return plan


def _projected(settings: Settings) -> frozenset[str]:
    """The tables whose view selects from the file's columns: a preset's events (`presets.py`)."""
    return frozenset({"events"}) if preset_of(settings.source) is not None else frozenset()


def _formats(settings: Settings) -> dict[str, str]:
    """The format of each file of a files source (`csv`, `json`, `parquet`), from its name."""
    specs = {table: getattr(settings.source, table) for table in TABLES}
    return {table: file_format(settings.resolve(spec), table) for table, spec in specs.items() if spec}


@contextmanager
def concurrently(conn: sa.Connection, label: str, work: Callable[[sa.Connection], _T]) -> Iterator[Callable[[], _T]]:
    """Run `work` on a second session of `conn`'s engine (in a thread) when the dialect gains from it, else on
    `conn` when its result is first asked for. Yields the function that returns (or raises) the result.

    Should the body fail while the second session still works, its statement is cancelled (where the driver can)
    and awaited before the error propagates, so no session outlives the read.
    """
    if not capabilities(conn.dialect.name).concurrent:  # a Parquet file is scanned one row group per DuckDB thread
        yield lambda: work(conn)
        return
    session: dict[str, sa.Connection] = {}

    def run() -> _T:
        with _translated(label), conn.engine.connect() as side:
            session["conn"] = side
            _prepare(side)
            return work(side)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthsync-source") as pool:
        future = pool.submit(run)
        try:
            yield future.result
        except BaseException:
            _cancel(session.get("conn"))
            raise


def _event_rows(
    conn: sa.Connection, label: str, work: Callable[[sa.Connection], _T], shared: SharedReads
) -> contextlib.AbstractContextManager[Callable[[], _T]]:
    """:func:`concurrently` running the event pass, or the rows the caller already holds (`shared.event_rows`)."""
    if shared.event_rows is None:
        return concurrently(conn, label, work)
    held: Any = shared.event_rows
    return contextlib.nullcontext(lambda: held)


def _cancel(conn: sa.Connection | None) -> None:
    """Ask the database to stop the session's running statement (psycopg's thread-safe cancel, DuckDB's interrupt;
    others: nothing)."""
    if conn is None or conn.closed:  # the statement ended (the session is closed): nothing runs any more
        return
    raw = getattr(conn.connection, "dbapi_connection", None)
    cancel = getattr(raw, "cancel", None) or getattr(raw, "interrupt", None)
    if callable(cancel):
        with contextlib.suppress(Exception):
            cancel()


def _event_pass(
    conn: sa.Connection, events: Classified, settings: Settings, window: Window, plan: ReadPlan
) -> tuple[pd.DataFrame, pd.DataFrame | None, TableReport]:
    """The aggregated account rows, user rows (when the plan has them) and the events report (counts per reason):
    the plan's one-pass statement (`events_per_user`, `events_per_account`) or its COUNT(DISTINCT) ones."""
    config = settings.scoring
    user_raw: pd.DataFrame | None = None
    names = plan.names
    if "events_per_user" in names:
        query = _ordered(user_pass_query(events, config, window), "account_id", "user_id")
        both = _run(conn, query, plan, "events_per_user")
        account_raw, user_raw = roll_up(both, config)
        report = reason_counts("events", both)
    elif "events_per_account" in names:
        query = _ordered(account_pass_query(events, config, window), "account_id")
        account_raw = account_counts(_run(conn, query, plan, "events_per_account"))
        report = reason_counts("events", account_raw)
    else:
        account_raw = _run(conn, activity_query(events, config, window, by_user=False), plan, "activity_per_account")
        if "activity_per_user" in names:
            user_raw = _run(conn, activity_query(events, config, window, by_user=True), plan, "activity_per_user")
        report = reason_counts("events", account_raw)
    return account_raw, user_raw, report


def _run(conn: sa.Connection, query: sa.Select[Any], plan: ReadPlan | None, name: str) -> pd.DataFrame:
    """The result of the plan's statement `name` as a frame (see :func:`_timed`)."""
    return _timed(plan, name, lambda: _frame(conn, query))


def _timed(plan: ReadPlan | None, name: str, work: Callable[[], _S]) -> _S:
    """`work`'s result, timed and its rows counted as the plan's statement `name`; without a plan, just the result."""
    if plan is None:
        return work()
    with plan.run(name) as counted:
        result = work()
        counted(len(result))
    return result


def _classified(conn: sa.Connection, tables: LogicalTables, window: Window) -> Classified:
    """The classified events from `window.scan_from` on, as this dialect reads them best (GROUP BY dedup on
    DuckDB, a fence on PostgreSQL)."""
    dialect = conn.dialect.name
    caps = capabilities(dialect)
    return classified(
        tables,
        window.now,
        group_dedup=caps.group_dedup,
        fence=caps.fence,
        since_epoch=window.scan_from,
        dialect=dialect,
    )


def _activation(
    conn: sa.Connection, events: Classified, settings: Settings, window: Window, plan: ReadPlan | None = None
) -> pd.DataFrame | None:
    """Per account, the instant its activation steps were all met (None without activation steps)."""
    if not settings.scoring.activation_steps:
        return None
    return _run(conn, activation_query(events, settings.scoring, window, conn.dialect.name), plan, "activation")


def read_activation(
    opened: OpenedSource,
    settings: Settings,
    as_of: datetime,
    now: datetime,
    *,
    since: float | None = None,
    lookback: bool = True,
) -> pd.DataFrame | None:
    """The activation moments as of `as_of` (None without activation steps): `activated_epoch` per account, among
    the events of the lookback before `as_of` (all those read without `lookback`), read from `since` on (default:
    the read's own bound, `pushdown.window_of`)."""
    window = window_of(as_of.timestamp(), now.timestamp(), settings.scoring, since)
    if not lookback:
        window = dataclasses.replace(window, lookback_days=None)
    events = _classified(opened.conn, opened.tables, window)
    with _translated(f"aggregating {opened.tables.labels['events']}"):
        return _activation(opened.conn, events, settings, window)


def read_entities(opened: OpenedSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The accounts and users tables as fetched (before validation), for :attr:`SharedReads.entities`."""
    return _fetch(opened.conn, opened.tables, "accounts"), _fetch(opened.conn, opened.tables, "users")


def read_trial(
    opened: OpenedSource,
    span: TrialRange,
    as_of: datetime,
    now: datetime,
    window_days: int,
    since: float | None = None,
) -> pd.DataFrame:
    """The trial events of the accounts that started within `span`, counted up to `as_of` (with an event_id, among
    the events from `since` on: the duplicates the other reads see)."""
    window = Window(as_of.timestamp(), now.timestamp(), window_days, None, since)
    with _translated(f"aggregating {opened.tables.labels['events']}"):
        return _frame(opened.conn, trial_query(opened.tables, span, window, opened.conn.dialect.name))


def _per_event(
    conn: sa.Connection, events: Classified, settings: Settings, window: Window, plan: ReadPlan | None = None
) -> pd.DataFrame | None:
    """Per account and weighted event, the counts in W and P (None without weights)."""
    if not settings.scoring.weights:
        return None
    return _run(conn, event_count_query(events, settings.scoring, window), plan, "event_counts")


def _steps_and_counts(
    conn: sa.Connection, events: Classified, settings: Settings, window: Window, plan: ReadPlan
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The activation moments and the per-event counts from the one statement that reads both."""
    config = settings.scoring
    query = steps_and_counts_query(events, config, window, conn.dialect.name)
    rows = _run(conn, query, plan, "steps_and_counts")
    per_event = rows.loc[rows["event"].isin(list(config.weights)), ["account_id", "event", "w", "p"]]
    met = []
    for index, step in enumerate(config.activation_steps):
        of_step = rows.loc[rows["event"] == step.event, ["account_id", f"step_at_{index}"]]
        met.append(of_step.set_index("account_id")[f"step_at_{index}"].astype("float64"))
    at = pd.concat(met, axis=1)
    stepped = rows.loc[rows["event"].isin([step.event for step in config.activation_steps]), "account_id"]
    at = at.reindex(pd.unique(stepped))
    activated = at.max(axis=1).where(at.notna().all(axis=1))
    moments = pd.DataFrame({"account_id": at.index, "activated_epoch": activated.to_numpy(dtype="float64")})
    return moments, per_event.reset_index(drop=True)


def _with_event_counts(
    account_raw: pd.DataFrame, per_event: pd.DataFrame | None, config: ScoringConfig
) -> pd.DataFrame:
    """The account rows with `evw_<i>` / `evp_<i>` (weighted event i, sorted by name): 0 where it did not occur."""
    if per_event is None:
        return account_raw
    if per_event.empty:  # no weighted event counted (the backtest's snapshots, scored without their sentences)
        zeros = {f"{label}_{position}": 0 for position in range(len(config.weights)) for label in ("evw", "evp")}
        return account_raw.assign(**zeros).astype(dict.fromkeys(zeros, "int64"))
    keyed = per_event.assign(event=per_event["event"].astype(str))
    wide = keyed.pivot_table(index="account_id", columns="event", values=["w", "p"], aggfunc="sum", fill_value=0)
    columns: dict[str, Any] = {}
    for position, event in enumerate(sorted(config.weights)):
        for part, label in (("w", "evw"), ("p", "evp")):
            columns[f"{label}_{position}"] = wide[(part, event)] if (part, event) in wide.columns else 0
    counts = pd.DataFrame(columns, index=wide.index)
    merged = account_raw.merge(counts, left_on="account_id", right_index=True, how="left")
    return merged.assign(**{name: merged[name].fillna(0).astype("int64") for name in columns})


def _with_moments(account_raw: pd.DataFrame, moments: pd.DataFrame | None) -> pd.DataFrame:
    if moments is None or not len(account_raw):
        return account_raw
    return account_raw.merge(moments, on="account_id", how="left")


def _ordered(query: sa.Select[Any], *keys: str) -> sa.Select[Any]:
    """`query` sorted by `keys` in the database (fast there), so that pandas finds its rows in order."""
    rows = query.subquery("hs_ordered")
    return sa.select(*rows.c).order_by(*(rows.c[key] for key in keys))


def _trial_counts(
    conn: sa.Connection,
    tables: LogicalTables,
    settings: Settings,
    window: Window,
    as_of: datetime,
    accounts: pd.DataFrame,
    plan: ReadPlan | None = None,
) -> pd.DataFrame | None:
    """The trial events of the accounts that can fire the trial signal (`trial.py`), or None when none can."""
    span = trial_range(accounts, settings.scoring, as_of)
    if span is None or "created_at" not in tables.accounts.c:
        return None
    return _run(conn, trial_query(tables, span, window, conn.dialect.name), plan, "trial_events")


def _samples(
    conn: sa.Connection,
    tables: LogicalTables,
    events: Classified,
    reasons: list[str],
    limit: int,
    window: Window,
    plan: ReadPlan | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Up to `limit` sample rows per rejection reason, from one query."""
    columns = [name for name in (*EVENT_COLUMNS, "event_id") if name in tables.events.c]
    duplicates = None
    if capabilities(conn.dialect.name).group_dedup and tables.has_event_id:  # duplicates folded away: find them
        duplicates = classified(duplicated_events(tables, window.scan_from, conn.dialect.name), window.now)
    query = sample_query(events, reasons, limit, columns, duplicates)
    found = _timed(plan, "samples", lambda: conn.execute(query).mappings().all())
    samples: dict[str, list[dict[str, Any]]] = {reason: [] for reason in reasons}
    for row in found:
        samples[str(row["reason"])].append({name: row[name] for name in columns})
    return {reason: sample_values(rows) for reason, rows in samples.items()}


def check_rejected_share(reports: dict[str, TableReport], limit: float) -> None:
    """Fail when any table rejected more than `limit` of the rows it read."""
    for report in reports.values():
        share = report.rejected_share
        if share > limit:
            top = ", ".join(f"{reason} ({count})" for reason, count in report.top_reasons(3))
            raise RejectedShareError(
                f"{report.name}: {share:.1%} of {report.read} rows rejected ({report.rejected_total}), above "
                f"source.max_rejected_share {limit:.1%}; top reasons: {top}"
            )


def _frame(conn: sa.Connection, query: sa.Select[Any]) -> pd.DataFrame:
    """The result as a DataFrame without SQLAlchemy Row objects (they cost seconds per 100k rows): DuckDB's own
    conversion, elsewhere the driver's plain tuples."""
    with conn.execute(query) as result:
        if capabilities(conn.dialect.name).fetch == "duckdb":
            native: pd.DataFrame = result.cursor.df()
            return _inferred(native)
        columns = list(result.keys())
        rows = result.cursor.fetchall() if result.cursor is not None else []
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=False)


def _inferred(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer and boolean columns (DuckDB's choice) as pandas infers them from tuples: int64 / bool
    without missing values, float64 / object with some."""
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iub":
            values = frame[name]
            if values.isna().any():
                frame[name] = values.astype("float64" if dtype.kind != "b" else "object")
            else:
                frame[name] = values.astype("bool" if dtype.kind == "b" else "int64")
    return frame


def _fetch(conn: sa.Connection, tables: LogicalTables, name: str, plan: ReadPlan | None = None) -> pd.DataFrame:
    table = tables.accounts if name == "accounts" else tables.users
    with _translated(f"reading {tables.labels[name]}"):
        return _timed(plan, name, lambda: arrow_frame(conn, sa.select(table)))


# DuckDB column types whose Arrow conversion to pandas is the one DuckDB's .df() makes (anything else: .df()).
# HUGEINT (DuckDB's sum of integers) arrives as a 38-digit decimal and is cast to float64, as .df() gives it.
_ARROW_PLAIN = frozenset(
    {"VARCHAR", "BOOLEAN", "DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"}
    | {"UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"}
    | {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}
)


def arrow_frame(conn: sa.Connection, query: sa.Select[Any]) -> pd.DataFrame:
    """A result with many text values (an entity table, the backtest's event pass) in one statement: on DuckDB with
    the extra `arrow`, through Arrow (its text stays Arrow-backed: a quarter of the time of .df(), which spent 6 of
    8 s making Python strings of the 3.9M keys of a backtest's event pass) when the result's column types (known
    before any row is fetched) all convert as .df() converts them; otherwise (decimals, dates, nested types) .df()
    on the same result; elsewhere :func:`_frame`."""
    if capabilities(conn.dialect.name).fetch != "duckdb" or importlib.util.find_spec("pyarrow") is None:
        return _frame(conn, query)
    import pyarrow as pa

    with conn.execute(query) as result, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)
        cursor = result.cursor
        if not all(str(column[1]).upper() in _ARROW_PLAIN for column in cursor.description or ()):
            return _inferred(cursor.df())
        # DuckDB 1.5 added to_arrow_table (2.0 dropped fetch_arrow_table); the 1.4 LTS line has only the latter.
        table = cursor.to_arrow_table() if hasattr(cursor, "to_arrow_table") else cursor.fetch_arrow_table()
    columns = [column.cast(pa.float64()) if pa.types.is_decimal(column.type) else column for column in table.columns]
    frame: pd.DataFrame = pa.table(columns, names=table.column_names).to_pandas()
    return frame


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Database and driver errors become a SourceError naming what was being done (never the URL)."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise SourceError(f"{what}: {first_line(exc.orig)}") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(f"{what}: {first_line(exc)}") from exc


@contextmanager
def _opened(settings: Settings) -> Iterator[tuple[sa.Connection, LogicalTables, dict[str, FileRejects]]]:
    """A connection to the source, the three logical tables on it, and the lines of CSV files DuckDB could not read."""
    source = settings.source
    if source.kind == "files":
        with files_engine() as engine, engine.connect() as conn:
            _prepare(conn)
            labels, rejects = _file_views(conn, settings)
            conn.commit()  # the views, for the other sessions of the database (`files_engine`)
            yield conn, _mapped(conn, source, dict.fromkeys(TABLES, None), labels), rejects
        return
    with _sql_engine(settings) as engine:
        with _translated(f"connecting to the {source.kind} source"):
            connection = engine.connect()
        with connection as conn:
            _prepare(conn)
            if source.kind == "segment":
                yield conn, _segment(conn, source), {}
            else:
                yield conn, _mapped(conn, source, dict.fromkeys(TABLES, source.schema_), None), {}


def _file_views(conn: sa.Connection, settings: Settings) -> tuple[dict[str, str], dict[str, FileRejects]]:
    """A DuckDB view per logical table over its file(s); a label per table naming the path, and the CSV rejects."""
    labels: dict[str, str] = {}
    rejects: dict[str, FileRejects] = {}
    for table in TABLES:
        spec = getattr(settings.source, table)
        if not spec:
            raise SourceError(f"source.{table} is required for kind 'files' (a path or glob)")
        path = settings.resolve(spec)
        labels[table] = f"{table} ({path})"
        with _translated(f"reading {labels[table]}"):
            mapping, view = getattr(settings.source.columns, table), None
            if table == "events":  # a preset's events: its columns, paths and epoch seconds (`presets.py`)
                mapping, view = projection(settings.source, labels[table])
            source = settings.source
            rejects[table] = file_view(conn, table, path, mapping, source.url, source.encoding, view)
    return labels, rejects


@contextmanager
def _sql_engine(settings: Settings) -> Iterator[sa.Engine]:
    """The engine of a sql or segment source; on DuckDB (a file, read-only, or in memory) one database under the
    files source's memory cap whose sessions are cursors of it (`files.duckdb_engine`)."""
    source = settings.source
    if not source.url:
        raise SourceError(f"source.url is required for kind {source.kind!r} (a SQLAlchemy URL)")
    with _translated("source.url"):
        url = sa.engine.make_url(source.url)
        backend = url.get_backend_name()
        in_memory = url.database in (None, "", ":memory:")
        if backend in ("sqlite", "duckdb") and not in_memory:
            path = settings.resolve(str(url.database))
            if not path.is_file():
                raise SourceError(f"source.url: database file not found: {path}")
            url = url.set(database=str(path))
    if backend == "duckdb":
        options = {key: str(value) for key, value in url.query.items()}
        label = f"connecting to the {source.kind} source"
        with duckdb_engine(
            ":memory:" if in_memory else str(url.database), read_only=not in_memory, options=options, label=label
        ) as engine:
            yield engine
        return
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _prepare(conn: sa.Connection) -> None:
    """The session statements of the dialect's capabilities: text timestamps without an offset are UTC, windows
    and day buckets in UTC; on PostgreSQL, `plan.POSTGRES_WORK_MEM` for the aggregation."""
    with _translated("preparing the source session"):
        for statement in capabilities(conn.dialect.name).session:
            conn.exec_driver_sql(statement)


def _mapped(
    conn: sa.Connection, source: SourceConfig, schemas: dict[str, str | None], labels: dict[str, str] | None
) -> LogicalTables:
    """The configured tables (names or SELECTs) mapped onto the logical column names."""
    names: dict[str, str] = {}
    for table in TABLES:
        spec = getattr(source, table)
        if not spec:
            raise SourceError(f"source.{table} is required for kind {source.kind!r} (a table name or a SELECT)")
        names[table] = table if source.kind == "files" else spec
    labels = labels or {table: f"{table} ({names[table].strip()[:60]})" for table in TABLES}
    logical: dict[str, Subquery] = {}
    for table in TABLES:
        with _translated(f"reading {labels[table]}"):
            physical = reflect(conn, names[table], schemas[table], f"hs_{table}_src")
        mapping = events_mapping(source) if table == "events" else getattr(source.columns, table)
        logical[table] = logical_table(physical, table, mapping, labels[table], extras=table != "events")
    return LogicalTables(logical["events"], logical["accounts"], logical["users"], labels)


def _is_query(spec: str) -> bool:
    return spec.lstrip().lower().startswith(("select ", "select\n", "with ", "with\n", "("))


def _column_types(result: sa.CursorResult[Any], dialect: sa.Dialect) -> list[sa.ColumnClause[Any]]:
    """The result's columns; date/time typed where the driver says so (PEP 249 DATETIME), else untyped.

    Names are normalised the way SQLAlchemy does for dialects that fold unquoted names to upper case (Snowflake,
    Oracle): ACCOUNT_ID becomes account_id (and compiles back unquoted), MixedCase stays quoted as it is.
    """
    temporal = getattr(dialect.dbapi, "DATETIME", None)
    columns = []
    for description in result.cursor.description or ():
        code = description[1]
        known = (temporal is not None and code is not None and code == temporal) or str(code).upper() in TEMPORAL
        known = known or _clickhouse_type(str(code)) in TEMPORAL_CLICKHOUSE
        name = str(description[0])
        if dialect.requires_name_normalize:
            name = dialect.normalize_name(name) or name
        columns.append(sa.column(name, _temporal_type(code, dialect.name) if known else sa.types.NullType()))
    return columns


# The type codes of the instants (with a time zone) and of dates where the driver's DATETIME covers several types:
# PostgreSQL's OIDs (timestamptz 1184, date 1082) and the Snowflake connector's field ids (TIMESTAMP_LTZ 6,
# TIMESTAMP_TZ 7, DATE 3); DuckDB names them. The scans' lower bound is a literal of the same type (`since`).
_ZONED = {"postgresql": {1184}, "snowflake": {6, 7}}
_DATES = {"postgresql": {1082}, "snowflake": {3}}


def _temporal_type(code: Any, dialect: str) -> sa.types.TypeEngine[Any]:
    """A date/time column's type: an instant (`timezone=True`), a naive timestamp (UTC here), or a date."""
    name = str(code).upper()
    if name == "DATE" or code in _DATES.get(dialect, ()):
        return sa.Date()
    return sa.DateTime(timezone=name == "TIMESTAMP WITH TIME ZONE" or code in _ZONED.get(dialect, ()))


def _clickhouse_type(code: str) -> str:
    """`Nullable(DateTime64(6, 'UTC'))` -> `DATETIME64`: the ClickHouse type's name inside its wrappers."""
    while code.startswith(("Nullable(", "LowCardinality(")):
        code = code[code.index("(") + 1 : -1]
    return code.split("(", 1)[0].upper()


def _probe(conn: sa.Connection, source: FromClause | sa.TextClause) -> list[sa.ColumnClause[Any]]:
    probe: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(source).limit(0)
    with conn.execute(probe) as result:
        return _column_types(result, conn.dialect)


def reflect(conn: sa.Connection, spec: str, schema: str | None, alias: str) -> FromClause:
    """A table name (optionally `schema.table`) or a SELECT, as a FROM clause with its columns (probed, LIMIT 0)."""
    if _is_query(spec):
        query = spec.strip().rstrip(";")
        columns = _probe(conn, sa.text(f"({query}) AS hs_probe"))
        return sa.text(query).columns(*columns).subquery(alias)
    if schema is None and "." in spec:
        schema, spec = spec.rsplit(".", 1)
    return sa.table(spec, *_probe(conn, sa.table(spec, schema=schema)), schema=schema)


def _segment(conn: sa.Connection, source: SourceConfig) -> LogicalTables:
    """The Segment tables (default names tracks, groups, identifies; or source.events/accounts/users)."""
    names = {table: getattr(source, table) or SEGMENT_TABLES[table] for table in TABLES}
    labels = {table: f"{table} ({names[table]})" for table in TABLES}
    physical: dict[str, FromClause] = {}
    for table in TABLES:
        with _translated(f"reading {labels[table]}"):
            physical[table] = reflect(conn, names[table], source.schema_, f"hs_{SEGMENT_TABLES[table]}")
    schema = SegmentSchema(
        tracks=physical["events"],
        identifies=physical["users"],
        groups=physical["accounts"],
        columns=source.columns.model_dump(),
        labels=labels,
    )
    return segment_tables(schema)


def logical_table(physical: FromClause, table: str, mapping: dict[str, str], label: str, *, extras: bool) -> Subquery:
    """Select the physical columns under their logical names; a missing required or mapped column is an error."""
    known = (*REQUIRED[table], *OPTIONAL[table])
    for logical in mapping:
        if logical not in known:
            raise SourceError(
                f"{label}: source.columns.{table}.{logical}: {table} has no logical column {logical!r} "
                f"(expected one of {', '.join(known)})"
            )
    available = list(physical.c.keys())
    selected: list[sa.ColumnElement[Any]] = []
    for logical in known:
        column = mapping.get(logical, logical)
        if column in available:
            selected.append(physical.c[column].label(logical))
        elif logical in REQUIRED[table] or logical in mapping:
            key = f"source.columns.{table}.{logical}" if logical in mapping else f"{table} column"
            raise SourceError(f"{label}: {key}: column {column!r} not found (columns: {', '.join(available)})")
    if extras:
        used = {mapping.get(logical, logical) for logical in known} | set(known)
        selected += [physical.c[name] for name in available if name not in used]
    return sa.select(*selected).subquery(f"hs_{table}")


def account_ids(settings: Settings, now: datetime) -> list[str]:
    """The ids of the accounts a score table has rows for (the accepted accounts), from the source opened and its
    accounts table read: no event is aggregated (`healthsync check` compares them with a destination's records)."""
    with opened_source(settings) as opened:
        raw = _fetch(opened.conn, opened.tables, "accounts")
    accounts, _ = accounts_frame(raw, 0, settings.scoring.resolved_as_of(now).timestamp())
    return [str(key) for key in accounts["account_id"]]


def probe_source(settings: Settings) -> None:
    """Read-only preflight for `healthsync check`: the source opens and its tables and mapped columns exist."""
    with _opened(settings):
        pass
