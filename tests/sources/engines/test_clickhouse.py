"""ClickHouse for real: the generated SQL, compiled by clickhouse-connect's SQLAlchemy dialect (`clickhousedb`),
runs on chDB, the ClickHouse engine embedded in the test process (chdb-core, ClickHouse 26.9), through
clickhouse-connect's own chdb backend (`clickhousedb:///db?interface=chdb&path=...`): the dialect, the DB-API
cursor, the Native result format and the type conversion are the ones a ClickHouse server is read with, only the
transport differs (https://clickhouse.com/docs/chdb, https://github.com/ClickHouse/clickhouse-connect).

chDB runs one engine per process, on one path: the suite opens it once and gives each test its own database. It
runs in .venv-engines (`make engines-venv`); tests/sources/test_engines.py runs it from the main suite.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

clickhouse_connect = pytest.importorskip("clickhouse_connect", reason="runs in .venv-engines (make engines-venv)")
pytest.importorskip("chdb", reason="runs in .venv-engines (make engines-venv)")

import sqlalchemy as sa  # noqa: E402

from healthsync.connector.settings import Settings, SourceConfig  # noqa: E402
from healthsync.connector.sources.load import SourceData, load_source  # noqa: E402
from tests.paths import DATA  # noqa: E402
from tests.sources.engines.common import TABLES, duckdb_file, product_with_edges, score, write_config  # noqa: E402
from tests.sources.test_parity import AS_OF, NOW, SCORING, _as_text, _assert_same, dataset, reference  # noqa: E402
from tests.sources.test_rejects import assert_bad_rows_and_window_edges  # noqa: E402

__all__ = ["dataset", "reference"]  # fixtures shared with the parity suite
_NUMBERS = itertools.count()


@pytest.fixture(scope="module")
def engine_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def database(engine_path: Path) -> Iterator[str]:
    """A fresh database on the process's one chDB engine; its URL for the source."""
    name = f"hs_{next(_NUMBERS)}"
    client = _client(engine_path)
    client.command(f"CREATE DATABASE {name}")
    yield f"clickhousedb:///{name}?interface=chdb&path={engine_path}"
    client.command(f"DROP DATABASE {name}")


def _client(path: Path) -> Any:
    return clickhouse_connect.get_client(interface="chdb", path=str(path))


def _column_type(values: pd.Series) -> str:
    kind = values.dtype.kind
    if kind == "M":
        return "DateTime64(6, 'UTC')"
    return {"i": "Int64", "f": "Float64", "b": "Bool"}.get(kind, "String")


def _write(url: str, frames: dict[str, pd.DataFrame]) -> None:
    """Each frame as a MergeTree table of Nullable columns (DateTime64 for datetime columns, else their kind)."""
    database = sa.engine.make_url(url).database
    client = _client(Path(sa.engine.make_url(url).query["path"]))
    for name, frame in frames.items():
        columns = ", ".join(f"`{column}` Nullable({_column_type(frame[column])})" for column in frame.columns)
        client.command(f"CREATE TABLE {database}.{name} ({columns}) ENGINE = MergeTree ORDER BY tuple()")
        rows = frame.astype(object).where(frame.notna(), None)
        client.insert(f"{database}.{name}", rows.values.tolist(), column_names=list(frame.columns))


def _settings(tmp: Path, url: str, **source: Any) -> Settings:
    return Settings(source=SourceConfig(url=url, **source), scoring=SCORING, config_dir=tmp)


def _load(settings: Settings, *, with_users: bool = True) -> SourceData:
    return load_source(settings, AS_OF, NOW, with_users=with_users)


@pytest.mark.parametrize("timestamps", ["typed", "text"])
def test_clickhouse_gives_the_same_tables(
    timestamps: str, database: str, dataset: dict[str, pd.DataFrame], reference: SourceData, tmp_path: Path
) -> None:
    _write(database, dataset if timestamps == "typed" else {name: _as_text(frame) for name, frame in dataset.items()})
    _assert_same(_load(_settings(tmp_path, database, kind="sql", **TABLES)), reference)


def test_clickhouse_counts_bad_rows_and_window_edges(database: str, tmp_path: Path) -> None:
    """The bad-row dataset as text: the same counts per reason and the same window edges as every other source."""
    _write(database, {name: pd.read_csv(DATA / "bad" / f"{name}.csv", dtype=str) for name in TABLES})
    data = _load(_settings(tmp_path, database, kind="sql", max_rejected_share=1.0, **TABLES), with_users=False)
    assert data.plan is not None
    assert data.plan.capabilities.dialect == "clickhousedb"
    assert data.plan.names[0] == "events_per_account"  # the one pass with day masks (groupBitOr)
    assert_bad_rows_and_window_edges(data)


def test_score_on_clickhouse_equals_duckdb(database: str, tmp_path: Path) -> None:
    """`healthsync score` on the edge product: every column of every account as on DuckDB."""
    frames = product_with_edges()
    _write(database, frames)
    duckdb_file(tmp_path / "product.duckdb", frames)
    on_clickhouse = score(write_config(tmp_path / "ch", {"kind": "sql", "url": database, **TABLES}))
    on_duckdb = score(write_config(tmp_path / "dk", {"kind": "sql", "url": "duckdb:///../product.duckdb", **TABLES}))
    assert len(on_clickhouse) == len(frames["accounts"]) == 42
    pd.testing.assert_frame_equal(on_clickhouse, on_duckdb)
    acc_1 = on_clickhouse.set_index("account_id").loc["acc_1"]
    assert acc_1["raw_score"] == 19.0  # e1, e3 and e4 in the window; e2 before it; e5, e6 no timestamp
