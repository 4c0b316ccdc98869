"""One pass over the events for both levels: a GROUP BY (account, user) with day bit masks, rolled up to accounts.

    classified events -> GROUP BY (account, user, reason): counts, sums, maxima, and bit masks
                         (bit d set when the user had an event on day bucket d) -> unknown accounts classified
    in pandas:           per user, active days = popcount(mask); per account, sums and maxima of its users,
                         active users = users with events > 0, active days = popcount(OR of its users' masks)

Every account metric rolls up from its users except distinct days, which the masks carry (bit_or, 64 bits: windows
up to 62 days). When no per-user table is needed, the roll-up to accounts runs in the database too
(:func:`account_pass_query`): only one row per account (and per rejection reason) leaves it.
Dialects without a bit_or aggregate (SQLite; `plan.Capabilities.masks`) and longer windows use the two
COUNT(DISTINCT) queries of `pushdown.activity_query` instead; all paths give the same frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, Select

from healthsync.connector.sources.plan import MAX_MASK_DAYS
from healthsync.connector.sources.pushdown import (
    Classified,
    Window,
    bounds,
    counts,
    day_bucket,
    full_weeks,
    grouped,
    latest_features_steps,
    share_counts,
    workflow_counts,
)
from healthsync.connector.sources.sqlfunctions import BitOr, DayBit
from healthsync.scoring import in_key_order
from healthsync.scoring.config import ScoringConfig

__all__ = ["MAX_MASK_DAYS", "account_counts", "account_pass_query", "roll_up", "user_pass_query"]
ACCOUNT_ONLY = ("share_num_", "share_den_", "trial_events")
USER_ONLY = ("week_mask", "workflow_")


def _mask(condition: ColumnElement[bool], bucket: ColumnElement[float], label: str) -> ColumnElement[int]:
    zero = sa.literal_column("0", sa.BigInteger())
    return BitOr(sa.case((condition, DayBit(bucket)), else_=zero)).label(label)


def user_pass_query(events: Classified, config: ScoringConfig, window: Window) -> Select[Any]:
    """The one scan: a row per accepted (account, user), per rejection reason, per unknown (account, user).

    Columns: those of the per-user activity query with `day_mask`, `day_mask_7d` (and `week_mask` with personas)
    in place of the distinct counts, plus the account-level sums (shares) to roll up.
    """
    rows = events.rows
    within = bounds(rows, window)
    day = day_bucket(rows, window)
    columns = [
        *counts(rows, config, window),
        _mask(within["w"], day, "day_mask"),
        _mask(within["7d"], day, "day_mask_7d"),
    ]
    columns += latest_features_steps(rows, config, window)
    columns += share_counts(rows, config, window)
    if config.personas:
        columns.append(_mask(full_weeks(rows, window), day_bucket(rows, window, 7), "week_mask"))
        columns += workflow_counts(rows, config, window)
    return grouped(events, config, window, columns, by_user=True)


def account_pass_query(events: Classified, config: ScoringConfig, window: Window) -> Select[Any]:
    """The one scan rolled up to accounts in the database: a row per accepted account, per rejection reason and per
    unknown account, with the OR of the users' day masks (popcounted by :func:`account_counts`)."""
    users = user_pass_query(events, config, window).subquery("hs_user_rows")
    maxima = {"last_active_epoch", *(f"feature_{index}" for index in range(len(config.features)))}
    columns: list[ColumnElement[Any]] = [users.c.account_id, users.c.reason]
    for column in users.c:
        name = column.key
        if name in ("account_id", "user_id", "reason") or name.startswith(USER_ONLY):
            continue
        if name in maxima:
            columns.append(sa.func.max(column).label(name))
        elif name.startswith("day_mask"):
            columns.append(BitOr(column).label(name))
        else:
            columns.append(sa.func.sum(column).label(name))
    one = sa.literal_column("1", sa.Integer())
    zero = sa.literal_column("0", sa.Integer())
    for name, events_column in (("active_users", users.c.events), ("active_users_prev", users.c.events_prev)):
        columns.append(sa.func.sum(sa.case((events_column > 0, one), else_=zero)).label(name))
    return sa.select(*columns).group_by(users.c.account_id, users.c.reason)


