"""The SQL functions of `sqlfunctions.py` spelled for ClickHouse and for Databricks / Spark SQL.

Registered with SQLAlchemy on import (`connector/sources/__init__.py` imports this module), by dialect name:

    clickhousedb   clickhouse-connect's dialect (ClickHouse Inc.): https://github.com/ClickHouse/clickhouse-connect,
                   https://clickhouse.com/docs/integrations/python#sqlalchemy
    databricks     databricks-sqlalchemy (Databricks): https://github.com/databricks/databricks-sqlalchemy

ClickHouse (https://clickhouse.com/docs/sql-reference/functions): `parseDateTime64BestEffortOrNull` reads text in
ISO-8601 and many looser shapes (`12`, `1.5` become dates), so text must first match the strict shape the
PostgreSQL path uses (`sqlfunctions._PG_ISO`, written with doubled backslashes: ClickHouse string literals take
C escapes); an impossible day (2025-02-30) parses to NULL. `toUnixTimestamp64Micro`, `bitShiftLeft`, `groupBitOr`
(https://clickhouse.com/docs/sql-reference/aggregate-functions/reference/groupbitor) and `countIf` (the -If
combinator) replace the standard spellings ClickHouse lacks (`<<` on integers, `bit_or`, `FILTER (WHERE ...)`).

Spark SQL (https://spark.apache.org/docs/latest/api/sql/): `try_cast(... AS TIMESTAMP)` is NULL for text that is not
a timestamp, where `CAST` raises under ANSI mode (on by default since Spark 4.0 and on Databricks SQL warehouses);
text without an offset is read in the session time zone, which the source sets to UTC (`SET TIME ZONE 'UTC'`).
`unix_micros`, `shiftleft`, `bit_or` and `count_if` are built in since Spark 3.1.

The lower bound of every event scan (`sqlfunctions.Instant`, `plan.Capabilities.raw_bounds`) is a constant of the
column's type on both: `toDateTime64('...', 6, 'UTC')` / `toDate('...')` on ClickHouse, `TIMESTAMP '...'` /
`DATE '...'` on Spark (in the session's UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from healthsync.connector.sources.sqlfunctions import (
    _PG_ISO,
    BitOr,
    CountIf,
    DayBit,
    EpochSeconds,
    Instant,
    _arg,
    _bound,
    _iso,
)

CLICKHOUSE = "clickhousedb"
DATABRICKS = "databricks"
_CH_ISO = _PG_ISO.replace("\\", "\\\\")


@compiles(EpochSeconds, CLICKHOUSE)
def _epoch_clickhouse(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    value, temporal = _arg(element, compiler, **kw)
    if temporal:  # DateTime, DateTime64 (any zone: the instant is kept) or Date
        return f"(toUnixTimestamp64Micro(toDateTime64({value}, 6, 'UTC')) / 1000000.0)"
    text = f"toString({value})"
    parsed = f"parseDateTime64BestEffortOrNull({text}, 6, 'UTC')"
    return f"(toUnixTimestamp64Micro(if(match({text}, '{_CH_ISO}'), {parsed}, NULL)) / 1000000.0)"


@compiles(Instant, CLICKHOUSE)
def _instant_clickhouse(element: Instant, compiler: SQLCompiler, **kw: Any) -> str:
    # The scans' lower bound: a constant of the column's type, which MergeTree prunes parts and granules on.
    # DateTime64 values compare as instants whatever the column's zone.
    return _bound(element, lambda moment, kind: _typed(moment, kind, "toDate('{}')", "toDateTime64('{}', 6, 'UTC')"))


def _typed(moment: datetime, kind: str, date: str, stamp: str) -> str:
    """`date` or `stamp` (a template with one `{}`) filled with the bound in UTC, written without an offset for
    either kind of timestamp column: ClickHouse takes the zone as an argument, Spark reads it in the session's UTC."""
    return date.format(_iso(moment, kind)) if kind == "date" else stamp.format(_iso(moment, "timestamp"))


@compiles(EpochSeconds, DATABRICKS)
def _epoch_databricks(element: EpochSeconds, compiler: SQLCompiler, **kw: Any) -> str:
    value, temporal = _arg(element, compiler, **kw)
    stamp = f"CAST({value} AS TIMESTAMP)" if temporal else f"try_cast(CAST({value} AS STRING) AS TIMESTAMP)"
    return f"(unix_micros({stamp}) / 1000000.0)"


@compiles(Instant, DATABRICKS)
def _instant_databricks(element: Instant, compiler: SQLCompiler, **kw: Any) -> str:
    # TIMESTAMP '...' is read in the session time zone, UTC (Delta's data skipping and partition filters use it);
    # Spark has no TIMESTAMPTZ literal.
    return _bound(element, lambda moment, kind: _typed(moment, kind, "DATE '{}'", "TIMESTAMP '{}'"))


# The one-argument functions, `{}` standing for the compiled argument (Spark's `bit_or` is the standard spelling).
_SPELLINGS: dict[tuple[type[FunctionElement[Any]], str], str] = {
    (DayBit, CLICKHOUSE): "bitShiftLeft(toInt64(1), toUInt8({}))",
    (BitOr, CLICKHOUSE): "groupBitOr({})",
    (CountIf, CLICKHOUSE): "countIf({})",
    (DayBit, DATABRICKS): "shiftleft(CAST(1 AS BIGINT), CAST({} AS INT))",
    (CountIf, DATABRICKS): "count_if({})",
}


def _spelled(template: str) -> Callable[..., str]:
    def spell(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        return template.format(_arg(element, compiler, **kw)[0])

    return spell


for (_function, _dialect), _template in _SPELLINGS.items():
    compiles(_function, _dialect)(_spelled(_template))
