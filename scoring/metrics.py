"""Small metric rules of SPEC section 3: raw score, percentages, tiers, trends, whole days between instants."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd

from healthsync.scoring.config import Tiers, Trend
from healthsync.scoring.normalize import IntArray

HEALTHY = "healthy"
NEUTRAL = "neutral"
AT_RISK = "at_risk"
RISING = "rising"
STEADY = "steady"
FALLING = "falling"
NEW = "new"


def raw_score(event_counts: Mapping[str, int], weights: Mapping[str, float], default_weight: float = 0.0) -> float:
    """Sum over events of count x weight; events without a weight weigh `default_weight`.

    >>> raw_score({"lead_created": 3, "meeting_scheduled": 5}, {"lead_created": 9, "meeting_scheduled": 7})
    62.0
    """
    return float(sum(count * weights.get(event, default_weight) for event, count in event_counts.items()))


def percentage(part: int, whole: int) -> int:
    """`part` of `whole` as an integer percent, rounded half up (5 of 7 -> 71); 0 when `whole` is 0; at most 100."""
    if whole <= 0 or part <= 0:
        return 0
    return min((200 * part + whole) // (2 * whole), 100)


def percentages(part: pd.Series, whole: pd.Series | int) -> pd.Series:
    """Vectorized :func:`percentage` on integer counts (missing counts are 0); int64, same index as `part`."""
    numerator = np.clip(_counts(part), 0, None)
    if isinstance(whole, pd.Series):
        denominator = _counts(whole)
    else:
        denominator = np.full(numerator.shape, int(whole), dtype=np.int64)
    positive = denominator > 0
    safe = np.where(positive, denominator, 1)
    percent = np.minimum((200 * numerator + safe) // (2 * safe), 100)
    return pd.Series(np.where(positive, percent, 0), index=part.index, dtype="int64")


def _counts(values: pd.Series) -> IntArray:
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    counts: IntArray = np.nan_to_num(numeric, nan=0.0, posinf=0.0, neginf=0.0).astype(np.int64)
    return counts


def tier(score: float, tiers: Tiers) -> str:
    """`healthy` at or above tiers.healthy, `at_risk` below tiers.at_risk, else `neutral`."""
    if score >= tiers.healthy:
        return HEALTHY
    if score < tiers.at_risk:
        return AT_RISK
    return NEUTRAL


def tier_labels(scores: pd.Series, tiers: Tiers) -> pd.Series:
    """Vectorized :func:`tier`."""
    values = scores.to_numpy(dtype=np.float64)
    labels = np.select([values >= tiers.healthy, values < tiers.at_risk], [HEALTHY, AT_RISK], NEUTRAL)
    return pd.Series(labels, index=scores.index, dtype="str")


def trend(score_change: float | None, thresholds: Trend) -> str:
    """`rising` / `falling` / `steady` from the score change; `new` when there is none (no earlier activity)."""
    if score_change is None or pd.isna(score_change):
        return NEW
    if score_change >= thresholds.rising:
        return RISING
    if score_change <= thresholds.falling:
        return FALLING
    return STEADY


def trend_labels(score_change: pd.Series, thresholds: Trend) -> pd.Series:
    """Vectorized :func:`trend`; `score_change` is nullable (NA means `new`)."""
    values = pd.to_numeric(score_change, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    conditions = [np.isnan(values), values >= thresholds.rising, values <= thresholds.falling]
    labels = np.select(conditions, [NEW, RISING, FALLING], STEADY)
    return pd.Series(labels, index=score_change.index, dtype="str")


def score_changes(score: pd.Series, previous: pd.Series, had_previous: pd.Series) -> pd.Series:
    """score - previous as nullable Int64, NA where there was no activity in the previous window."""
    change = (score.astype("int64") - previous.astype("int64")).astype("Int64")
    return change.where(had_previous.to_numpy(dtype=bool), pd.NA)


def utc_timestamp(moment: datetime | pd.Timestamp) -> pd.Timestamp:
    """`moment` as a UTC timestamp; a naive one is taken to be UTC already."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def utc_series(values: pd.Series) -> pd.Series:
    """A column as UTC datetimes (naive values are taken as UTC); unparseable values become NaT."""
    return pd.to_datetime(values, utc=True, errors="coerce")


def days_since(moments: pd.Series, as_of: datetime | pd.Timestamp) -> pd.Series:
    """Whole days from each moment to `as_of`, floored (nullable Int64, NA where the moment is missing)."""
    delta = utc_timestamp(as_of) - utc_series(moments)
    days = delta.dt.days  # floored: -1 hour is day -1
    return pd.Series(days, index=moments.index).astype("Int64")
