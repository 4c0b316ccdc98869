"""`healthsync score` writes the same bytes (JSON, CSV, Parquet; accounts and users) as before its per-run fixed cost
went column-wise (issue 14), and the source reads the same frames and reports.

The reference is main's code kept verbatim: the source frames and the roll-up (tests/sources/before/), the score
tables with their explanations and adoption metrics (tests/scoring/before/) and the Parquet preparation
(tests/scoring/before/output.py), patched in where the pipeline looks them up. What the command does is
`compute_scores` then `write_frame`; both runs do exactly that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from healthsync.connector import output, pipeline
from healthsync.connector.output import write_frame
from healthsync.connector.pipeline import compute_scores
from healthsync.connector.settings import Settings, SourceConfig, load_settings
from healthsync.connector.sources import load
from healthsync.connector.sources.load import SourceData, load_source
from healthsync.scoring.config import ScoringConfig
from tests.paths import DATA
from tests.scoring.before import output as before_output
from tests.scoring.before import table as before_table
from tests.scoring.test_columnwise import PERSONAS, SHARES
from tests.sources.before import frames as before_frames
from tests.sources.before import rollup as before_rollup

FORMATS = ("json", "csv", "parquet")


def _use_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline as it was on main: its source frames, roll-up, score tables and Parquet preparation."""
    for name in ("accounts_frame", "activity_frame"):
        monkeypatch.setattr(load, name, getattr(before_frames, name))

    def users_frame(frame: Any, sample_rows: int, accounts: Any, rejected_accounts: Any = ()) -> Any:
        assert not rejected_accounts  # main had no `account_rejected`; these products have no undecodable line
        return before_frames.users_frame(frame, sample_rows, accounts)

    monkeypatch.setattr(load, "users_frame", users_frame)
    monkeypatch.setattr(load, "roll_up", before_rollup.roll_up)
    monkeypatch.setattr(pipeline, "score_accounts", before_table.score_accounts)
    monkeypatch.setattr(pipeline, "score_users", before_table.score_users)
    monkeypatch.setattr(output, "_parquet_ready", before_output._parquet_ready)


def _outputs(settings: Settings, folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    written: dict[str, bytes] = {}
    for kind in ("accounts", "users"):
        result = compute_scores(settings, with_users=kind == "users")
        frame = result.users if kind == "users" else result.accounts
        assert frame is not None
        for fmt in FORMATS:
            path = folder / f"{kind}.{fmt}"
            write_frame(frame, fmt, path, kind=kind)
            written[path.name] = path.read_bytes()
    return written


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["benchmark", "personas"])
def test_score_writes_the_same_bytes_as_main(
    benchmark_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    settings = load_settings(benchmark_config)
    if variant == "personas":
        scoring = {**settings.scoring.model_dump(), "personas": PERSONAS, "shares": SHARES}
        settings = settings.model_copy(update={"scoring": ScoringConfig.model_validate(scoring)})
    actual = _outputs(settings, tmp_path / "new")
    _use_main(monkeypatch)
    expected = _outputs(settings, tmp_path / "main")
    assert list(actual) == list(expected)
    for name, content in expected.items():
        assert actual[name] == content, name
    assert b"score_movers" in expected["accounts.csv"]


def _reports(data: SourceData) -> dict[str, str]:
    return {name: repr(report) for name, report in data.reports.items()}


@pytest.mark.parametrize("with_users", [False, True])
def test_the_source_reads_the_same_frames_and_reports_as_main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_users: bool
) -> None:
    """The bad-row data set: missing, duplicate and unknown ids, rows out of order, unparseable values."""
    paths = {name: str(DATA / "bad" / f"{name}.csv") for name in ("events", "accounts", "users")}
    source = SourceConfig(kind="files", max_rejected_share=1.0, **paths)
    scoring = ScoringConfig.model_validate({"as_of": "2025-08-13T00:00:00Z", "weights": {"lead_created": 9}})
    settings = Settings(source=source, scoring=scoring, config_dir=tmp_path)
    as_of = scoring.resolved_as_of()
    actual = load_source(settings, as_of, as_of, with_users=with_users)
    _use_main(monkeypatch)
    expected = load_source(settings, as_of, as_of, with_users=with_users)
    assert _reports(actual) == _reports(expected)
    frames: list[tuple[Any, Any]] = [(actual.accounts, expected.accounts), (actual.users, expected.users)]
    frames.append((actual.account_activity, expected.account_activity))
    if with_users:
        frames.append((actual.user_activity, expected.user_activity))
    assert expected.reports["users"].rejected  # the rejections are part of the comparison
    for new, old in frames:
        pd.testing.assert_frame_equal(new, old, check_exact=True)
