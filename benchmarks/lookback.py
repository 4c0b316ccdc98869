"""Cost that follows the window, not the history (issue 23, item 5): 2 years vs 90 days of events with the same
last 90 days, on DuckDB over date-partitioned Parquet (the `files` source) and on PostgreSQL over a table
range-partitioned by month (a `sql` source).

    python benchmarks/lookback.py [--per-day 3000] [--repeat 3] [--no-write] [--url postgresql://...]

Per case (history, `scoring.lookback_days`): the wall time of `healthsync score` (a subprocess, best and median of
`--repeat`), and what its scans read: the statements `healthsync score` issued (captured in-process through the
CLI) replayed under DuckDB's profiler (row groups scanned of those to scan, rows scanned) or PostgreSQL's EXPLAIN
(ANALYZE, FORMAT JSON) (partitions scanned of the table's, rows read from them). `lookback 800` stands for the read
before the bound (it covers all 730 days, as every read did). The data (gitignored) is generated deterministically
under benchmarks/data/lookback/: event i before as_of lies i x (86400 / per-day) seconds before it and its
account, user and name come from hash(i), so both histories share their last 90 days exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import sqlalchemy as sa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from benchmarks.run import HERE, PYTHON, machine, measure, write_results
from tests.statements import statements

AS_OF = "2025-08-13T00:00:00Z"
ACCOUNTS = 1000
HISTORIES = {"90d": 90, "2y": 730}
# (history, lookback_days): the default, the read before the bound (800 days hold all 730), and a lookback no longer
# than the history of the short product (90 days: then the windows' 60 days and the lookback are what is read)
CASES = [("90d", 400), ("2y", 400), ("2y", 800), ("90d", 90), ("2y", 90)]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/hs_bench_lookback"
EVENTS = ["sequence_created", "lead_enrolled", "lead_created", "meeting_scheduled", "call_logged", "report_viewed"]
SCORING: dict[str, Any] = {
    "as_of": AS_OF,
    "window_days": 30,
    "weights": {"lead_created": 9, "meeting_scheduled": 7, "call_logged": 5},
    "features": {"sequences": ["sequence_created", "lead_enrolled"], "meetings": ["meeting_scheduled"]},
    "activation_steps": [{"event": "sequence_created"}, {"event": "lead_enrolled", "min_count": 20}],
}


def generate(folder: Path, days: int, per_day: int) -> None:
    """events/day=YYYY-MM-DD/*.parquet (timestamptz), accounts.csv, users.csv (5 users an account)."""
    if (folder / "accounts.csv").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    names = "[" + ", ".join(f"'{name}'" for name in EVENTS) + "]"
    step = 86400 / per_day
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(
            f"""COPY (
              SELECT 'acc_' || (hash(i) % {ACCOUNTS}) AS account_id,
                     'acc_' || (hash(i) % {ACCOUNTS}) || '_u' || (hash(i * 7) % 5) AS user_id,
                     {names}[CAST(1 + hash(i * 13) % {len(EVENTS)} AS BIGINT)] AS event,
                     TIMESTAMPTZ '{AS_OF}' - to_microseconds(CAST((i + 1) * {step} * 1e6 AS BIGINT)) AS timestamp,
                     strftime(TIMESTAMPTZ '{AS_OF}' - to_microseconds(CAST((i + 1) * {step} * 1e6 AS BIGINT)),
                              '%Y-%m-%d') AS day
              FROM range({days * per_day}) t(i) ORDER BY timestamp
            ) TO '{folder / "events"}' (FORMAT parquet, PARTITION_BY (day))"""
        )
        conn.execute(
            f"""COPY (SELECT 'acc_' || a AS account_id, 'Account ' || a AS name, 'a' || a || '.example' AS domain,
                     'team' AS plan, 'paying' AS status, TIMESTAMPTZ '2023-01-01 00:00:00+00' AS created_at,
                     10 AS seats_limit, 100.0 AS mrr FROM range({ACCOUNTS}) t(a))
                TO '{folder / "accounts.csv"}' (HEADER)"""
        )
        conn.execute(
            f"""COPY (SELECT 'acc_' || a || '_u' || u AS user_id, 'acc_' || a AS account_id,
                     'u' || u || '@a' || a || '.example' AS email, 'rep' AS role,
                     TIMESTAMPTZ '2023-01-01 00:00:00+00' AS created_at FROM range({ACCOUNTS}) t(a), range(5) s(u))
                TO '{folder / "users.csv"}' (HEADER)"""
        )


def files_config(folder: Path, lookback: int) -> Path:
    source = {"kind": "files", "events": "events/*/*.parquet", "accounts": "accounts.csv", "users": "users.csv"}
    return _config(folder / f"files-{lookback}.yaml", source, lookback)


def _config(path: Path, source: dict[str, Any], lookback: int) -> Path:
    state = f"sqlite:///{path.parent / 'state.db'}"
    body = {"source": source, "scoring": {**SCORING, "lookback_days": lookback}, "state": {"url": state}}
    path.write_text(yaml.safe_dump(body))
    return path


