"""DuckDB sources and their two sessions (the event scan beside the entity reads, `load.concurrently`): a statement
that fails reports its own error, whichever session it ran in, and the one database they share, when it cannot be
opened, says so. (That both sessions give the tables one session gives is `test_parity.py`: every source there
goes through this path.)"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tests.paths import EXAMPLES
from tests.world import healthsync

SCORING = {"as_of": "2025-08-13T00:00:00Z", "weights": {"lead_created": 9, "call_logged": 5}}


def _config(tmp: Path, events: Path) -> Path:
    data = EXAMPLES / "data"
    source = {"kind": "files", "events": str(events), "accounts": str(data / "accounts.csv")}
    config = {"source": {**source, "users": str(data / "users.csv")}, "scoring": SCORING}
    path = tmp / "healthsync.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_failing_event_statement_reports_its_own_error(tmp_path: Path) -> None:
    """Account ids that are structs cannot be matched with the accounts' text ids: the run fails naming the events
    file and DuckDB's reason (when the scan's session had closed, cancelling it raised 'This Connection is closed'
    in its place)."""
    events = tmp_path / "events.parquet"
    table = pa.table(
        {
            "account_id": [{"id": 1}, {"id": 2}],
            "user_id": ["acc_001_u01", "acc_002_u01"],
            "event": ["call_logged", "lead_created"],
            "timestamp": pa.array([1754000000, 1754000001], type=pa.timestamp("s", tz="UTC")),
        }
    )
    pq.write_table(table, events)
    result = healthsync("score", "--config", str(_config(tmp_path, events)), "--format", "json")
    assert result.returncode == 1, result.stderr
    message = json.loads(result.stderr.splitlines()[-1])["message"]
    assert f"aggregating events ({events})" in message
    assert "Error" in message, message
    assert "closed" not in message


def test_a_sql_source_on_a_file_that_is_not_a_duckdb_database_names_the_source_and_the_reason(tmp_path: Path) -> None:
    """The one database every DuckDB session shares is opened before any session: its error is a SourceError."""
    bogus = tmp_path / "usage.duckdb"
    bogus.write_text("not a database\n")
    tables = {"events": "events", "accounts": "accounts", "users": "users"}
    config = {"source": {"kind": "sql", "url": f"duckdb:///{bogus}", **tables}, "scoring": SCORING}
    path = tmp_path / "healthsync.yaml"
    path.write_text(yaml.safe_dump(config))
    result = healthsync("score", "--config", str(path), "--format", "json")
    assert result.returncode == 1, result.stderr
    message = json.loads(result.stderr.splitlines()[-1])["message"]
    assert "connecting to the sql source: IOException" in message, message
    assert "not a valid DuckDB database file" in message, message
