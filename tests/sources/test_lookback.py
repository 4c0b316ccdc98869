"""The event scans start at as_of less the lookback (`scoring.lookback_days`) on the raw timestamp column, compared
with a literal of the column's type per dialect, and what the lookback leaves out is what the README says.

DuckDB over hive-partitioned Parquet (one file per day) reads the row groups of the lookback, not of the history:
the statements `healthsync score` issued are replayed under DuckDB's profiler (row groups, not times).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from sqlalchemy.engine import Dialect

from healthsync.connector.cli import cli
from healthsync.connector.settings import load_settings
from healthsync.connector.sources.load import load_source
from healthsync.connector.sources.pushdown import LogicalTables, classified, window_of
from healthsync.connector.sources.rollup import user_pass_query
from healthsync.scoring.config import ActivationStep, ScoringConfig
from tests.statements import statements

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
CONFIG = ScoringConfig(as_of=AS_OF, weights={"call_logged": 5}, activation_steps=[ActivationStep(event="call_logged")])
SINCE = 1720483200.0  # 2024-07-09T00:00:00Z: as_of less the default 400 days (more than 2 x 30 days of windows)
STAMPS: dict[str, sa.types.TypeEngine[Any]] = {
    "timestamptz": sa.DateTime(timezone=True),
    "timestamp": sa.DateTime(),
    "date": sa.Date(),
    "text": sa.String(),
}
RAW = "events.timestamp >= {} OR events.timestamp IS NULL"
# (dialect, column type) -> the literal the raw column is compared with (None: the parsed instant only)
LITERALS: dict[tuple[str, str], str | None] = {
    ("duckdb", "timestamptz"): "TIMESTAMPTZ '2024-07-09 00:00:00+00'",
    ("duckdb", "timestamp"): "TIMESTAMP '2024-07-09 00:00:00'",
    ("duckdb", "date"): "DATE '2024-07-09'",
    ("duckdb", "text"): None,
    ("postgresql", "timestamptz"): "TIMESTAMPTZ '2024-07-09 00:00:00+00'",
    ("postgresql", "timestamp"): "TIMESTAMP '2024-07-09 00:00:00'",
    ("postgresql", "date"): "DATE '2024-07-09'",
    ("postgresql", "text"): None,
    ("snowflake", "timestamptz"): "CAST('2024-07-09 00:00:00+00:00' AS TIMESTAMP_TZ)",
    ("snowflake", "timestamp"): "CAST('2024-07-09 00:00:00' AS TIMESTAMP_NTZ)",
    ("snowflake", "date"): "CAST('2024-07-09' AS DATE)",
    ("snowflake", "text"): None,
    ("bigquery", "timestamptz"): "TIMESTAMP '2024-07-09 00:00:00+00'",
    ("bigquery", "timestamp"): "DATETIME '2024-07-09 00:00:00'",
    ("bigquery", "date"): "DATE '2024-07-09'",
    ("bigquery", "text"): None,
}


def _dialect(name: str) -> Dialect:
    if name == "snowflake":
        from snowflake.sqlalchemy import snowdialect

        return snowdialect.dialect()  # type: ignore[no-any-return,unused-ignore]
    if name == "bigquery":
        from sqlalchemy_bigquery import BigQueryDialect

        return BigQueryDialect()  # type: ignore[no-any-return]
    if name == "duckdb":
        from duckdb_engine import Dialect as DuckDBDialect

        return DuckDBDialect()
    return sa.engine.make_url(f"{name}://").get_dialect()()


def _compiled(dialect: str, stamp: str) -> str:
    names = ("account_id", "user_id", "event")
    events = sa.table("events", *(sa.column(name) for name in names), sa.column("timestamp", STAMPS[stamp]))
    accounts = sa.table("accounts", sa.column("account_id"))
    tables = LogicalTables(events, accounts, sa.table("users", sa.column("user_id")), {})
    window = window_of(AS_OF.timestamp(), AS_OF.timestamp(), CONFIG)
    assert window.scan_from == SINCE
    rows = classified(tables, window.now, since_epoch=window.scan_from, dialect=dialect)
    sql = str(
        user_pass_query(rows, CONFIG, window).compile(dialect=_dialect(dialect), compile_kwargs={"literal_binds": True})
    )
    return " ".join(re.sub(r'["`]', "", sql).split())


@pytest.mark.parametrize(("dialect", "stamp"), sorted(LITERALS))
def test_the_scan_starts_at_the_bound_with_a_literal_of_the_columns_type(dialect: str, stamp: str) -> None:
    sql = _compiled(dialect, stamp)
    literal = LITERALS[(dialect, stamp)]
    if literal is not None:
        assert RAW.format(literal) in sql
    else:  # text keeps its parse: the bound is on the parsed instant, which no engine prunes on
        assert "events.timestamp >=" not in sql
    exact = f"hs_base.ts >= {SINCE} OR hs_base.ts IS NULL) AS hs_since" in sql
    assert exact == (stamp in ("text", "date"))  # a day compared with a day: the instant decides within it
    if dialect == "bigquery":
        import sqlglot

        assert sqlglot.parse_one(sql, read="bigquery", error_level=sqlglot.ErrorLevel.RAISE) is not None


def test_sqlite_compares_its_iso_text_from_the_day_before_and_keeps_what_does_not_parse() -> None:
    sql = _compiled("sqlite", "text")
    assert "typeof(events.timestamp) != 'text' OR events.timestamp >= '2024-07-08' OR" in sql
    assert f"hs_base.ts >= {SINCE} OR hs_base.ts IS NULL) AS hs_since" in sql  # then the parsed instant, exactly


def _events(days: int, accounts: int = 8) -> pd.DataFrame:
    """Events of `accounts` accounts, every 6 hours over the `days` days before as_of (the same last days)."""
    stamps = pd.date_range(end=AS_OF - timedelta(hours=1), periods=days * 4, freq="6h", tz="UTC")
    slots = [int(stamp.timestamp()) // 21600 for stamp in stamps]  # the same rows for the same instants
    rows = [
        (f"acc_{slot % accounts}", f"acc_{slot % accounts}_u{slot % 3}", ("call_logged", "report_viewed")[slot % 2])
        for slot in slots
    ]
    frame = pd.DataFrame(rows, columns=["account_id", "user_id", "event"])
    return frame.assign(timestamp=stamps)


def _product(folder: Path, events: pd.DataFrame, accounts: int = 8) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"acc_{index}" for index in range(accounts)]
    created = (AS_OF - timedelta(days=900)).isoformat()
    pd.DataFrame(
        {"account_id": ids, "name": ids, "domain": [f"{i}.example" for i in ids], "plan": "team", "status": "paying"}
    ).assign(created_at=created, seats_limit=10).to_csv(folder / "accounts.csv", index=False)
    users = [(f"{i}_u{n}", i, f"u{n}@{i}.example", "rep", created) for i in ids for n in range(3)]
    pd.DataFrame(users, columns=["user_id", "account_id", "email", "role", "created_at"]).to_csv(
        folder / "users.csv", index=False
    )
    with duckdb.connect() as conn:
        conn.register("frame", events.assign(day=events["timestamp"].dt.strftime("%Y-%m-%d")))
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(
            "COPY (SELECT account_id, user_id, event, timestamp::TIMESTAMPTZ AS timestamp, day FROM frame) "
            f"TO '{folder / 'events'}' (FORMAT parquet, PARTITION_BY (day))"
        )


def _config(folder: Path, events: str = "events/*/*.parquet", **scoring: Any) -> Path:
    body = {
        "source": {"kind": "files", "events": events, "accounts": "accounts.csv", "users": "users.csv"},
        "scoring": {
            "as_of": AS_OF.isoformat(),
            "weights": {"call_logged": 5},
            "activation_steps": [{"event": "call_logged"}],
            **scoring,
        },
        "state": {"url": f"sqlite:///{folder / 'state.db'}"},
    }
    path = folder / "healthsync.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def _score(config: Path) -> tuple[pd.DataFrame, list[tuple[str, Any]]]:
    with statements() as seen:
        result = CliRunner().invoke(cli, ["score", "--config", str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    table = pd.DataFrame(json.loads(result.stdout)).set_index("account_id").sort_index()
    return table, seen


def _row_groups(seen: list[tuple[str, Any]]) -> tuple[int, int]:
    """(row groups scanned, row groups to scan) of the one-pass statement, replayed after the statements that made
    the views, on a DuckDB of its own under its profiler."""
    with duckdb.connect() as conn:
        for statement, _ in seen:
            if statement.lstrip().upper().startswith(("SET ", "CREATE ")):
                conn.execute(statement)
        (statement, parameters), *_ = [(s, p) for s, p in seen if "hs_user_rows" in s or "day_mask" in s]
        conn.execute("PRAGMA enable_profiling = 'json'")
        conn.execute("PRAGMA profiling_coverage = 'ALL'")
        (_, profile), *_ = conn.execute(f"EXPLAIN ANALYZE {statement}", parameters or None).fetchall()
    found = json.loads(profile)
    query = found.get("query", found)  # DuckDB 2.0 groups the query-level metrics
    if "total_row_groups_scanned" not in query:
        pytest.skip(f"DuckDB {duckdb.__version__}'s profiler does not count row groups (2.0 does)")
    return int(query["total_row_groups_scanned"]), int(query["total_row_groups_to_scan"])


def test_two_years_of_daily_parquet_read_the_row_groups_of_the_lookback(tmp_path: Path) -> None:
    short, long = tmp_path / "90d", tmp_path / "2y"
    recent = _events(90)
    _product(short, recent)
    _product(long, _events(730))
    assert _events(730).tail(len(recent)).reset_index(drop=True).equals(recent)
    short_table, short_seen = _score(_config(short))
    long_table, long_seen = _score(_config(long))
    # the lookback (400 days) covers the 90 days: the same scores; the 2 years' older events lie beyond it (only
    # the activation moment differs: the first step event within the lookback, which the 90 days do not hold)
    moment = ["days_to_activation"]
    pd.testing.assert_frame_equal(long_table.drop(columns=moment), short_table.drop(columns=moment))
    short_groups, short_files = _row_groups(short_seen)
    long_groups, long_files = _row_groups(long_seen)
    assert (short_files, long_files) == (90, 730)  # one file per day, a row group each
    assert short_groups == 90
    assert long_groups <= 401  # the days of the lookback (and a day that straddles its start)
    assert long_groups < long_files / 1.8


def test_an_account_active_only_before_the_lookback_shows_no_last_active_date(tmp_path: Path) -> None:
    events = _events(90, accounts=2)
    old = pd.DataFrame(
        {
            "account_id": ["acc_2", "acc_2"],
            "user_id": ["acc_2_u0", "acc_2_u0"],
            "event": ["call_logged", "report_viewed"],
            "timestamp": [AS_OF - timedelta(days=500), AS_OF - timedelta(days=450)],
        }
    )
    _product(tmp_path, pd.concat([events, old], ignore_index=True), accounts=3)
    bounded, _ = _score(_config(tmp_path))
    assert pd.isna(bounded.loc["acc_2", "last_active_at"])  # its latest event is 450 days old
    assert pd.isna(bounded.loc["acc_2", "days_since_active"])
    assert bounded.loc["acc_2", "activation_pct"] == 0  # its one step was reached 500 days ago: not seen
    assert "no activity in the last 400 days" in bounded.loc["acc_2", "play_reasons"]["churn_risk"]  # not "never"
    assert bounded.loc["acc_2", "summary"].startswith("No user has been active in the last 400 days")
    assert "non_activation_day_14" in bounded.loc["acc_2", "plays"]
    whole, _ = _score(_config(tmp_path, lookback_days=600))
    assert str(whole.loc["acc_2", "last_active_at"]).startswith(f"{AS_OF - timedelta(days=450):%Y-%m-%d}")
    assert whole.loc["acc_2", "days_since_active"] == 450
    assert whole.loc["acc_2", "activation_pct"] == 100
    others = ["acc_0", "acc_1"]  # active within the lookback: the same either way
    pd.testing.assert_frame_equal(bounded.loc[others], whole.loc[others], check_dtype=False)


@pytest.mark.postgres
def test_a_postgresql_read_bounds_every_scan_of_a_timestamptz_column(pg_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(pg_url)
    _product(tmp_path, _events(120))
    events = duckdb.sql(f"SELECT * EXCLUDE (day) FROM read_parquet('{tmp_path}/events/*/*.parquet')").df()
    try:
        with engine.begin() as conn:
            events.to_sql("events", conn, index=False)
            pd.read_csv(tmp_path / "accounts.csv").to_sql("accounts", conn, index=False)
            pd.read_csv(tmp_path / "users.csv").to_sql("users", conn, index=False)
    finally:
        engine.dispose()
    config = yaml.safe_load(_config(tmp_path).read_text())
    config["source"] = {"kind": "sql", "url": pg_url, "events": "events", "accounts": "accounts", "users": "users"}
    (tmp_path / "healthsync.yaml").write_text(yaml.safe_dump(config))
    with statements() as seen:
        data = load_source(load_settings(tmp_path / "healthsync.yaml"), AS_OF, AS_OF, with_users=False)
    assert data.plan is not None
    scans = [statement for statement, _ in seen if "FROM events" in statement and "LIMIT %(" not in statement]
    assert len(scans) == len([s for s in data.plan.statements if s.scans and s.seconds is not None])
    literal = "events.timestamp >= TIMESTAMPTZ '2024-07-09 00:00:00+00'"
    assert all(literal in statement.replace('"', "") for statement in scans)
