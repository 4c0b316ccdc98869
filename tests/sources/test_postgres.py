"""PostgreSQL for real (the local server is 15: no pg_input_is_valid, so the guarded fallback runs): invalid dates
are counted as unparseable and the run goes on; only per-account rows leave the database unless per-user rows are
needed; the samples of every rejection reason come from one query."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from healthsync.connector.cli import cli
from healthsync.connector.pipeline import compute_scores
from healthsync.connector.scores import ScoreResult
from healthsync.connector.settings import load_settings
from tests.paths import DATA, EXAMPLES
from tests.world import healthsync

pytestmark = pytest.mark.postgres
SCORING = {"as_of": "2025-08-13T00:00:00Z", "weights": {"lead_created": 9, "call_logged": 5}}
TABLES = {"events": "events", "accounts": "accounts", "users": "users"}


def _fill(url: str, frames: dict[str, pd.DataFrame]) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for name, frame in frames.items():
                frame.to_sql(name, conn, index=False)
    finally:
        engine.dispose()


def _config(tmp: Path, url: str, scoring: dict[str, Any] | None = None, **source: Any) -> Path:
    config = tmp / "healthsync.yaml"
    body = {"source": {"kind": "sql", "url": url, **TABLES, **source}, "scoring": SCORING | (scoring or {})}
    config.write_text(yaml.safe_dump(body))
    return config


def _server_version(url: str) -> tuple[int, ...]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return tuple(conn.dialect.server_version_info or ())
    finally:
        engine.dispose()


def _example() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(EXAMPLES / "data" / f"{name}.csv", dtype=str) for name in TABLES}


def test_an_invalid_date_is_one_counted_rejection_and_the_run_exits_0(pg_url: str, tmp_path: Path) -> None:
    frames = _example()
    events = frames["events"]
    template = events.iloc[0].to_dict()
    odd = {
        "bad_feb30": "2025-02-30 10:00:00",  # the shape of a date, not a date: DatetimeFieldOverflow when cast
        "bad_apr31": "2025-04-31T08:00:00Z",
        "bad_feb29": "2025-02-29",  # 2025 is no leap year
        "bad_hour": "2025-08-01 25:00:00",
        "ok_leap": "2024-02-29T12:00:00Z",  # accepted: a real day
    }
    extra = [template | {"event_id": name, "timestamp": stamp} for name, stamp in odd.items()]
    frames["events"] = pd.concat([events, pd.DataFrame(extra)], ignore_index=True)
    _fill(pg_url, frames)
    assert _server_version(pg_url) < (16,), "the local server has pg_input_is_valid: the fallback is not exercised"
    # a lookback that reaches back to the leap day (the default 400 days before as_of end in July 2024)
    config = _config(tmp_path, pg_url, {"lookback_days": 600})
    result = healthsync("score", "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    totals = [json.loads(line) for line in result.stderr.splitlines() if '"read"' in line]
    report = next(record for record in totals if record["table"] == "events")
    assert report["rejected"] == {"unparseable_timestamp": 4}
    assert report["read"] == len(frames["events"]) == report["accepted"] + 4
    reasons = [json.loads(line) for line in result.stderr.splitlines() if '"reason": "unparseable_timestamp"' in line]
    assert {row["timestamp"] for row in reasons[0]["samples"]} == {
        "2025-02-30 10:00:00",
        "2025-04-31T08:00:00Z",
        "2025-02-29",
        "2025-08-01 25:00:00",
    }
    assert len(json.loads(result.stdout)) == 40


@contextmanager
def _statements() -> Iterator[list[tuple[str, int]]]:
    """Every statement any engine runs (its SQL and the rows its cursor returned), while the block runs."""
    seen: list[tuple[str, int]] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement, cursor.rowcount))

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", record)


def _score_in_process(config: Path, *args: str) -> list[dict[str, Any]]:
    # Into a file: click 8.1's CliRunner mixes stderr (the log lines) into result.stdout, 8.2's does not.
    scores = config.parent / "scores.json"
    result = CliRunner().invoke(cli, ["score", "--config", str(config), "--format", "json", "-o", str(scores), *args])
    assert result.exit_code == 0, result.output
    return list(json.loads(scores.read_text()))


def _scored(config: Path, *, users: bool = False) -> tuple[ScoreResult, list[tuple[str, int]]]:
    """The score of `config` in process, with every statement the database saw: the plan's and nothing else."""
    with _statements() as seen:
        result = compute_scores(load_settings(config), with_users=users)
    plan = result.plan
    assert plan is not None
    assert len(seen) == len(plan.opening) + len([s for s in plan.statements if s.seconds is not None])
    return result, seen


def _ran(result: ScoreResult) -> list[str]:
    assert result.plan is not None
    return [statement.name for statement in result.plan.statements if statement.seconds is not None]


