"""Bad input is counted per reason with samples (accepted + rejected = read), too much of it fails the run, and
configuration mistakes name the file and the column. The reference config (examples/) loads and reads."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from healthsync.connector.settings import Settings, SourceConfig, load_settings
from healthsync.connector.sources.load import SourceData, load_source
from healthsync.errors import RejectedShareError, SourceError
from healthsync.scoring.config import ScoringConfig
from tests.paths import DATA, EXAMPLES

BAD = DATA / "bad"
EXAMPLE_CONFIG = EXAMPLES / "healthsync.yaml"
AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
NOW = AS_OF + timedelta(days=1)
SCORING = ScoringConfig(as_of=AS_OF, weights={"lead_created": 9, "call_logged": 5})
EVENT_REJECTS = {
    "missing_account_id": 1,
    "missing_user_id": 1,
    "missing_event": 1,
    "unparseable_timestamp": 2,
    "future_timestamp": 1,
    "duplicate_event_id": 1,
    "unknown_account": 1,
}
TABLES = {"events": "events", "accounts": "accounts", "users": "users"}
SQL_TABLES = {"kind": "sql", **TABLES}


def assert_bad_rows_and_window_edges(data: SourceData) -> None:
    """What every source reads of the bad-row dataset: the events rejected per reason (with samples), and account
    a1's window edges (the events just inside and outside the window and the last 7 days)."""
    events = data.reports["events"]
    assert events.rejected == EVENT_REJECTS
    assert (events.read, events.accepted) == (18, 10)
    assert set(events.samples) == set(EVENT_REJECTS)
    a1 = data.account_activity.set_index("account_id").loc["a1"]
    assert (a1["events"], a1["events_prev"], a1["raw"], a1["raw_prev"]) == (6, 1, 28.0, 5.0)
    assert (a1["active_users"], a1["active_days"], a1["active_days_7d"]) == (2, 6, 2)


def _settings(tmp: Path, **source: Any) -> Settings:
    return Settings(source=SourceConfig(**source), scoring=SCORING, config_dir=tmp)


def _csv_files(tmp: Path, **extra: Any) -> Settings:
    paths = {name: str(BAD / f"{name}.csv") for name in TABLES}
    return _settings(tmp, kind="files", **paths, **extra)


def _text_tables(conn: Any) -> None:
    for name in TABLES:
        pd.read_csv(BAD / f"{name}.csv", dtype=str).to_sql(name, conn, index=False)


def _sqlite(tmp: Path, **extra: Any) -> Settings:
    with sqlite3.connect(tmp / "bad.db") as conn:
        _text_tables(conn)
    conn.close()
    return _settings(tmp, url="sqlite:///bad.db", **(SQL_TABLES | extra))


def _load(settings: Settings) -> SourceData:
    return load_source(settings, AS_OF, NOW, with_users=False)


