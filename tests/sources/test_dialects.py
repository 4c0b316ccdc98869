"""The pushed-down SQL compiles for the warehouse dialects (Snowflake, BigQuery) as well as the ones we run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select

from healthsync.connector.sources.pushdown import (
    LogicalTables,
    Window,
    activation_query,
    activity_query,
    classified,
    event_count_query,
    sample_query,
)
from healthsync.connector.sources.segment import SegmentSchema, segment_tables
from healthsync.connector.sources.sqlfunctions import KthSmallest
from healthsync.scoring.config import ActivationStep, ScoringConfig

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
CONFIG = ScoringConfig(
    weights={"lead_created": 9, "call_logged": 5},
    features={"sequences": ["sequence_created", "lead_enrolled"]},
    activation_steps=[ActivationStep(event="lead_enrolled", min_count=20)],
)
WINDOW = Window(as_of=AS_OF.timestamp(), now=AS_OF.timestamp() + 3600, window_days=30)


def _dialect(name: str) -> Dialect:
    if name == "snowflake":
        from snowflake.sqlalchemy import snowdialect

        return snowdialect.dialect()  # type: ignore[no-any-return,unused-ignore]
    from sqlalchemy_bigquery import BigQueryDialect

    return BigQueryDialect()  # type: ignore[no-any-return]


def _tables(*, typed: bool, event_id: bool) -> LogicalTables:
    stamp = sa.DateTime() if typed else sa.String()
    names = ("account_id", "user_id", "event")
    columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in names] + [sa.column("timestamp", stamp)]
    events = sa.table("events", *columns, *([sa.column("event_id")] if event_id else []), schema="analytics")
    accounts = sa.table("accounts", sa.column("account_id"), sa.column("name"), schema="analytics")
    users = sa.table("users", sa.column("user_id"), sa.column("account_id"), schema="analytics")
    return LogicalTables(events, accounts, users, {"events": "events", "accounts": "accounts", "users": "users"})


def _sql(query: Select[Any], dialect: Dialect) -> str:
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


@pytest.mark.parametrize("dialect_name", ["snowflake", "bigquery"])
@pytest.mark.parametrize("typed", [True, False])
@pytest.mark.parametrize("event_id", [True, False])
def test_activity_query_compiles_for_warehouses(dialect_name: str, typed: bool, event_id: bool) -> None:
    dialect = _dialect(dialect_name)
    rows = classified(_tables(typed=typed, event_id=event_id), WINDOW.now)
    sql = _sql(activity_query(rows, CONFIG, WINDOW, by_user=False), dialect)
    epoch = "DATE_PART(epoch_millisecond" if dialect_name == "snowflake" else "UNIX_MICROS(SAFE_CAST("
    for piece in (epoch, "GROUP BY", "count(DISTINCT CASE WHEN", "'unknown_account'", "lead_created", "max(CASE"):
        assert piece in sql, (piece, sql)
    assert ("row_number() OVER (PARTITION BY" in sql) is event_id
    assert "FILTER" not in sql  # not every warehouse has FILTER; CASE works everywhere
    assert str(WINDOW.as_of) in sql or f"{WINDOW.as_of:.1f}" in sql or repr(WINDOW.as_of) in sql
    by_user = _sql(activity_query(rows, CONFIG, WINDOW, by_user=True), dialect)
    assert "user_key" in by_user
    samples = _sql(sample_query(rows, ["unknown_account", "missing_event"], 5, ["account_id", "event"]), dialect)
    assert "row_number() OVER (PARTITION BY" in samples
    assert "<= 5" in samples


@pytest.mark.parametrize("dialect_name", ["snowflake", "bigquery"])
def test_segment_mapping_compiles_for_warehouses(dialect_name: str) -> None:
    def table(name: str, *columns: str) -> sa.TableClause:
        return sa.table(name, *(sa.column(column) for column in columns), schema="segment")

    schema = SegmentSchema(
        tracks=table("tracks", "id", "user_id", "event", "timestamp", "context_group_id"),
        identifies=table("identifies", "user_id", "email", "role", "created_at", "timestamp"),
        groups=table("groups", "group_id", "user_id", "name", "plan", "status", "timestamp"),
        columns={},
        labels={"events": "events (tracks)", "accounts": "accounts (groups)", "users": "users (identifies)"},
    )
    rows = classified(segment_tables(schema), WINDOW.now)
    sql = _sql(activity_query(rows, CONFIG, WINDOW, by_user=False), _dialect(dialect_name))
    assert "coalesce(" in sql.lower()
    assert "context_group_id" in sql
    assert "NULLS LAST" in sql


def test_postgresql_and_duckdb_and_sqlite_compile_their_timestamp_parsers() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    rows = classified(_tables(typed=False, event_id=False), WINDOW.now)
    query = activity_query(rows, CONFIG, WINDOW, by_user=False)
    postgres: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call,unused-ignore]
    assert "pg_input_is_valid" in _sql(query, postgres)
    assert "julianday" in _sql(query, sqlite.dialect())
    typed = classified(_tables(typed=True, event_id=False), WINDOW.now)
    assert "date_part('epoch', " in _sql(activity_query(typed, CONFIG, WINDOW, by_user=False), postgres)


def _every_statement(tables: LogicalTables, dialect_name: str = "bigquery") -> dict[str, Select[Any]]:
    """Every statement the source runs on a warehouse: the one pass (per user, per account), the COUNT(DISTINCT)
    fallback, the activation moments, the per-event counts, and the one sample query."""
    from healthsync.connector.sources.rollup import account_pass_query, user_pass_query

    rows = classified(tables, WINDOW.now)
    columns = [name for name in ("account_id", "user_id", "event", "timestamp", "event_id") if name in tables.events.c]
    return {
        "user_pass": user_pass_query(rows, CONFIG, WINDOW),
        "account_pass": account_pass_query(rows, CONFIG, WINDOW),
        "fallback": activity_query(rows, CONFIG, WINDOW, by_user=False),
        "activation": activation_query(rows, CONFIG, WINDOW, dialect_name),
        "per_event": event_count_query(rows, CONFIG, WINDOW),
        "samples": sample_query(rows, ["unknown_account", "duplicate_event_id"], 5, columns),
    }


@pytest.mark.parametrize("dialect_name", ["snowflake", "bigquery"])
@pytest.mark.parametrize("typed", [True, False])
def test_every_statement_parses_in_the_warehouse_dialect(dialect_name: str, typed: bool) -> None:
    """sqlglot's parser for the dialect accepts every compiled statement (BigQuery has no local engine to run it)."""
    import sqlglot

    for name, query in _every_statement(_tables(typed=typed, event_id=True), dialect_name).items():
        sql = _sql(query, _dialect(dialect_name))
        parsed = sqlglot.parse_one(sql, read=dialect_name, error_level=sqlglot.ErrorLevel.RAISE)
        assert parsed.find(sqlglot.exp.Select) is not None, name
        assert "LIMIT" not in sql or name != "samples", name