def test_only_per_account_rows_leave_the_database_unless_users_are_asked_for(pg_url: str, tmp_path: Path) -> None:
    frames = _example()
    _fill(pg_url, frames)
    # No per-user signal in the account scoring (the admin-only signal of the plays reads user rows).
    config = _config(tmp_path, pg_url, {"plays": {"multi_user_activation": {"admin_roles": []}}})
    active = frames["events"]["account_id"].nunique()
    result, _ = _scored(config)
    assert result.plan is not None
    assert _ran(result) == ["events_per_account", "accounts", "users", "event_counts", "trial_events"]
    rows = result.plan["events_per_account"].rows
    assert rows == active == len(frames["accounts"]) == len(result.accounts)  # one row per account, nothing else
    users, _ = _scored(config, users=True)
    assert users.plan is not None
    assert _ran(users)[0] == "events_per_user"
    assert users.plan["events_per_user"].rows == frames["events"].groupby(["account_id", "user_id"]).ngroups
    assert users.users is not None
    assert len(users.users) == len(frames["users"])


@pytest.mark.parametrize("reasons", [1, 7])
def test_the_samples_of_every_reason_come_from_one_query(pg_url: str, tmp_path: Path, reasons: int) -> None:
    frames = {name: pd.read_csv(DATA / "bad" / f"{name}.csv", dtype=str) for name in TABLES}
    if reasons == 1:
        frames["events"] = frames["events"][frames["events"]["timestamp"] == "not-a-date"]
    _fill(pg_url, frames)
    result, _ = _scored(_config(tmp_path, pg_url, max_rejected_share=1.0))
    assert result.plan is not None
    scans = [s.name for s in result.plan.statements if s.scans and s.seconds is not None]
    # the aggregation, the per-event counts (explanations) and the samples, once each (and the trial days', if any)
    assert [name for name in scans if name != "trial_events"] == ["events_per_user", "event_counts", "samples"]
    assert "activation" not in result.plan.names  # no activation steps configured
    assert result.plan["samples"].rows == sum(min(n, 5) for n in result.reports["events"].rejected.values())


@contextmanager
def _sessions() -> Iterator[list[tuple[str, int, str]]]:
    """(statement, server process id of its session, thread name) of every statement run while the block runs."""
    seen: list[tuple[str, int, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        pid = conn.connection.dbapi_connection.info.backend_pid
        seen.append((statement, pid, threading.current_thread().name))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def _side(thread: str) -> bool:
    return thread.startswith("healthsync-source")


def test_the_event_scan_runs_in_its_own_session_beside_the_entity_reads(pg_url: str, tmp_path: Path) -> None:
    frames = _example()
    _fill(pg_url, frames)
    config = _config(tmp_path, pg_url)
    with _sessions() as seen:
        rows = _score_in_process(config)
    # the plan's one side statement (the event pass) is the second session's only statement besides its settings
    (scan,) = [(sql, pid, thread) for sql, pid, thread in seen if _side(thread) and not sql.startswith("SET ")]
    (accounts,) = [(sql, pid, thread) for sql, pid, thread in seen if "FROM accounts" in sql and "LIMIT" not in sql]
    assert scan[1] != accounts[1]  # two sessions of the server ...
    assert scan[2].startswith("healthsync-source")
    assert accounts[2] == threading.main_thread().name
    for pid in (scan[1], accounts[1]):  # each in UTC, with the aggregation's work_mem
        settings = [sql for sql, session, _ in seen if session == pid and sql.startswith("SET ")]
        assert settings == ["SET TIME ZONE 'UTC'", "SET work_mem = '256MB'"]
    assert len(rows) == len(frames["accounts"])
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("healthsync-source")]


def test_a_failing_read_beside_the_event_scan_stops_both_and_names_the_table(pg_url: str, tmp_path: Path) -> None:
    _fill(pg_url, _example())
    failing = "SELECT account_id, name, 1 / (length(account_id) - length(account_id)) AS seats_limit FROM accounts"
    config = _config(tmp_path, pg_url, accounts=failing)
    result = CliRunner().invoke(cli, ["score", "--config", str(config), "--format", "json"])
    assert result.exit_code == 1, result.output  # a source error (SPEC section 6)
    message = str(result.exception)
    assert message.startswith("reading accounts (SELECT account_id")
    assert "DivisionByZero: division by zero" in message
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("healthsync-source")]


def test_the_epoch_is_computed_once_per_row_for_text_and_timestamptz_alike(pg_url: str, tmp_path: Path) -> None:
    """The epoch (a parse of text, or date_part of a timestamptz) sits behind an OFFSET 0 fence, so it is computed
    once per row, not in each of its uses. The scores of both column types are the same."""
    frames = _example()
    _fill(pg_url, frames)
    typed = dict(frames, events=frames["events"].assign(timestamp=lambda f: pd.to_datetime(f["timestamp"], utc=True)))
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA typed")
            for name, frame in typed.items():
                frame.to_sql(name, conn, index=False, schema="typed")
    finally:
        engine.dispose()
    scores, plans = [], []
    for folder, schema in (("text", None), ("typed", "typed")):
        (tmp_path / folder).mkdir()
        extra = {"schema": schema} if schema else {}
        with _sessions() as seen:
            scores.append(_score_in_process(_config(tmp_path / folder, pg_url, **extra)))
        (aggregation,) = [sql for sql, _, thread in seen if _side(thread) and not sql.startswith("SET ")]
        plans.append("OFFSET" in aggregation)
    assert plans == [True, True]
    assert scores[0] == scores[1]
