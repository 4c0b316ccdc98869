"""The score tables: one row per account (`score_accounts`) and per user (`score_users`), SPEC section 3.

Inputs are the source module's aggregates (see :mod:`scoring.activity` for the activity frame columns); the
functions are pure: frames in, frames out, nothing read or written.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.metrics import days_since, percentages, score_changes, tier_labels, trend_labels, utc_series
from healthsync.scoring.normalize import MIN_SCORE, IntArray, health_scores
from tests.scoring.before.activity import (
    ACCOUNT_COUNTS,
    ACCOUNT_KEY,
    USER_COUNTS,
    USER_KEY,
    activation_steps_done,
    features_used,
    keyed,
    with_activity,
)
from tests.scoring.before.adoption import adoption_columns
from tests.scoring.before.explain import explain_columns
from tests.scoring.before.personas import active_in_roles, people_frame, persona_columns
from tests.scoring.before.plays import PERSONA_PCT_COLUMNS, play_columns

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

_ACCOUNT_TEXT = ("name", "domain", "plan", "status")
_ACCOUNT_FIELDS = (*_ACCOUNT_TEXT, "created_at", "seats_limit")
_USER_TEXT = ("email", "role")
_USER_FIELDS = (*_USER_TEXT, "created_at")


def score_accounts(
    accounts: pd.DataFrame,
    users: pd.DataFrame,
    account_activity: pd.DataFrame,
    user_activity: pd.DataFrame | None,
    config: ScoringConfig,
    as_of: datetime,
) -> pd.DataFrame:
    """One row per account of `accounts`, sorted by account_id, with the columns of :data:`ACCOUNT_COLUMNS`.

    `plays` lists the plays that fire (config order) and `play_reasons` their reasons (:mod:`scoring.plays`);
    `summary` is one sentence (:mod:`scoring.summary`); the persona percentages are NA without personas.
    Accounts without activity score 1 with zero counts. `total_users` is the larger of the account's rows in
    `users` and its active users: events from users missing from the users table still count as users.
    With `config.account_score == "mean_of_users"` the health score is the mean (rounded half up) of the
    account's user scores over every user of the account, listed in `users` or seen only in `user_activity`
    (users without activity score 1, an account without users scores 1); the previous score likewise.

    The admin-only signal and the personas read `user_activity` with the users' roles; without it (None) the
    signal is left out.

    Raises:
        ValueError: `mean_of_users` or personas are configured but `user_activity` is None.
    """
    base = keyed(accounts, ACCOUNT_KEY, _ACCOUNT_FIELDS).astype(dict.fromkeys(_ACCOUNT_TEXT, "str"))
    frame = with_activity(base, account_activity, ACCOUNT_KEY, ACCOUNT_COUNTS, config)
    score, previous = _account_scores(frame, users, user_activity, config)
    total = np.maximum(_user_counts(frame["account_id"], users), frame["active_users"].to_numpy())
    columns = {
        "account_id": frame["account_id"],
        "name": frame["name"],
        "domain": frame["domain"],
        "raw_score": frame["raw"],
        "active_users": frame["active_users"],
        "total_users": pd.Series(total, index=frame.index, dtype="int64"),
        "active_user_pct": percentages(frame["active_users"], pd.Series(total, index=frame.index)),
        "plan": frame["plan"],
        "status": frame["status"],
        "seats_limit": pd.to_numeric(frame["seats_limit"], errors="coerce").astype("float64"),
        **_score_columns(score, previous, frame["events_prev"], config),
        **_usage_columns(frame, config, as_of),
        "adoption_change": (frame["active_users"] - frame["active_users_prev"]).astype("int64"),
    }
    table = pd.DataFrame(columns, index=frame.index)
    table = table.assign(
        **explain_columns(frame["account_id"], account_activity, table, config),
        **adoption_columns(frame, accounts, users, account_activity, user_activity, config),
    )
    signals = _signals(table, frame, accounts, users, user_activity, config)
    table = table.assign(**{name: signals[name] for name in PERSONA_PCT_COLUMNS}, **play_columns(signals, config))
    return table.loc[:, list(ACCOUNT_COLUMNS)].reset_index(drop=True)


def _signals(
    table: pd.DataFrame,
    frame: pd.DataFrame,
    accounts: pd.DataFrame,
    users: pd.DataFrame,
    user_activity: pd.DataFrame | None,
    config: ScoringConfig,
) -> pd.DataFrame:
    """What the plays and summaries read: the score columns, the activity counts, the persona counts and the
    accounts' extra columns (score columns win over extra columns of the same name)."""
    ids = frame["account_id"]
    counts = frame.drop(columns=[name for name in frame.columns if name in table.columns])
    parts = [table, counts, pd.DataFrame({"features_used": features_used(frame, config)}, index=frame.index)]
    if user_activity is None:
        if config.personas:
            raise ValueError("personas need the per-user activity (user_activity is None)")
        parts.append(pd.DataFrame({"active_admins": pd.Series(pd.NA, index=frame.index, dtype="Int64")}))
        parts.append(pd.DataFrame(persona_columns(people_frame(users, None, config), ids, config)))
    else:
        people = people_frame(users, user_activity, config)
        admins = active_in_roles(people, ids, config.plays.multi_user_activation.admin_roles)
        parts.append(pd.DataFrame({"active_admins": admins, **persona_columns(people, ids, config)}))
    signals = pd.concat(parts, axis=1)
    extras = [name for name in accounts.columns if name not in signals.columns]
    if extras:
        extra = keyed(accounts, ACCOUNT_KEY, extras)
        signals = signals.merge(extra, on="account_id", how="left").set_index(frame.index)
    return signals


