"""The event pass of every backtest snapshot in two scans, not one full read per snapshot (issue 20, item 8).

A snapshot's ordinary read (`load.read_window` -> `rollup.user_pass_query`) groups every event by (account, user)
with the window's instants as literals. Here the snapshots are a UNION ALL of literals (`hs_snaps.snap`) and two
queries serve all of them:

    windowed  accepted events (counted per account, user, event and day first when every snapshot lies on a UTC
              midnight) JOIN hs_snaps ON snap - reach <= ts < snap
              GROUP BY (snap, account, user): counts and weights in W and P, the day masks of W and of the last 7
              days, feature flags, shares (and the week mask and workflow counts with personas), with every bound
              an expression of `snap` (W = [snap - window, snap), ...). `reach` is the longest look-back of any
              column (2 windows; 7 days; the longest workflow), so an event joins only the snapshots whose windows
              hold it: with monthly snapshots and a 30-day window two or three of them.
    history   every classified event GROUP BY (account, user, reason, interval), interval = the number of snapshots
              at or before ts (an event counts for snapshot j exactly when interval <= j, i.e. ts < snapshot j):
              rows read (and duplicates folded in), the latest instant, the activation step counts; unknown
              accounts classified on the grouped rows as the ordinary read does.

In pandas (:func:`cumulative`) the history rows become each snapshot's "ever" columns (`last_active_epoch`: the
running maximum over the intervals; `step_<i>`: the running sum), for every (account, user) that has any accepted
event at all, as the ordinary read gives a row to each of them whether or not it was active before the snapshot;
the windowed rows fill in the counts (0 where none). Each snapshot's rows then go through the ordinary roll-up
(`rollup.roll_up`) and `read_window` as :attr:`load.SharedReads.event_rows`. The events report (read, accepted,
rejected per reason, with samples) does not depend on the snapshot: it is computed once, from the history rows.

Why the day pre-aggregation is exact: with snapshots on UTC midnights and whole-day windows, every bound is a
midnight, so an event belongs to a window exactly when any instant strictly inside its day does; its day bucket
floor((snap - ts) / 1 day) is that of the day's other inner instants too, except for an event exactly at midnight
(one bucket higher). The events are therefore grouped by (day, at midnight or not) and each group is placed at
its day's midnight or one second after it. Sums of weights become weight x count (the same number for the integral
weights of a configuration; for fractional ones they can differ in the last bit, as the database's own parallel
sums can).

Dialects: DuckDB and PostgreSQL OR the day masks with bit_or; SQLite has no bit_or, and a day mask there is the
SUM(DISTINCT ...) of its single-bit terms (the sum of distinct powers of two is their OR). Windows longer than the
64-bit mask (`rollup.MAX_MASK_DAYS`) and other dialects keep the per-snapshot read (:func:`grouped_pass`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement, FromClause, Select

from healthsync.connector.settings import Settings
from healthsync.connector.sources.frames import TableReport, reason_counts
from healthsync.connector.sources.load import OpenedSource, _classified, _frame, _samples, _translated
from healthsync.connector.sources.pushdown import DAY, Classified, DayFloor, Window, known_or_unknown
from healthsync.connector.sources.rollup import MAX_MASK_DAYS, roll_up
from healthsync.connector.sources.sqlfunctions import BitOr, CountIf, DayBit
from healthsync.scoring.config import ScoringConfig

GROUPED_DIALECTS = frozenset({"duckdb", "postgresql", "sqlite"})
BIT_OR_DIALECTS = frozenset({"duckdb", "postgresql"})
KEYS = ("account_id", "user_id")


def grouped_pass(dialect: str, window_days: int) -> bool:
    """Whether the snapshots' event pass runs grouped (here) rather than once per snapshot."""
    return dialect in GROUPED_DIALECTS and max(window_days, 7) <= MAX_MASK_DAYS


def reach_days(config: ScoringConfig) -> int:
    """How many days before a snapshot its windowed columns look: two windows, the last 7 days, the workflows."""
    return max(2 * config.window_days, 7, *(flow.within_days for _, flow in config.workflows()))


