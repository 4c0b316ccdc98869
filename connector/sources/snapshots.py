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

import numpy as np
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
    """Per account, event and instant (per UTC day, `floor(ts / 86400) * 86400`, when every snapshot lies on a UTC
    midnight: a day lies wholly inside or outside each window then) the accepted events (`n`) from the first
    snapshot's P to the last snapshot: the rows :func:`event_counts` sums over each snapshot's W and P.

    One scan whatever the number of snapshots. (A join to the snapshot list grouped by snapshot in the database
    multiplies every row by the snapshots whose windows hold it: at the benchmark's 4-day spacing 3.1M day rows
    became ~25M joined rows, a GROUP BY that spilled out of the files source's memory cap, 57 s on a loaded machine.)
    """
    span = 2 * window_days * DAY
    near = sa.and_(
        rows.c.ts >= sa.literal(min(snapshots) - span, sa.Float()), rows.c.ts < sa.literal(max(snapshots), sa.Float())
    )
    if all(moment % DAY == 0 for moment in snapshots):
        instant: sa.ColumnElement[Any] = DayFloor(rows.c.ts / sa.literal(DAY, sa.Float())) * sa.literal(DAY, sa.Float())
    else:
        instant = rows.c.ts
    keys = (rows.c.account_key, rows.c.event, instant)
    return sa.select(*keys[:2], instant.label("ts"), sa.func.count().label("n")).where(near).group_by(*keys)


def _no_counts() -> pd.DataFrame:
    return pd.DataFrame({"snapshot": [], "account_id": [], "event": [], "w": [], "p": []})


def window_counts(frame: pd.DataFrame, snapshots: Sequence[float], window_days: int) -> pd.DataFrame:
    """Per snapshot, account and event with an event in W or P: `w` (events in W = [snapshot - window, snapshot))
    and `p` (in the window before), from the rows of :func:`count_query`; sorted by snapshot, account and event."""
    codes, pairs = pd.factorize(pd.MultiIndex.from_frame(frame.loc[:, ["account_key", "event"]].astype(str)))
    ts = pd.to_numeric(frame["ts"], errors="coerce").to_numpy(dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    ts, codes = ts[order], np.asarray(codes)[order]
    n = pd.to_numeric(frame["n"]).to_numpy(dtype=np.float64)[order]
    span = window_days * DAY
    parts = []
    for moment in snapshots:
        start, middle, end = np.searchsorted(ts, [moment - 2 * span, moment - span, moment], "left")
        w = np.rint(np.bincount(codes[middle:end], weights=n[middle:end], minlength=len(pairs))).astype(np.int64)
        p = np.rint(np.bincount(codes[start:middle], weights=n[start:middle], minlength=len(pairs))).astype(np.int64)
        found = np.flatnonzero(w + p)
        chosen = pairs[found]
        parts.append(
            pd.DataFrame(
                {
                    "snapshot": pd.Timestamp(round(moment), unit="s", tz="UTC"),
                    "account_id": chosen.get_level_values(0).astype(str),
                    "event": chosen.get_level_values(1).astype(str),
                    "w": w[found],
                    "p": p[found],
                }
            )
        )
    if not parts:
        return _no_counts()
    counted = pd.concat(parts, ignore_index=True)
    return counted.sort_values(["snapshot", "account_id", "event"], kind="stable").reset_index(drop=True)


def event_counts(opened: OpenedSource, snapshots: Sequence[datetime], window_days: int, now: datetime) -> pd.DataFrame:
    """Columns `snapshot` (UTC), `account_id`, `event`, `w`, `p`: every event's count in each snapshot's window and
    in the window before it."""
    if not snapshots:
        return _no_counts()
    moments = [moment.timestamp() for moment in snapshots]
    with _translated(f"counting {opened.tables.labels['events']} per snapshot"):
        frame = _frame(opened.conn, count_query(_accepted(opened, now), moments, window_days))
    return window_counts(frame, moments, window_days)


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
