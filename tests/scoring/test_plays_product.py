"""Every play fires on the demo product and on the example product; the CLI shows plays and summaries."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthsync.connector.demo.data import generate, write_duckdb
from healthsync.connector.demo.runner import DEMO_SCORING
from healthsync.connector.pipeline import compute_scores, score_data
from healthsync.connector.settings import Settings, SourceConfig
from healthsync.connector.sources.load import load_source
from tests.paths import ROOT

PLAYS = {"multi_user_activation", "non_activation_day_14", "expansion_milestone", "churn_risk", "workflow_adoption"}
AS_OF = datetime(2025, 8, 13, tzinfo=UTC)


def test_every_play_fires_on_the_demo_product(tmp_path: Path) -> None:
    write_duckdb(generate(120, as_of=AS_OF, seed=7), tmp_path / "product.duckdb")
    source = SourceConfig(
        kind="sql", url="duckdb:///product.duckdb", events="events", accounts="accounts", users="users"
    )
    settings = Settings(source=source, scoring={"as_of": AS_OF, **DEMO_SCORING}, config_dir=tmp_path)
    table = compute_scores(settings, now=AS_OF).accounts
    assert {play for plays in table["plays"] for play in plays} == PLAYS
    # without the texts (the backtest's snapshots) the same plays fire, named without their reasons
    data = load_source(settings, AS_OF, AS_OF, with_users=settings.scoring.needs_user_activity())
    bare = score_data(data, settings.scoring, AS_OF, with_users=False, texts=False).accounts
    assert bare["plays"].tolist() == table["plays"].tolist()
    assert bare["play_reasons"].isna().all()
    assert [sorted(reasons) for reasons in table["play_reasons"]] == [sorted(plays) for plays in table["plays"]]
    healthy = table[(table["plays"].map(len) == 0) & (table["health_tier"] == "healthy")]
    assert len(healthy) > 0, "a healthy, fully set-up account fires no play"
    assert (healthy["activation_pct"] == 100).any()


@pytest.fixture(scope="module")
def example_rows() -> list[dict[str, object]]:
    healthsync = str(Path(sys.executable).parent / "healthsync")
    command = [healthsync, "score", "--config", "examples/healthsync.yaml", "--format", "json"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_the_cli_prints_plays_reasons_and_summaries(example_rows: list[dict[str, object]]) -> None:
    assert len(example_rows) == 40
    for row in example_rows:
        plays, reasons, summary = row["plays"], row["play_reasons"], row["summary"]
        assert isinstance(plays, list)
        assert isinstance(reasons, dict)
        assert list(reasons) == plays
        assert isinstance(summary, str)
        assert summary.endswith(".")
    assert {play for row in example_rows for play in row["plays"]} == PLAYS  # type: ignore[attr-defined]
    assert any(row["plays"] == [] and row["health_tier"] == "healthy" for row in example_rows)
    assert any(" were active every week" in str(row["summary"]) for row in example_rows)
    assert any(
        "sequences in " in str(row["summary"]) and "% of outbound touches" in str(row["summary"])
        for row in example_rows
    )
