"""The read plan: pinned per dialect and source kind without a database, and what a real read runs is its plan.

The statement lists below are the numbers README's "What a score read asks of the database" states; a change of the
read that adds, drops or merges a statement changes them here first.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from healthsync.connector.cli import cli
from healthsync.connector.settings import Settings, load_settings
from healthsync.connector.sources.load import account_ids, explain, load_source
from healthsync.connector.sources.plan import CAPABILITIES, capabilities
from tests.paths import ROOT
from tests.statements import statements

EXAMPLE = ROOT / "examples"
AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
TABLES = ("events", "accounts", "users")
AFTER_PASS = ["accounts", "users", "steps_and_counts", "trial_events", "samples"]
ONE_PASS = ["events_per_user", *AFTER_PASS]  # the example's personas need user rows
PORTABLE = ["activity_per_account", "activity_per_user", *AFTER_PASS]


def _settings(tmp_path: Path, source: dict[str, Any]) -> Settings:
    config = yaml.safe_load((EXAMPLE / "healthsync.yaml").read_text())
    config["source"] = source
    config.pop("destinations", None)
    path = tmp_path / "healthsync.yaml"
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


def _files(tmp_path: Path, suffix: str) -> dict[str, Any]:
    for table in TABLES:
        (tmp_path / f"{table}.{suffix}").touch()
    return {"kind": "files", **{table: f"{table}.{suffix}" for table in TABLES}}


def _sql(url: str) -> dict[str, Any]:
    return {"kind": "sql", "url": url, **{table: table for table in TABLES}}


# source kind -> (source section, read statements, of which scans, statements that open the source)
KINDS: dict[str, tuple[Any, list[str], int, int]] = {
    "sqlite": (lambda tmp: _sql("sqlite:///p.sqlite"), PORTABLE, 5, 3),
    "duckdb-table": (lambda tmp: _sql("duckdb:///p.duckdb"), ONE_PASS, 4, 3 * 2 + 3),
    "duckdb-parquet": (lambda tmp: _files(tmp, "parquet"), ONE_PASS, 4, 3 * 2 + 3 + 3),
    "duckdb-csv": (lambda tmp: _files(tmp, "csv"), ONE_PASS, 4, 3 * 2 + 3 * 4 + 3),
    "duckdb-jsonl": (lambda tmp: _files(tmp, "jsonl"), ONE_PASS, 4, 3 * 2 + 3 * 2 + 3),
    "postgresql": (lambda tmp: _sql("postgresql+psycopg://u@h/db"), ONE_PASS, 4, 2 * 2 + 3),
    "snowflake": (lambda tmp: _sql("snowflake://u@account/db/schema"), ONE_PASS, 4, 1 * 2 + 3),
    "bigquery": (lambda tmp: _sql("bigquery://project/dataset"), ONE_PASS, 4, 3),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_plan_of_each_source_kind_is_pinned_without_a_database(kind: str, tmp_path: Path) -> None:
    source, names, scans, opening = KINDS[kind]
    plan = explain(_settings(tmp_path, source(tmp_path)), with_users=False)
    assert plan.names == names
    assert plan.scans == scans
    assert len(plan.opening) == opening
    assert [s.name for s in plan.statements if s.scans] == [n for n in names if n not in ("accounts", "users")]
    assert [s.name for s in plan.statements if s.when] == ["trial_events", "samples"]
    side = [s.name for s in plan.statements if s.side]
    assert side == ([] if kind == "sqlite" else ["events_per_user"])


def test_the_capabilities_are_one_record_per_dialect() -> None:
    flags = {
        name: (
            caps.concurrent,
            caps.masks,
            caps.kth_smallest,
            caps.fence,
            caps.group_dedup,
            caps.raw_bounds,
            caps.iso_text,
        )
        for name, caps in CAPABILITIES.items()
    }
    assert {name: flags[name] for name in ("duckdb", "postgresql", "snowflake", "bigquery", "sqlite")} == {
        "duckdb": (True, True, True, False, True, True, False),
        "postgresql": (True, True, False, True, False, True, False),
        "snowflake": (True, True, False, False, False, True, False),
        "bigquery": (True, True, False, False, False, True, False),
        "sqlite": (False, False, False, False, False, False, True),
    }
    assert capabilities("mssql") == capabilities("mssql").__class__("mssql")  # unknown: portable SQL only
    assert [name for name, caps in CAPABILITIES.items() if caps.fetch == "duckdb"] == ["duckdb"]


def test_what_the_scoring_asks_for_decides_the_statements(tmp_path: Path) -> None:
    settings = _settings(tmp_path, _sql("postgresql+psycopg://u@h/db"))
    plays = settings.scoring.plays.model_copy(
        update={
            "multi_user_activation": settings.scoring.plays.multi_user_activation.model_copy(update={"admin_roles": []})
        }
    )
    bare = settings.scoring.model_copy(update={"weights": {}, "activation_steps": [], "personas": {}, "plays": plays})
    plain = settings.model_copy(update={"scoring": bare})
    plain.source.sample_rows = 0
    assert explain(plain, with_users=False).names == ["events_per_account", "accounts", "users", "trial_events"]
    steps = settings.scoring.activation_steps
    only_steps = plain.model_copy(update={"scoring": bare.model_copy(update={"activation_steps": steps})})
    assert "activation" in explain(only_steps, with_users=False).names
    weights = settings.scoring.weights
    only_weights = plain.model_copy(update={"scoring": bare.model_copy(update={"weights": weights})})
    assert "event_counts" in explain(only_weights, with_users=False).names
    assert explain(plain, with_users=True).names[0] == "events_per_user"
    long = plain.model_copy(update={"scoring": bare.model_copy(update={"window_days": 90})})
    assert explain(long, with_users=False).names[0] == "activity_per_account"  # past the 64-bit day masks


def _example_duckdb(path: Path) -> None:
    """The example product as tables of a DuckDB file."""
    frames = {table: pd.read_csv(EXAMPLE / "data" / f"{table}.csv") for table in TABLES}
    with duckdb.connect(str(path)) as conn:
        for table, frame in frames.items():
            conn.register("frame", frame)
            conn.execute(f"CREATE TABLE {table} AS SELECT * FROM frame")
            conn.unregister("frame")


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example product as CSV and Parquet files, a DuckDB file and a SQLite file."""
    folder = tmp_path_factory.mktemp("kinds")
    frames = {table: pd.read_csv(EXAMPLE / "data" / f"{table}.csv") for table in TABLES}
    _example_duckdb(folder / "p.duckdb")
    with duckdb.connect(str(folder / "p.duckdb")) as conn:
        for table in TABLES:
            conn.execute(f"COPY {table} TO '{folder / table}.parquet' (FORMAT parquet)")
    with sqlite3.connect(folder / "p.sqlite") as conn:
        for table, frame in frames.items():
            frame.to_sql(table, conn, index=False)
    for table in TABLES:
        shutil.copy(EXAMPLE / "data" / f"{table}.csv", folder / f"{table}.csv")
    return folder


