"""The `files` source: CSV, JSON Lines and Parquet files (globs allowed) as DuckDB views, and DuckDB's memory cap.

Each logical table is a view over its file(s). DuckDB's hive partitioning is off (a folder named `env=prod` in a
data path stays a folder, never a column). CSV files are read with `ignore_errors`, after one scan with
`store_rejects` that records every line DuckDB could not use (too many or too few fields, an unquoted value, bad
UTF-8): those lines are counted as rejected rows with their file, line and DuckDB's reason, never lost silently.
"""

from __future__ import annotations

import csv
import glob
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from healthsync.errors import SourceError, first_line

# Columns read as text from CSV/JSON so that ids keep their form and bad values reach the validation.
TEXT_COLUMNS = {
    "events": ("account_id", "user_id", "event", "timestamp", "event_id"),
    "accounts": ("account_id", "created_at", "seats_limit", "mrr", "churned_at"),
    "users": ("user_id", "account_id", "created_at"),
    "outcomes": ("account_id", "occurred_at", "value"),
}
FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".ndjson": "json", ".json": "json", ".parquet": "parquet"}
COMPRESSIONS = (".gz", ".zst")
# DuckDB's buffer pool (files source, and a sql source on a DuckDB file); with Python and pandas the process stays
# under 1 GiB at 50M events.
DUCKDB_MEMORY_LIMIT = "600MB"


@dataclass
class FileRejects:
    """Lines of one table's CSV file(s) that DuckDB could not read: a count per reason and sample lines."""

    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)  # the key (account_id, user_id) of lines that did not decode


@dataclass(frozen=True)
class Projection:
    """A view over a file that is not `SELECT *`: its SELECT list from the file's column names (a preset's events,
    `presets.py`), and the columns read as JSON (the objects its paths look into)."""

    select: Callable[[Sequence[str]], str]
    json_columns: frozenset[str] = frozenset()


@contextmanager
def duckdb_config() -> Iterator[dict[str, str]]:
    """DuckDB settings capped at DUCKDB_MEMORY_LIMIT that spill to a private temporary folder (never the working
    directory) instead of growing: the GROUP BY event_id of a deduplication holds one entry per event."""
    with tempfile.TemporaryDirectory(prefix="healthsync-duckdb-") as spill:
        yield {"temp_directory": spill, "memory_limit": DUCKDB_MEMORY_LIMIT}


@contextmanager
def files_engine() -> Iterator[sa.Engine]:
    """An in-memory DuckDB under :func:`duckdb_config` (the files source's views live in it)."""
    with duckdb_engine(":memory:", read_only=False, options={}, label="opening DuckDB") as engine:
        yield engine


@contextmanager
def duckdb_engine(path: str, *, read_only: bool, options: dict[str, Any], label: str) -> Iterator[sa.Engine]:
    """One DuckDB database (a file, or in memory) under :func:`duckdb_config` plus the URL's `options`; each of the
    engine's connections is a cursor of it (DuckDB's `cursor()`: its own session on the same catalog and buffer
    pool). So a second session sees the views and tables of the first and shares its memory cap, and the event scan
    can run beside the other queries (`load.concurrently`); a second `duckdb.connect` of the same file with other
    settings is refused by DuckDB 1.4, and a second in-memory one would be another, empty, database."""
    import duckdb
    from duckdb_engine import ConnectionWrapper

    with duckdb_config() as config:
        try:
            database = duckdb.connect(path, read_only=read_only, config={**config, **options})
        except duckdb.Error as exc:
            raise SourceError(f"{label}: {first_line(exc)}") from exc
        engine = sa.create_engine(
            "duckdb:///:memory:",  # the creator connects: the URL only picks the dialect
            creator=lambda: ConnectionWrapper(database.cursor()),
            poolclass=sa.pool.QueuePool,
        )
        try:
            yield engine
        finally:
            engine.dispose()
            database.close()


