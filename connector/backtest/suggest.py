"""Suggested weights and tier thresholds, fitted on the outcomes; printed, never applied (extra `backtest`).

Weights: an L2-regularised logistic regression (scikit-learn; its Newton-Cholesky solver, which reaches the same
optimum as the default L-BFGS in two or three iterations for a handful of events and many pairs) of the outcome on
each pair's per-event counts in its window, fitted on the earlier two thirds of the snapshots and evaluated on the
later third (held out by time). The raw score is linear in the counts, so the fitted coefficients (per count, after
undoing the scaling) are the weights: for churn an event whose count lowers the odds of churning gets a positive
weight; events that raise them get 0 (a weight is never negative). They are scaled so the largest equals the largest
configured weight (10 without one) and rounded to one decimal. The held-out AUC of the suggested weights is that of
the health score they give (normalised per snapshot over every account of the table, as `healthsync score` does),
next to the configured score's held-out AUC.

Tiers (churn only): the largest `at_risk` threshold whose band churns at least 3x the held-out base rate, and the
smallest `healthy` threshold above it whose band churns at most half of it, on the held-out snapshots.
With fewer than :data:`MIN_POSITIVES` positives there is no suggestion, and the note says why.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import numpy as np
import pandas as pd

from healthsync.connector.sources.snapshots import WindowCounts
from healthsync.scoring import health_scores
from healthsync.scoring.backtest import Outcome, auc, risk_of
from healthsync.scoring.config import ScoringConfig

MIN_POSITIVES = 30
AT_RISK_LIFT = 3.0
HEALTHY_SHARE = 0.5
EXTRA_HINT = "pip install 'healthsync[backtest]'"


def counts_matrix(counts: WindowCounts, tables: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.int64]]:
    """One row per row of the score tables, one column per event of `counts` (sorted): the event's count in
    that row's snapshot window, zero where none."""
    matrix = np.zeros((len(tables), len(counts.events)), dtype=np.int64)
    for moment, rows in tables.groupby("snapshot", sort=False).indices.items():
        matrix[rows] = counts.grid(counts.position(moment), tables["account_id"].iloc[rows], list(counts.events))
    return matrix


def scores_with(
    matrix: np.ndarray[Any, Any],
    events: list[str],
    snapshots: pd.Series,
    weights: dict[str, float],
    config: ScoringConfig,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The health score each row of `matrix` (its snapshot in `snapshots`) would get with `weights` (unlisted
    events: default_weight), normalised per snapshot over that snapshot's rows."""
    vector = np.array([weights.get(event, config.default_weight) for event in events], dtype=float)
    raw = matrix @ vector
    scores = np.empty(len(raw), dtype=np.float64)
    for rows in snapshots.groupby(snapshots, sort=False).indices.values():
        scores[rows] = health_scores(pd.Series(raw[rows]), config.curve).to_numpy(dtype=np.float64)
    return scores


def split_snapshots(snapshots: list[pd.Timestamp]) -> tuple[list[pd.Timestamp], list[pd.Timestamp]]:
    """The earlier two thirds (at least one) to fit on, the rest to evaluate on."""
    cut = min(len(snapshots) - 1, max(1, math.ceil(len(snapshots) * 2 / 3)))
    return snapshots[:cut], snapshots[cut:]


def suggest(
    pairs: pd.DataFrame, counts: WindowCounts, tables: pd.DataFrame, config: ScoringConfig, outcome: Outcome
) -> tuple[dict[str, Any] | None, str | None]:
    """(the suggestion, None) or (None, why there is none)."""
    positives = int(pairs["positive"].sum())
    if positives < MIN_POSITIVES:
        return None, f"fewer than {MIN_POSITIVES} positives ({positives}): no suggestion"
    snapshots = sorted(pd.Timestamp(moment) for moment in pairs["snapshot"].unique())
    if len(snapshots) < 2:
        return None, "one snapshot only: no later snapshot to hold out, no suggestion"
    if importlib.util.find_spec("sklearn") is None:
        return None, f"suggested weights need scikit-learn: {EXTRA_HINT}"
    fit_on, held_out = split_snapshots(snapshots)
    matrix = counts_matrix(counts, tables)
    events = [str(event) for event in counts.events]
    rows = tables.index.get_indexer(pairs.index)  # the pairs keep the tables' row labels
    x = matrix[rows].astype(np.float64)
    y = pairs["positive"].to_numpy(bool)
    train = pairs["snapshot"].isin(fit_on).to_numpy()
    if y[train].all() or not y[train].any() or not y[~train].any():
        return None, "the outcome occurs in only one of the fit and held-out periods: no suggestion"
    weights = _fitted_weights(x[train], y[train], events, config, outcome)
    if not any(weights.values()):
        return None, "no event makes the outcome less likely (churn) or more likely (expansion): no suggestion"
    suggested = scores_with(matrix, events, tables["snapshot"], weights, config)[rows]
    test_y = y[~train]
    held = {
        "weights": weights,
        "configured_weights": dict(config.weights),
        "holdout_auc": auc(risk_of(pd.Series(suggested[~train]), outcome), test_y),
        "configured_holdout_auc": auc(risk_of(pairs["health_score"][~train], outcome), test_y),
        "fit_snapshots": len(fit_on),
        "holdout_snapshots": len(held_out),
        "tiers": _tiers(suggested[~train], test_y) if outcome == "churn" else None,
        "weights_yaml": weights_yaml(weights),
    }
    return held, None


def _fitted_weights(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], events: list[str], config: ScoringConfig, outcome: Outcome
) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    spread = x.std(axis=0)
    spread[spread == 0] = 1.0
    model = LogisticRegression(C=1.0, class_weight="balanced", solver="newton-cholesky", max_iter=500)
    model.fit(x / spread, y)
    per_count = model.coef_[0] / spread
    direction = -per_count if outcome == "churn" else per_count
    positive = np.clip(direction, 0.0, None)
    top = float(positive.max())
    if top <= 0:
        return dict.fromkeys(events, 0.0)
    scale = max((float(value) for value in config.weights.values()), default=10.0) or 10.0
    return {event: round(float(value) / top * scale, 1) for event, value in zip(events, positive, strict=True)}


def _tiers(scores: np.ndarray[Any, Any], churned: np.ndarray[Any, Any]) -> dict[str, int] | None:
    base = churned.mean()
    if base <= 0:
        return None
    at_risk = None
    for threshold in range(100, 1, -1):
        band = scores < threshold
        if band.any() and churned[band].mean() >= AT_RISK_LIFT * base:
            at_risk = threshold
            break
    if at_risk is None:
        return None
    for threshold in range(at_risk + 1, 101):
        band = scores >= threshold
        if band.any() and churned[band].mean() <= HEALTHY_SHARE * base:
            return {"healthy": threshold, "at_risk": at_risk}
    return {"healthy": 100, "at_risk": at_risk}


def weights_yaml(weights: dict[str, float]) -> str:
    """A ready-to-paste `scoring.weights` block (every event, zeros too: `default_weight` then weighs only events
    the backtest never saw)."""
    lines = ["scoring:", "  weights:"]
    lines += [f"    {event}: {value:g}" for event, value in sorted(weights.items())]
    return "\n".join(lines) + "\n"