def load_postgres(url: str, folders: dict[str, Path]) -> None:
    """One database: per history `events_<h>` range-partitioned by month (timestamptz), accounts, users."""
    admin, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for history, folder in folders.items():
            table = f"events_{history}"
            conn.execute(
                f"CREATE TABLE {table} (account_id text, user_id text, event text, timestamp timestamptz) "
                "PARTITION BY RANGE (timestamp)"
            )
            with duckdb.connect() as duck:
                first, last = duck.execute(
                    f"SELECT min(timestamp), max(timestamp) FROM read_parquet('{folder}/events/*/*.parquet')"
                ).fetchone() or (None, None)
            for start in _months(str(first)[:7], str(last)[:7]):
                conn.execute(
                    f"CREATE TABLE {table}_{start[:7].replace('-', '_')} PARTITION OF {table} "
                    f"FOR VALUES FROM ('{start}') TO ('{_next_month(start)}')"
                )
            _copy(conn, table, folder / "events", "SELECT account_id, user_id, event, timestamp FROM ev")
            conn.execute(f"ANALYZE {table}")
        folder = next(iter(folders.values()))
        conn.execute(
            "CREATE TABLE accounts (account_id text, name text, domain text, plan text, status text, "
            "created_at timestamptz, seats_limit double precision, mrr double precision)"
        )
        conn.execute(
            "CREATE TABLE users (user_id text, account_id text, email text, role text, created_at timestamptz)"
        )
        for table in ("accounts", "users"):
            with (
                open(folder / f"{table}.csv", "rb") as data,
                conn.cursor() as cursor,
                cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as copy,
            ):
                copy.write(data.read())