def score_users(
    users: pd.DataFrame,
    user_activity: pd.DataFrame | None,
    config: ScoringConfig,
    as_of: datetime,
) -> pd.DataFrame:
    """One row per user of `users` plus users seen only in `user_activity`, normalized across all of them.

    Sorted by (account_id, user_id), with the columns of :data:`USER_COLUMNS`; users only seen in activity
    have no email, role or tenure.
    """
    frame = _user_frame(users, user_activity, config)
    score = health_scores(frame["raw"], config.curve, config.percentile)
    previous = health_scores(frame["raw_prev"], config.curve, config.percentile)
    columns = {
        "user_id": frame["user_id"],
        "account_id": frame["account_id"],
        "email": frame["email"],
        "role": frame["role"],
        "raw_score": frame["raw"],
        "active_days": frame["active_days"],
        **_score_columns(score, previous, frame["events_prev"], config),
        **_usage_columns(frame, config, as_of),
    }
    return pd.DataFrame(columns, index=frame.index).loc[:, list(USER_COLUMNS)].reset_index(drop=True)


def _user_frame(users: pd.DataFrame, user_activity: pd.DataFrame | None, config: ScoringConfig) -> pd.DataFrame:
    """Every user (listed or seen in activity) with their activity; missing activity is zero."""
    listed = keyed(users, USER_KEY, _USER_FIELDS).astype(dict.fromkeys(_USER_TEXT, "str"))
    if user_activity is not None:
        seen = keyed(user_activity, USER_KEY, ())
        listed = listed.merge(seen, on=list(USER_KEY), how="outer")
        listed = listed.sort_values(list(USER_KEY), kind="stable").reset_index(drop=True)
    return with_activity(listed, user_activity, USER_KEY, USER_COUNTS, config)


def _user_counts(account_ids: pd.Series, users: pd.DataFrame) -> IntArray:
    """Distinct listed users per account, aligned with `account_ids`."""
    listed = keyed(users, USER_KEY, ())
    counts = listed.groupby("account_id").size()
    return np.asarray(counts.reindex(account_ids.to_numpy(), fill_value=0), dtype=np.int64)


def _account_scores(
    frame: pd.DataFrame, users: pd.DataFrame, user_activity: pd.DataFrame | None, config: ScoringConfig
) -> tuple[pd.Series, pd.Series]:
    """(health score, previous-window score) per account row of `frame`."""
    if config.account_score == "sum":
        current = health_scores(frame["raw"], config.curve, config.percentile)
        previous = health_scores(frame["raw_prev"], config.curve, config.percentile)
        return current, previous
    if user_activity is None:
        raise ValueError("account_score 'mean_of_users' needs the per-user activity (user_activity is None)")
    people = _user_frame(users, user_activity, config)
    current = _mean_per_account(people, health_scores(people["raw"], config.curve, config.percentile), frame)
    previous = _mean_per_account(people, health_scores(people["raw_prev"], config.curve, config.percentile), frame)
    return current, previous


def _mean_per_account(people: pd.DataFrame, scores: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """Mean user score per account of `frame`, rounded half up (exact integer arithmetic); 1 without users."""
    grouped = scores.groupby(people["account_id"].to_numpy()).agg(["sum", "count"])
    grouped = grouped.reindex(frame["account_id"].to_numpy(), fill_value=0)
    total = grouped["sum"].to_numpy(dtype=np.int64)
    count = grouped["count"].to_numpy(dtype=np.int64)
    safe = np.maximum(count, 1)
    mean = np.where(count > 0, (2 * total + safe) // (2 * safe), MIN_SCORE)
    return pd.Series(mean, index=frame.index, dtype="int64")


def _score_columns(
    score: pd.Series, previous: pd.Series, events_prev: pd.Series, config: ScoringConfig
) -> dict[str, pd.Series]:
    """Score, tier, trend and change; the change is NA (trend `new`) without activity in the previous window."""
    score = pd.Series(score.to_numpy(dtype=np.int64), index=events_prev.index)
    previous = pd.Series(previous.to_numpy(dtype=np.int64), index=events_prev.index)
    change = score_changes(score, previous, events_prev > 0)
    return {
        "health_score": score,
        "previous_score": previous,
        "score_change": change,
        "health_tier": tier_labels(score, config.tiers),
        "trend": trend_labels(change, config.trend),
    }


def _usage_columns(frame: pd.DataFrame, config: ScoringConfig, as_of: datetime) -> dict[str, pd.Series]:
    """Adoption, frequency, recency, tenure and activation, shared by accounts and users."""
    window = config.window_days
    return {
        "feature_adoption_pct": percentages(features_used(frame, config), len(config.features)),
        "usage_frequency_pct": percentages(frame["active_days"], window),
        "usage_frequency_7d_pct": percentages(frame["active_days_7d"], min(7, window)),
        "last_active_at": frame["last_active_at"],
        "days_since_active": days_since(frame["last_active_at"], as_of),
        "tenure_days": days_since(utc_series(frame["created_at"]), as_of),
        "activation_pct": percentages(activation_steps_done(frame, config), len(config.activation_steps)),
    }
