"""How well the score separated the accounts that later churned (or expanded): pure functions on the pairs frame.

A pair is (account, snapshot): the score table's row of the account as of the snapshot and whether the outcome
followed within the horizon. Columns read: `snapshot`, `account_id`, `health_score`, `health_tier`, `total_users`,
`plays` (list of play names), `positive` (bool); for the misses and the coverage also `name`, `score_reasons` and
`occurred_at` (the outcome's instant, NaT without one).

Direction: for churn a lower score means more risk; for expansion a higher score means more likely. ROC AUC is the
Mann-Whitney statistic on average ranks (ties count half). Its 95% interval is a percentile bootstrap that resamples
accounts (with all their snapshots), since one account's pairs are not independent. Deciles are pooled over the
snapshots on the average rank of the score, so tied scores share a decile (decile 1 = the lowest scores).
numpy and pandas only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

Outcome = Literal["churn", "expansion"]
TIERS = ("healthy", "neutral", "at_risk")
PLAYS_FOR: dict[str, tuple[str, ...]] = {
    "churn": ("churn_risk", "non_activation_day_14"),
    "expansion": ("expansion_milestone",),
}
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_CELLS = 4_000_000  # the most (cluster x level) sums, and (resample x cluster) draws per batch: 32 MB
COVERAGE_DAYS = (30, 90)
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]


def risk_of(values: pd.Series, outcome: Outcome) -> FloatArray:
    """The value turned into "higher = more likely the outcome": negated for churn."""
    numbers = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=np.float64)
    return np.negative(numbers) if outcome == "churn" else numbers


def auc(risk: FloatArray, positive: BoolArray) -> float | None:
    """ROC AUC of `risk` for `positive` (ties count half); None without positives or without negatives."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(risk).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_interval(
    risk: FloatArray, positive: BoolArray, clusters: pd.Series, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> list[float] | None:
    """The 2.5th and 97.5th percentiles of the AUC over `samples` resamples of the clusters (accounts).

    A resample draws the clusters with replacement; a cluster drawn k times counts k times, so each resample's AUC
    is the Mann-Whitney statistic weighted by those multiplicities, computed over the distinct risk levels (sorted
    once): the positive and negative pairs per (cluster, level), weighted by a batch of resamples' multiplicities
    in one matrix product (a score has at most 100 levels); one resample at a time where that table would be
    too large (a continuous risk).
    """
    codes, uniques = pd.factorize(clusters)
    if auc(risk, positive) is None or len(uniques) < 2:
        return None
    levels, level = np.unique(risk, return_inverse=True)
    clustered = len(uniques)
    rng = np.random.default_rng(seed)
    if clustered * len(levels) > BOOTSTRAP_CELLS:  # one resample at a time, its pairs weighted row by row
        found = []
        for drawn in _draws(rng, clustered, samples, 1):
            weight = drawn[0, codes]
            pos_level = np.bincount(level, weights=weight * positive, minlength=len(levels))
            neg_level = np.bincount(level, weights=weight * ~positive, minlength=len(levels))
            found.extend(_weighted_aucs(pos_level[None, :], neg_level[None, :]))
        return _percentiles(found)
    cell = codes.astype(np.int64) * len(levels) + level
    shape = (clustered, len(levels))
    pos = np.bincount(cell, weights=positive.astype(np.float64), minlength=clustered * len(levels)).reshape(shape)
    neg = np.bincount(cell, weights=(~positive).astype(np.float64), minlength=clustered * len(levels)).reshape(shape)
    found = []
    for drawn in _draws(rng, clustered, samples, max(1, BOOTSTRAP_CELLS // clustered)):
        found.extend(_weighted_aucs(drawn @ pos, drawn @ neg))  # (resamples x levels)
    return _percentiles(found)


def _draws(rng: np.random.Generator, clusters: int, samples: int, batch: int) -> Iterator[FloatArray]:
    """The resamples' multiplicities per cluster (resamples x clusters), `batch` resamples at a time: the same
    random stream as one draw of `clusters` per resample."""
    for first in range(0, samples, batch):
        size = min(batch, samples - first)
        draws = rng.integers(0, clusters, (size, clusters)) + np.arange(size, dtype=np.int64)[:, None] * clusters
        yield np.bincount(draws.ravel(), minlength=size * clusters).reshape(size, clusters).astype(np.float64)


def _weighted_aucs(pos: np.ndarray[Any, Any], neg: np.ndarray[Any, Any]) -> list[float]:
    """Per row (a resample), the Mann-Whitney AUC of the weighted positive and negative pairs per risk level
    (columns, ascending; ties count half); rows without both kinds of pair are left out."""
    total = pos.sum(axis=1) * neg.sum(axis=1)
    below = np.cumsum(neg, axis=1) - neg
    kept = total > 0
    aucs: list[float] = ((pos * (below + 0.5 * neg)).sum(axis=1)[kept] / total[kept]).tolist()
    return aucs


def _percentiles(found: Sequence[float]) -> list[float] | None:
    if not found:
        return None
    low, high = np.percentile(found, [2.5, 97.5])
    return [float(low), float(high)]


def roc_curve(risk: FloatArray, positive: BoolArray) -> dict[str, list[float]]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return {"fpr": [], "tpr": []}
    order = np.argsort(-risk, kind="stable")
    ordered_risk, hits = risk[order], positive[order]
    last_of_value = np.r_[ordered_risk[1:] != ordered_risk[:-1], True]
    tp = np.cumsum(hits)[last_of_value]
    fp = np.cumsum(~hits)[last_of_value]
    return {"fpr": [0.0, *(fp / n_neg).round(6).tolist()], "tpr": [0.0, *(tp / n_pos).round(6).tolist()]}


def _rate(pairs: int, positives: int, base: float) -> dict[str, Any]:
    rate = positives / pairs if pairs else None
    lift = rate / base if rate is not None and base > 0 else None
    return {"pairs": pairs, "positives": positives, "rate": rate, "lift": lift}


def by_tier(tiers: pd.Series, positive: BoolArray, base: float) -> dict[str, dict[str, Any]]:
    """Pairs, positives, rate and lift over the base rate, per tier."""
    labels = tiers.astype(str).to_numpy()
    return {tier: _rate(int((labels == tier).sum()), int(positive[labels == tier].sum()), base) for tier in TIERS}


def deciles(scores: pd.Series, positive: BoolArray) -> list[dict[str, Any]]:
    """The outcome rate per score decile (1 = the lowest scores), pooled over the snapshots; empty deciles left
    out (many tied scores leave some empty)."""
    ranks = pd.Series(pd.to_numeric(scores, errors="coerce")).rank(method="average").to_numpy()
    decile = np.minimum(10, np.ceil(ranks / len(ranks) * 10).astype(int)) if len(ranks) else np.zeros(0, int)
    rows = []
    for number in range(1, 11):
        chosen = decile == number
        if chosen.any():
            count, hits = int(chosen.sum()), int(positive[chosen].sum())
            rows.append({"decile": number, "pairs": count, "positives": hits, "rate": hits / count})
    return rows


def monotonic(rows: list[dict[str, Any]], outcome: Outcome) -> bool:
    """Whether the rate falls (churn) or rises (expansion) with every higher decile (ties allowed)."""
    rates = np.array([row["rate"] for row in rows], dtype=float)
    steps = np.diff(rates)
    return bool(np.all(steps <= 1e-12) if outcome == "churn" else np.all(steps >= -1e-12))


def play_rates(plays: pd.Series, positive: BoolArray, outcome: Outcome, base: float) -> dict[str, dict[str, Any]]:
    """Per play of the outcome: the pairs where it fired, their outcome rate and its lift over the base."""
    found: dict[str, dict[str, Any]] = {}
    for play in PLAYS_FOR[outcome]:
        fired = np.array([play in (listed if isinstance(listed, list | tuple) else []) for listed in plays], bool)
        found[play] = _rate(int(fired.sum()), int(positive[fired].sum()), base)
    return found


def coverage(pairs: pd.DataFrame, days: tuple[int, int] = COVERAGE_DAYS) -> float | None:
    """Of the churned accounts with a snapshot `days` before their churn, the share `at_risk` at one of them."""
    lead = (pairs["occurred_at"] - pairs["snapshot"]).dt.total_seconds() / 86400.0
    early = pairs[pairs["positive"].to_numpy(bool) & (lead >= days[0]) & (lead <= days[1])]
    if early.empty:
        return None
    warned = early["health_tier"].astype(str).eq("at_risk").groupby(early["account_id"]).any()
    return float(warned.mean())


def misses(pairs: pd.DataFrame, limit: int = 50) -> list[dict[str, Any]]:
    """Accounts the outcome reached while `healthy`: the latest such snapshot of each, with its explanation."""
    missed = pairs[pairs["positive"].to_numpy(bool) & pairs["health_tier"].astype(str).eq("healthy")]
    latest = missed.sort_values("snapshot").groupby("account_id", sort=False).tail(1)
    rows = []
    for row in latest.sort_values(["snapshot", "account_id"]).head(limit).to_dict("records"):
        rows.append(
            {
                "account_id": str(row["account_id"]),
                "name": _text(row["name"]),
                "snapshot": iso(row["snapshot"]),
                "occurred_at": iso(row["occurred_at"]),
                "health_score": int(row["health_score"]),
                "score_reasons": _text(row["score_reasons"]),
            }
        )
    return rows


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def iso(moment: Any) -> str | None:
    """A UTC instant as `2025-01-01T00:00:00Z` (None for a missing one)."""
    if moment is None or pd.isna(moment):
        return None
    return str(pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))


def outcome_metrics(pairs: pd.DataFrame, outcome: Outcome, seed: int = 0) -> dict[str, Any]:
    """Every metric of one outcome over the pairs (see the module docstring)."""
    positive = pairs["positive"].to_numpy(bool)
    count, hits = len(pairs), int(positive.sum())
    base = hits / count if count else 0.0
    risk = risk_of(pairs["health_score"], outcome)
    rows = deciles(pairs["health_score"], positive)
    return {
        "pairs": count,
        "positives": hits,
        "base_rate": base,
        "auc": auc(risk, positive),
        "auc_ci": auc_interval(risk, positive, pairs["account_id"], seed=seed),
        "by_tier": by_tier(pairs["health_tier"], positive, base),
        "by_decile": rows,
        "monotonic": monotonic(rows, outcome) if rows else None,
        "coverage": coverage(pairs) if outcome == "churn" else None,
        "size_auc": auc(risk_of(pairs["total_users"], outcome), positive),
        "plays": play_rates(pairs["plays"], positive, outcome, base),
        "roc": roc_curve(risk, positive),
        "misses": misses(pairs) if outcome == "churn" else [],
    }


def tier_mix(tables: pd.DataFrame) -> list[dict[str, Any]]:
    """Per snapshot, how many counted accounts were in each tier."""
    counts = tables.groupby(["snapshot", "health_tier"], observed=True).size().unstack(fill_value=0)
    return [
        {"snapshot": iso(snapshot), **{tier: int(counts.loc[snapshot].get(tier, 0)) for tier in TIERS}}
        for snapshot in counts.index
    ]
