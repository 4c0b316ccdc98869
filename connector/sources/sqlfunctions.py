"""SQL functions compiled per dialect: epoch seconds of a timestamp, floor, and the 64-bit day masks.

Each is a SQLAlchemy `FunctionElement` with a `@compiles` per dialect, so the pushed-down queries stay portable
(DuckDB, SQLite, PostgreSQL, Snowflake, BigQuery) while every dialect gets its cheapest spelling.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

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
