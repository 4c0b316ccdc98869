"""What `healthsync backtest` reads besides the score tables: the span of the events, the per-event counts of every
snapshot's window (one scan for all snapshots), and the outcomes table.

The score table of each snapshot is the ordinary read (`load.read_window`) with `as_of` = the snapshot, on the
source opened once (`load.opened_source`), fed with rows read once for every snapshot (`load.SharedReads`; the event
pass: `snapshot_pass.py`): its windows end strictly before `as_of`, so no event at or after a snapshot reaches that
snapshot's scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from healthsync.connector.settings import Settings
from healthsync.connector.sources.files import file_view
from healthsync.connector.sources.frames import accounts_frame, utc
from healthsync.connector.sources.load import OpenedSource, _frame, _translated, arrow_frame, logical_table, reflect
from healthsync.connector.sources.pushdown import DAY, classified
from healthsync.connector.sources.snapshot_pass import text_codes
from healthsync.connector.sources.sqlfunctions import CountIf
from healthsync.errors import SourceError

__all__ = ["WindowCounts", "event_counts", "event_span", "read_accounts", "read_outcomes"]


def _accepted(opened: OpenedSource, now: datetime, since: float | None = None) -> sa.Subquery:
    """The accepted events (from `since` on when given: `pushdown.classified`)."""
    return classified(opened.tables, now.timestamp(), since_epoch=since, dialect=opened.conn.dialect.name).accepted


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


# Snapshots per counting query: two columns each (PostgreSQL allows 1,664 result columns, SQLite 2,000 by default).
SNAPSHOTS_PER_QUERY = 100


def count_query(rows: sa.Subquery, snapshots: Sequence[float], window_days: int) -> sa.Select[Any]:
    """Per account and event with an accepted event from the first snapshot's P to the last snapshot, each
    snapshot's counts as two columns: `w_<j>` (events in W = [snapshot j - window, snapshot j)) and `p_<j>` (in the
    window before it).

    One scan for up to :data:`SNAPSHOTS_PER_QUERY` snapshots, conditional counts the database computes while it
    scans, and a result of one row per (account, event): no per-day rows to sum in pandas afterwards, and exact for
    any instant. (A join to the snapshot list grouped by snapshot multiplies every row by the snapshots whose windows
    hold it: at the benchmark's 4-day spacing ~25M joined rows, a GROUP BY that spilled out of the files source's
    memory cap.)
    """
    span = window_days * DAY
    near = sa.and_(
        rows.c.ts >= sa.literal(min(snapshots) - 2 * span, sa.Float()),
        rows.c.ts < sa.literal(max(snapshots), sa.Float()),
    )

    def between(start: float, end: float) -> sa.ColumnElement[bool]:
        return sa.and_(rows.c.ts >= sa.literal(start, sa.Float()), rows.c.ts < sa.literal(end, sa.Float()))

    columns: list[sa.ColumnElement[Any]] = []
    for index, moment in enumerate(snapshots):
        columns.append(CountIf(between(moment - span, moment)).label(f"w_{index}"))
        columns.append(CountIf(between(moment - 2 * span, moment - span)).label(f"p_{index}"))
    keys = (rows.c.account_key, rows.c.event)
    return sa.select(*keys, *columns).where(near).group_by(*keys)


@dataclass(frozen=True)
class WindowCounts:
    """Every event's count per account in each snapshot's window W (`w`) and in the window before it (`p`), as
    :func:`count_query` returns them: one row per (account, event) counted in some window, one column per snapshot
    (sorted). Held wide, as read: the backtest takes a snapshot's counts for the few accounts it explains and a
    (table row x event) matrix for the suggestion (:meth:`grid`); a long frame with a row per (snapshot, account,
    event) (:meth:`long`) was 3.1M rows at the benchmark's 10M events, built and pivoted back for nothing."""

    snapshots: list[pd.Timestamp]
    accounts: pd.Index
    events: pd.Index
    account: np.ndarray[Any, np.dtype[np.int64]]
    event: np.ndarray[Any, np.dtype[np.int64]]
    w: np.ndarray[Any, np.dtype[np.int64]]
    p: np.ndarray[Any, np.dtype[np.int64]]

    @classmethod
    def of(cls, frame: pd.DataFrame, snapshots: Sequence[float]) -> WindowCounts:
        """The rows of :func:`count_query` (columns `w_<j>`, `p_<j>` for snapshot j of `snapshots`), the rows
        counted in no window left out."""
        order = sorted(range(len(snapshots)), key=lambda index: snapshots[index])

        def matrix(prefix: str) -> np.ndarray[Any, np.dtype[np.int64]]:
            shape = (len(frame), len(order))
            columns = [pd.to_numeric(frame[f"{prefix}_{index}"]).to_numpy(dtype=np.int64) for index in order]
            return np.column_stack(columns) if columns else np.zeros(shape, dtype=np.int64)

        w, p = matrix("w"), matrix("p")
        counted = (w.sum(axis=1) + p.sum(axis=1)) > 0
        accounts, account_texts = text_codes(frame["account_key"])
        events, event_texts = text_codes(frame["event"])
        return cls(
            [pd.Timestamp(round(snapshots[index]), unit="s", tz="UTC") for index in order],
            account_texts,
            event_texts,
            accounts[counted],
            events[counted],
            w[counted],
            p[counted],
        )

    @classmethod
    def empty(cls, snapshots: Sequence[float]) -> WindowCounts:
        frame = pd.DataFrame({"account_key": pd.Series([], dtype=object), "event": pd.Series([], dtype=object)})
        return cls.of(frame.assign(**{f"{kind}_{j}": 0 for j in range(len(snapshots)) for kind in "wp"}), snapshots)

    def position(self, snapshot: Any) -> int:
        """The column of `snapshot` (one of :attr:`snapshots`, as a pandas Timestamp or anything it takes)."""
        return self.snapshots.index(pd.Timestamp(snapshot))

    def grid(self, position: int, accounts: pd.Series, events: Sequence[str], which: str = "w") -> np.ndarray[Any, Any]:
        """The counts (`w` or `p`) of snapshot column `position`: a row per value of `accounts`, a column per
        event of `events`; 0 where none was counted."""
        wanted = pd.Index(list(events))
        column = np.asarray(wanted.get_indexer(self.events), dtype=np.intp)  # -1: an event not asked for
        keep = column[self.event] >= 0
        dense = np.zeros((len(self.accounts) + 1, len(wanted)), dtype=np.int64)  # the last row: no counts
        values = self.w if which == "w" else self.p
        dense[self.account[keep], column[self.event[keep]]] = values[keep, position]
        found = np.asarray(self.accounts.get_indexer(pd.Index(accounts.astype("str"))), dtype=np.intp)
        return dense[np.where(found >= 0, found, len(self.accounts))]

    def long(self) -> pd.DataFrame:
        """Columns `snapshot`, `account_id`, `event`, `w`, `p`: a row per snapshot, account and event with w + p >
        0, sorted by snapshot, account and event."""
        order = np.lexsort((self.event, self.account))
        accounts, events = self.accounts.take(self.account[order]), self.events.take(self.event[order])
        parts = []
        for position, moment in enumerate(self.snapshots):
            w, p = self.w[order, position], self.p[order, position]
            found = np.flatnonzero(w + p)
            parts.append(
                pd.DataFrame(
                    {
                        "snapshot": moment,
                        "account_id": accounts.take(found),
                        "event": events.take(found),
                        "w": w[found],
                        "p": p[found],
                    }
                )
            )
        if not parts:
            return pd.DataFrame({"snapshot": [], "account_id": [], "event": [], "w": [], "p": []})
        return pd.concat(parts, ignore_index=True)


