"""Scoring: pure functions from usage aggregates (pandas frames) to the health score table.

The names below load on first use (PEP 562), so that importing `healthsync.scoring.config` (the settings do, for
`--help`, `validate` and `init`) does not import pandas and numpy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthsync.scoring.activity import in_key_order
    from healthsync.scoring.explain import explain_columns
    from healthsync.scoring.metrics import (
        percentage,
        percentages,
        raw_score,
        tier,
        tier_labels,
        trend,
        trend_labels,
        utc_timestamp,
    )
    from healthsync.scoring.names import ACCOUNT_COLUMNS, USER_COLUMNS
    from healthsync.scoring.normalize import health_scores, round_half_up
    from healthsync.scoring.table import score_accounts, score_users

_WHERE = {
    "ACCOUNT_COLUMNS": "names",
    "USER_COLUMNS": "names",
    "score_accounts": "table",
    "score_users": "table",
    "health_scores": "normalize",
    "in_key_order": "activity",
    "explain_columns": "explain",
    "round_half_up": "normalize",
    "percentage": "metrics",
    "percentages": "metrics",
    "raw_score": "metrics",
    "tier": "metrics",
    "tier_labels": "metrics",
    "trend": "metrics",
    "trend_labels": "metrics",
    "utc_timestamp": "metrics",
}

__all__ = [
    "ACCOUNT_COLUMNS",
    "USER_COLUMNS",
    "explain_columns",
    "health_scores",
    "in_key_order",
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
    "utc_timestamp",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'healthsync.scoring' has no attribute {name!r}")
    return getattr(import_module(f"healthsync.scoring.{_WHERE[name]}"), name)