def account_counts(raw: pd.DataFrame) -> pd.DataFrame:
    """The account rows of :func:`account_pass_query` with the masks turned into active-day counts."""
    counted = raw.assign(active_days=_popcount(raw["day_mask"]), active_days_7d=_popcount(raw["day_mask_7d"]))
    return counted.drop(columns=["day_mask", "day_mask_7d"])


def _popcount(masks: pd.Series) -> np.ndarray[Any, np.dtype[np.int64]]:
    values = pd.to_numeric(masks, errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    bits = np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1)
    counted: np.ndarray[Any, np.dtype[np.int64]] = bits.sum(axis=1, dtype=np.int64)
    return counted


def _or_by(masks: pd.Series, starts: np.ndarray[Any, Any]) -> pd.Series:
    values = pd.to_numeric(masks, errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    return pd.Series(np.bitwise_or.reduceat(values, starts) if len(values) else values)


def _run_starts(keys: pd.Series) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Where a run of equal values starts (the first row, and each row unlike the one before it)."""
    if not len(keys):
        return np.zeros(0, dtype=bool)
    if isinstance(keys.array, pd.arrays.ArrowStringArray):
        import pyarrow as pa
        import pyarrow.compute as pc

        values = pa.array(keys.array)
        unlike = pc.not_equal(values[1:], values[:-1]).fill_null(True)  # as object arrays compare NaN
        later = np.asarray(unlike.to_numpy(zero_copy_only=False), dtype=bool)
    else:
        plain = keys.to_numpy()
        later = np.asarray(plain[1:] != plain[:-1], dtype=bool)
    starts: np.ndarray[Any, np.dtype[np.bool_]] = np.r_[True, later]
    return starts


def roll_up(raw: pd.DataFrame, config: ScoringConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(account rows, user rows) in the shape of the COUNT(DISTINCT) queries' results, from the one-pass rows."""
    users = raw.drop(columns=[name for name in raw.columns if name.startswith(ACCOUNT_ONLY)])
    users = users.assign(active_days=_popcount(raw["day_mask"]), active_days_7d=_popcount(raw["day_mask_7d"]))
    if "week_mask" in raw:
        users = users.assign(active_weeks=_popcount(raw["week_mask"]))
    users = users.drop(columns=[name for name in ("day_mask", "day_mask_7d", "week_mask") if name in users])
    return _accounts(raw, config), users


def _accounts(raw: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """Accepted rows summed per account; maxima for features and the latest event; OR of the day masks."""
    rows = in_key_order(raw[raw["reason"].isna()], ["account_id"]).reset_index(drop=True)
    numbers = rows.drop(columns=["account_id", "user_id", "reason"])
    for name in numbers.columns:  # numeric columns as they are; only the others are parsed
        if not pd.api.types.is_numeric_dtype(numbers[name].dtype):
            numbers[name] = pd.to_numeric(numbers[name], errors="coerce")
    numbers["active_users"] = (numbers["events"] > 0).astype("int64")
    numbers["active_users_prev"] = (numbers["events_prev"] > 0).astype("int64")
    keys = rows["account_id"]
    first = _run_starts(keys)
    starts = np.flatnonzero(first)
    maxima = ["last_active_epoch", *(f"feature_{index}" for index in range(len(config.features)))]
    summed = [name for name in numbers.columns if name not in maxima and not name.startswith(("day_mask", *USER_ONLY))]
    if len(rows) and not keys.isna().any():  # one group per run of equal ids (the rows are in id order)
        by = numbers.groupby(np.cumsum(first) - 1, sort=False)
        out = pd.concat([by[summed].sum(), by[maxima].max()], axis=1).reset_index(drop=True)
        out.insert(0, "account_id", keys.iloc[starts].reset_index(drop=True))
    else:
        by = numbers.groupby(keys.to_numpy(), sort=False)
        out = pd.concat([by[summed].sum(), by[maxima].max()], axis=1).reset_index(names="account_id")
    out["active_days"] = _popcount(_or_by(rows["day_mask"], starts))
    out["active_days_7d"] = _popcount(_or_by(rows["day_mask_7d"], starts))
    accounts: pd.DataFrame = out.assign(reason=None)
    return accounts
