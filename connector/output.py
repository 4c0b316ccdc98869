"""Writing score tables: a terminal table, CSV, JSON (an array of objects) or Parquet."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from healthsync.connector.errors import ConfigError

FORMATS = ("table", "csv", "json", "parquet")


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dictionaries, in column order (see :mod:`connector.records`)."""
    from healthsync.connector.records import to_records as records

    return records(frame)


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Dict columns (play reasons) as JSON text: their keys vary by row."""
    dicts = [column for column in frame.columns if frame[column].map(lambda v: isinstance(v, dict)).any()]
    return frame.assign(**{column: frame[column].map(json.dumps) for column in dicts})


def _table(frame: pd.DataFrame, console: Console) -> None:
    from healthsync.connector.records import flat

    table = Table(show_lines=False, header_style="bold")
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for record in to_records(frame):
        table.add_row(*("" if v is None else str(flat(v)) for v in record.values()))
    console.print(table)


def write_frame(frame: pd.DataFrame, fmt: str, output: Path | None, console: Console | None = None) -> None:
    """Write `frame` in `fmt` to `output` (a file) or to standard output."""
    from healthsync.connector.records import csv_text, json_text

    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet":
        ready = _parquet_ready(frame)
        if output is None:
            ready.to_parquet(sys.stdout.buffer, index=False)
        else:
            ready.to_parquet(output, index=False)
        return
    if fmt == "table":
        if output is not None:
            with output.open("w", encoding="utf-8") as handle:
                _table(frame, Console(file=handle, width=max(400, 16 * len(frame.columns))))
        else:
            _table(frame, console or Console())
        return
    text = json_text(frame) if fmt == "json" else csv_text(frame)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
