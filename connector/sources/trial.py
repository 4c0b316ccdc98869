"""Trial events (the multi_user_activation play's trial signal): events in each account's first `trial_days` days.

Only accounts the signal can speak for need them: a status of the play and a tenure from `trial_days` to
`max_tenure_days` (both read from the validated accounts, as scoring reads them). When there are none, nothing is
queried. Otherwise one small query counts the accepted events of the accounts that started in that range (with a
day of margin), in their first `trial_days` days, reading only the events between the earliest start and the end of
the latest trial: bounds on the event time that the database uses to skip the rest (Parquet row groups, partitions,
an index). Sources with an event_id classify every event first (deduplication looks at all of them), then count.
Other accounts get no trial events; they cannot fire the signal, so the score table is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, Select

from healthsync.connector.sources.plan import capabilities
from healthsync.connector.sources.pushdown import DAY, Classified, LogicalTables, Window, classified, since
from healthsync.connector.sources.sqlfunctions import EpochSeconds
from healthsync.scoring.config import ScoringConfig


@dataclass(frozen=True)
class TrialRange:
    """Starts (epoch seconds, margin included) of the accounts whose trial is counted, and the trial length."""

    first_start: float
    last_start: float
    days: int

    def events_between(self, window: Window) -> tuple[float, float]:
        return self.first_start, min(window.as_of, self.last_start + self.days * DAY)


def trial_range(accounts: pd.DataFrame, config: ScoringConfig, as_of: datetime) -> TrialRange | None:
    """The range of account starts to count trial events for; None when no account can fire the trial signal."""
    play = config.plays.multi_user_activation
    if not play.enabled or play.trial_days <= 0 or "created_at" not in accounts or accounts.empty:
        return None
    started = pd.to_datetime(accounts["created_at"], utc=True, errors="coerce")
    tenure = (pd.Timestamp(as_of).tz_convert(UTC) - started).dt.days
    status = accounts["status"].astype("str") if "status" in accounts else pd.Series("", index=accounts.index)
    wanted = status.isin(play.statuses) & (tenure >= play.trial_days) & (tenure <= play.max_tenure_days)
    starts = started[wanted.fillna(False).to_numpy(dtype=bool)].dropna()
    if starts.empty:
        return None
    epochs = starts.astype("int64").to_numpy() / np.float64(10**9) if starts.dt.unit == "ns" else _epochs(starts)
    return TrialRange(float(epochs.min()) - DAY, float(epochs.max()) + DAY, play.trial_days)


def _epochs(stamps: pd.Series) -> Any:
    return (stamps - pd.Timestamp(0, tz=UTC)).dt.total_seconds().to_numpy()


def _bounded(tables: LogicalTables, low: float, high: float, dialect: str) -> LogicalTables:
    """The logical tables with only the events whose time lies in [low, high): the exact bounds on the parsed
    instant, the lower one also on the raw column where the engine can prune on it (`pushdown.since`)."""
    events = tables.events
    epoch = EpochSeconds(events.c.timestamp)
    where: list[ColumnElement[bool]] = [epoch >= sa.literal(low, sa.Float()), epoch < sa.literal(high, sa.Float())]
    where += since(events, low, dialect)[0]
    subset = sa.select(*events.c).where(*where).subquery("hs_trial_events")
    return LogicalTables(subset, tables.accounts, tables.users, tables.labels)


def trial_query(tables: LogicalTables, span: TrialRange, window: Window, dialect: str) -> Select[Any]:
    """Accepted events per account in its first `span.days` days (accounts started within the span only)."""
    low, high = span.events_between(window)
    caps = capabilities(dialect)
    if tables.has_event_id:  # the duplicates of the events the other reads classify (from their bound on)
        first = None if window.scan_from is None else min(window.scan_from, low)
        events: Classified = classified(
            tables, window.now, group_dedup=caps.group_dedup, fence=caps.fence, since_epoch=first, dialect=dialect
        )
    else:
        events = classified(_bounded(tables, low, high, dialect), window.now, fence=caps.fence)
    accounts = tables.accounts
    start = EpochSeconds(accounts.c.created_at)
    in_span = sa.and_(
        start >= sa.literal(span.first_start, sa.Float()), start <= sa.literal(span.last_start, sa.Float())
    )
    starts = (
        sa.select(accounts.c.account_id, sa.func.min(start).label("created_epoch"))
        .where(accounts.c.account_id.is_not(None), in_span)
        .group_by(accounts.c.account_id)
        .subquery("hs_trial_starts")
    )
    rows = events.rows
    ts = rows.c.ts
    end = starts.c.created_epoch + sa.literal(span.days * DAY, sa.Float())
    in_trial = sa.and_(ts >= starts.c.created_epoch, ts < end, ts < sa.literal(window.as_of, sa.Float()))
    bounded = sa.and_(ts >= sa.literal(low, sa.Float()), ts < sa.literal(high, sa.Float()))
    # On the raw account_id (only accepted rows are counted, whose key it is): a plain column keeps the planner's
    # estimates (a CASE key made PostgreSQL expect 50x the rows).
    joined = rows.join(starts, rows.c.account_id == starts.c.account_id)
    query = sa.select(rows.c.account_key.label("account_id"), sa.func.count().label("trial_events"))
    return query.select_from(joined).where(rows.c.reason.is_(None), bounded, in_trial).group_by(rows.c.account_key)


def with_trial_events(account_raw: pd.DataFrame, trial: pd.DataFrame | None) -> pd.DataFrame:
    """The aggregated account rows with `trial_events` (0 for rejected rows and accounts without any)."""
    if trial is None:
        return account_raw
    counts = trial.set_index(trial["account_id"].astype("str"))["trial_events"]
    keys = account_raw["account_id"].astype("str").where(account_raw["reason"].isna())
    values = pd.to_numeric(keys.map(counts), errors="coerce").fillna(0).astype("int64")
    return account_raw.assign(trial_events=values.to_numpy())
