"""The seed examples of SPEC section 3 for the small metric rules."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthsync.scoring import percentage, percentages, raw_score, tier, tier_labels, trend, trend_labels
from healthsync.scoring.config import Tiers, Trend
from healthsync.scoring.metrics import days_since, score_changes

WEIGHTS = {"lead_created": 9, "meeting_scheduled": 7, "call_logged": 5}


@pytest.mark.parametrize(
    ("counts", "default_weight", "raw"),
    [
        pytest.param({"lead_created": 3, "meeting_scheduled": 5, "call_logged": 10}, 0, 112, id="seed: 112"),
        pytest.param({"lead_created": 3, "report_viewed": 4}, 0, 27, id="unlisted weighs 0"),
        pytest.param({"lead_created": 3, "report_viewed": 4}, 1.5, 33, id="unlisted weighs default"),
        pytest.param({}, 1, 0, id="no events"),
    ],
)
def test_raw_score(counts: dict[str, int], default_weight: float, raw: float) -> None:
    assert raw_score(counts, WEIGHTS, default_weight) == raw


@pytest.mark.parametrize(
    ("part", "whole", "percent"),
    [
        pytest.param(10, 50, 20, id="active users 10 of 50"),
        pytest.param(40, 50, 80, id="active users 40 of 50"),
        pytest.param(15, 20, 75, id="features 15 of 20"),
        pytest.param(5, 7, 71, id="days 5 of 7 / steps 5 of 7"),
        pytest.param(1, 8, 13, id="12.5 rounds half up"),
        pytest.param(2, 7, 29, id="2 of 7"),
        pytest.param(3, 0, 0, id="zero denominator"),
        pytest.param(0, 0, 0, id="nothing of nothing"),
        pytest.param(9, 7, 100, id="capped at 100"),
        pytest.param(-1, 7, 0, id="negative is 0"),
    ],
)
def test_percentage(part: int, whole: int, percent: int) -> None:
    assert percentage(part, whole) == percent
    vector = percentages(pd.Series([part]), pd.Series([whole]))
    assert vector.tolist() == [percent]
    assert vector.dtype == "int64"


def test_percentages_with_a_scalar_whole_and_missing_parts() -> None:
    assert percentages(pd.Series([5, None, 7]), 7).tolist() == [71, 0, 100]


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_percentage_matches_exact_rounding(part: int, whole: int) -> None:
    exact = min(math.floor(Fraction(100 * part, whole) + Fraction(1, 2)), 100)
    assert percentage(part, whole) == exact


@pytest.mark.parametrize(
    ("created", "as_of", "days"),
    [
        pytest.param(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 8, 13, tzinfo=UTC), 224, id="seed: 224"),
        pytest.param(datetime(2025, 8, 12, 0, 1, tzinfo=UTC), datetime(2025, 8, 13, tzinfo=UTC), 0, id="23h59 is 0"),
        pytest.param(datetime(2025, 8, 12, tzinfo=UTC), datetime(2025, 8, 13, tzinfo=UTC), 1, id="24h is 1"),
        pytest.param(datetime(2025, 1, 1), datetime(2025, 8, 13), 224, id="naive means UTC"),
    ],
)
def test_days_since(created: datetime, as_of: datetime, days: int) -> None:
    assert days_since(pd.Series([created, None]), as_of).tolist() == [days, pd.NA]


@pytest.mark.parametrize(
    ("score", "label"),
    [(100, "healthy"), (70, "healthy"), (69, "neutral"), (30, "neutral"), (29, "at_risk"), (1, "at_risk")],
)
def test_tier_boundaries(score: int, label: str) -> None:
    assert tier(score, Tiers()) == label
    assert tier_labels(pd.Series([score]), Tiers()).tolist() == [label]


@pytest.mark.parametrize(
    ("change", "label"),
    [(10, "rising"), (99, "rising"), (9, "steady"), (0, "steady"), (-9, "steady"), (-10, "falling"), (None, "new")],
)
def test_trend_thresholds(change: int | None, label: str) -> None:
    assert trend(change, Trend()) == label
    assert trend_labels(pd.Series([change], dtype="Int64"), Trend()).tolist() == [label]


def test_score_change_is_na_without_previous_activity() -> None:
    change = score_changes(pd.Series([80, 50]), pd.Series([70, 1]), pd.Series([True, False]))
    assert change.dtype == "Int64"
    assert change.tolist() == [10, pd.NA]
    assert trend_labels(change, Trend()).tolist() == ["rising", "new"]