@pytest.mark.parametrize("kind", ["sqlite", "duckdb-table", "duckdb-parquet", "duckdb-csv"])
def test_a_read_runs_its_plan_and_nothing_else(kind: str, databases: Path) -> None:
    source = KINDS[kind][0](databases)
    settings = _settings(databases, source)
    with statements() as seen:
        data = load_source(settings, AS_OF, AS_OF, with_users=False)
    plan = data.plan
    assert plan is not None
    ran = [s for s in plan.statements if s.seconds is not None]
    assert [s.name for s in ran] == [n for n in plan.names if n != "samples"]  # nothing was rejected
    assert len(seen) == len(plan.opening) + len(ran)  # every statement the database saw is in the plan
    counts = {s.name: s.rows for s in ran}
    assert counts["accounts"] == 40
    assert counts["users"] == 242
    assert counts["steps_and_counts"] == 181  # (account, event) pairs of the step and weighted events


def test_an_entity_table_with_dates_and_decimals_is_read_once(tmp_path: Path) -> None:
    """DuckDB with the extra `arrow`: the column types decide Arrow or .df() before any row is fetched."""
    pytest.importorskip("pyarrow")
    _example_duckdb(tmp_path / "p.duckdb")
    with duckdb.connect(str(tmp_path / "p.duckdb")) as conn:
        conn.execute("ALTER TABLE accounts ADD COLUMN renewal DATE DEFAULT DATE '2026-01-31'")
        conn.execute("ALTER TABLE accounts ADD COLUMN arr DECIMAL(12, 2) DEFAULT 1234.5")
    settings = _settings(tmp_path, _sql("duckdb:///p.duckdb"))
    with statements() as seen:
        data = load_source(settings, AS_OF, AS_OF, with_users=False)
    assert len([sql for sql, _ in seen if "hs_accounts.arr" in sql]) == 1
    assert data.plan is not None
    assert data.plan["accounts"].rows == 40
    assert str(data.accounts["renewal"].iloc[0])[:10] == "2026-01-31"
    assert float(data.accounts["arr"].iloc[0]) == 1234.5


def test_check_lists_the_account_ids_from_the_accounts_table_alone(databases: Path) -> None:
    settings = _settings(databases, _sql("sqlite:///p.sqlite"))
    with statements() as seen:
        ids = account_ids(settings, AS_OF)
    assert ids == sorted(pd.read_csv(EXAMPLE / "data" / "accounts.csv")["account_id"].astype(str))
    assert not [sql for sql, _ in seen if "hs_classified" in sql]  # no event is aggregated
    assert len(seen) == 3 + 1  # the probes, then the accounts table


def test_score_explain_prints_the_plan_with_rows_and_seconds(databases: Path, tmp_path: Path) -> None:
    settings_path = tmp_path / "healthsync.yaml"
    config = yaml.safe_load((EXAMPLE / "healthsync.yaml").read_text())
    config["source"] = {**_sql(f"sqlite:///{databases / 'p.sqlite'}")}
    config.pop("destinations", None)
    settings_path.write_text(yaml.safe_dump(config))
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(cli, ["score", "--config", str(settings_path), "--explain", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = result.stderr if result.stderr_bytes is not None else result.output
    lines = [line for line in text.splitlines() if line.startswith(("read plan", "  read", "  open"))]
    assert lines[0].startswith("read plan, sqlite (ISO text bounds; fetch tuples): 7 statements, 5 scanning")
    assert lines[0].endswith("; events read from 2024-07-09 00:00:00 UTC on")  # as_of 2025-08-13 less 400 days
    reads = [line.split()[1:3] for line in lines if line.startswith("  read")]
    assert reads == [[name, "scan" if name not in ("accounts", "users") else "-"] for name in PORTABLE]
    assert "40 rows" in next(line for line in lines if " accounts " in line)
    assert "not run" in next(line for line in lines if " samples " in line)