def _copy(conn: psycopg.Connection[Any], table: str, events: Path, select: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, duckdb.connect() as duck:
        duck.execute("SET TimeZone = 'UTC'")
        duck.execute(f"CREATE VIEW ev AS SELECT * FROM read_parquet('{events}/*/*.parquet')")
        duck.execute(f"COPY ({select}) TO '{tmp}/events.csv' (HEADER)")
        with (
            open(f"{tmp}/events.csv", "rb") as data,
            conn.cursor() as cursor,
            cursor.copy(f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while block := data.read(1 << 20):
                copy.write(block)


def _months(first: str, last: str) -> Iterator[str]:
    month = f"{first}-01"
    while month[:7] <= last:
        yield month
        month = _next_month(month)


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12}-{number % 12 + 1:02d}-01"


def postgres_config(folder: Path, url: str, history: str, lookback: int) -> Path:
    source = {
        "kind": "sql",
        "url": url.replace("postgresql://", "postgresql+psycopg://"),
        "events": f"events_{history}",
        "accounts": "accounts",
        "users": "users",
    }
    return _config(folder / f"postgres-{history}-{lookback}.yaml", source, lookback)


def statements_of(config: Path) -> list[tuple[str, Any]]:
    """The statements one `healthsync score` issues, run in this process through the CLI."""
    from click.testing import CliRunner

    from healthsync.connector.cli import cli

    with tempfile.TemporaryDirectory() as tmp, statements() as seen:
        result = CliRunner().invoke(cli, ["score", "--config", str(config), "--format", "csv", "-o", f"{tmp}/s.csv"])
    if result.exit_code != 0:
        raise SystemExit(f"healthsync score failed: {result.output}")
    return seen


def _scans(seen: list[tuple[str, Any]], table: str) -> list[tuple[str, Any]]:
    """The statements that read the events table, less the LIMIT 0 probe of its columns."""
    probe = f"SELECT * FROM {table} LIMIT"
    return [
        (sql, params) for sql, params in seen if f"FROM {table}" in sql and not " ".join(sql.split()).startswith(probe)
    ]


def duckdb_reads(seen: list[tuple[str, Any]]) -> dict[str, int]:
    """Row groups scanned, to scan and rows scanned, summed over the statements that scan the events (replayed
    after the statements that made the views, on a DuckDB of their own under its profiler)."""
    totals = {"statements": 0, "row_groups": 0, "row_groups_total": 0, "rows": 0}
    with duckdb.connect() as conn:
        for statement, _ in seen:
            if statement.lstrip().upper().startswith(("SET ", "CREATE ")):
                conn.execute(statement)
        conn.execute("PRAGMA enable_profiling = 'json'")
        conn.execute("PRAGMA profiling_coverage = 'ALL'")
        for statement, parameters in _scans(seen, "events"):
            (_, profile), *_ = conn.execute(f"EXPLAIN ANALYZE {statement}", parameters or None).fetchall()
            found = json.loads(profile)
            query = found.get("query", found)
            totals["statements"] += 1
            totals["row_groups"] += int(query["total_row_groups_scanned"])
            totals["row_groups_total"] += int(query["total_row_groups_to_scan"])
            totals["rows"] += int(query["total_rows_scanned"])
    return totals


def postgres_reads(seen: list[tuple[str, Any]], url: str, table: str) -> dict[str, int]:
    """Partitions scanned (per statement, summed), the table's partitions times the statements, and the rows read
    from them, from EXPLAIN (ANALYZE, FORMAT JSON) of each statement that scans the events."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    totals = {"statements": 0, "partitions": 0, "partitions_total": 0, "rows": 0}
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET TIME ZONE 'UTC'")
            conn.exec_driver_sql("SET work_mem = '256MB'")
            count = conn.exec_driver_sql(
                f"SELECT count(*) FROM pg_inherits WHERE inhparent = '{table}'::regclass"
            ).scalar_one()
            for statement, parameters in _scans(seen, table):
                found = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).scalar_one()
                plan = found if isinstance(found, list) else json.loads(found)
                scanned: set[str] = set()
                totals["rows"] += _walk(plan[0]["Plan"], table, scanned)
                totals["statements"] += 1
                totals["partitions"] += len(scanned)
                totals["partitions_total"] += int(count)
    finally:
        engine.dispose()
    return totals


def _walk(node: dict[str, Any], table: str, scanned: set[str]) -> int:
    rows = 0
    relation = str(node.get("Relation Name", ""))
    if relation.startswith(f"{table}_"):
        scanned.add(relation)
        rows += int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
        rows += int(node.get("Rows Removed by Filter", 0)) * int(node.get("Actual Loops", 1))
    for child in node.get("Plans", []):
        rows += _walk(child, table, scanned)
    return rows


def timed(config: Path, repeat: int) -> tuple[list[float], float]:
    """Wall seconds of `healthsync score` runs (subprocesses), and the 1-minute load average before the first."""
    load = os.getloadavg()[0]
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        argv = [PYTHON, "-m", "healthsync", "score", "--config", str(config), "--format", "parquet", "-o", f"{tmp}/s"]
        for _ in range(repeat):
            result = measure("healthsync", argv)
            if result.returncode:
                raise SystemExit(f"healthsync score failed: {result.error}")
            walls.append(result.wall)
    return walls, load


def uptime() -> str:
    """`uptime`'s line (the load averages over 1, 5 and 15 minutes): other work on the machine shows in the times."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-day", type=int, default=3000, help="events a day (2 years: 730 x this)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL database (dropped and created)")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data" / "lookback")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    args = parser.parse_args()
    folders = {history: args.data_dir / f"{history}-{args.per_day}" for history in HISTORIES}
    for history, folder in folders.items():
        generate(folder, HISTORIES[history], args.per_day)
    load_postgres(args.url, folders)
    started = time.perf_counter()
    lines = [
        "<!-- begin lookback -->",
        "## Lookback: 2 years vs 90 days of history (issue 23, item 5)",
        "",
        "Written by `benchmarks/lookback.py`.",
        "",
        *(f"- {key}: {value}" for key, value in machine()),
        f"- `uptime` at the start: {uptime()}",
        f"- data: {ACCOUNTS} accounts, {args.per_day} events a day ({90 * args.per_day:,} in 90 days, "
        f"{730 * args.per_day:,} in 2 years; the same last 90 days), as_of {AS_OF}, window 30 days",
        f"- method: `healthsync score` as a subprocess, best and median of {args.repeat}; reads from the statements "
        "it issued replayed under DuckDB's profiler / PostgreSQL's EXPLAIN (ANALYZE), summed over the statements "
        "that scan the events",
        "",
        "| engine | history | lookback_days | scanning statements | read | rows read | wall (best) | median | "
        "1-min load before |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for engine in ("duckdb", "postgresql"):
        for history, lookback in CASES:
            folder = folders[history]
            if engine == "duckdb":
                config = files_config(folder, lookback)
                reads = duckdb_reads(statements_of(config))
                read = f"{reads['row_groups']} of {reads['row_groups_total']} row groups"
            else:
                config = postgres_config(folder, args.url, history, lookback)
                reads = postgres_reads(statements_of(config), args.url, f"events_{history}")
                read = f"{reads['partitions']} of {reads['partitions_total']} partitions"
            walls, load = timed(config, args.repeat)
            lines.append(
                f"| {engine} | {history} | {lookback} | {reads['statements']} | {read} | {reads['rows']:,} | "
                f"{min(walls):.2f} s | {statistics.median(walls):.2f} s | {load:.2f} |"
            )
            print(lines[-1], flush=True)
    minutes = (time.perf_counter() - started) / 60
    lines += [
        "",
        f"`uptime` at the end: {uptime()}; the cases took {minutes:.1f} min.",
        "",
        "<!-- end lookback -->",
        "",
    ]
    text = "\n".join(lines)
    if args.no_write:
        print(text)
    else:
        write_results(args.results, text, "lookback")


if __name__ == "__main__":
    main()
