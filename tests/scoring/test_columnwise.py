"""The column-wise scoring gives the same tables, to the byte, as the row-by-row code it replaced.

The frame is the benchmark generator's (10,000 accounts, 200,000 users, Zipf-skewed; fewer events than a benchmark
run, same shape) read through the `files` source; the reference is the output of the code before the change,
recorded as goldens while that code still ran beside it (`tests/golden.py`). Both tables are compared as the JSON
`healthsync score --format json` writes, for the benchmark's own scoring section and for the same with personas,
an expected head count and a share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from healthsync.connector.output import write_frame
from healthsync.connector.settings import load_settings
from healthsync.connector.sources.load import SourceData, load_source
from healthsync.scoring import score_accounts, score_users
from healthsync.scoring.config import ScoringConfig
from tests.golden import check

PERSONAS: dict[str, Any] = {
    "rep": {
        "label": "rep",
        "workflows": [
            {"name": "enroll leads", "event": "lead_enrolled", "min_count": 5, "within_days": 7},
            {"name": "log calls", "event": "call_logged", "min_count": 3, "within_days": 7},
        ],
    },
    "manager": {
        "label": "manager",
        "expected": 1,
        "workflows": [{"name": "review reports", "event": "report_viewed", "within_days": 7}],
    },
    "admin": {
        "label": "admin",
        "key": False,
        "weekly_target": 0.25,
        "workflows": [{"name": "maintain sequences", "event": "sequence_created", "within_days": 30}],
    },
}
SHARES = {"sequences": {"events": ["lead_enrolled"], "among": ["lead_enrolled", "call_logged"], "label": "touches"}}

pytestmark = pytest.mark.slow


def _json(frame: Any, path: Path) -> bytes:
    write_frame(frame, "json", path)
    return path.read_bytes()


@pytest.mark.parametrize("variant", ["benchmark", "personas"])
def test_same_tables_as_row_by_row(benchmark_config: Path, tmp_path: Path, variant: str) -> None:
    settings = load_settings(benchmark_config)
    scoring = settings.scoring
    if variant == "personas":
        scoring = ScoringConfig.model_validate({**scoring.model_dump(), "personas": PERSONAS, "shares": SHARES})
    as_of = scoring.resolved_as_of()
    data: SourceData = load_source(settings.model_copy(update={"scoring": scoring}), as_of, as_of, with_users=True)
    assert len(data.accounts) == 10_000
    assert len(data.users) == 200_000
    inputs = (data.accounts, data.users, data.account_activity, data.user_activity, scoring, as_of)
    actual = score_accounts(*inputs)
    assert actual["plays"].map(len).sum() > 1000  # the plays fire: the comparison covers their reasons
    check("score_tables", f"{variant}-accounts.json", _json(actual, tmp_path / "accounts.json"))
    if variant != "benchmark":
        return
    actual_users = score_users(data.users, data.user_activity, scoring, as_of)
    check("score_tables", f"{variant}-users.json", _json(actual_users, tmp_path / "users.json"))
