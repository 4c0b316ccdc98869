"""Writing score tables: a terminal table, CSV, JSON (an array of objects) or Parquet.

The terminal table shows the columns a person reads (:data:`TABLE_COLUMNS`), fitted to the terminal's width with
whole values: short columns never wrap, names and plays wrap between words. Piped output is CSV by default.
pandas and rich are imported when a table is written, not when the CLI starts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthsync.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

FORMATS = ("table", "csv", "json", "parquet")
SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".txt": "table"}
# The terminal table by default: (header, the score columns shown in it), per table.
TABLE_COLUMNS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "accounts": (
        ("account", ("name", "account_id")),
        ("score", ("health_score",)),
        ("tier", ("health_tier",)),
        ("trend", ("trend",)),
        ("active users", ("active_users", "total_users")),
        ("last active", ("last_active_at",)),
        ("plays", ("plays",)),
    ),
    "users": (
        ("user", ("email", "user_id")),
        ("account", ("account_id",)),
        ("score", ("health_score",)),
        ("tier", ("health_tier",)),
        ("trend", ("trend",)),
        ("active days", ("active_days",)),
        ("last active", ("last_active_at",)),
    ),
}


def default_format(output: Path | None, terminal: bool) -> str:
    """The format when `--format` is not given: by the file's suffix, a table on a terminal, CSV when piped."""
    if output is not None:
        return SUFFIXES.get(output.suffix.lower(), "table")
    return "table" if terminal else "csv"


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dictionaries, in column order (see :mod:`connector.records`)."""
    from healthsync.connector.records import to_records as records

    return records(frame)


def _holds_dicts(values: pd.Series) -> bool:
    """Whether any cell is a dict: only object columns can hold one (numbers, instants, text and the nullable
    types cannot); stops at the first dict."""
    import pandas as pd

    dtype = values.dtype
    if pd.api.types.is_object_dtype(dtype):
        return any(isinstance(value, dict) for value in values.to_numpy())
    plain = (pd.api.types.is_numeric_dtype, pd.api.types.is_datetime64_any_dtype, pd.api.types.is_string_dtype)
    if any(check(dtype) for check in plain):
        return False
    return bool(values.map(lambda v: isinstance(v, dict)).any())


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Dict columns (play reasons) as JSON text: their keys vary by row."""
    dicts = [column for column in frame.columns if _holds_dicts(frame[column])]
    return frame.assign(**{column: frame[column].map(json.dumps) for column in dicts})


def _parquet(frame: pd.DataFrame, output: Path | None) -> None:
    """Parquet through DuckDB (already a dependency; pyarrow is not needed at run time)."""
    import tempfile

    import duckdb

    with tempfile.TemporaryDirectory(prefix="healthsync-") as folder:
        target = output or Path(folder) / "scores.parquet"
        with duckdb.connect() as con:
            con.register("scores", frame)
            con.execute(f"COPY scores TO '{str(target).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")
        if output is None:
            sys.stdout.buffer.write(target.read_bytes())
            sys.stdout.buffer.flush()


def _cell(header: str, record: dict[str, Any], columns: tuple[str, ...]) -> str:
    values = [record.get(column) for column in columns]
    if header == "active users" and len(values) == 2 and None not in values:
        return f"{values[0]}/{values[1]}"
    value = next((v for v in values if v not in (None, "")), None)
    if value is None or value == []:
        return ""
    if header == "last active" and isinstance(value, str):
        return value[:10]  # the date; the time is in --format csv/json
    if isinstance(value, list):
        return ", ".join(map(str, value))
    from healthsync.connector.records import flat

    return str(flat(value))


def table_columns(frame: pd.DataFrame, kind: str, columns: list[str] | None) -> list[tuple[str, tuple[str, ...]]]:
    """The (header, source columns) of the table: the readable default, or exactly `columns`."""
    if columns:
        unknown = [column for column in columns if column not in frame.columns]
        if unknown:
            raise ConfigError(
                f"--columns: unknown column(s) {', '.join(unknown)}; the columns are: {', '.join(frame.columns)}"
            )
        return [(column, (column,)) for column in columns]
    return [(header, cols) for header, cols in TABLE_COLUMNS[kind] if any(c in frame.columns for c in cols)]


def _fit(columns: list[list[str]], width: int) -> list[int] | None:
    """Column widths within `width` where no word is cut: columns of single words keep their full width,
    the others (names, plays, sentences) get at least their longest word and share what is left; a header of
    several words may wrap. `columns[i]` is the header then the cells of column i; None when even the longest
    words do not fit (rich then folds)."""
    words = [max((len(word) for cell in col for word in cell.split()), default=0) for col in columns]
    longest = [max([words[i], *(len(cell) for cell in col[1:])]) for i, col in enumerate(columns)]  # headers wrap
    flexible = [any(" " in cell.strip() for cell in col[1:]) for col in columns]
    widths = [shortest if flex else most for most, shortest, flex in zip(longest, words, flexible, strict=True)]
    spare = width - (len(columns) - 1) - sum(widths)  # one space between columns
    if spare < 0:
        return None
    waiting = sorted((i for i in range(len(columns)) if flexible[i]), key=lambda i: longest[i])
    for position, index in enumerate(waiting):  # the narrow ones get whole first, the rest share
        share = min(longest[index] - widths[index], spare // (len(waiting) - position))
        widths[index] += share
        spare -= share
    return widths


def _table(frame: pd.DataFrame, console: Console, kind: str = "accounts", columns: list[str] | None = None) -> None:
    from rich import box
    from rich.table import Table

    chosen = table_columns(frame, kind, columns) if kind in TABLE_COLUMNS or columns else None
    if chosen is None:
        chosen = [(str(column), (str(column),)) for column in frame.columns]
    rows = [[_cell(header, record, cols) for header, cols in chosen] for record in to_records(frame)]
    cells = [[header, *(row[index] for row in rows)] for index, (header, _cols) in enumerate(chosen)]
    widths = _fit(cells, console.width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold", pad_edge=False, padding=(0, 0))
    for index, (header, _cols) in enumerate(chosen):
        table.add_column(header, overflow="fold", width=widths[index] if widths else None)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def write_frame(
    frame: pd.DataFrame,
    fmt: str,
    output: Path | None,
    console: Console | None = None,
    *,
    kind: str = "",
    columns: list[str] | None = None,
) -> None:
    """Write `frame` in `fmt` to `output` (a file) or to standard output.

    `kind` ("accounts" or "users") picks the readable default columns of the table; `columns` picks others
    (and, for csv/json/parquet, restricts the columns written).
    """
    from healthsync.connector.records import csv_text, json_text

    if columns and fmt != "table":
        table_columns(frame, "accounts", columns)  # the same error for an unknown name
        frame = frame[columns]
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet":
        _parquet(_parquet_ready(frame), output)
        return
    if fmt == "table":
        from rich.console import Console

        if output is not None:
            with output.open("w", encoding="utf-8") as handle:
                _table(frame, Console(file=handle, width=max(400, 16 * len(frame.columns))), kind, columns)
        else:
            _table(frame, console or Console(), kind, columns)
        return
    text = json_text(frame) if fmt == "json" else csv_text(frame)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
