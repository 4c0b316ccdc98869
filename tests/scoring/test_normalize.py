"""Normalization of raw scores to 1..100 (SPEC section 3, "health score")."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthsync.scoring import health_scores, round_half_up
from healthsync.scoring.normalize import clean_raw

TEN_TO_HUNDRED = [0.0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # p90 of the positives = 91


def expected(raw: float, p: float, k: float = 2) -> int:
    r = min(raw / p, 1)
    return round_half_up(1 + 99 * (1 - math.exp(-k * r)) / (1 - math.exp(-k)))


@pytest.mark.parametrize(
    ("value", "rounded"), [(70.5, 71), (2.5, 3), (2.49, 2), (1.0, 1), (99.5, 100), (0.5, 1), (73.37, 73)]
)
def test_round_half_up(value: float, rounded: int) -> None:
    assert round_half_up(value) == rounded


@pytest.mark.parametrize(
    ("raw", "scores"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([0.0, 0.0], [1, 1], id="p is 0: every score is 1"),
        pytest.param([-5.0, 0.0], [1, 1], id="negatives count as 0"),
        pytest.param([0.0, 7.0], [1, 100], id="one positive is its own p"),
        pytest.param([float("nan"), 3.0], [1, 100], id="NaN counts as 0"),
        pytest.param(TEN_TO_HUNDRED, [1, *(expected(v, 91) for v in TEN_TO_HUNDRED[1:-2]), 100, 100], id="p90=91"),
    ],
)
def test_health_scores_examples(raw: list[float], scores: list[int]) -> None:
    result = health_scores(pd.Series(raw, dtype="float64"), curve=2)
    assert result.tolist() == scores
    assert result.dtype == np.int64


def test_raw_at_or_above_p_gives_100_and_zero_gives_1() -> None:
    scores = health_scores(pd.Series(TEN_TO_HUNDRED), curve=2)
    assert scores.iloc[0] == 1
    assert scores.iloc[-1] == 100  # 100 >= 91
    assert scores.iloc[-2] == expected(90, 91) == 100  # 90/91 rounds up to 100 on the curve


def test_half_of_p_follows_the_curve() -> None:
    # r = 0.5, k = 2: 1 + 99 * (1 - e^-1) / (1 - e^-2) = 73.37 -> 73
    assert health_scores(pd.Series([50.0, 100.0]), curve=2, percentile=100).tolist() == [73, 100]


def test_curve_zero_is_linear_and_keeps_the_index() -> None:
    raw = pd.Series([50.0, 100.0], index=["a", "b"])
    result = health_scores(raw, curve=0, percentile=100)
    assert result.to_dict() == {"a": round_half_up(1 + 99 * 0.5), "b": 100}


@pytest.mark.parametrize(("curve", "percentile"), [(-1, 90), (float("nan"), 90), (float("inf"), 90), (2, 0), (2, 101)])
def test_invalid_parameters_raise(curve: float, percentile: float) -> None:
    with pytest.raises(ValueError, match=r"curve|percentile"):
        health_scores(pd.Series([1.0]), curve=curve, percentile=percentile)


raw_values = st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40)
curves = st.floats(min_value=0.01, max_value=50)
percentiles = st.floats(min_value=1, max_value=100)


@given(raw_values, curves, percentiles)
def test_scores_are_ints_within_bounds(raw: list[float], curve: float, percentile: float) -> None:
    scores = health_scores(pd.Series(raw, dtype="float64"), curve, percentile)
    assert scores.dtype == np.int64
    assert len(scores) == len(raw)
    assert ((scores >= 1) & (scores <= 100)).all()


@given(raw_values, curves, percentiles)
def test_scores_are_monotone_in_raw(raw: list[float], curve: float, percentile: float) -> None:
    series = pd.Series(raw, dtype="float64")
    scores = health_scores(series, curve, percentile).to_numpy()
    order = np.argsort(clean_raw(series), kind="stable")
    assert (np.diff(scores[order]) >= 0).all()


@given(st.lists(st.floats(min_value=0, max_value=1e12), min_size=1, max_size=40), curves)
def test_raw_at_or_above_p90_scores_100(raw: list[float], curve: float) -> None:
    values = np.array(raw)
    positive = values[values > 0]
    scores = health_scores(pd.Series(values), curve).to_numpy()
    if positive.size == 0:
        assert (scores == 1).all()
        return
    p = np.percentile(positive, 90)
    assert (scores[values >= p] == 100).all()
    assert (scores[values <= 0] == 1).all()