def test_bigquery_spells_epoch_floor_and_masks_its_own_way() -> None:
    sql = _sql(_every_statement(_tables(typed=False, event_id=False))["account_pass"], _dialect("bigquery"))
    assert "UNIX_MICROS(SAFE_CAST(" in sql
    assert "(1 << CAST(" in sql
    assert "AS INT64)" in sql
    assert "bit_or(" in sql.lower()


def test_activation_takes_the_kth_smallest_where_the_dialect_has_it_and_a_window_elsewhere() -> None:
    """DuckDB keeps the 20 smallest instants per group (no window); the others number the step events; steps that
    need only their first event are a plain min() everywhere."""
    from duckdb_engine import Dialect as DuckDBDialect
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.exc import CompileError

    rows = classified(_tables(typed=True, event_id=False), WINDOW.now)
    firsts = CONFIG.model_copy(update={"activation_steps": [ActivationStep(event="a"), ActivationStep(event="b")]})
    duckdb = _sql(activation_query(rows, CONFIG, WINDOW, "duckdb"), DuckDBDialect())
    assert "list_extract(min(" in duckdb
    assert "row_number" not in duckdb.lower()
    postgres: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call,unused-ignore]
    for name, dialect in (("postgresql", postgres), ("sqlite", sqlite.dialect())):
        assert "row_number() OVER" in _sql(activation_query(rows, CONFIG, WINDOW, name), dialect)
        assert "row_number" not in _sql(activation_query(rows, firsts, WINDOW, name), dialect)
    with pytest.raises(CompileError, match="kth_smallest with k = 20"):
        _sql(sa.select(KthSmallest(sa.column("ts"), 20)), sqlite.dialect())


def test_duckdb_spells_the_kth_smallest_as_a_bounded_min() -> None:
    from duckdb_engine import Dialect as DuckDBDialect

    query: Select[Any] = sa.select(KthSmallest(sa.column("ts"), 20), KthSmallest(sa.column("ts"), 1))  # type: ignore[assignment,unused-ignore]
    sql = _sql(query, DuckDBDialect())
    assert "list_extract(min(ts, 20), 20)" in sql
    assert "min(ts)" in sql
