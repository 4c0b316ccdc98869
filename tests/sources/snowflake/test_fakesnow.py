"""Snowflake for real: the generated SQL runs on Snowflake's dialect through `fakesnow` (Snowflake SQL executed by
DuckDB behind the real `snowflake-connector-python` and `snowflake-sqlalchemy`).

This suite needs the pinned Snowflake set (SQLAlchemy 2.0, snowflake-sqlalchemy 1.11, connector 4.8, fakesnow), so it
runs in its own virtualenv (`make snowflake-venv`); tests/sources/test_snowflake.py runs it from the main suite.

fakesnow runs every session in UTC and does not implement `ALTER SESSION SET TIMEZONE`. Real Snowflake sessions
start in the account's TIMEZONE parameter, whose default is America/Los_Angeles
(https://docs.snowflake.com/en/sql-reference/parameters#timezone), and ALTER SESSION SET TIMEZONE changes it
(https://docs.snowflake.com/en/sql-reference/sql/alter-session). `_snowflake_time_zone` emulates both on the fake:
every fake session starts in America/Los_Angeles, and ALTER SESSION SET TIMEZONE sets the session's time zone. So a
text timestamp without an offset is read in Los Angeles unless healthsync forces UTC itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

fakesnow = pytest.importorskip("fakesnow", reason="fakesnow runs in the Snowflake venv (make snowflake-venv)")

import snowflake.connector  # noqa: E402
import snowflake.connector.pandas_tools  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from fakesnow.conn import FakeSnowflakeConnection  # noqa: E402
from fakesnow.cursor import FakeSnowflakeCursor  # noqa: E402

from healthsync.connector.cli import cli  # noqa: E402
from healthsync.connector.settings import Settings, SourceConfig  # noqa: E402
from healthsync.connector.sources.load import SourceData, load_source  # noqa: E402
from tests.paths import DATA, EXAMPLES  # noqa: E402
from tests.sources.test_parity import (  # noqa: E402
    AS_OF,
    NOW,
    SCORING,
    _as_text,
    _assert_same,
    _segment,
    dataset,
    reference,
)
from tests.sources.test_rejects import TABLES, assert_bad_rows_and_window_edges  # noqa: E402

__all__ = ["dataset", "reference"]  # fixtures shared with the parity suite

URL = "snowflake://healthsync:secret@fake-account/HS/APP"
LOS_ANGELES = "America/Los_Angeles"
_ALTER_TZ = re.compile(r"^\s*ALTER\s+SESSION\s+SET\s+TIMEZONE\s*=\s*'([^']+)'\s*;?\s*$", re.IGNORECASE)


@pytest.fixture
def snowflake_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """fakesnow patched in, with Snowflake's default session time zone and ALTER SESSION SET TIMEZONE."""
    _snowflake_time_zone(monkeypatch)
    with fakesnow.patch():
        yield


