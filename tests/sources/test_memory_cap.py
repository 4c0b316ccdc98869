"""Every DuckDB connection of a source runs under the memory cap: a sql source on a DuckDB file, on an in-memory
DuckDB (queries over files), and the segment source on DuckDB. The accounts query reads DuckDB's own setting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from healthsync.connector.settings import Settings, SourceConfig
from healthsync.connector.sources.files import DUCKDB_MEMORY_LIMIT
from healthsync.connector.sources.load import load_source
from healthsync.scoring.config import ScoringConfig
from tests.paths import ROOT

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
DATA = ROOT / "examples" / "data"
SETTING = "current_setting('memory_limit')"


def _capped() -> str:
    with duckdb.connect(config={"memory_limit": DUCKDB_MEMORY_LIMIT}) as conn:
        capped = conn.execute(f"SELECT {SETTING}").fetchone()
    with duckdb.connect() as conn:
        default = conn.execute(f"SELECT {SETTING}").fetchone()
    assert capped is not None
    assert capped != default  # the cap is not DuckDB's default on this machine
    return str(capped[0])


def _source(tmp: Path, where: str) -> SourceConfig:
    events = f"SELECT * FROM read_csv('{DATA / 'events.csv'}')"
    users = f"SELECT * FROM read_csv('{DATA / 'users.csv'}')"
    accounts = f"SELECT account_id, {SETTING} AS plan FROM read_csv('{DATA / 'accounts.csv'}')"
    if where == "file":
        duckdb.connect(str(tmp / "empty.duckdb")).close()
        return SourceConfig(kind="sql", url="duckdb:///empty.duckdb", events=events, accounts=accounts, users=users)
    return SourceConfig(kind="sql", url="duckdb:///:memory:", events=events, accounts=accounts, users=users)


@pytest.mark.parametrize("where", ["file", "memory"])
def test_sql_source_on_duckdb_is_capped(tmp_path: Path, where: str) -> None:
    settings = Settings(source=_source(tmp_path, where), scoring=ScoringConfig(as_of=AS_OF), config_dir=tmp_path)
    data = load_source(settings, AS_OF, AS_OF, with_users=False)
    assert len(data.accounts) > 0
    assert set(data.accounts["plan"]) == {_capped()}
