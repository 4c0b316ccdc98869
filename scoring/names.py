"""The columns of the score tables, in output order (SPEC section 3).

Kept apart from :mod:`scoring.table` so that `validate` can check a mapping's score columns without pandas.
"""

from __future__ import annotations

ACCOUNT_COLUMNS = (
    "account_id",
    "name",
    "domain",
    "health_score",
    "raw_score",
    "health_tier",
    "trend",
    "score_change",
    "active_users",
    "total_users",
    "active_user_pct",
    "feature_adoption_pct",
    "usage_frequency_pct",
    "usage_frequency_7d_pct",
    "last_active_at",
    "days_since_active",
    "tenure_days",
    "activation_pct",
    "plays",
    "play_reasons",
    "summary",
    "key_personas_active_pct",
    "workflows_in_use_pct",
    "adoption_change",
    "plan",
    "status",
    "seats_limit",
    "previous_score",
    # explanations (scoring/explain.py) and the plays' supporting metrics (scoring/adoption.py)
    "score_reasons",
    "score_movers",
    "score_why",
    "roles_active",
    "roles_total",
    "days_to_activation",
    "users_activated_pct",
    "mrr",
)

USER_COLUMNS = (
    "user_id",
    "account_id",
    "email",
    "role",
    "health_score",
    "raw_score",
    "health_tier",
    "trend",
    "score_change",
    "active_days",
    "usage_frequency_pct",
    "usage_frequency_7d_pct",
    "feature_adoption_pct",
    "last_active_at",
    "days_since_active",
    "tenure_days",
    "activation_pct",
)

__all__ = ["ACCOUNT_COLUMNS", "USER_COLUMNS"]
