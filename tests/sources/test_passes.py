"""The one-pass query (per user, day bit masks, rolled up to accounts) and the COUNT(DISTINCT) fallback (SQLite,
windows over 62 days) give identical frames and reports, on the same DuckDB data, including the boundary instants
(an event exactly at the window start or exactly 7 days before as_of) and duplicate event ids.

The parity suite (tests/sources/test_parity.py) already compares SQLite (fallback, window dedup) with the files sources
(one pass, GROUP BY dedup); these tests force both paths on one database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from healthsync.connector.settings import Settings, SourceConfig
from healthsync.connector.sources import load as sources
from healthsync.connector.sources.load import load_source
from healthsync.connector.sources.plan import CAPABILITIES, capabilities
from healthsync.connector.sources.pushdown import LogicalTables, Window, classified
from healthsync.connector.sources.rollup import user_pass_query
from healthsync.scoring.config import ActivationStep, ScoringConfig
from tests.sources.test_parity import assert_same_activity

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
NOW = AS_OF + timedelta(days=1)
SCORING = ScoringConfig(
    as_of=AS_OF,
    window_days=30,
    weights={"a": 3, "b": 1},
    features={"fa": ["a"], "fb": ["b"]},
    activation_steps=[ActivationStep(event="a", min_count=2)],
    personas={"rep": {"label": "rep", "workflows": [{"name": "w", "event": "b", "min_count": 1}]}},  # type: ignore[arg-type]
    shares={"s": {"events": ["a"], "among": ["a", "b"], "label": "a of all"}},  # type: ignore[dict-item]
)


def _events() -> pd.DataFrame:
    start = AS_OF - timedelta(days=30)
    stamps = [
        start,  # exactly the window start: day bucket 30
        start - timedelta(seconds=1),  # previous window
        AS_OF - timedelta(days=7),  # exactly 7 days before as_of: in the 7-day count
        AS_OF - timedelta(days=7, seconds=1),  # the same day bucket, outside the 7-day count
        AS_OF - timedelta(hours=1),
        AS_OF - timedelta(days=61),
        AS_OF + timedelta(hours=1),  # after as_of, before now: accepted, in no window
    ]
    rows = []
    for index, stamp in enumerate(stamps):
        for user in ("u1", "u2"):
            event = "a" if index % 2 else "b"
            rows.append((f"e{index}{user}", "acc_1", f"acc_1_{user}", event, stamp))
    rows.append(("e0u1", "acc_1", "acc_1_u1", "a", AS_OF - timedelta(days=2)))  # a later duplicate of e0u1
    rows.append(("x1", "acc_2", "acc_2_u1", "a", AS_OF - timedelta(days=3)))
    rows.append(("x2", "ghost", "ghost_u1", "a", AS_OF - timedelta(days=3)))  # unknown account
    rows.append(("x3", None, "nobody", "a", AS_OF - timedelta(days=3)))
    frame = pd.DataFrame(rows, columns=["event_id", "account_id", "user_id", "event", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def _database(tmp: Path) -> Settings:
    accounts = pd.DataFrame(
        {"account_id": ["acc_1", "acc_2"], "created_at": pd.to_datetime(["2025-07-01", "2025-08-01"], utc=True)}
    )
    users = pd.DataFrame({"user_id": ["acc_1_u1", "acc_1_u2", "acc_2_u1"], "account_id": ["acc_1", "acc_1", "acc_2"]})
    with duckdb.connect(str(tmp / "usage.duckdb")) as conn:
        for name, frame in {"events": _events(), "accounts": accounts, "users": users}.items():
            conn.register("frame", frame)
            conn.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            conn.unregister("frame")
    tables = {"events": "events", "accounts": "accounts", "users": "users"}
    source = SourceConfig(kind="sql", url="duckdb:///usage.duckdb", max_rejected_share=0.5, **tables)
    return Settings(source=source, scoring=SCORING, config_dir=tmp)


def test_one_pass_and_fallback_give_the_same_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _database(tmp_path)
    one_pass = load_source(settings, AS_OF, NOW, with_users=True)
    monkeypatch.setattr(sources, "capabilities", lambda dialect: replace(CAPABILITIES[dialect], masks=False))
    fallback = load_source(settings, AS_OF, NOW, with_users=True)
    assert_same_activity(one_pass, fallback)
    assert one_pass.plan is not None
    assert fallback.plan is not None
    assert one_pass.plan.names[0] == "events_per_user"
    assert fallback.plan.names[:2] == ["activity_per_account", "activity_per_user"]
    events = one_pass.reports["events"]
    assert events.rejected == {"missing_account_id": 1, "duplicate_event_id": 1, "unknown_account": 1}
    assert events.accepted + events.rejected_total == events.read == len(_events())
    assert events.samples["unknown_account"][0]["account_id"] == "ghost"
    assert events.samples["duplicate_event_id"][0]["event_id"] == "e0u1"
    acc_1 = one_pass.account_activity.set_index("account_id").loc["acc_1"]
    assert (acc_1["active_days"], acc_1["active_days_7d"], acc_1["active_users"]) == (3, 2, 2)
    monkeypatch.undo()
    accounts_only = load_source(settings, AS_OF, NOW, with_users=False)
    assert accounts_only.user_activity is None
    pd.testing.assert_frame_equal(accounts_only.account_activity, fallback.account_activity)


def test_the_one_pass_needs_a_bit_or_and_a_short_window() -> None:
    assert capabilities("duckdb").one_pass(30)
    assert capabilities("postgresql").one_pass(62)
    assert not capabilities("duckdb").one_pass(63)
    assert not capabilities("sqlite").one_pass(30)


@pytest.mark.parametrize("dialect_name", ["snowflake", "bigquery", "postgresql", "duckdb"])
def test_the_one_pass_compiles_with_bit_masks(dialect_name: str) -> None:
    from sqlalchemy.dialects import postgresql

    if dialect_name == "snowflake":
        from snowflake.sqlalchemy import snowdialect

        dialect: sa.Dialect = snowdialect.dialect()
    elif dialect_name == "bigquery":
        from sqlalchemy_bigquery import BigQueryDialect

        dialect = BigQueryDialect()
    elif dialect_name == "postgresql":
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call,unused-ignore]
    else:
        from duckdb_engine import Dialect as DuckDBDialect

        dialect = DuckDBDialect()
    columns = [sa.column(name) for name in ("event_id", "account_id", "user_id", "event")]
    events = sa.table("events", *columns, sa.column("timestamp", sa.DateTime()))
    accounts = sa.table("accounts", sa.column("account_id"), sa.column("created_at"))
    users = sa.table("users", sa.column("user_id"), sa.column("account_id"))
    tables = LogicalTables(events, accounts, users, {"events": "e", "accounts": "a", "users": "u"})
    window = Window(AS_OF.timestamp(), NOW.timestamp(), 30)
    rows = classified(tables, window.now, group_dedup=dialect_name == "duckdb")
    sql = str(user_pass_query(rows, SCORING, window).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    assert ("BITOR_AGG(" if dialect_name == "snowflake" else "bit_or(") in sql
    assert "count(DISTINCT" not in sql
    assert "'unknown_account'" in sql
    assert ("row_number()" in sql) is (dialect_name != "duckdb")
