"""What the engine suites share (tests/sources/engines/, run in .venv-engines): the edge product and scoring it
through the CLI, so that `score` on an engine can be compared with `score` on DuckDB column by column."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from click.testing import CliRunner

from healthsync.connector.cli import cli
from tests.paths import EXAMPLES
from tests.sources.test_parity import AS_OF, SCORING
from tests.sources.test_rejects import TABLES

__all__ = ["TABLES", "duckdb_file", "product_with_edges", "score", "write_config"]


def product_with_edges() -> dict[str, pd.DataFrame]:
    """The example product (text timestamps) plus two accounts on the window's edges: acc_1 with events just
    inside and just outside the window and the last 7 days (text without an offset: UTC by the SPEC), an impossible
    date (2025-02-30) and a value that is no timestamp; acc_2 with an event after as_of but before now."""
    as_of = pd.Timestamp(AS_OF)
    start = as_of - timedelta(days=SCORING.window_days)
    stamp = "%Y-%m-%d %H:%M:%S"
    rows = [
        ("e1", "acc_1", "u1", "lead_created", (as_of - timedelta(hours=4)).strftime(stamp)),
        ("e2", "acc_1", "u1", "call_logged", (start - timedelta(hours=4)).strftime(stamp)),
        ("e3", "acc_1", "u2", "call_logged", (start + timedelta(hours=4)).strftime(stamp)),
        ("e4", "acc_1", "u2", "call_logged", (as_of - timedelta(days=7, hours=3)).strftime(stamp)),
        ("e5", "acc_1", "u2", "lead_created", "2025-02-30 10:00:00"),
        ("e6", "acc_1", "u1", "lead_created", "12"),
        ("e7", "acc_2", "u3", "call_logged", (as_of + timedelta(hours=20)).strftime(stamp)),
    ]
    events = pd.DataFrame(rows, columns=["event_id", "account_id", "user_id", "event", "timestamp"])
    accounts = pd.DataFrame({"account_id": ["acc_1", "acc_2"], "name": ["One", "Two"], "created_at": "2025-06-01"})
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "account_id": ["acc_1", "acc_1", "acc_2"]})
    edges = {"events": events, "accounts": accounts, "users": users}
    product = {name: pd.read_csv(EXAMPLES / "data" / f"{name}.csv", dtype=str) for name in TABLES}
    return {name: pd.concat([product[name], edges[name]], ignore_index=True) for name in TABLES}


def duckdb_file(path: Path, frames: dict[str, pd.DataFrame]) -> None:
    with duckdb.connect(str(path)) as conn:
        for name, frame in frames.items():
            conn.register("frame", frame)
            conn.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            conn.unregister("frame")


def write_config(folder: Path, source: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "healthsync.yaml"
    scoring = {"as_of": AS_OF.isoformat(), "weights": {"lead_created": 9, "call_logged": 5}}
    config.write_text(json.dumps({"source": {"max_rejected_share": 0.5, **source}, "scoring": scoring}))
    return config


def score(config: Path) -> pd.DataFrame:
    """`healthsync score --format json` on `config`, in this process."""
    result = CliRunner().invoke(cli, ["score", "--config", str(config), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return pd.DataFrame(json.loads(result.stdout))
