"""SQL functions compiled per dialect: epoch seconds of a timestamp, floor, the 64-bit day masks, conditional
counts, the k-th smallest value of a group, and typed instant literals (the scans' lower bound).

Each is a SQLAlchemy `FunctionElement` with a `@compiles` per dialect, so the pushed-down queries stay portable
(DuckDB, SQLite, PostgreSQL, Snowflake, BigQuery) while every dialect gets its cheapest spelling.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

# A strict ISO-8601 shape (month 01-12, day 01-31, hour 00-23, minute and second 00-59, offset up to 15:59): with
# the day-of-month check below it guards the text -> timestamptz cast on PostgreSQL < 16 (no pg_input_is_valid
# there), so that no value reaching the cast can raise (e.g. DatetimeFieldOverflow on 2025-02-30).
_PG_ISO = (
    r"^\s*[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?)?\s*(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)?\s*$"
)


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


def _pg_day_exists(text: str) -> str:
    """The day of month exists (30 days hath September, February 29 in leap years); `text` matched _PG_ISO."""
    year = f"CAST(substr(btrim({text}), 1, 4) AS INTEGER)"
    month = f"CAST(substr(btrim({text}), 6, 2) AS INTEGER)"
    day = f"CAST(substr(btrim({text}), 9, 2) AS INTEGER)"
    leap = f"(mod({year}, 4) = 0 AND (mod({year}, 100) <> 0 OR mod({year}, 400) = 0))"  # no %: a driver placeholder
    return (
        f"({day} <= 28 OR ({month} <> 2 AND ({day} <= 30 OR {month} IN (1, 3, 5, 7, 8, 10, 12)))"
        f" OR ({month} = 2 AND {day} = 29 AND {leap}))"
    )


@compiles(EpochSeconds, "postgresql")
def _epoch_postgresql(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    # date_part() returns double precision; EXTRACT returns numeric on PostgreSQL 14+ (several times slower).
    value, temporal = _arg(element, compiler, **kw)
    if temporal:
        return f"date_part('epoch', {value})"
    text = f"CAST({value} AS TEXT)"
    epoch = f"date_part('epoch', CAST({text} AS TIMESTAMPTZ))"
    version = compiler.dialect.server_version_info
    if version is None or version >= (16,):
        return f"(CASE WHEN pg_input_is_valid({text}, 'timestamptz') THEN {epoch} END)"
    # CASE evaluates in order: the shape first, then the day of month, and only then the cast.
    return f"(CASE WHEN {text} ~ '{_PG_ISO}' THEN CASE WHEN {_pg_day_exists(text)} THEN {epoch} END END)"


@compiles(EpochSeconds, "snowflake")
def _epoch_snowflake(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    value, temporal = _arg(element, compiler, **kw)
    # TRY_CAST(... AS TIMESTAMP_TZ) (https://docs.snowflake.com/en/sql-reference/functions/try_cast: strings to
    # timestamps; fakesnow runs it, unlike TRY_TO_TIMESTAMP_TZ): a text
    # value without an offset is read in the session time zone, which the source forces to UTC.
    stamp = value if temporal else f"TRY_CAST(TO_VARCHAR({value}) AS TIMESTAMP_TZ)"
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


class DayBit(FunctionElement[int]):
    """1 << bucket as a 64-bit integer (bucket: a non-negative whole number below 63)."""

    type = sa.BigInteger()
    name = "day_bit"
    inherit_cache = True


class BitOr(FunctionElement[int]):
    """The bitwise OR aggregate of 64-bit integers."""

    type = sa.BigInteger()
    name = "bit_or"
    inherit_cache = True


@compiles(DayBit)
def _bit_default(element: DayBit, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CAST(1 AS BIGINT) << CAST({_arg(element, compiler, **kw)[0]} AS INTEGER))"


@compiles(DayBit, "snowflake")
def _bit_snowflake(element: DayBit, compiler: SQLCompiler, **kw: Any) -> str:
    return f"BITSHIFTLEFT(CAST(1 AS BIGINT), CAST({_arg(element, compiler, **kw)[0]} AS INTEGER))"


@compiles(DayBit, "bigquery")
def _bit_bigquery(element: DayBit, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(1 << CAST({_arg(element, compiler, **kw)[0]} AS INT64))"


@compiles(BitOr)
def _or_default(element: BitOr, compiler: SQLCompiler, **kw: Any) -> str:
    return f"bit_or({_arg(element, compiler, **kw)[0]})"


@compiles(BitOr, "snowflake")
def _or_snowflake(element: BitOr, compiler: SQLCompiler, **kw: Any) -> str:
    return f"BITOR_AGG({_arg(element, compiler, **kw)[0]})"


class CountIf(FunctionElement[int]):
    """The number of rows of the group for which a condition holds (0 when none).

    `count(*) FILTER (WHERE c)` (SQL:2003; PostgreSQL, DuckDB, SQLite 3.30+), `COUNT_IF(c)` on Snowflake, `COUNTIF(c)`
    on BigQuery. Unlike `sum(CASE WHEN c THEN 1 ELSE 0 END)` the aggregate skips the rows that don't match: on
    PostgreSQL that is about a third of the aggregation time of the one-pass query (benchmarks/RESULTS.md).
    """

    type = sa.BigInteger()
    name = "count_if"
    inherit_cache = True


@compiles(CountIf)
def _count_if_default(element: CountIf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"count(*) FILTER (WHERE {_arg(element, compiler, **kw)[0]})"


@compiles(CountIf, "snowflake")
def _count_if_snowflake(element: CountIf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"COUNT_IF({_arg(element, compiler, **kw)[0]})"


@compiles(CountIf, "bigquery")
def _count_if_bigquery(element: CountIf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"COUNTIF({_arg(element, compiler, **kw)[0]})"


# Dialects with an aggregate that keeps the k smallest values of a group (DuckDB's `min(x, k)`, a bounded heap):
# elsewhere the k-th occurrence of an event takes a window function (`pushdown.activation_query`).
class KthSmallest(FunctionElement[float]):
    """The k-th smallest non-NULL value of an expression over the group (an aggregate), NULL with fewer than k.

    k = 1 is `min()` on every dialect; k > 1 only where `plan.Capabilities.kth_smallest` (DuckDB)
    (`list_extract(min(x, k), k)`: at 50M events a third less time than the window over every step event).
    """

    type = sa.Float()
    name = "kth_smallest"
    inherit_cache = True

    def __init__(self, value: ColumnElement[Any], k: int) -> None:
        super().__init__(value, sa.literal_column(str(int(k)), sa.Integer()))


def _kth_args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    value, k = element.clauses
    return compiler.process(value, **kw), compiler.process(k, **kw)


@compiles(KthSmallest)
def _kth_default(element: KthSmallest, compiler: SQLCompiler, **kw: Any) -> str:
    value, k = _kth_args(element, compiler, **kw)
    if k != "1":
        raise sa.exc.CompileError(f"kth_smallest with k = {k} needs a dialect with a k-th smallest aggregate (DuckDB)")
    return f"min({value})"


@compiles(KthSmallest, "duckdb")
def _kth_duckdb(element: KthSmallest, compiler: SQLCompiler, **kw: Any) -> str:
    value, k = _kth_args(element, compiler, **kw)
    return f"min({value})" if k == "1" else f"list_extract(min({value}, {k}), {k})"


# The lower bound of every event scan (`pushdown.classified`): the raw timestamp column compared with a literal of
# its own type, which the engine can prune on (DuckDB's Parquet row-group statistics, PostgreSQL's partitions,
# Snowflake's micro-partitions, BigQuery's partitions); an expression of the column (epoch seconds) prunes nothing.
class Instant(FunctionElement[Any]):
    """A typed literal of the UTC instant `epoch` (seconds), of the kind the compared column has: `timestamptz`,
    `timestamp` (naive, UTC: every session runs in UTC), `date` (the UTC day the instant falls on) or `text`
    (SQLite's ISO text: the day before, so that a value with any UTC offset up to 24 hours still sorts after it)."""

    name = "instant"
    inherit_cache = True

    def __init__(self, epoch: float, kind: str) -> None:
        super().__init__(sa.literal_column(repr(float(epoch))), sa.literal_column(f"'{kind}'"))
        self.type = sa.Date() if kind == "date" else sa.DateTime(timezone=kind == "timestamptz")


def temporal_kind(column: ColumnElement[Any]) -> str | None:
    """`timestamptz`, `timestamp` or `date` for a column of that SQL type, None for any other (text: parsed)."""
    kind = getattr(column, "type", None)
    if isinstance(kind, sa.DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    return "date" if isinstance(kind, sa.Date) else None


def _instant(element: Instant) -> tuple[datetime, str]:
    epoch, kind = (str(getattr(clause, "name", "")) for clause in element.clauses)
    return datetime.fromtimestamp(float(epoch), UTC), kind.strip("'")


def _iso(moment: datetime, kind: str, offset: str = "+00") -> str:
    if kind == "date":
        return f"{moment:%Y-%m-%d}"
    if kind == "text":
        return f"{moment - timedelta(days=1):%Y-%m-%d}"
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f" if moment.microsecond else "%Y-%m-%d %H:%M:%S")
    return text + offset if kind == "timestamptz" else text


_TYPE_NAMES = {
    "default": {"timestamptz": "TIMESTAMPTZ", "timestamp": "TIMESTAMP", "date": "DATE"},
    # BigQuery's TIMESTAMP is an instant (UTC), DATETIME a civil time (naive, read as UTC here), DATE a day
    "bigquery": {"timestamptz": "TIMESTAMP", "timestamp": "DATETIME", "date": "DATE"},
    "snowflake": {"timestamptz": "TIMESTAMP_TZ", "timestamp": "TIMESTAMP_NTZ", "date": "DATE"},
}


def _bound(element: Instant, typed: Callable[[datetime, str], str]) -> str:
    """A scan's lower bound as SQL: quoted text for a text column (compared before each row is parsed), else
    `typed(moment, kind)`, the dialect's constant of the column's type (`timestamptz`, `timestamp`, `date`)."""
    moment, kind = _instant(element)
    return f"'{_iso(moment, kind)}'" if kind == "text" else typed(moment, kind)


@compiles(Instant)
def _instant_default(element: Instant, compiler: SQLCompiler, **kw: Any) -> str:
    # DuckDB, PostgreSQL, BigQuery: TIMESTAMPTZ / TIMESTAMP / DATE '...' literals (constants the planner prunes on)
    names = _TYPE_NAMES.get(compiler.dialect.name, _TYPE_NAMES["default"])
    return _bound(element, lambda moment, kind: f"{names[kind]} '{_iso(moment, kind)}'")


@compiles(Instant, "snowflake")
def _instant_snowflake(element: Instant, compiler: SQLCompiler, **kw: Any) -> str:
    names = _TYPE_NAMES["snowflake"]
    return _bound(element, lambda moment, kind: f"CAST('{_iso(moment, kind, '+00:00')}' AS {names[kind]})")
