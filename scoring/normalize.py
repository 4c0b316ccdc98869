"""Normalization: raw scores to the 1..100 health score (SPEC section 3, "health score").

p is a percentile (default the 90th, linear interpolation) of the raw scores above zero; r = min(raw / p, 1);
score = round_half_up(1 + 99 (1 - e^(-k r)) / (1 - e^(-k))) with k = `curve`. Raw at or above p gives 100, raw at
or below 0 gives 1, and when no raw is above zero every score is 1.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

MIN_SCORE = 1
MAX_SCORE = 100

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves away from zero for positives (2.5 -> 3, 70.5 -> 71)."""
    return math.floor(value + 0.5)


def round_half_up_array(values: FloatArray) -> IntArray:
    """Vectorized :func:`round_half_up` for finite values."""
    return np.floor(values + 0.5).astype(np.int64)


def clean_raw(raw: pd.Series) -> FloatArray:
    """Raw scores as finite floats >= 0: missing, NaN and negatives become 0, +inf the largest float."""
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    values = np.nan_to_num(values, nan=0.0, posinf=np.finfo(np.float64).max, neginf=0.0)
    clipped: FloatArray = np.clip(values, 0.0, None)
    return clipped


def reference_point(values: FloatArray, percentile: float = 90) -> float:
    """The `percentile` of the values above zero (numpy's linear interpolation); 0 when there are none."""
    positive = values[values > 0]
    if positive.size == 0:
        return 0.0
    return float(np.percentile(positive, percentile))


def curve_fraction(ratio: FloatArray, curve: float) -> FloatArray:
    """(1 - e^(-k r)) / (1 - e^(-k)) for r in [0, 1]; the straight line r when k is 0 (its limit)."""
    if curve == 0:
        return ratio
    fraction: FloatArray = np.expm1(-curve * ratio) / math.expm1(-curve)
    return fraction


def health_scores(raw: pd.Series, curve: float, percentile: float = 90) -> pd.Series:
    """Integer health scores 1..100 for `raw`, normalized against each other; same index as `raw`.

    Args:
        raw: raw scores (sum of event weights); NaN and negatives count as 0.
        curve: k, how fast the score rises (> 0; 0 means linear).
        percentile: the percentile of the positive raw scores that maps to 100 (0 < percentile <= 100).

    Raises:
        ValueError: `curve` is negative or not finite, or `percentile` is outside (0, 100].
    """
    if not math.isfinite(curve) or curve < 0:
        raise ValueError(f"curve must be a finite number >= 0, got {curve!r}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    values = clean_raw(raw)
    point = reference_point(values, percentile)
    if point <= 0:
        scores = np.full(values.shape, MIN_SCORE, dtype=np.int64)
    else:
        with np.errstate(over="ignore"):
            ratio = np.minimum(values / point, 1.0)
        scaled = MIN_SCORE + (MAX_SCORE - MIN_SCORE) * curve_fraction(ratio, curve)
        scores = np.clip(round_half_up_array(scaled), MIN_SCORE, MAX_SCORE)
        scores[values >= point] = MAX_SCORE
        scores[values <= 0] = MIN_SCORE
    return pd.Series(scores, index=raw.index, name="health_score", dtype="int64")