@pytest.fixture(params=["csv", "sqlite", "postgresql"])
def bad_source(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The bad-row dataset, timestamps as text, as files, in SQLite and in PostgreSQL."""
    if request.param == "csv":
        return _csv_files(tmp_path, max_rejected_share=1.0)
    if request.param == "sqlite":
        return _sqlite(tmp_path, max_rejected_share=1.0)
    url = request.getfixturevalue("pg_url")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _text_tables(conn)
    finally:
        engine.dispose()
    return _settings(tmp_path, url=url, **SQL_TABLES, max_rejected_share=1.0)


def test_bad_rows_are_counted_by_reason_with_samples(bad_source: Settings) -> None:
    data = _load(bad_source)
    events = data.reports["events"]
    assert events.rejected == EVENT_REJECTS
    assert (events.read, events.accepted) == (18, 10)
    assert events.accepted + events.rejected_total == events.read
    assert set(events.samples) == set(EVENT_REJECTS)
    assert {row["timestamp"] for row in events.samples["unparseable_timestamp"]} == {"not-a-date", None}
    assert events.samples["duplicate_event_id"] == [
        {"account_id": "a1", "user_id": "u2", "event": "lead_created", "timestamp": "2025-08-05T10:00:00Z"}
        | {"event_id": "e02"}
    ]
    accounts, users = data.reports["accounts"], data.reports["users"]
    assert (accounts.read, accounts.accepted, accounts.rejected) == (
        4,
        2,
        {"missing_account_id": 1, "duplicate_account_id": 1},
    )
    assert accounts.samples["duplicate_account_id"][0]["name"] == "Beta again"
    assert (users.read, users.accepted, users.rejected) == (5, 3, {"missing_user_id": 1, "missing_account_id": 1})
    assert "unparseable_timestamp: 2" in events.render()


def test_activity_counts_only_accepted_events_on_window_edges(bad_source: Settings) -> None:
    activity = _load(bad_source).account_activity.set_index("account_id")
    assert list(activity.index) == ["a1", "a2"]
    a1, a2 = activity.loc["a1"], activity.loc["a2"]
    assert (a1["events"], a1["events_prev"], a1["raw"], a1["raw_prev"]) == (6, 1, 28.0, 5.0)
    assert (a1["active_users"], a1["active_days"], a1["active_days_7d"]) == (2, 6, 2)
    assert a1["last_active_at"] == pd.Timestamp("2025-08-12T12:00:00Z")
    # e08 lies between as_of and now: accepted, but in no window and not "last active before as_of".
    assert (a2["events"], a2["events_prev"], a2["active_days"]) == (1, 1, 1)
    assert a2["last_active_at"] == pd.Timestamp("2025-08-12T23:59:59Z")


def test_entities_keep_extra_columns_and_types(tmp_path: Path) -> None:
    data = _load(_csv_files(tmp_path, max_rejected_share=1.0))
    accounts = data.accounts.set_index("account_id")
    assert accounts.loc["a1", "region"] == "emea"
    assert accounts.loc["a1", "seats_limit"] == 10.0
    assert pd.isna(accounts["seats_limit"]["a2"])
    assert accounts.loc["a2", "created_at"] == pd.Timestamp("2025-07-01T00:00:00Z")
    assert str(data.users["created_at"].dtype) == "datetime64[us, UTC]"
    assert data.user_activity is None


def test_too_many_rejected_rows_fail_the_run_clearly(tmp_path: Path) -> None:
    with pytest.raises(RejectedShareError) as caught:
        _load(_csv_files(tmp_path))
    message = str(caught.value)
    assert "events: 44.4% of 18 rows rejected" in message
    assert "source.max_rejected_share 10.0%" in message
    assert "unparseable_timestamp (2)" in message
    assert caught.value.exit_code == 2


def test_the_rejected_share_limit_is_configurable(tmp_path: Path) -> None:
    with pytest.raises(RejectedShareError, match=r"accounts: 50\.0%"):
        _load(_csv_files(tmp_path, max_rejected_share=0.45))


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        ({"events": "missing/events.csv"}, "source.events: file not found: {tmp}/missing/events.csv"),
        ({"events": "logs/*.jsonl"}, "source.events: no file matches {tmp}/logs/*.jsonl"),
        ({"users": "users.xlsx"}, "cannot tell the format of {tmp}/users.xlsx"),
    ],
)
def test_missing_files_name_the_path(tmp_path: Path, paths: dict[str, str], expected: str) -> None:
    for name in TABLES:
        shutil.copy(BAD / f"{name}.csv", tmp_path / f"{name}.csv")
    (tmp_path / "users.xlsx").write_text("not a spreadsheet")
    files = {name: f"{name}.csv" for name in TABLES} | paths
    with pytest.raises(SourceError) as caught:
        _load(_settings(tmp_path, kind="files", **files))
    assert expected.format(tmp=tmp_path) in str(caught.value)


@pytest.mark.parametrize("kind", ["files", "sql"])
@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"events": {"timestamp": "ts"}}, "source.columns.events.timestamp: column 'ts' not found"),
        ({"accounts": {"account_id": "company"}}, "source.columns.accounts.account_id: column 'company' not found"),
        ({"users": {"nickname": "email"}}, "source.columns.users.nickname: users has no logical column 'nickname'"),
    ],
)
def test_a_bad_column_map_names_the_table_and_the_column(
    tmp_path: Path, kind: str, columns: dict[str, dict[str, str]], expected: str
) -> None:
    settings = _csv_files(tmp_path, columns=columns) if kind == "files" else _sqlite(tmp_path, columns=columns)
    with pytest.raises(SourceError) as caught:
        _load(settings)
    assert expected in str(caught.value)
    table = next(iter(columns))
    assert (str(BAD / f"{table}.csv") if kind == "files" else f"{table} ({table})") in str(caught.value)
    assert "columns:" in str(caught.value) or "expected one of" in str(caught.value)


def test_sql_errors_name_the_table_not_the_url(tmp_path: Path) -> None:
    settings = _sqlite(tmp_path, events="events", accounts="companies", users="users")
    with pytest.raises(SourceError, match=r"reading accounts \(companies\): OperationalError: no such table"):
        _load(settings)
    with pytest.raises(SourceError, match="database file not found"):
        _load(_settings(tmp_path, url="sqlite:///nowhere.db", **SQL_TABLES))
    with pytest.raises(SourceError, match=r"source\.url is required"):
        _load(_settings(tmp_path, **SQL_TABLES))


def test_the_reference_config_loads_and_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE_CONFIG.parent.parent.parent)  # paths resolve against the config file, not the cwd
    settings = load_settings(EXAMPLE_CONFIG)
    assert settings.source.kind == "files"
    assert not settings.destinations.hubspot.enabled
    as_of = settings.scoring.resolved_as_of()
    data = load_source(settings, as_of, as_of + timedelta(days=1), with_users=True)
    assert len(data.accounts) == 40
    assert 200 <= len(data.users) <= 350  # users never outnumber their plan's seats
    assert {"rep", "manager", "admin"} == set(data.users["role"])
    assert {"trial", "paying", "churned"} == set(data.accounts["status"])
    assert all(report.rejected_total == 0 for report in data.reports.values())
    assert data.user_activity is not None
    assert len(data.account_activity) >= 35
    assert list(data.account_activity.filter(like="feature__").columns) == [
        "feature__sequences",
        "feature__meetings",
        "feature__reporting",
    ]
