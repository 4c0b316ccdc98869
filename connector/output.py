"""Writing score tables: a terminal table, CSV, JSON (an array of objects) or Parquet."""

from __future__ import annotations

import io
import json
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from healthsync.connector.errors import ConfigError

FORMATS = ("table", "csv", "json", "parquet")


def _plain(value: Any) -> Any:
    """A JSON-ready Python value: NaN/NA -> None, timestamps -> ISO 8601 UTC with Z, numpy -> int/float."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dictionaries, in column order."""
    columns = list(frame.columns)
    return [
        {column: _plain(value) for column, value in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _flat(value: Any) -> Any:
    """A list as "a;b", a dict of lists as "key: a, b; other: c" (plays and their reasons); others unchanged."""
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(
            f"{key}: {', '.join(map(str, item)) if isinstance(item, list) else item}" for key, item in value.items()
        )
    return value


def _csv(frame: pd.DataFrame) -> str:
    records = to_records(frame)
    out = pd.DataFrame.from_records(records, columns=list(frame.columns))
    buffer = io.StringIO()
    for column in out.columns:
        out[column] = out[column].map(_flat)
    out.to_csv(buffer, index=False)
    return buffer.getvalue()


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Dict columns (play reasons) as JSON text: their keys vary by row."""
    dicts = [column for column in frame.columns if frame[column].map(lambda v: isinstance(v, dict)).any()]
    return frame.assign(**{column: frame[column].map(json.dumps) for column in dicts})


def _table(frame: pd.DataFrame, console: Console) -> None:
    table = Table(show_lines=False, header_style="bold")
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for record in to_records(frame):
        table.add_row(*("" if v is None else str(_flat(v)) for v in record.values()))
    console.print(table)


def write_frame(frame: pd.DataFrame, fmt: str, output: Path | None, console: Console | None = None) -> None:
    """Write `frame` in `fmt` to `output` (a file) or to standard output."""
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
    text = json.dumps(to_records(frame), indent=2) + "\n" if fmt == "json" else _csv(frame)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
