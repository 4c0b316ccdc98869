"""Scoring: pure functions from usage aggregates (pandas frames) to the health score table."""

from __future__ import annotations

from healthsync.scoring.metrics import percentage, percentages, raw_score, tier, tier_labels, trend, trend_labels
from healthsync.scoring.normalize import health_scores, round_half_up
from healthsync.scoring.table import ACCOUNT_COLUMNS, USER_COLUMNS, score_accounts, score_users

__all__ = [
    "ACCOUNT_COLUMNS",
    "USER_COLUMNS",
    "health_scores",
    "percentage",
    "percentages",
    "raw_score",
    "round_half_up",
    "score_accounts",
    "score_users",
    "tier",
    "tier_labels",
    "trend",
    "trend_labels",
]
