"""Trial events (the trial signal of multi_user_activation) come from their own query bounded to the trial period:
the same counts as a pandas oracle on every source kind, boundaries included, for the accounts that can fire the
signal (and any account that started within the same days); the others (too old, too new) get none, and the score
table does not need them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from healthsync.connector.settings import Settings, SourceConfig
from healthsync.connector.sources.load import load_source
from healthsync.scoring import score_accounts
from healthsync.scoring.config import ActivationStep, ScoringConfig

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
DAY = timedelta(days=1)
SCORING = ScoringConfig(as_of=AS_OF, activation_steps=[ActivationStep(event="setup")])
STARTS = {
    "onboarding": AS_OF - 30 * DAY,
    "old": AS_OF - 200 * DAY,
    "trialing": AS_OF - 30 * DAY,
    "new": AS_OF - 5 * DAY,
}
STATUS = {"onboarding": "paying", "old": "paying", "trialing": "trial", "new": "paying"}


def _events() -> pd.DataFrame:
    rows: list[tuple[str, str, datetime]] = []
    for account, start in STARTS.items():
        offsets = [-DAY, timedelta(0), timedelta(hours=5), 3 * DAY, 14 * DAY - timedelta(seconds=1), 14 * DAY]
        rows += [(account, "busy", start + offset) for offset in offsets if start + offset < AS_OF]
        rows += [(account, "busy", start + 2 * DAY)] * 20  # a busy trial
        rows.append((account, "busy", AS_OF - DAY))  # a quiet present
    frame = pd.DataFrame(rows, columns=["account_id", "event", "timestamp"])
    frame["user_id"] = frame["account_id"] + "_u1"
    frame["event_id"] = [f"e{index}" for index in range(len(frame))]
    duplicate = frame.iloc[[1]].assign(timestamp=frame["timestamp"].iloc[1] + timedelta(seconds=1))
    frame = pd.concat([frame, duplicate], ignore_index=True)  # the same event_id again, inside the trial
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame[["event_id", "account_id", "user_id", "event", "timestamp"]]


def _oracle(events: pd.DataFrame) -> dict[str, int]:
    kept = events.drop_duplicates("event_id", keep="first") if "event_id" in events else events
    counts = {}
    for account in ("onboarding", "trialing"):  # started with an account that can fire: counted exactly
        start = pd.Timestamp(STARTS[account])
        mine = kept[(kept["account_id"] == account) & (kept["timestamp"] >= start)]
        counts[account] = int((mine["timestamp"] < start + pd.Timedelta(days=14)).sum())
    return counts


def _tables(with_event_id: bool) -> dict[str, pd.DataFrame]:
    events = _events() if with_event_id else _events().drop_duplicates("event_id").drop(columns=["event_id"])
    accounts = pd.DataFrame(
        {
            "account_id": list(STARTS),
            "status": [STATUS[name] for name in STARTS],
            "created_at": pd.to_datetime(list(STARTS.values()), utc=True),
        }
    )
    users = pd.DataFrame({"user_id": [f"{name}_u1" for name in STARTS], "account_id": list(STARTS)})
    return {"events": events, "accounts": accounts, "users": users}


def _source(kind: str, tmp: Path, tables: dict[str, pd.DataFrame], pg_url: str | None) -> SourceConfig:
    names = {name: name for name in tables}
    if kind == "duckdb":
        with duckdb.connect(str(tmp / "usage.duckdb")) as conn:
            for name, frame in tables.items():
                conn.register("frame", frame)
                conn.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
                conn.unregister("frame")
        return SourceConfig(kind="sql", url="duckdb:///usage.duckdb", **names)
    if kind == "parquet":
        for name, frame in tables.items():
            frame.to_parquet(tmp / f"{name}.parquet")
        return SourceConfig(kind="files", **{name: f"{name}.parquet" for name in tables})
    if kind == "csv":
        for name, frame in tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        return SourceConfig(kind="files", **{name: f"{name}.csv" for name in tables})
    if kind == "sqlite":
        with sqlite3.connect(tmp / "usage.db") as conn:
            for name, frame in tables.items():
                text = frame.copy()
                for column in ("timestamp", "created_at"):
                    if column in text:
                        text[column] = text[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                text.to_sql(name, conn, index=False)
        return SourceConfig(kind="sql", url="sqlite:///usage.db", **names)
    assert pg_url is not None
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        for name, frame in tables.items():
            frame.to_sql(name, conn, index=False)
    engine.dispose()
    return SourceConfig(kind="sql", url=pg_url, **names)


def _check(kind: str, tmp: Path, with_event_id: bool, pg_url: str | None = None) -> None:
    tables = _tables(with_event_id)
    settings = Settings(source=_source(kind, tmp, tables, pg_url), scoring=SCORING, config_dir=tmp)
    data = load_source(settings, AS_OF, AS_OF, with_users=True)
    activity = data.account_activity.set_index("account_id")
    expected: dict[str, Any] = {"old": 0, "new": 0, **_oracle(tables["events"])}
    assert expected["onboarding"] == 24  # the start itself, 5 hours, 2 and 3 days in, and the last second
    assert activity["trial_events"].to_dict() == expected
    table = score_accounts(data.accounts, data.users, data.account_activity, data.user_activity, SCORING, AS_OF)
    reasons = table.set_index("account_id")["play_reasons"]
    trial = [reason for reason in reasons["onboarding"]["multi_user_activation"] if reason.startswith("trial was")]
    assert trial == ["trial was more active than now (1.7 events/day vs 0.9)"]  # 24 in 14 days, 26 in 30


@pytest.mark.parametrize("with_event_id", [False, True])
@pytest.mark.parametrize("kind", ["duckdb", "parquet", "csv", "sqlite"])
def test_trial_events_are_counted_for_the_accounts_that_can_fire(
    tmp_path: Path, kind: str, with_event_id: bool
) -> None:
    _check(kind, tmp_path, with_event_id)


@pytest.mark.postgres
@pytest.mark.parametrize("with_event_id", [False, True])
def test_trial_events_on_postgresql(tmp_path: Path, pg_url: str, with_event_id: bool) -> None:
    _check("postgresql", tmp_path, with_event_id, pg_url)
