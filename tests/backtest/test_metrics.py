"""The backtest's pure functions against independent computations (scikit-learn, brute force)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve

from healthsync.connector.backtest.replay import BacktestRequest, snapshot_dates
from healthsync.connector.backtest.suggest import split_snapshots
from healthsync.connector.backtest.text import render_text
from healthsync.scoring.backtest import (
    auc,
    auc_interval,
    coverage,
    deciles,
    monotonic,
    outcome_metrics,
)
from healthsync.scoring.backtest import (
    roc_curve as roc,
)

scores_and_labels = st.lists(st.tuples(st.integers(1, 100), st.booleans()), min_size=2, max_size=200)


@given(scores_and_labels)
@settings(max_examples=200, deadline=None)
def test_auc_equals_scikit_learn_with_ties(rows: list[tuple[int, bool]]) -> None:
    risk = np.array([float(score) for score, _ in rows])
    positive = np.array([label for _, label in rows])
    found = auc(risk, positive)
    if positive.all() or not positive.any():
        assert found is None
    else:
        assert found == pytest.approx(roc_auc_score(positive, risk), abs=1e-12)


def test_auc_by_brute_force_counts_ties_half() -> None:
    risk = np.array([3.0, 3.0, 1.0, 2.0])
    positive = np.array([True, False, False, True])
    pairs = [(p, n) for p in risk[positive] for n in risk[~positive]]
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert auc(risk, positive) == expected == 0.625


def test_roc_curve_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    risk = rng.integers(0, 20, 300).astype(float)
    positive = rng.random(300) < 0.3
    fpr, tpr, _ = roc_curve(positive, risk, drop_intermediate=False)
    found = roc(risk, positive)
    assert found["fpr"] == pytest.approx(list(fpr), abs=1e-6)
    assert found["tpr"] == pytest.approx(list(tpr), abs=1e-6)


def test_the_bootstrap_interval_holds_the_estimate_and_narrows_with_more_accounts() -> None:
    rng = np.random.default_rng(1)

    def interval(n: int) -> list[float]:
        risk = rng.normal(size=n)
        positive = rng.random(n) < 1 / (1 + np.exp(-2 * risk))
        found = auc_interval(risk, positive, pd.Series(np.arange(n) // 2), samples=300)
        assert found is not None
        assert found[0] < (auc(risk, positive) or 0) < found[1]
        return found

    small, large = interval(100), interval(2000)
    assert large[1] - large[0] < small[1] - small[0]


def test_tied_scores_share_a_decile_and_every_pair_is_in_one() -> None:
    scores = pd.Series([1] * 50 + list(range(2, 52)))
    positive = np.array([True] * 25 + [False] * 75)
    rows = deciles(scores, positive)
    assert sum(row["pairs"] for row in rows) == 100
    assert rows[0]["pairs"] == 50  # the 50 tied lowest scores together (average rank 25.5 -> decile 3)
    assert rows[0]["decile"] == 3
    assert rows[0]["rate"] == 0.5
    assert monotonic(rows, "churn")
    assert not monotonic(rows, "expansion")


def test_coverage_counts_churned_accounts_warned_30_to_90_days_before() -> None:
    day = pd.Timedelta(days=1)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    pairs = pd.DataFrame(
        {
            "account_id": ["a", "a", "b", "b", "c"],
            "snapshot": [start, start + 30 * day, start, start + 30 * day, start],
            "health_tier": ["neutral", "at_risk", "at_risk", "healthy", "at_risk"],
            "positive": [True, True, True, True, True],
            "occurred_at": [start + 60 * day, start + 60 * day, start + 45 * day, start + 45 * day, start + 10 * day],
        }
    )
    # a: at_risk 30 days before (counts); b: at_risk 45 days before (counts) ; c: only 10 days before (not eligible)
    assert coverage(pairs) == 1.0
    pairs.loc[2, "health_tier"] = "neutral"
    assert coverage(pairs) == 0.5


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_default_snapshots_are_twelve_monthly_ending_a_horizon_before_the_data() -> None:
    dates, notes = snapshot_dates(_day("2023-01-01"), _day("2025-06-30T15:00:00"), 30, BacktestRequest())
    assert len(dates) == 12
    assert dates[-1] == _day("2025-04-01")  # 2025-06-30 15:00 - 90 days, floored to midnight
    assert all(b - a == pd.Timedelta(days=30) for a, b in itertools.pairwise(dates))
    assert notes == []


def test_snapshots_never_start_before_one_window_of_events() -> None:
    dates, notes = snapshot_dates(_day("2025-01-01"), _day("2025-09-01"), 30, BacktestRequest())
    assert dates[0] >= _day("2025-01-31")
    assert len(dates) < 12
    assert "less than one window" in notes[0]


def test_from_and_to_bound_the_snapshots() -> None:
    request = BacktestRequest(start=_day("2024-01-01"), end=_day("2024-03-15"), every_days=30)
    dates, _ = snapshot_dates(_day("2023-01-01"), _day("2025-01-01"), 30, request)
    assert dates == [_day("2024-01-01"), _day("2024-01-31"), _day("2024-03-01")]
    late = BacktestRequest(start=_day("2024-10-01"), end=_day("2024-12-31"), every_days=30)
    dates, notes = snapshot_dates(_day("2023-01-01"), _day("2025-01-01"), 30, late)
    assert dates == [_day("2024-10-01")]  # 2024-10-31 + 90 days lies after the data
    assert "horizon ends after the data" in notes[0]


def test_the_fit_uses_the_earlier_snapshots_and_holds_out_the_later() -> None:
    moments = [pd.Timestamp(f"2025-{month:02d}-01", tz="UTC") for month in range(1, 13)]
    fit, held = split_snapshots(moments)
    assert fit == moments[:8]
    assert held == moments[8:]
    two = moments[:2]
    assert split_snapshots(two) == (two[:1], two[1:])


def test_metrics_without_positives_are_empty_not_nan() -> None:
    pairs = pd.DataFrame(
        {
            "snapshot": pd.Timestamp("2025-01-01", tz="UTC"),
            "account_id": ["a", "b"],
            "name": ["A", "B"],
            "health_score": [10, 90],
            "health_tier": ["at_risk", "healthy"],
            "total_users": [1, 5],
            "plays": [["churn_risk"], []],
            "score_reasons": ["", ""],
            "positive": [False, False],
            "occurred_at": pd.Series([pd.NaT, pd.NaT], dtype="datetime64[us, UTC]"),
        }
    )
    metrics = outcome_metrics(pairs, "churn")
    assert metrics["auc"] is None
    assert metrics["auc_ci"] is None
    assert metrics["by_tier"]["at_risk"] == {"pairs": 1, "positives": 0, "rate": 0.0, "lift": None}
    result = {
        "snapshots": ["2025-01-01T00:00:00Z"],
        "every_days": 30,
        "horizon_days": 90,
        "data_end": "2025-06-01T00:00:00Z",
        "notes": [],
        "outcomes": {"churn": {**metrics, "suggested": None, "suggestion_note": "fewer than 30 positives (0)"}},
    }
    text = render_text(result)
    assert "ROC AUC -" in text
    assert "suggestion: none (fewer than 30 positives (0))" in text


def test_a_bootstrap_resample_is_the_auc_of_the_drawn_accounts_repeated() -> None:
    """The weighted form equals the AUC of the resample built row by row (one draw, the same seed)."""
    rng = np.random.default_rng(4)
    risk = rng.integers(0, 5, 60).astype(float)
    positive = rng.random(60) < 0.4
    clusters = pd.Series(np.arange(60) // 3)
    found = auc_interval(risk, positive, clusters, samples=1, seed=9)
    drawn = np.random.default_rng(9).integers(0, 20, 20)
    rows = np.concatenate([np.flatnonzero(clusters.to_numpy() == c) for c in drawn])
    expected = roc_auc_score(positive[rows], risk[rows])
    assert found == pytest.approx([expected, expected], abs=1e-12)


@pytest.mark.parametrize("cells", [200, 1000])  # 31 accounts x 7 levels: one resample at a time; batches of 32
def test_the_batched_bootstrap_equals_one_resample_at_a_time(monkeypatch: pytest.MonkeyPatch, cells: int) -> None:
    """Every resample of the interval is the AUC of the drawn accounts' rows repeated: the percentiles equal those
    of resamples built row by row from the same random stream, batched or not."""
    from healthsync.scoring import backtest as metrics_module

    monkeypatch.setattr(metrics_module, "BOOTSTRAP_CELLS", cells)
    rng = np.random.default_rng(11)
    risk = rng.integers(0, 7, 90).astype(float)
    positive = rng.random(90) < 0.35
    clusters = pd.Series(rng.integers(0, 31, 90)).astype(str)
    found = auc_interval(risk, positive, clusters, samples=40, seed=5)
    codes, uniques = pd.factorize(clusters)
    stream = np.random.default_rng(5)
    expected = []
    for _ in range(40):
        drawn = stream.integers(0, len(uniques), len(uniques))
        rows = np.concatenate([np.flatnonzero(codes == c) for c in drawn])
        if positive[rows].any() and not positive[rows].all():
            expected.append(roc_auc_score(positive[rows], risk[rows]))
    assert found == pytest.approx(list(np.percentile(expected, [2.5, 97.5])), abs=1e-12)
