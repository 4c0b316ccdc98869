"""`healthsync score` writes the same bytes (JSON, CSV; Parquet: the same schema and rows) for accounts and users as
before its per-run fixed cost went column-wise (issue 14), and the source reads the same frames and reports.

The reference is what main's code wrote then (the source frames, the roll-up, the score tables with their
explanations and adoption metrics, the Parquet preparation), recorded as goldens while that code still ran beside
the new one (`tests/golden.py`). What the command does is `compute_scores` then `write_frame`; so does the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from healthsync.connector.output import write_frame
from healthsync.connector.pipeline import compute_scores
from healthsync.connector.settings import Settings, SourceConfig, load_settings
from healthsync.connector.sources.load import SourceData, load_source
from healthsync.scoring.config import ScoringConfig
from tests.golden import check
from tests.paths import DATA
from tests.scoring.test_columnwise import PERSONAS, SHARES

FORMATS = ("json", "csv", "parquet")


def _outputs(settings: Settings, folder: Path, kinds: tuple[str, ...]) -> dict[str, Path]:
    folder.mkdir()
    written: dict[str, Path] = {}
    for kind in kinds:
        result = compute_scores(settings, with_users=kind == "users")
        frame = result.users if kind == "users" else result.accounts
        assert frame is not None
        for fmt in FORMATS:
            path = folder / f"{kind}.{fmt}"
            write_frame(frame, fmt, path, kind=kind)
            written[path.name] = path
    return written


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["benchmark", "personas"])
def test_score_writes_the_same_bytes_as_main(benchmark_config: Path, tmp_path: Path, variant: str) -> None:
    settings = load_settings(benchmark_config)
    if variant == "personas":
        scoring = {**settings.scoring.model_dump(), "personas": PERSONAS, "shares": SHARES}
        settings = settings.model_copy(update={"scoring": ScoringConfig.model_validate(scoring)})
    kinds = ("accounts", "users") if variant == "benchmark" else ("accounts",)  # personas change no user row
    written = _outputs(settings, tmp_path / "new", kinds)
    assert sorted(written) == sorted(f"{kind}.{fmt}" for kind in kinds for fmt in FORMATS)
    for name, path in written.items():
        check("score_outputs", f"{variant}-{name}", path if path.suffix == ".parquet" else path.read_bytes())
    assert b"score_movers" in written["accounts.csv"].read_bytes()


def _reports(data: SourceData) -> dict[str, str]:
    return {name: repr(report) for name, report in data.reports.items()}


@pytest.mark.parametrize("with_users", [False, True])
def test_the_source_reads_the_same_frames_and_reports_as_main(tmp_path: Path, with_users: bool) -> None:
    """The bad-row data set: missing, duplicate and unknown ids, rows out of order, unparseable values."""
    paths = {name: str(DATA / "bad" / f"{name}.csv") for name in ("events", "accounts", "users")}
    source = SourceConfig(kind="files", max_rejected_share=1.0, **paths)
    scoring = ScoringConfig.model_validate({"as_of": "2025-08-13T00:00:00Z", "weights": {"lead_created": 9}})
    settings = Settings(source=source, scoring=scoring, config_dir=tmp_path)
    as_of = scoring.resolved_as_of()
    actual = load_source(settings, as_of, as_of, with_users=with_users)
    assert actual.reports["users"].rejected  # the rejections are part of the comparison
    case = "with-users" if with_users else "accounts-only"
    check("source_reads", f"{case}-reports", repr(sorted(_reports(actual).items())).encode())
    frames = {"accounts": actual.accounts, "users": actual.users, "account_activity": actual.account_activity}
    if with_users:
        assert actual.user_activity is not None
        frames["user_activity"] = actual.user_activity
    for name, frame in frames.items():
        check("source_reads", f"{case}-{name}", frame)