def snapshot_list(snapshots: Sequence[float]) -> FromClause:
    """The snapshots as a derived table with one column, `snap` (epoch seconds)."""
    parts = [sa.select(sa.literal(float(moment), sa.Float()).label("snap")) for moment in snapshots]
    return (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("hs_snaps")


def interval_of(ts: ColumnElement[Any], snapshots: Sequence[float]) -> ColumnElement[int]:
    """The number of (sorted) snapshots at or before `ts`: an event counts before snapshot j when this is <= j."""
    whens = [(ts < sa.literal(float(moment), sa.Float()), sa.literal(index)) for index, moment in enumerate(snapshots)]
    return sa.case(*whens, else_=sa.literal(len(snapshots)))


def _double(value: float) -> ColumnElement[float]:
    """A DOUBLE constant (a plain `9.0` is a DECIMAL on DuckDB, whose arithmetic is slower)."""
    return sa.cast(sa.literal(float(value), sa.Float()), sa.Double())


def _source(events: Classified, config: ScoringConfig, snapshots: Sequence[float], reach: float) -> FromClause:
    """The accepted events the windows can hold, with the per-event columns folded in (`n` events, `wsum` their
    weights, `f_<i>` feature flags, `sn_<i>`/`sd_<i>` share counts, `wf_<i>` workflow counts): one row per account,
    user and day part when every snapshot is a UTC midnight (see the module docstring), else one row per event."""
    rows = events.accepted
    near = sa.and_(
        rows.c.ts >= sa.literal(min(snapshots) - reach, sa.Float()), rows.c.ts < sa.literal(max(snapshots), sa.Float())
    )
    default = _double(config.default_weight)
    weights = {event: _double(value) for event, value in config.weights.items()}
    weight = sa.case(weights, value=rows.c.event, else_=default) if weights else default
    one, zero = sa.literal_column("1", sa.Integer()), sa.literal_column("0", sa.Integer())
    folded: list[ColumnElement[Any]] = [sa.func.count().label("n"), sa.func.sum(weight).label("wsum")]
    for index, names in enumerate(config.features.values()):
        folded.append(sa.func.max(sa.case((rows.c.event.in_(names), one), else_=zero)).label(f"f_{index}"))
    for index, share in enumerate(config.shares.values()):
        folded.append(CountIf(rows.c.event.in_(share.events)).label(f"sn_{index}"))
        folded.append(CountIf(rows.c.event.in_(share.among)).label(f"sd_{index}"))
    for index, (_, flow) in enumerate(config.workflows() if config.personas else []):
        folded.append(CountIf(rows.c.event == flow.event).label(f"wf_{index}"))
    if all(moment % DAY == 0 for moment in snapshots):
        midnight = DayFloor(rows.c.ts / sa.literal(DAY, sa.Float())) * sa.literal(DAY, sa.Float())
        placed = midnight + sa.case((rows.c.ts > midnight, _double(1.0)), else_=_double(0.0))
    else:  # one group per instant: the same sums as one row per event
        placed = rows.c.ts
    keys = (rows.c.account_key, rows.c.user_key, placed)
    query = sa.select(*keys[:2], placed.label("ts"), *folded).where(near).group_by(*keys)
    return query.subquery("hs_daily")


def window_query(events: Classified, config: ScoringConfig, snapshots: Sequence[float], dialect: str) -> Select[Any]:
    """Per (snapshot, accepted account, user) with an event in its reach: the windowed columns of the one-pass
    query (`rollup.user_pass_query`), `snap` the snapshot's epoch seconds."""
    reach = reach_days(config) * DAY
    rows = _source(events, config, snapshots, reach)
    snaps = snapshot_list(snapshots)
    ts, snap = rows.c.ts, snaps.c.snap

    def before(days: float) -> ColumnElement[bool]:
        return sa.and_(ts >= snap - sa.literal(days * DAY, sa.Float()), ts < snap)

    window = config.window_days
    in_w = before(window)
    in_p = sa.and_(
        ts >= snap - sa.literal(2 * window * DAY, sa.Float()), ts < snap - sa.literal(window * DAY, sa.Float())
    )
    zero = sa.literal_column("0", sa.BigInteger())

    def total(condition: ColumnElement[bool], name: str, label: str) -> ColumnElement[Any]:
        return sa.cast(sa.func.sum(sa.case((condition, rows.c[name]), else_=zero)), sa.BigInteger()).label(label)

    def mask(condition: ColumnElement[bool], days: int, label: str) -> ColumnElement[Any]:
        bucket = DayFloor((snap - ts) / sa.literal(days * DAY, sa.Float()))
        bit = sa.case((condition, DayBit(bucket)), else_=zero)
        return (BitOr(bit) if dialect in BIT_OR_DIALECTS else sa.func.sum(sa.distinct(bit))).label(label)

    nothing = _double(0.0)
    columns: list[ColumnElement[Any]] = [
        total(in_w, "n", "events"),
        total(in_p, "n", "events_prev"),
        sa.func.sum(sa.case((in_w, rows.c.wsum), else_=nothing)).label("raw"),
        sa.func.sum(sa.case((in_p, rows.c.wsum), else_=nothing)).label("raw_prev"),
        mask(in_w, 1, "day_mask"),
        mask(before(7), 1, "day_mask_7d"),
    ]
    for index in range(len(config.features)):
        flag = sa.case((in_w, rows.c[f"f_{index}"]), else_=sa.literal_column("0", sa.Integer()))
        columns.append(sa.func.max(flag).label(f"feature_{index}"))
    for index in range(len(config.shares)):
        columns.append(total(in_w, f"sn_{index}", f"share_num_{index}"))
        columns.append(total(in_w, f"sd_{index}", f"share_den_{index}"))
    if config.personas:
        columns.append(mask(before(window // 7 * 7), 7, "week_mask"))
        for index, (_, flow) in enumerate(config.workflows()):
            columns.append(total(before(flow.within_days), f"wf_{index}", f"workflow_{index}"))
    joined = rows.join(snaps, sa.and_(ts >= snap - sa.literal(reach, sa.Float()), ts < snap))
    keys = (snap, rows.c.account_key, rows.c.user_key)
    return (
        sa.select(snap, rows.c.account_key.label("account_id"), rows.c.user_key.label("user_id"), *columns)
        .select_from(joined)
        .group_by(*keys)
    )


def history_query(events: Classified, config: ScoringConfig, snapshots: Sequence[float]) -> Select[Any]:
    """Per (account, user, reason, interval) over every classified event: `n_rows` (and `duplicates`), the latest
    instant `last_ts` and the activation step counts, unknown accounts classified (`pushdown.known_or_unknown`)."""
    rows = events.rows
    interval = interval_of(rows.c.ts, snapshots)
    columns: list[ColumnElement[Any]] = [sa.func.count().label("n_rows")]
    if "hs_dups" in rows.c:
        columns.append(sa.func.sum(rows.c.hs_dups).label("duplicates"))
    columns.append(sa.func.max(rows.c.ts).label("last_ts"))
    for index, step in enumerate(config.activation_steps):
        columns.append(CountIf(rows.c.event == step.event).label(f"step_{index}"))
    keys = (rows.c.account_key, rows.c.user_key, rows.c.reason, interval)
    query = sa.select(
        rows.c.account_key.label("account_id"),
        rows.c.user_key.label("user_id"),
        rows.c.reason,
        interval.label("hs_interval"),
        *columns,
    ).group_by(*keys)
    return known_or_unknown(query, events.accounts)


@dataclasses.dataclass(frozen=True)
class History:
    """Every accepted (account, user) (`keys`) and, per snapshot (columns), its latest instant before it (NaN when
    none) and its activation step counts before it."""

    keys: pd.DataFrame
    last: np.ndarray[Any, np.dtype[np.float64]]
    steps: list[np.ndarray[Any, np.dtype[np.int64]]]


def cumulative(history: pd.DataFrame, snapshots: int, steps: int) -> History:
    """The "ever" columns of each snapshot from the rows of :func:`history_query` (accepted rows only count)."""
    accepted = history[history["reason"].isna()]
    keys = accepted.loc[:, list(KEYS)].drop_duplicates().reset_index(drop=True)
    index = pd.MultiIndex.from_frame(keys)
    row = index.get_indexer(pd.MultiIndex.from_frame(accepted.loc[:, list(KEYS)]))
    interval = pd.to_numeric(accepted["hs_interval"]).to_numpy(dtype=np.int64)
    last = np.full((len(keys), snapshots + 1), -np.inf)
    latest = pd.to_numeric(accepted["last_ts"], errors="coerce").to_numpy(dtype=np.float64)
    np.maximum.at(last, (row, interval), np.nan_to_num(latest, nan=-np.inf))
    running = np.maximum.accumulate(last, axis=1)[:, :snapshots]
    counts = []
    for step in range(steps):
        grid = np.zeros((len(keys), snapshots + 1), dtype=np.int64)
        values = pd.to_numeric(accepted[f"step_{step}"]).fillna(0).to_numpy(dtype=np.int64)
        np.add.at(grid, (row, interval), values)
        counts.append(np.cumsum(grid, axis=1)[:, :snapshots])
    return History(keys, np.where(np.isneginf(running), np.nan, running), counts)


def snapshot_rows(history: History, windowed: pd.DataFrame, found: np.ndarray[Any, Any], position: int) -> pd.DataFrame:
    """The one-pass rows (`rollup.user_pass_query`'s accepted rows) of snapshot number `position`: a row per
    accepted (account, user), its windowed columns from `windowed` (that snapshot's rows, `found` their positions
    among the keys, -1 for an unknown account's), 0 where it has none."""
    frame = history.keys.copy()
    frame["reason"] = None
    kept = found >= 0
    for name in [name for name in windowed.columns if name not in (*KEYS, "snap")]:
        values = pd.to_numeric(windowed[name], errors="coerce").fillna(0)
        dtype = np.float64 if name.startswith("raw") else np.int64
        column = np.zeros(len(frame), dtype=dtype)
        column[found[kept]] = values.to_numpy(dtype=dtype)[kept]
        frame[name] = column
    frame["last_active_epoch"] = history.last[:, position]
    for step, counts in enumerate(history.steps):
        frame[f"step_{step}"] = counts[:, position]
    return frame


def split(windowed: pd.DataFrame, snapshots: Sequence[float]) -> list[np.ndarray[Any, np.dtype[np.intp]]]:
    """The positions of the windowed rows of each snapshot, in the order of `snapshots`."""
    snap = pd.to_numeric(windowed["snap"]).round().to_numpy()
    return [np.flatnonzero(snap == round(moment)) for moment in snapshots]


def event_rows(
    raw_history: pd.DataFrame,
    windowed: pd.DataFrame,
    snapshots: Sequence[float],
    config: ScoringConfig,
    *,
    with_users: bool,
) -> tuple[list[tuple[pd.DataFrame, pd.DataFrame | None]], TableReport]:
    """Per snapshot, (account rows, user rows when `with_users`) as `load._event_pass` returns them, and the one
    events report."""
    history = cumulative(raw_history, len(snapshots), len(config.activation_steps))
    keys = pd.MultiIndex.from_frame(history.keys)
    found = keys.get_indexer(pd.MultiIndex.from_frame(windowed.loc[:, list(KEYS)]))
    out: list[tuple[pd.DataFrame, pd.DataFrame | None]] = []
    for position, rows in enumerate(split(windowed, snapshots)):
        both = snapshot_rows(history, windowed.iloc[rows], found[rows], position)
        accounts, users = roll_up(both, config)
        out.append((accounts, users if with_users else None))
    return out, reason_counts("events", raw_history)


def read_event_rows(
    opened: OpenedSource, settings: Settings, snapshots: Sequence[datetime], now: datetime, *, with_users: bool
) -> tuple[list[tuple[pd.DataFrame, pd.DataFrame | None]], TableReport]:
    """The event pass of every snapshot (sorted, distinct) in two queries; the report with its samples, once."""
    conn, tables = opened.conn, opened.tables
    config = settings.scoring
    window = Window(snapshots[-1].timestamp(), now.timestamp(), config.window_days)
    events = _classified(conn, tables, window)
    moments = [moment.timestamp() for moment in snapshots]
    label = f"aggregating {tables.labels['events']} per snapshot"
    with _translated(label):
        windowed = _frame(conn, window_query(events, config, moments, conn.dialect.name))
        history = _frame(conn, history_query(events, config, moments))
        rows, report = event_rows(history, windowed, moments, config, with_users=with_users)
        if report.rejected and settings.source.sample_rows > 0:
            report.samples = _samples(conn, tables, events, list(report.rejected), settings.source.sample_rows, window)
    return rows, report