def file_view(
    conn: sa.Connection,
    table: str,
    path: Path,
    mapping: dict[str, str],
    url: str | None,
    encoding: str = "utf-8",
    projection: Projection | None = None,
) -> FileRejects:
    """A DuckDB view named `table` over its file(s) (`SELECT *`, or the `projection`'s SELECT list); returns the
    lines of a CSV file that could not be read."""
    check_exists(path, table, url)
    json_columns = projection.json_columns if projection is not None else frozenset()
    reader, rejected, columns = _reader(conn, path, table, mapping, encoding, json_columns)
    if projection is None:
        select = "*"
    else:
        if columns is None:  # Parquet: its columns are not sniffed
            columns = [str(row[0]) for row in conn.exec_driver_sql(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
        select = projection.select(columns)
    conn.exec_driver_sql(f"CREATE VIEW {table} AS SELECT {select} FROM {reader}")
    return rejected


def check_exists(path: Path, table: str, url: str | None) -> None:
    text = str(path)
    hint = " (source.url is set: did you mean kind sql or segment?)" if url else ""
    if glob.has_magic(text):
        if not glob.glob(text, recursive=True):
            raise SourceError(f"source.{table}: no file matches {text}{hint}")
    elif not path.is_file():
        raise SourceError(f"source.{table}: file not found: {text}{hint}")


def file_format(path: Path, table: str) -> str:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    kind = FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise SourceError(f"source.{table}: cannot tell the format of {path} (expected .csv, .jsonl, .json, .parquet)")
    return kind


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _reader(
    conn: sa.Connection,
    path: Path,
    table: str,
    mapping: dict[str, str],
    encoding: str,
    json_columns: frozenset[str] = frozenset(),
) -> tuple[str, FileRejects, list[str] | None]:
    """The DuckDB table function reading `path` (id, timestamp and number columns as text; in JSON files the
    `json_columns` as JSON), the CSV rejects, and the column names sniffed (None for Parquet: not sniffed)."""
    kind = file_format(path, table)
    location = _quote(str(path))
    options = ", hive_partitioning = false" + (", union_by_name = true" if glob.has_magic(str(path)) else "")
    if kind == "parquet":
        return f"read_parquet({location}{options})", FileRejects(), None
    csv = kind == "csv"
    function = "read_csv" if csv else "read_json"
    if csv:
        options += f", encoding = {_quote(encoding)}"
    sniffed = f"{function}({location}{', header = true, ignore_errors = true' if csv else ''}{options})"
    detected = conn.exec_driver_sql(f"DESCRIBE SELECT * FROM {sniffed}").fetchall()
    text = {mapping.get(logical, logical) for logical in TEXT_COLUMNS[table]}
    types = {str(row[0]): "VARCHAR" if row[0] in text else str(row[1]) for row in detected}
    if not csv:
        types |= {name: "JSON" for name in types if name in json_columns and name not in text}
        columns = ", ".join(f"{_quote(name)}: {_quote(kind)}" for name, kind in types.items())
        return f"read_json({location}, columns = {{{columns}}}{options})", FileRejects(), list(types)
    overrides = ", ".join(f"{_quote(name)}: 'VARCHAR'" for name in types if types[name] == "VARCHAR")
    reader = f"read_csv({location}, header = true, types = {{{overrides}}}{options}"
    rejects = _csv_rejects(conn, reader, table)
    if encoding == "utf-8":
        key = {"accounts": "account_id", "users": "user_id"}.get(table)
        undecodable_lines(path, rejects, mapping.get(key, key) if key else None)
    return f"{reader}, ignore_errors = true)", rejects, list(types)


SAMPLE_TEXT = 200


def undecodable_lines(path: Path, rejects: FileRejects, key: str | None = None) -> None:
    """Add the lines of the CSV file(s) that are not UTF-8 to `rejects` (`csv_invalid_encoding`, with file and line),
    and the value of their `key` column to `rejects.ids` (so that their users are not called `unknown_account`).

    DuckDB drops such a row without a word, even with `store_rejects` (1.4-2.0): the file is checked here, a
    decode per file (GB/s) and a line-by-line pass only where that fails. Compressed `.zst` files are not checked.
    """
    for name in sorted(glob.glob(str(path), recursive=True)) if glob.has_magic(str(path)) else [str(path)]:
        data = _raw_bytes(Path(name))
        if data is None:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            lines = data.split(b"\n")
            header = next(csv.reader([lines[0].decode("latin-1")]), [])
            position = header.index(key) if key in header else None
            for number, line in enumerate(lines, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    text = line.decode("utf-8", errors="replace").rstrip("\r")[:SAMPLE_TEXT]
                    error = f"not UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); set source.encoding"
                    rejects.counts["csv_invalid_encoding"] = rejects.counts.get("csv_invalid_encoding", 0) + 1
                    sample = {"file": name, "line": number, "error": error, "text": text}
                    rejects.samples.setdefault("csv_invalid_encoding", []).append(sample)
                    fields = next(csv.reader([line.decode("latin-1")]), [])
                    if position is not None and position < len(fields) and fields[position].strip():
                        rejects.ids.add(fields[position].strip())


def _raw_bytes(path: Path) -> bytes | None:
    if path.suffix.lower() == ".gz":
        import gzip

        return gzip.decompress(path.read_bytes())
    if path.suffix.lower() == ".zst":
        return None
    return path.read_bytes()


def _csv_rejects(conn: sa.Connection, reader: str, table: str) -> FileRejects:
    """One scan with `store_rejects`: each line DuckDB could not read, once, under `csv_<error type>`."""
    errors, scans = f"hs_rejects_{table}", f"hs_scans_{table}"
    options = f", store_rejects = true, rejects_table = '{errors}', rejects_scan = '{scans}')"
    conn.exec_driver_sql(f"SELECT count(*) FROM {reader}{options}").fetchall()
    lines = conn.exec_driver_sql(
        f"SELECT s.file_path, e.line, min(e.error_type), min(e.error_message), min(e.csv_line) "
        f"FROM {errors} e JOIN {scans} s USING (scan_id, file_id) GROUP BY s.file_path, e.line "
        f"ORDER BY s.file_path, e.line"
    ).fetchall()
    rejects = FileRejects()
    for file_path, line, error_type, message, csv_line in lines:
        reason = "csv_" + str(error_type).lower().replace(" ", "_")
        rejects.counts[reason] = rejects.counts.get(reason, 0) + 1
        sample = {"file": str(file_path), "line": int(line), "error": str(message), "text": csv_line}
        rejects.samples.setdefault(reason, []).append(sample)
    return rejects