def _snowflake_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    start = FakeSnowflakeConnection.__init__
    execute = FakeSnowflakeCursor.execute

    def session(self: FakeSnowflakeConnection, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        self._duck_conn.execute(f"SET TimeZone = '{LOS_ANGELES}'")

    def alter(self: FakeSnowflakeCursor, command: str, *args: Any, **kwargs: Any) -> FakeSnowflakeCursor:
        match = _ALTER_TZ.match(command)
        if match is None:
            return execute(self, command, *args, **kwargs)
        self._duck_conn.execute(f"SET TimeZone = '{match.group(1)}'")
        return execute(self, "SELECT 'Statement executed successfully.' AS status")

    monkeypatch.setattr(FakeSnowflakeConnection, "__init__", session)
    monkeypatch.setattr(FakeSnowflakeCursor, "execute", alter)


def _write(frames: dict[str, pd.DataFrame]) -> None:
    """Tables in HS.APP through the connector's write_pandas (upper-case column names, as Snowflake folds them)."""
    conn = snowflake.connector.connect(database="HS", schema="APP")
    try:
        for name, frame in frames.items():
            upper = frame.rename(columns=str.upper)
            snowflake.connector.pandas_tools.write_pandas(
                conn, upper, name.upper(), auto_create_table=True, use_logical_type=True
            )
    finally:
        conn.close()


def _settings(tmp: Path, **source: Any) -> Settings:
    return Settings(source=SourceConfig(url=URL, **source), scoring=SCORING, config_dir=tmp)


def _load(settings: Settings, *, with_users: bool = True) -> SourceData:
    return load_source(settings, AS_OF, NOW, with_users=with_users)


@pytest.mark.usefixtures("snowflake_fake")
@pytest.mark.parametrize("timestamps", ["typed", "text"])
def test_snowflake_gives_the_same_tables(
    timestamps: str, dataset: dict[str, pd.DataFrame], reference: SourceData, tmp_path: Path
) -> None:
    _write(dataset if timestamps == "typed" else {name: _as_text(frame) for name, frame in dataset.items()})
    _assert_same(_load(_settings(tmp_path, kind="sql", **TABLES)), reference)


@pytest.mark.usefixtures("snowflake_fake")
def test_snowflake_segment_tables_give_the_same_tables(
    dataset: dict[str, pd.DataFrame], reference: SourceData, tmp_path: Path
) -> None:
    import duckdb

    _segment(tmp_path, dataset)  # the Segment tables, built as the parity suite builds them
    with duckdb.connect(str(tmp_path / "segment.duckdb"), read_only=True) as conn:
        frames = {name: conn.execute(f"SELECT * FROM app.{name}").df() for name in ("tracks", "identifies", "groups")}
    _write(frames)
    _assert_same(_load(_settings(tmp_path, kind="segment")), reference)


@pytest.mark.usefixtures("snowflake_fake")
def test_snowflake_counts_bad_rows_and_window_edges(tmp_path: Path) -> None:
    """The bad-row dataset as text: the same counts per reason and the same window edges as every other source."""
    _write({name: pd.read_csv(DATA / "bad" / f"{name}.csv", dtype=str) for name in TABLES})
    data = _load(_settings(tmp_path, kind="sql", max_rejected_share=1.0, **TABLES), with_users=False)
    assert_bad_rows_and_window_edges(data)
    assert len(data.account_activity) == 2  # one row per account came back: no user rows without --users


def _product_with_edges() -> dict[str, pd.DataFrame]:
    """The example product (timestamps as text with Z) plus two accounts whose events have text timestamps without
    an offset (UTC by the SPEC) on window edges that a Los Angeles session would shift by 7 hours."""
    as_of = pd.Timestamp(AS_OF)
    start = as_of - timedelta(days=SCORING.window_days)
    rows = [
        ("e1", "acc_1", "u1", "lead_created", as_of - timedelta(hours=4)),  # in W; in LA: 03:00Z after as_of
        ("e2", "acc_1", "u1", "call_logged", start - timedelta(hours=4)),  # previous window; in LA: in W
        ("e3", "acc_1", "u2", "call_logged", as_of - timedelta(days=7, hours=3)),  # outside 7 days; LA: inside
        ("e4", "acc_2", "u3", "call_logged", as_of + timedelta(hours=20)),  # before now; LA: after now (future)
    ]
    events = pd.DataFrame(rows, columns=["event_id", "account_id", "user_id", "event", "timestamp"])
    events["timestamp"] = events["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    accounts = pd.DataFrame({"account_id": ["acc_1", "acc_2"], "name": ["One", "Two"], "created_at": "2025-06-01"})
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "account_id": ["acc_1", "acc_1", "acc_2"]})
    edges = {"events": events, "accounts": accounts, "users": users}
    product = {name: pd.read_csv(EXAMPLES / "data" / f"{name}.csv", dtype=str) for name in TABLES}
    return {name: pd.concat([product[name], edges[name]], ignore_index=True) for name in TABLES}


def _config(folder: Path, source: dict[str, Any]) -> Path:
    config = folder / "healthsync.yaml"
    scoring = {"as_of": AS_OF.isoformat(), "weights": {"lead_created": 9, "call_logged": 5}}
    config.write_text(json.dumps({"source": source, "scoring": scoring}))
    return config


def _score(config: Path) -> pd.DataFrame:
    result = CliRunner().invoke(cli, ["score", "--config", str(config), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return pd.DataFrame(json.loads(result.stdout))


@pytest.mark.usefixtures("snowflake_fake")
def test_score_on_snowflake_equals_duckdb_in_a_los_angeles_session(tmp_path: Path) -> None:
    import duckdb

    frames = _product_with_edges()
    with snowflake.connector.connect(database="HS", schema="APP") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT TRY_CAST('2025-08-12 20:00:00' AS TIMESTAMP_TZ)")
        assert str(cursor.fetchone()[0].tzinfo) == LOS_ANGELES  # the fake session starts where Snowflake's does
    _write(frames)
    with duckdb.connect(str(tmp_path / "product.duckdb")) as conn:
        for name, frame in frames.items():
            conn.register("frame", frame)
            conn.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            conn.unregister("frame")
    (tmp_path / "sf").mkdir()
    (tmp_path / "dk").mkdir()
    on_snowflake = _score(_config(tmp_path / "sf", {"kind": "sql", "url": URL, **TABLES}))
    on_duckdb = _score(_config(tmp_path / "dk", {"kind": "sql", "url": "duckdb:///../product.duckdb", **TABLES}))
    assert len(on_snowflake) == len(frames["accounts"]) == 42
    pd.testing.assert_frame_equal(on_snowflake, on_duckdb)  # every column of every account
    acc_1 = on_snowflake.set_index("account_id").loc["acc_1"]
    assert acc_1["raw_score"] == 14.0  # e1 and e3 in the window, e2 in the previous one: UTC (Los Angeles: 10)
    assert acc_1["last_active_at"].startswith("2025-08-12T20:00:00")
