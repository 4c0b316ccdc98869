"""The plays' supporting metrics: multi-role adoption, activation speed and the team activation rate.

- `roles_active` of `roles_total`: distinct roles (trimmed, lower-cased) with a user active in the window, of the
  distinct roles among the account's listed users (NA without per-user activity);
- `days_to_activation`: whole days from `created_at` to the instant the last activation step was met (the
  `min_count`-th event of each step; the source's `activated_at`), NA until every step is met;
- `users_activated_pct`: listed users who met every activation step themselves, of the listed users (NA without
  steps, users or per-user activity);
- `mrr`: the account's MRR (NA when the source has none), for filters, alerts and task escalation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.metrics import utc_series
from tests.scoring.before.activity import ACCOUNT_KEY, activation_steps_done, keyed
from tests.scoring.before.personas import people_frame


def _per_account(values: pd.Series, people: pd.DataFrame, ids: pd.Series) -> pd.Series:
    return values.groupby(people["account_id"].to_numpy()).sum().reindex(ids.to_numpy(), fill_value=0)


def _roles(people: pd.DataFrame, ids: pd.Series, active_only: bool) -> pd.Series:
    rows = people[(people["role"] != "") & ((people["events"] > 0) if active_only else True)]
    distinct = rows.groupby("account_id")["role"].nunique()
    return pd.Series(distinct.reindex(ids.to_numpy(), fill_value=0).to_numpy(), index=ids.index, dtype="Int64")


def _days_to_activation(frame: pd.DataFrame, activity: pd.DataFrame, ids: pd.Series) -> pd.Series:
    if "activated_at" not in activity.columns or not len(activity):
        return pd.Series(pd.NA, index=ids.index, dtype="Int64")
    moments = activity.set_index(activity["account_id"].astype("str"))["activated_at"]
    moments = moments[~moments.index.duplicated()]
    met = utc_series(moments.reindex(ids.astype("str").to_numpy()).reset_index(drop=True))
    start = utc_series(frame["created_at"].reset_index(drop=True))
    seconds = (met - start).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(np.floor(seconds / 86400.0), index=ids.index).astype("Float64").astype("Int64")


def _activated_pct(people: pd.DataFrame, ids: pd.Series, config: ScoringConfig) -> pd.Series:
    steps = len(config.activation_steps)
    done = (activation_steps_done(people, config) >= steps).astype("int64")
    activated = _per_account(done, people, ids).to_numpy(dtype=np.float64)
    listed = _per_account(pd.Series(1, index=people.index), people, ids).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(listed > 0, np.round(100 * activated / np.maximum(listed, 1)), np.nan)
    return pd.Series(share, index=ids.index, dtype="Float64").astype("Int64")


def adoption_columns(
    frame: pd.DataFrame,
    accounts: pd.DataFrame,
    users: pd.DataFrame,
    account_activity: pd.DataFrame,
    user_activity: pd.DataFrame | None,
    config: ScoringConfig,
) -> dict[str, pd.Series]:
    """The supporting metrics per account row of `frame` (account_id, created_at)."""
    ids = frame["account_id"]
    people = people_frame(users, user_activity, config)
    na = pd.Series(pd.NA, index=ids.index, dtype="Int64")
    mrr = keyed(accounts, ACCOUNT_KEY, ("mrr",)).set_index("account_id")["mrr"]
    columns = {
        "roles_active": _roles(people, ids, active_only=True) if user_activity is not None else na,
        "roles_total": _roles(people, ids, active_only=False),
        "days_to_activation": _days_to_activation(frame, account_activity, ids) if config.activation_steps else na,
        "users_activated_pct": (
            _activated_pct(people, ids, config) if config.activation_steps and user_activity is not None else na
        ),
        "mrr": pd.Series(pd.to_numeric(mrr.reindex(ids.to_numpy()), errors="coerce").to_numpy(), index=ids.index),
    }
    columns["mrr"] = columns["mrr"].astype("float64")
    return columns
