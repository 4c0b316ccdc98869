"""Backtest results shaped as `healthsync backtest --format json` prints them, for the report's tests."""

from __future__ import annotations

import copy
from typing import Any

TIERS = ("healthy", "neutral", "at_risk")
HOSTILE = "<script>alert('x')</script> & \"quotes\" $x$ -->"


def _rates(pairs: list[int], positives: list[int], base: float) -> dict[str, dict[str, Any]]:
    return {
        tier: {"pairs": n, "positives": k, "rate": k / n, "lift": (k / n) / base}
        for tier, n, k in zip(TIERS, pairs, positives, strict=True)
    }


def _deciles(rates: list[float]) -> list[dict[str, Any]]:
    return [
        {"decile": index + 1, "pairs": 120, "positives": round(rate * 120), "rate": rate}
        for index, rate in enumerate(rates)
    ]


def _outcome(base: float, auc: float, falling: bool) -> dict[str, Any]:
    lift = 0.5 if falling else 0.2
    rates = [0.2, 0.15, 0.11, 0.08, 0.06, 0.05, 0.03, 0.02, 0.015, 0.01]
    return {
        "pairs": 1200,
        "positives": round(base * 1200),
        "base_rate": base,
        "auc": auc,
        "auc_ci": [auc - 0.06, auc + 0.06],
        "by_tier": _rates([300, 400, 500], [6, 24, 50], base),
        "by_decile": _deciles(rates if falling else rates[::-1]),
        "monotonic": True,
        "coverage": 0.6,
        "size_auc": 0.55,
        "plays": {"churn_risk": {"pairs": 420, "positives": 51, "rate": 51 / 420, "lift": (51 / 420) / base}},
        "roc": {"fpr": [0.0, 0.1, 0.3, 0.6, 1.0], "tpr": [0.0, 0.1 + lift, 0.3 + lift, 0.6 + lift / 2, 1.0]},
        "misses": [],
        "suggested": None,
        "suggestion_note": None,
    }


def result() -> dict[str, Any]:
    """Both outcomes: churn with a suggestion and misses, expansion without a suggestion (and the reason)."""
    snapshots = [f"2025-{month:02d}-01T00:00:00Z" for month in range(1, 13)]
    churn = _outcome(0.066, 0.71, falling=True)
    churn["misses"] = [
        {
            "account_id": "a1",
            "name": f"Acme {HOSTILE}",
            "snapshot": "2025-03-01T00:00:00Z",
            "occurred_at": "2025-04-12T00:00:00Z",
            "health_score": 83,
            "score_reasons": "lead_enrolled 40 x 3 = 120 (55%); call_logged 20 x 5 = 100 (45%)",
        }
    ]
    churn["suggested"] = {
        "weights": {"lead_enrolled": 4.2, "call_logged": 0.4, "report_viewed": -0.3, f"odd{HOSTILE}": 0.1},
        "configured_weights": {"lead_enrolled": 1, "call_logged": 5, "meeting_scheduled": 7},
        "holdout_auc": 0.78,
        "configured_holdout_auc": 0.70,
        "tiers": {"healthy": 65, "at_risk": 22},
        "weights_yaml": "scoring:\n  weights:\n    lead_enrolled: 4.2\n    call_logged: 0.4\n",
    }
    expansion = _outcome(0.05, 0.62, falling=False)
    expansion["coverage"] = None
    expansion["plays"] = {"expansion_milestone": {"pairs": 90, "positives": 14, "rate": 14 / 90, "lift": 3.1}}
    expansion["suggestion_note"] = "fewer than 30 positives (12): no suggestion"
    return {
        "snapshots": snapshots,
        "horizon_days": 90,
        "every_days": 30,
        "tier_mix": [
            {"snapshot": snapshot, "healthy": 12 + index, "neutral": 30, "at_risk": 58 - index}
            for index, snapshot in enumerate(snapshots)
        ],
        "outcomes": {"churn": churn, "expansion": expansion},
    }


def churn_only_without_positives() -> dict[str, Any]:
    """Only churn asked for, and nothing churned: no AUC, no ROC, no suggestion."""
    data = copy.deepcopy(result())
    churn = data["outcomes"]["churn"]
    churn.update(positives=0, base_rate=0.0, auc=None, auc_ci=None, roc=None, size_auc=None, monotonic=None)
    churn.update(coverage=None, suggested=None, suggestion_note="no positives: no suggestion", misses=[])
    for stats in churn["by_tier"].values():
        stats.update(positives=0, rate=0.0, lift=None)
    for row in churn["by_decile"]:
        row.update(positives=0, rate=0.0)
    del data["outcomes"]["expansion"]
    return data
