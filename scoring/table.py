"""The score tables: one row per account (`score_accounts`) and per user (`score_users`), SPEC section 3.

Inputs are the source module's aggregates (see :mod:`scoring.activity` for the activity frame columns); the
functions are pure: frames in, frames out, nothing read or written.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from healthsync.scoring.activity import (
    ACCOUNT_COUNTS,
    ACCOUNT_KEY,
    USER_COUNTS,
    USER_KEY,
    activation_steps_done,
    features_used,
    in_key_order,
    keyed,
    with_activity,
)
from healthsync.scoring.adoption import adoption_columns
from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.explain import EXPLAIN_COLUMNS, explain_columns
from healthsync.scoring.metrics import days_since, percentages, score_changes, tier_labels, trend_labels, utc_series
from healthsync.scoring.names import ACCOUNT_COLUMNS, USER_COLUMNS
from healthsync.scoring.normalize import MIN_SCORE, health_scores
from healthsync.scoring.personas import PeopleByAccount, active_in_roles, people_frame, persona_columns
from healthsync.scoring.plays import PERSONA_PCT_COLUMNS, play_columns

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
    *,
    texts: bool = True,
) -> pd.DataFrame:
    """One row per account of `accounts`, sorted by account_id, with the columns of :data:`ACCOUNT_COLUMNS`.

    Without `texts` the sentences (`score_reasons`, `score_movers`, `score_why`, `summary`) are None: the backtest
    scores every snapshot without them and explains only the rows it shows (`scoring.explain.explain_columns`).

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
    people = people_frame(users, user_activity, config)  # the listed users, once for every per-account count
    by_account = PeopleByAccount(people, frame["account_id"])
    score, previous = _account_scores(frame, users, user_activity, config)
    listed = by_account.count(np.ones(len(people), dtype=bool))  # distinct listed users per account
    total = np.maximum(listed, frame["active_users"].to_numpy())
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
    adoption = adoption_columns(
        frame, accounts, users, account_activity, user_activity, config, people=people, by_account=by_account
    )
    explained = explain_columns(frame["account_id"], account_activity, table, config) if texts else _no_texts(table)
    table = table.assign(**explained, **adoption)
    signals = _signals(table, frame, accounts, (people, by_account), user_activity, config)
    plays = play_columns(signals, config, texts=texts)
    table = table.assign(**{name: signals[name] for name in PERSONA_PCT_COLUMNS}, **plays)
    return table.loc[:, list(ACCOUNT_COLUMNS)].reset_index(drop=True)


def _no_texts(table: pd.DataFrame) -> dict[str, pd.Series]:
    return {name: pd.Series(None, index=table.index, dtype="object") for name in EXPLAIN_COLUMNS}


def _signals(
    table: pd.DataFrame,
    frame: pd.DataFrame,
    accounts: pd.DataFrame,
    listed: tuple[pd.DataFrame, PeopleByAccount],
    user_activity: pd.DataFrame | None,
    config: ScoringConfig,
) -> pd.DataFrame:
    """What the plays and summaries read: the score columns, the activity counts, the persona counts and the
    accounts' extra columns (score columns win over extra columns of the same name). `listed` is
    :func:`people_frame` of the users and `user_activity`, with its positions among the accounts of `frame`."""
    people, by_account = listed
    ids = frame["account_id"]
    counts = frame.drop(columns=[name for name in frame.columns if name in table.columns])
    parts = [table, counts, pd.DataFrame({"features_used": features_used(frame, config)}, index=frame.index)]
    if user_activity is None:
        if config.personas:
            raise ValueError("personas need the per-user activity (user_activity is None)")
        parts.append(pd.DataFrame({"active_admins": pd.Series(pd.NA, index=frame.index, dtype="Int64")}))
        parts.append(pd.DataFrame(persona_columns(people, ids, config, by_account=by_account)))
    else:
        roles = config.plays.multi_user_activation.admin_roles
        admins = active_in_roles(people, ids, roles, by_account=by_account)
        parts.append(
            pd.DataFrame({"active_admins": admins, **persona_columns(people, ids, config, by_account=by_account)})
        )
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
        listed = in_key_order(listed, USER_KEY).reset_index(drop=True)
    return with_activity(listed, user_activity, USER_KEY, USER_COUNTS, config)


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
