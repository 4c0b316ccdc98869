"""SPEC section 10: the reference configuration, as written, scores CSV files into the section 3 JSON table."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tests.world import healthsync

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "SPEC.md"
COPY = Path(__file__).parent / "data" / "reference-config.yaml"
SECTION_3_COLUMNS = [
    "account_id",
    "name",
    "domain",
    "health_score",
    "raw_score",
    "health_tier",
    "trend",
    "score_change",
    "active_users",
    "total_users",
    "active_user_pct",
    "feature_adoption_pct",
    "usage_frequency_pct",
    "last_active_at",
    "days_since_active",
    "tenure_days",
    "activation_pct",
    "plays",
    "summary",
]


def reference_yaml() -> str:
    """The block of SPEC section 10 (from ../shared/SPEC.md when present; the copy kept beside the tests)."""
    if SPEC.exists():
        section = SPEC.read_text(encoding="utf-8").split("## 10. Reference configuration", 1)[1]
        match = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
        assert match is not None
        assert match.group(1) == COPY.read_text(encoding="utf-8"), "tests/data/reference-config.yaml is stale"
        return match.group(1)
    return COPY.read_text(encoding="utf-8")


def test_reference_configuration_scores_csv_files_as_json(tmp_path: Path) -> None:
    (tmp_path / "healthsync.yaml").write_text(reference_yaml(), encoding="utf-8")
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "data")
    for command in (["validate"], ["score", "--format", "json"]):
        result = healthsync(*command, "--config", str(tmp_path / "healthsync.yaml"), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    accounts = (tmp_path / "data" / "accounts.csv").read_text().strip().splitlines()
    assert len(rows) == len(accounts) - 1
    for row in rows:
        assert set(SECTION_3_COLUMNS) <= set(row), sorted(set(SECTION_3_COLUMNS) - set(row))
        assert 1 <= row["health_score"] <= 100
        assert isinstance(row["plays"], list)
        assert isinstance(row["summary"], str)
        assert row["summary"]
