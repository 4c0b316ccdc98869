"""The read plan: what a score read asks of the database, chosen once per run and visible before it runs.

    capabilities(dialect)            one record: concurrency, day masks, k-th smallest, fence, dedup, fetch, session
    read_plan(capabilities, ...)     the named statements of one read, in order: name, whether it scans the events,
                                     the session it runs in, and when it runs only under a condition
    ReadPlan.run(name, ...)          the runner `load.read_window` goes through: a statement not in the plan fails,
                                     each one's rows and seconds are recorded (`healthsync score --explain`, --debug)

Opening the source issues statements of its own before the read (session settings, a LIMIT 0 probe per table,
the DuckDB views over files and the CSV rejects): :func:`opening` lists them per source kind, so the totals in the
README can be checked against one function.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa

log = logging.getLogger("healthsync")

MAX_MASK_DAYS = 62  # bits 0..62 of a signed 64-bit integer (the day bucket of the window's first instant is 62)

# PostgreSQL's default work_mem (4MB) makes the planner sort every event row for the GROUP BY (account, user) of
# the one-pass query (an external sort on disk); with room for the ~150k groups of 10,000 accounts it hashes
# them in memory instead (benchmarks/RESULTS.md, PostgreSQL 5M events). Per session, this read only;
# a larger GROUP BY spills to disk beyond it (PostgreSQL 13+).
POSTGRES_WORK_MEM = "256MB"


@dataclass(frozen=True)
class Capabilities:
    """What one dialect offers the read; the only place the read tells dialects apart by name.

    `concurrent`: the event scan runs in a second session beside the entity reads and the small queries (a server
    does the work of a statement, or DuckDB in its own threads without the GIL; SQLite runs every statement in the
    calling thread: nothing to gain). `masks`: a 64-bit bit_or aggregate, so one scan per (account, user) with day
    bit masks serves both levels (`rollup.py`). `kth_smallest`: an aggregate for the k-th smallest value (the
    activation steps with a minimum count; elsewhere a window function numbers the step events). `fence`: OFFSET 0
    keeps the epoch-seconds subquery a scan of its own (PostgreSQL inlines it into every use otherwise).
    `group_dedup`: event_id duplicates folded by a GROUP BY, which spills to disk, instead of a window over every
    event. `raw_bounds`: a typed timestamp column compared with a literal of its type (`sqlfunctions.Instant`), so
    the lower bound of every event scan (and the trial query's range) reaches the scan, which prunes on it;
    elsewhere the bound is on the parsed instant (exact, no pruning). `iso_text`: timestamps kept as ISO-8601 text
    (SQLite), the bound compared as text too. `fetch`: `duckdb` (DuckDB's own conversion; the entity tables through
    Arrow where every column type converts the same) or `tuples` (the driver's plain tuples). `session`: the
    statements that prepare a session (UTC; the aggregation's work_mem).
    """

    dialect: str
    concurrent: bool = False
    masks: bool = False
    kth_smallest: bool = False
    fence: bool = False
    group_dedup: bool = False
    raw_bounds: bool = False
    iso_text: bool = False
    fetch: Literal["duckdb", "tuples"] = "tuples"
    session: tuple[str, ...] = ()

    def one_pass(self, window_days: int) -> bool:
        """Whether the one scan with day masks applies: a bit_or, and a window (and 7 days) that fits 64 bits."""
        return self.masks and max(window_days, 7) <= MAX_MASK_DAYS


# BigQuery has no session time zone: its TIMESTAMP is UTC and a text value without an offset is read as UTC.
CAPABILITIES = {
    "duckdb": Capabilities(
        "duckdb",
        concurrent=True,
        masks=True,
        kth_smallest=True,
        group_dedup=True,
        raw_bounds=True,
        fetch="duckdb",
        session=("SET TimeZone = 'UTC'", "SET preserve_insertion_order = false", "SET enable_progress_bar = false"),
    ),
    "postgresql": Capabilities(
        "postgresql",
        concurrent=True,
        masks=True,
        fence=True,
        raw_bounds=True,
        session=("SET TIME ZONE 'UTC'", f"SET work_mem = '{POSTGRES_WORK_MEM}'"),
    ),
    # the account default time zone is America/Los_Angeles
    "snowflake": Capabilities(
        "snowflake", concurrent=True, masks=True, raw_bounds=True, session=("ALTER SESSION SET TIMEZONE = 'UTC'",)
    ),
    "bigquery": Capabilities("bigquery", concurrent=True, masks=True, raw_bounds=True),
    # join_use_nulls: an outer join's missing side is NULL (ClickHouse's default fills in the type's default, '')
    "clickhousedb": Capabilities(
        "clickhousedb",
        concurrent=True,
        masks=True,
        raw_bounds=True,
        session=("SET session_timezone = 'UTC'", "SET join_use_nulls = 1"),
    ),
    # Databricks SQL warehouses and clusters: the session time zone defaults to the workspace's (UTC unless set)
    "databricks": Capabilities(
        "databricks", concurrent=True, masks=True, raw_bounds=True, session=("SET TIME ZONE 'UTC'",)
    ),
    "sqlite": Capabilities("sqlite", iso_text=True),
}


def capabilities(dialect: str) -> Capabilities:
    """The record of `dialect`; a dialect not listed gets the portable one (SQLite's: every statement portable)."""
    return CAPABILITIES.get(dialect) or Capabilities(dialect)


def dialect_of(kind: str, url: str | None) -> str:
    """The dialect a source will read through, without connecting: files are DuckDB's, sql and segment the URL's."""
    if kind == "files" or not url:
        return "duckdb"
    return sa.engine.make_url(url).get_backend_name()


@dataclass
class Statement:
    """One statement of the read: `scans` the events or not; `side`: in the second session (concurrent dialects);
    `when`: the condition it runs under (empty: always). `rows` and `seconds` are filled in when it ran."""

    name: str
    scans: bool
    what: str
    side: bool = False
    when: str = ""
    rows: int | None = None
    seconds: float | None = None

    def line(self) -> str:
        """`name  scan|-  rows and seconds (or: not run)  what [second session] [only when]`."""
        ran = "-" if self.seconds is None else f"{self.rows} rows, {self.seconds:.3f} s"
        if self.seconds is None and self.when:
            ran = "not run"
        notes = [self.what, *(["second session"] if self.side else []), *([f"only {self.when}"] if self.when else [])]
        return f"{self.name:<22} {'scan' if self.scans else '-':<5} {ran:<24} {'; '.join(notes)}"


@dataclass
class ReadPlan:
    """The named statements of one read, in the order they start."""

    capabilities: Capabilities
    statements: list[Statement]
    opening: list[Statement] = field(default_factory=list)
    since: float | None = None  # the lower bound of the event scans (epoch seconds), once the read knows as_of

    def __getitem__(self, name: str) -> Statement:
        for statement in self.statements:
            if statement.name == name:
                return statement
        raise KeyError(f"{name!r} is not a statement of this read plan ({', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [statement.name for statement in self.statements]

    @property
    def scans(self) -> int:
        """The statements that scan the events, conditional ones included."""
        return sum(statement.scans for statement in self.statements)

    def lines(self) -> list[str]:
        caps = self.capabilities
        flags = [
            name
            for name, on in (
                ("concurrent", caps.concurrent),
                ("day masks", caps.masks),
                ("k-th smallest", caps.kth_smallest),
                ("fence", caps.fence),
                ("group dedup", caps.group_dedup),
                ("raw bounds", caps.raw_bounds),
                ("ISO text bounds", caps.iso_text),
            )
            if on
        ]
        head = (
            f"read plan, {caps.dialect} ({', '.join(flags) or 'portable SQL only'}; fetch {caps.fetch}): "
            f"{len(self.statements)} statements, {self.scans} scanning the events; "
            f"{len(self.opening)} more open the source"
        )
        if self.since is not None:
            head += f"; events read from {datetime.fromtimestamp(self.since, UTC):%Y-%m-%d %H:%M:%S} UTC on"
        opened = [f"  open  {statement.line()}" for statement in self.opening]
        return [head, *opened, *(f"  read  {statement.line()}" for statement in self.statements)]

    @contextmanager
    def run(self, name: str) -> Iterator[Callable[[int], None]]:
        """Time the statement `name` (which must be in the plan); the body reports its row count."""
        statement = self[name]
        started = time.perf_counter()
        counted: list[int] = []
        yield counted.append
        statement.seconds = round(time.perf_counter() - started, 3)
        statement.rows = counted[-1] if counted else None
        log.debug(f"read: {statement.line()}", extra={"statement": statement.name, "seconds": statement.seconds})


@dataclass(frozen=True)
class ReadNeeds:
    """What the scoring configuration and the caller ask of one read (each field: a statement or not)."""

    with_users: bool
    window_days: int
    activation: bool  # activation steps configured
    weights: bool  # weighted events (the per-event counts of the explanations)
    samples: bool  # sample_rows > 0
    # read by the caller already (the backtest's shared reads): these statements are left out
    held: frozenset[str] = frozenset()


def event_pass(caps: Capabilities, needs: ReadNeeds) -> list[Statement]:
    """The aggregation of the events: one scan with day masks, or the portable COUNT(DISTINCT) queries."""
    side = caps.concurrent
    if caps.one_pass(needs.window_days) and needs.with_users:
        return [Statement("events_per_user", True, "one GROUP BY (account, user) with day masks", side)]
    if caps.one_pass(needs.window_days):
        return [Statement("events_per_account", True, "one GROUP BY (account, user) with day masks, rolled up", side)]
    statements = [Statement("activity_per_account", True, "GROUP BY account, COUNT(DISTINCT) users and days", side)]
    if needs.with_users:
        statements.append(Statement("activity_per_user", True, "GROUP BY (account, user), COUNT(DISTINCT) days", side))
    return statements


def read_plan(caps: Capabilities, needs: ReadNeeds, opening_statements: list[Statement] | None = None) -> ReadPlan:
    """The statements of one read as of one instant, in the order they start (the event pass first: on a concurrent
    dialect it runs in the second session while the others run in the first)."""
    statements: list[Statement] = []
    if "event_pass" not in needs.held:
        statements += event_pass(caps, needs)
    if "entities" not in needs.held:
        statements += [Statement("accounts", False, "the accounts table"), Statement("users", False, "the users table")]
    how = "k-th smallest per step" if caps.kth_smallest else "step events numbered by a window function"
    activation = needs.activation and "activation" not in needs.held
    event_counts = needs.weights and "event_counts" not in needs.held
    if activation and event_counts:
        what = f"per account and event: counts in W and P of the weighted, when each step was met ({how})"
        statements.append(Statement("steps_and_counts", True, what))
    elif activation:
        statements.append(Statement("activation", True, f"per account, when its steps were met ({how})"))
    elif event_counts:
        statements.append(Statement("event_counts", True, "per account and weighted event, counts in W and P"))
    if "trial" not in needs.held:
        bounded = "bounded to the trial days" + (" in the scan" if caps.raw_bounds else "")
        statements.append(Statement("trial_events", True, bounded, when="when an account can fire the trial signal"))
    if needs.samples:
        statements.append(
            Statement("samples", True, "up to sample_rows rows per reason", when="when events were rejected")
        )
    return ReadPlan(caps, statements, opening_statements or [])


TABLES = ("events", "accounts", "users")


def opening(
    caps: Capabilities, kind: str, formats: dict[str, str] | None = None, projected: frozenset[str] = frozenset()
) -> list[Statement]:
    """The statements that open the source before the read: per session its settings (a second session on a
    concurrent dialect), on files the DuckDB view over each file (a CSV file: its columns sniffed, its rows
    counted, which scans it, and its rejected lines read), and a LIMIT 0 probe of each table's columns.
    `formats`: the format of each file (`csv`, `json`, `parquet`) of a files source; `projected`: the tables whose
    view selects from the file's columns (a preset's events: a Parquet file's columns are described first)."""
    statements: list[Statement] = []
    sessions = ("main", "second") if caps.concurrent else ("main",)
    for session in sessions:
        statements += [Statement(f"session_{session}", False, sql) for sql in caps.session]
    if kind == "files":
        for table in TABLES:
            fmt = (formats or {}).get(table, "csv")
            if fmt in ("csv", "json") or table in projected:
                statements.append(Statement(f"sniff_{table}", False, f"DESCRIBE the {fmt} file's columns"))
            if fmt == "csv":
                statements.append(Statement(f"count_{table}", table == "events", "read every line, keep the rejects"))
                statements.append(Statement(f"rejects_{table}", False, "the lines DuckDB could not read"))
            statements.append(Statement(f"view_{table}", False, f"CREATE VIEW over the {fmt} file"))
    statements += [Statement(f"probe_{table}", False, "LIMIT 0: the table's columns") for table in TABLES]
    return statements
