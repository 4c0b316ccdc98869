"""What `healthsync backtest` reads besides the score tables: the span of the events, the per-event counts of every
snapshot's window (one scan for all snapshots), and the outcomes table.

The score table of each snapshot is the ordinary read (`load.read_window`) with `as_of` = the snapshot, on the
source opened once (`load.opened_source`), fed with rows read once for every snapshot (`load.SharedReads`; the event
pass: `snapshot_pass.py`): its windows end strictly before `as_of`, so no event at or after a snapshot reaches that
snapshot's scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from healthsync.connector.errors import SourceError
from healthsync.connector.settings import Settings
from healthsync.connector.sources.files import file_view
from healthsync.connector.sources.frames import accounts_frame, utc
from healthsync.connector.sources.load import OpenedSource, _frame, _translated, logical_table, reflect
from healthsync.connector.sources.pushdown import DAY, DayFloor, classified

__all__ = ["event_counts", "event_span", "read_accounts", "read_outcomes"]


def _accepted(opened: OpenedSource, now: datetime) -> sa.Subquery:
    return classified(opened.tables, now.timestamp()).accepted


def event_span(opened: OpenedSource, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The first and the latest accepted event (None, None without events)."""
    rows = _accepted(opened, now)
    query = sa.select(sa.func.min(rows.c.ts).label("first"), sa.func.max(rows.c.ts).label("last"))
    with _translated(f"reading the span of {opened.tables.labels['events']}"):
        first, last = opened.conn.execute(query).one()
    if first is None or last is None:
        return None, None
    return datetime.fromtimestamp(float(first), UTC), datetime.fromtimestamp(float(last), UTC)


def read_accounts(raw: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The accepted accounts of the fetched table with their dates as of `now` (a snapshot's own read nulls a
    later `created_at` as `future_created_at`: the backtest needs it to leave the account out of the earlier
    snapshots)."""
    frame, _ = accounts_frame(raw, 0, now.timestamp())
    return frame


def count_query(rows: sa.Subquery, snapshots: Sequence[float], window_days: int) -> sa.Select[Any]:
    """Per snapshot, account and event: the accepted events in W = [snapshot - window, snapshot) (`w`) and in the
    window before it, P (`p`), for every snapshot in one scan of the events.

    The snapshots are a UNION ALL of literals joined to the events on the two windows' range. When every snapshot
    lies on a UTC midnight (the defaults, and dates given as --from) the events are first counted per account, event
    and UTC day (`floor(ts / 86400)`), and those rows are joined instead: a day lies wholly inside or outside each
    window, and the join reads a few rows per account and day instead of every event once per snapshot.
    """
    parts = [sa.select(sa.literal(float(moment), sa.Float()).label("snap")) for moment in snapshots]
    snaps = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("hs_snapshots")
    span = window_days * DAY
    if all(moment % DAY == 0 for moment in snapshots):
        day = DayFloor(rows.c.ts / sa.literal(DAY, sa.Float()))
        daily = (
            sa.select(rows.c.account_key, rows.c.event, day.label("day"), sa.func.count().label("n"))
            .group_by(rows.c.account_key, rows.c.event, day)
            .subquery("hs_daily")
        )
        start = daily.c.day * sa.literal(DAY, sa.Float())
        account, event, weight = daily.c.account_key, daily.c.event, daily.c.n
        source: sa.FromClause = daily
    else:
        start, account, event, weight = rows.c.ts, rows.c.account_key, rows.c.event, sa.literal(1, sa.Integer())
        source = rows
    lower, upper = snaps.c.snap - sa.literal(span, sa.Float()), snaps.c.snap
    in_w = sa.and_(start >= lower, start < upper)
    zero = sa.literal(0, sa.Integer())
    joined = source.join(snaps, sa.and_(start >= lower - sa.literal(span, sa.Float()), start < upper))
    keys = (snaps.c.snap, account, event)
    return (
        sa.select(
            *keys,
            sa.func.sum(sa.case((in_w, weight), else_=zero)).label("w"),
            sa.func.sum(sa.case((in_w, zero), else_=weight)).label("p"),
        )
        .select_from(joined)
        .group_by(*keys)
        .order_by(*keys)
    )


def event_counts(opened: OpenedSource, snapshots: Sequence[datetime], window_days: int, now: datetime) -> pd.DataFrame:
    """Columns `snapshot` (UTC), `account_id`, `event`, `w`, `p`: every event's count in each snapshot's window and
    in the window before it."""
    if not snapshots:
        return pd.DataFrame({"snapshot": [], "account_id": [], "event": [], "w": [], "p": []})
    query = count_query(_accepted(opened, now), [moment.timestamp() for moment in snapshots], window_days)
    with _translated(f"counting {opened.tables.labels['events']} per snapshot"):
        frame = _frame(opened.conn, query)
    frame = frame.rename(columns={"snap": "snapshot", "account_key": "account_id"})
    return frame.assign(
        snapshot=pd.to_datetime(pd.to_numeric(frame["snapshot"]).round(), unit="s", utc=True),
        account_id=frame["account_id"].astype(str),
        event=frame["event"].astype(str),
        w=pd.to_numeric(frame["w"]).astype("int64"),
        p=pd.to_numeric(frame["p"]).astype("int64"),
    )


def read_outcomes(opened: OpenedSource, settings: Settings) -> pd.DataFrame | None:
    """The outcomes table (`source.outcomes`) with typed `occurred_at`, or None when none is configured.

    Raises:
        SourceError: the table or a column is missing, or an `occurred_at` does not parse (naming the row).
    """
    source = settings.source
    if not source.outcomes:
        return None
    conn = opened.conn
    mapping = source.columns.outcomes
    if source.kind == "files":
        path = settings.resolve(source.outcomes)
        label = f"outcomes ({path})"
        with _translated(f"reading {label}"):
            rejects = file_view(conn, "outcomes", path, mapping, source.url, source.encoding)
            if rejects.counts:
                sample = next(iter(rejects.samples.values()))[0]
                raise SourceError(f"{label}: line {sample['line']}: {sample['error']}")
            physical = reflect(conn, "outcomes", None, "hs_outcomes_src")
    else:
        label = f"outcomes ({source.outcomes.strip()[:60]})"
        with _translated(f"reading {label}"):
            physical = reflect(conn, source.outcomes, source.schema_, "hs_outcomes_src")
    logical = logical_table(physical, "outcomes", mapping, label, extras=False)
    with _translated(f"reading {label}"):
        frame = _frame(conn, sa.select(logical))
    return _typed_outcomes(frame, label)


def _typed_outcomes(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    occurred = utc(frame["occurred_at"])
    bad = occurred.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise SourceError(
            f"{label}: row {row + 1}: occurred_at {frame['occurred_at'].iloc[row]!r} is not a date or timestamp "
            f"({int(bad.sum())} such rows)"
        )
    return frame.assign(
        account_id=frame["account_id"].astype(str),
        outcome=frame["outcome"].astype(str).str.strip().str.lower(),
        occurred_at=occurred,
    )