def event_counts(
    opened: OpenedSource, snapshots: Sequence[datetime], window_days: int, now: datetime, since: float | None = None
) -> WindowCounts:
    """Every event's count per account in each snapshot's window and in the window before it (one scan per
    :data:`SNAPSHOTS_PER_QUERY` snapshots, of the events from `since` on)."""
    moments = [moment.timestamp() for moment in snapshots]
    frames = []
    for first in range(0, len(moments), SNAPSHOTS_PER_QUERY):
        chunk = moments[first : first + SNAPSHOTS_PER_QUERY]
        with _translated(f"counting {opened.tables.labels['events']} per snapshot"):
            frame = arrow_frame(opened.conn, count_query(_accepted(opened, now, since), chunk, window_days))
        renamed = {f"{kind}_{j}": f"{kind}_{first + j}" for j in range(len(chunk)) for kind in "wp"}
        frames.append(frame.rename(columns=renamed))
    if not frames:
        return WindowCounts.empty(moments)
    keys = ["account_key", "event"]
    merged = frames[0]
    for frame in frames[1:]:  # more than SNAPSHOTS_PER_QUERY snapshots: the chunks' rows side by side
        merged = merged.merge(frame, on=keys, how="outer")
    counts = merged.drop(columns=keys).fillna(0)
    return WindowCounts.of(pd.concat([merged[keys], counts], axis=1), moments)


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
