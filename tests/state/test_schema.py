"""The state schema: created from empty, upgraded in place without data loss, and clear errors on bad URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from healthsync.errors import ConfigError
from healthsync.state import Ack, StateStore, head_revision, migrate
from healthsync.state.engine import create_engine, parse_url

TABLES = {"alembic_version", "lease", "records", "rejections", "runs", "tasks", "score_history", "read_marks"}


def test_schema_created_from_empty(state_url: str) -> None:
    with StateStore.open(state_url) as store:
        assert store.schema_version == head_revision()
        inspector = sa.inspect(store.engine)
        assert set(inspector.get_table_names()) == TABLES
        assert "summary" in {c["name"] for c in inspector.get_columns("runs")}
        assert "ix_rejections_lookup" in {i["name"] for i in inspector.get_indexes("rejections")}
        store.acknowledge("hubspot", "company", [Ack("acme", "1", {"score": 1})])

    with StateStore.open(state_url) as again:  # opening an up-to-date store changes nothing
        assert again.schema_version == head_revision()
        assert again.records("hubspot", "company")["acme"].values == {"score": 1}


def _fill_at_0001(state_url: str) -> None:
    engine = create_engine(parse_url(state_url))
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as conn:
            assert migrate.current_revision(conn) == "0001"
            conn.execute(
                sa.text(
                    "INSERT INTO runs (command, started_at, finished_at, status, exit_code, counts)"
                    " VALUES ('run', :t, :t, 'rejected', 4, :counts)"
                ),
                {"t": "2025-11-01 06:00:00+00:00", "counts": json.dumps({"hubspot": {"rejected": 1}})},
            )
            conn.execute(
                sa.text(
                    'INSERT INTO records (destination, object_type, key, remote_id, "values", updated_at)'
                    " VALUES ('hubspot', 'company', 'acme', '101', :values, :t)"
                ),
                {"t": "2025-11-01 06:00:00+00:00", "values": json.dumps({"score": 71, "tier": None})},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO rejections (run_id, destination, object_type, key, reason, status, attempts,"
                    " first_seen_at, last_seen_at) VALUES (1, 'hubspot', 'company', 'globex', 'bad email', 400, 1,"
                    " :t, :t)"
                ),
                {"t": "2025-11-01 06:00:00+00:00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO tasks (destination, identity, trace_id, account_key, play, period, status,"
                    " intended_at) VALUES ('hubspot', 'acme:churn:2025-11', 'trace-1', 'acme', 'churn', '2025-11',"
                    " 'intent', :t)"
                ),
                {"t": "2025-11-01 06:00:00+00:00"},
            )
    finally:
        engine.dispose()


def test_upgrade_in_place_from_0001_keeps_the_data(state_url: str) -> None:
    _fill_at_0001(state_url)

    with StateStore.open(state_url) as store:
        assert store.schema_version == head_revision()
        (run,) = store.runs()
        assert (run.command, run.status, run.exit_code, run.counts, run.summary) == (
            "run",
            "rejected",
            4,
            {"hubspot": {"rejected": 1}},
            None,
        )
        assert run.started_at.isoformat() == "2025-11-01T06:00:00+00:00"
        acme = store.records("hubspot", "company")["acme"]
        assert (acme.remote_id, acme.values) == ("101", {"score": 71, "tier": None})
        assert [(r.key, r.reason, r.status) for r in store.rejections()] == [("globex", "bad email", 400)]
        (task,) = store.tasks("hubspot", status="intent")
        assert task.trace_id == "trace-1"

        new_run = store.start_run("run")
        store.finish_run(new_run, status="ok", exit_code=0, counts={}, summary={"accounts": 3})
        assert store.runs()[0].summary == {"accounts": 3}
        assert new_run == run.id + 1


def test_downgrade_and_upgrade_again(state_url: str) -> None:
    StateStore.open(state_url).close()
    engine = create_engine(parse_url(state_url))
    try:
        migrate.downgrade(engine, "0001")
        assert "summary" not in {c["name"] for c in sa.inspect(engine).get_columns("runs")}
        migrate.downgrade(engine, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    with StateStore.open(state_url) as store:
        assert store.schema_version == head_revision()


def test_a_newer_schema_than_known_is_refused(state_url: str) -> None:
    with StateStore.open(state_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))

    with pytest.raises(ConfigError, match=rf"schema revision '0099'.*newest known: '{head_revision()}'"):
        StateStore.open(state_url)


def test_sqlite_relative_path_creates_the_folder_and_uses_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with StateStore.open("sqlite:///deep/er/state.db") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000
    assert (tmp_path / "deep" / "er" / "state.db").is_file()


def test_in_memory_sqlite_works() -> None:
    with StateStore.open("sqlite://") as store:
        store.acknowledge("hubspot", "company", [Ack("acme", None, {"a": 1})])
        assert store.records("hubspot", "company")["acme"].values == {"a": 1}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "'not a url' is not a valid database URL"),
        ("nosuchdb://user:s3cret@host/db", r"nosuchdb://user:\*\*\*@host/db: unknown database dialect"),
        ("postgresql://user:s3cret@127.0.0.1:1/state", r"postgresql\+psycopg://user:\*\*\*@127.0.0.1:1/state: "),
        (
            "mysql://user:s3cret@host/db",
            r"mysql://user:\*\*\*@host/db: its database driver is not installed \(No module named 'MySQLdb'\)",
        ),
    ],
)
def test_unusable_urls_raise_config_error_without_password(url: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as raised:
        StateStore.open(url)
    assert "s3cret" not in str(raised.value)


def test_sqlite_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")

    with pytest.raises(ConfigError, match=r"cannot open the state store sqlite:///.*a-file/sub/state.db"):
        StateStore.open(f"sqlite:///{tmp_path / 'a-file' / 'sub' / 'state.db'}")


def test_ids_of_any_length_after_the_upgrade(state_url: str) -> None:
    """0004: record keys, remote ids and task identities of 300+ characters (PostgreSQL enforced 255)."""
    _fill_at_0001(state_url)
    key = "a" * 300
    with StateStore.open(state_url) as store:
        store.acknowledge("hubspot", "companies", [Ack(key, "9" * 300, {"score": 1})])
        store.task_intent("hubspot", f"{key}:churn_risk:2025-08", "trace", key, "churn_risk", "2025-08")
        assert store.records("hubspot", "companies")[key].remote_id == "9" * 300
        assert [t.account_key for t in store.tasks("hubspot") if t.account_key == key] == [key]
