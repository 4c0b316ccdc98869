"""The score replayed as of past snapshots, joined to the outcomes that followed (`healthsync backtest`).

Rules (README "Backtest"; `healthsync backtest --help`):
- the snapshots are `from + k * every` up to `to`; by default the 12 latest monthly (30-day) snapshots the data
  allow, the last one `horizon` before the end of the data, none earlier than one window after the first event;
- the end of the data is `scoring.as_of` when set, else the latest accepted event;
- each snapshot's score table is the one `healthsync score` computes with `as_of` = the snapshot (every account of
  the accounts table, p90 over those with raw > 0 in that window, the configured curve and tiers); its windows end
  strictly before the snapshot, so no later event reaches it. An account whose churn date lies after the snapshot
  is live there: its status `churned` is read as `paying` for that snapshot's plays;
- an (account, snapshot) pair counts when the account existed (`created_at` <= snapshot, or none), had not churned
  (no churn date, or one after the snapshot; a `churned` status without a date leaves the account out), and
  snapshot + horizon <= the end of the data;
- churn: the churn date (`churned_at`) falls in (snapshot, snapshot + horizon]; expansion: the outcomes table has an
  `expansion` row in that interval.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
import sqlalchemy as sa

from healthsync.connector.pipeline import score_data
from healthsync.connector.settings import Settings
from healthsync.connector.sources.frames import TableReport, utc
from healthsync.connector.sources.load import (
    OpenedSource,
    SharedReads,
    SourceData,
    concurrently,
    opened_source,
    read_activation,
    read_entities,
    read_trial,
    read_window,
    validated_users,
)
from healthsync.connector.sources.pushdown import DAY
from healthsync.connector.sources.snapshot_pass import EventRows, grouped_pass, read_pass, scan_from
from healthsync.connector.sources.snapshots import (
    WindowCounts,
    event_counts,
    event_span,
    read_accounts,
    read_outcomes,
)
from healthsync.connector.sources.trial import TrialRange, trial_range
from healthsync.errors import ConfigError, SourceError
from healthsync.scoring import explain_columns
from healthsync.scoring.backtest import Outcome
from healthsync.scoring.config import ScoringConfig

log = logging.getLogger("healthsync")
T = TypeVar("T")
DEFAULT_SNAPSHOTS = 12
MAX_PROCESSES = 4  # the snapshots' scoring, spread over forked processes (each holds a score table's working set)
GROUPED = True  # False: one event pass per snapshot on every dialect (the parity tests' reference)
TABLE_COLUMNS = (
    "account_id",
    "name",
    "health_score",
    "raw_score",
    "health_tier",
    "total_users",
    "plays",
    "score_reasons",
    "score_movers",
    "score_change",
    "days_to_activation",
)
EXPLAINED = ("score_reasons", "score_movers")  # written by explain_rows, not by each snapshot's scoring
CHURN_HINT = "map the accounts' churn date column with source.columns.accounts.churned_at"
EXPANSION_HINT = "name the outcomes table with source.outcomes (account_id, outcome, occurred_at, value)"


@dataclass(frozen=True)
class BacktestRequest:
    """What `healthsync backtest` was asked for; `outcomes` empty = every outcome the source maps."""

    start: datetime | None = None
    end: datetime | None = None
    every_days: int = 30
    horizon_days: int = 90
    outcomes: tuple[Outcome, ...] = ()


@dataclass
class Replay:
    """The score tables of every snapshot (one frame, a `snapshot` column), the per-event counts of each
    snapshot's window, the pairs per outcome, and what was left out and why.

    The snapshots are scored without their sentences (`score_accounts(texts=False)`); `score_reasons` and
    `score_movers` are filled in by :meth:`explain_positives` for the positive pairs (the misses the report lists
    are among them) and by :meth:`explain` for any other rows asked for (the `--pairs` file): the same texts, from
    the same per-event counts, at a fraction of the cost of explaining every account of every snapshot."""

    snapshots: list[datetime]
    data_end: datetime
    tables: pd.DataFrame
    counts: WindowCounts
    pairs: dict[Outcome, pd.DataFrame]
    config: ScoringConfig
    notes: list[str] = field(default_factory=list)

    def explain(self, rows: np.ndarray[Any, np.dtype[np.bool_]]) -> None:
        """Fill `score_reasons` and `score_movers` of the chosen rows of :attr:`tables` (where still empty)."""
        explain_rows(self.tables, rows, self.counts, self.config)

    def explain_positives(self) -> None:
        """Explain the positive pairs (the misses the report lists are among them), in :attr:`tables` and in
        :attr:`pairs`."""
        self.explain(pair_rows(len(self.tables), self.pairs, positive_only=True))
        self.pairs = {
            outcome: found.assign(**{name: self.tables.loc[found.index, name] for name in EXPLAINED})
            for outcome, found in self.pairs.items()
        }


def _day(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def snapshot_dates(
    first: datetime, data_end: datetime, window_days: int, request: BacktestRequest
) -> tuple[list[datetime], list[str]]:
    """The snapshot instants (midnight UTC) and notes on the ones left out (see the module docstring)."""
    every = timedelta(days=request.every_days)
    latest = data_end - timedelta(days=request.horizon_days)
    earliest = first + timedelta(days=window_days)
    notes: list[str] = []
    if request.start is not None:
        end = min(request.end, latest) if request.end is not None else latest
        if request.end is not None and request.end > latest:
            notes.append(f"snapshots after {latest:%Y-%m-%d} left out: their horizon ends after the data")
        dates = []
        moment = request.start
        while moment <= end:
            dates.append(moment)
            moment += every
        return dates, notes
    end = _day(min(request.end, latest) if request.end is not None else latest)
    dates = [end - index * every for index in range(DEFAULT_SNAPSHOTS)]
    kept = sorted(moment for moment in dates if moment >= earliest)
    if len(kept) < len(dates):
        notes.append(f"snapshots before {earliest:%Y-%m-%d} left out: less than one window of events before them")
    return kept, notes


def _accounts_then(accounts: pd.DataFrame, snapshot: datetime) -> pd.DataFrame:
    """The accounts as they were at the snapshot: churned later means live (status `paying`) there."""
    if "churned_at" not in accounts or "status" not in accounts:
        return accounts
    later = utc(accounts["churned_at"]) > pd.Timestamp(snapshot)
    live = later & accounts["status"].astype(str).eq("churned")
    if not live.any():
        return accounts
    return accounts.assign(status=accounts["status"].astype(object).where(~live, "paying"))


def _as_of_then(data: SourceData, snapshot: datetime) -> SourceData:
    """The source data with the accounts as they were at the snapshot (:func:`_accounts_then`)."""
    return dataclasses.replace(data, accounts=_accounts_then(data.accounts, snapshot))


def _entity_columns(accounts: pd.DataFrame, wanted: tuple[Outcome, ...]) -> pd.DataFrame:
    """account_id, created_at and churned_at (typed), refusing a churn date column that is missing or bad."""
    if "churned_at" not in accounts:
        if "churn" in wanted:
            raise ConfigError(
                f"backtest --outcome churn: the accounts have no churn date column 'churned_at': {CHURN_HINT}"
            )
        churned = pd.Series(pd.NaT, index=accounts.index, dtype="datetime64[us, UTC]")
    else:
        churned = utc(accounts["churned_at"])
        text = accounts["churned_at"].astype("string").str.strip()
        bad = churned.isna() & text.notna() & text.ne("")
        if bad.any():
            first = accounts.loc[bad, "account_id"].iloc[0]
            raise SourceError(
                f"accounts: churned_at {accounts.loc[bad, 'churned_at'].iloc[0]!r} of account {first!r} is not a "
                f"date or timestamp ({int(bad.sum())} such rows)"
            )
    status = accounts["status"] if "status" in accounts else pd.Series(None, index=accounts.index)
    return pd.DataFrame(
        {
            "account_id": accounts["account_id"].astype(str),
            "created_at": utc(accounts["created_at"]),
            "churned_at": churned,
            "undated_churn": status.astype(str).eq("churned") & churned.isna(),
        }
    )


def wanted_outcomes(request: BacktestRequest, settings: Settings, accounts: pd.DataFrame) -> tuple[Outcome, ...]:
    """The outcomes to evaluate; exit 2 naming what to map when one asked for (or every one) has no data."""
    if request.outcomes:
        if "expansion" in request.outcomes and not settings.source.outcomes:
            raise ConfigError(f"backtest --outcome expansion: no outcomes table: {EXPANSION_HINT}")
        return request.outcomes
    found: list[Outcome] = []
    if "churned_at" in accounts:
        found.append("churn")
    if settings.source.outcomes:
        found.append("expansion")
    if not found:
        raise ConfigError(f"backtest: no outcome to test the score against: {CHURN_HINT}, or {EXPANSION_HINT}")
    return tuple(found)


def replay(settings: Settings, request: BacktestRequest, now: datetime | None = None) -> Replay:
    """The score table of every snapshot from the source opened once: the per-event counts of every window in one
    scan, the event pass of every snapshot grouped (`snapshot_pass.py`; one read per snapshot where it does not
    apply), activation, trial and entities read once."""
    now = now or datetime.now(UTC)
    scoring = settings.scoring
    with opened_source(settings) as opened:
        first, last = event_span(opened, now)
        if first is None or last is None:
            raise SourceError(f"backtest: {opened.tables.labels['events']} holds no accepted event")
        data_end = scoring.as_of or last
        snapshots, notes = snapshot_dates(first, data_end, scoring.window_days, request)
        if not snapshots:
            raise ConfigError(
                f"backtest: no snapshot fits: the events run from {first:%Y-%m-%d} to {data_end:%Y-%m-%d}, and a "
                f"snapshot needs one window ({scoring.window_days} days) before it and the horizon "
                f"({request.horizon_days} days) after it"
            )
        entities_raw = read_entities(opened)
        accounts = read_accounts(entities_raw[0], now)
        wanted = wanted_outcomes(request, settings, accounts)
        entities = _entity_columns(accounts, wanted)
        span = _trial_span(accounts, settings, snapshots)
        with_users = scoring.needs_user_activity()
        grouped, (counts, moments, trial) = _event_reads(opened, settings, snapshots, now, with_users, span, first)
        trial_at = TrialAt(trial, accounts, span)
        users = validated_users(opened, entities_raw[1], accounts, settings.source.sample_rows)
        # the per-event counts feed only the sentences, which the snapshots are scored without (Replay.explain)
        per_event = _NO_COUNTS if scoring.weights else None

        def scored(index: int) -> pd.DataFrame:
            snapshot = snapshots[index]
            rows = None if grouped is None else (*grouped[0].at(index), copy.deepcopy(grouped[1]))
            shared = SharedReads(
                moments.at(index, snapshot),
                per_event,
                trial_at(snapshot),
                entities_raw,
                rows,
                users,
                scan_from(snapshots, scoring),
            )
            data = read_window(opened, settings, snapshot, now, with_users=with_users, shared=shared)
            table = score_data(_as_of_then(data, snapshot), scoring, snapshot, with_users=False, texts=False).accounts
            log.info("backtest snapshot %d/%d (%s) scored", index + 1, len(snapshots), f"{snapshot:%Y-%m-%d}")
            return table.loc[:, list(TABLE_COLUMNS)].assign(snapshot=pd.Timestamp(snapshot))

        frames = each_snapshot(scored, len(snapshots), parallel=grouped is not None)
        outcomes = read_outcomes(opened, settings) if "expansion" in wanted else None
    if outcomes is not None:
        notes += _outcome_notes(outcomes, accounts)
    tables = pd.concat(frames, ignore_index=True).merge(entities, on="account_id", how="left")
    pairs = {outcome: _pairs(tables, outcome, outcomes, data_end, request) for outcome in wanted}
    return Replay(snapshots, data_end, tables, counts, pairs, scoring, notes)


def pair_rows(
    size: int, pairs: dict[Outcome, pd.DataFrame], *, positive_only: bool
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which of the `size` rows of the score tables are a pair of some outcome (only its positive pairs with
    `positive_only`): the pairs keep the tables' row labels."""
    rows = np.zeros(size, dtype=bool)
    for found in pairs.values():
        rows[found.index[found["positive"].to_numpy(bool)] if positive_only else found.index] = True
    return rows


def explain_rows(
    tables: pd.DataFrame, rows: np.ndarray[Any, np.dtype[np.bool_]], counts: WindowCounts, config: ScoringConfig
) -> None:
    """`score_reasons` and `score_movers` of the chosen rows of `tables` still without them, written in place: the
    explanation `healthsync score` gives (`scoring.explain.explain_columns`), from the per-event counts of the
    row's snapshot (W and P, as the snapshot's own read passed them to its scoring)."""
    wanted = rows & tables["score_reasons"].isna().to_numpy(dtype=bool)
    if not wanted.any():
        return
    chosen = tables.loc[wanted, ["snapshot", "account_id", "raw_score", "health_score", "score_change"]]
    weighted = list(config.weights)
    for moment, group in chosen.groupby("snapshot", sort=False):
        position = counts.position(moment)
        activity = pd.DataFrame({"account_id": group["account_id"].astype(str).to_numpy()})
        for prefix, which in (("count__", "w"), ("count_prev__", "p")):
            grid = counts.grid(position, group["account_id"], weighted, which)
            activity = activity.assign(**{f"{prefix}{event}": grid[:, index] for index, event in enumerate(weighted)})
        texts = explain_columns(group["account_id"], activity, group, config)
        for name in EXPLAINED:
            tables.loc[group.index, name] = texts[name]


def processes(count: int) -> int:
    """How many processes score the snapshots: `HEALTHSYNC_BACKTEST_PROCESSES` when set, else one per available
    core up to :data:`MAX_PROCESSES`; 1 where `fork` is not the platform's safe default (only Linux here) or with
    fewer than two snapshots."""
    setting = os.environ.get("HEALTHSYNC_BACKTEST_PROCESSES", "").strip()
    if setting:
        try:
            wanted = int(setting)
        except ValueError:
            raise ConfigError(f"HEALTHSYNC_BACKTEST_PROCESSES={setting!r} is not a whole number") from None
    else:
        wanted = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1, MAX_PROCESSES)
    if sys.platform != "linux" or count < 2:
        return 1
    return max(1, min(wanted, count))


_WORK: list[Callable[[int], Any]] = []  # what a forked worker runs (inherited, never pickled)


def _forked(index: int) -> Any:
    return _WORK[0](index)


@contextmanager
def _pool(work: Callable[[int], Any], workers: int) -> Iterator[ProcessPoolExecutor]:
    """Up to `workers` processes forked (on first use) from this one, running `work` (inherited by the fork, never
    pickled). A process pool that notices a worker dying (BrokenProcessPool) instead of waiting for it forever: a
    forked child of a process with threads can die (seen once in CI: the run hung on a multiprocessing.Pool)."""
    _WORK[:] = [work]
    try:
        with warnings.catch_warnings():  # Python 3.12+ warns on fork in a process with threads (the database's)
            warnings.simplefilter("ignore", DeprecationWarning)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                yield pool
    finally:
        _WORK.clear()


def each_snapshot(work: Callable[[int], pd.DataFrame], count: int, *, parallel: bool) -> list[pd.DataFrame]:
    """`work(i)` for every snapshot i, in order: spread over :func:`processes` forked processes when `parallel`.

    The snapshots' scoring is pandas work that holds the GIL, so threads would not help; forked workers inherit
    the rows read once (nothing is pickled on the way in, only each 10k-row score table on the way back) and never
    touch the source: every read they need was made before the fork (`parallel` says so: the grouped pass ran).
    Should a worker die, the snapshots are scored in this process instead (logged)."""
    workers = processes(count) if parallel else 1
    if workers == 1:
        return [work(index) for index in range(count)]
    try:
        with _pool(work, workers) as pool:
            return list(pool.map(_forked, range(count)))
    except BrokenProcessPool:
        log.warning("a forked backtest worker died; scoring the snapshots in this process")
        return [work(index) for index in range(count)]


@contextmanager
def beside(work: Callable[[], T]) -> Iterator[Callable[[], T]]:
    """`work()` in a forked process while the body of the `with` goes on in this one; the callable it gives waits
    for the result (an exception in the fork is raised there; should the fork die, `work()` runs here). The
    backtest fits its suggestion (scikit-learn's import and the fit: single-threaded) this way while it explains
    the misses and computes the metrics (single-threaded too): two cores, not one. Run in this process, when
    called, where :func:`processes` allows one."""
    if processes(2) == 1:
        yield work
        return
    with _pool(lambda _: work(), 1) as pool:
        pending = pool.submit(_forked, 0)

        def result() -> T:
            try:
                return cast(T, pending.result())
            except BrokenProcessPool:
                log.warning("the forked backtest worker died; fitting the suggestion in this process")
                return work()

        yield result


def _outcome_notes(outcomes: pd.DataFrame, accounts: pd.DataFrame) -> list[str]:
    """What of the outcomes table the backtest does not use, counted (nothing is dropped without a word)."""
    notes = []
    other = outcomes[~outcomes["outcome"].eq("expansion")]
    if len(other):
        kinds = ", ".join(sorted(other["outcome"].unique())[:5])
        notes.append(f"outcomes: {len(other)} of {len(outcomes)} rows are not `expansion` ({kinds}) and are not used")
    unknown = ~outcomes["account_id"].isin(accounts["account_id"].astype(str))
    if unknown.any():
        first = outcomes.loc[unknown, "account_id"].iloc[0]
        notes.append(f"outcomes: {int(unknown.sum())} rows name an account not in the accounts table (e.g. {first!r})")
    return notes


@dataclass(frozen=True)
class Moments:
    """The activation moments of every snapshot: those of all the history read (each snapshot keeps those before
    it: :func:`_moments_at`), and for a snapshot whose lookback starts after the first event (`scoring.lookback_days`
    cuts its history) its own, read as `healthsync score` reads them."""

    history: pd.DataFrame | None
    own: dict[int, pd.DataFrame | None] = field(default_factory=dict)

    def at(self, index: int, snapshot: datetime) -> pd.DataFrame | None:
        return self.own[index] if index in self.own else _moments_at(self.history, snapshot)


SideReads = tuple[WindowCounts, Moments, pd.DataFrame | None]  # per-event counts, activation, trial


def _event_reads(
    opened: OpenedSource,
    settings: Settings,
    snapshots: list[datetime],
    now: datetime,
    with_users: bool,
    span: TrialRange | None,
    first: datetime,
) -> tuple[tuple[EventRows, TableReport] | None, SideReads]:
    """The event pass of every snapshot grouped (`snapshot_pass.py`; None where the dialect or the window keeps one
    pass per snapshot, which `read_window` then runs) and the reads beside it (:func:`_side_reads`). Those run in a
    second session (where the dialect gains from one: `load.concurrently`) while this process rolls the grouped
    pass up: the database's threads and this one work at once, and only the pass is on the way to the scoring."""
    window_days = settings.scoring.window_days
    if not GROUPED or not grouped_pass(opened.conn.dialect.name, window_days):
        return None, _side_reads(opened, settings, snapshots, now, span, first)
    fetched = read_pass(opened, settings, snapshots, now)

    def side(session: sa.Connection) -> SideReads:
        return _side_reads(dataclasses.replace(opened, conn=session), settings, snapshots, now, span, first)

    with concurrently(opened.conn, f"counting {opened.tables.labels['events']} per snapshot", side) as reads:
        grouped = fetched.rows(opened, settings, with_users=with_users)
        return grouped, reads()


def _side_reads(
    opened: OpenedSource,
    settings: Settings,
    snapshots: list[datetime],
    now: datetime,
    span: TrialRange | None,
    first: datetime,
) -> SideReads:
    """The per-event counts of every snapshot's windows, the activation moments (:class:`Moments`: of all the
    history read, and one read per snapshot whose lookback starts after the first event) and the trial events of
    the accounts whose trial any snapshot reads (None when none does), all from the snapshots' shared scan bound."""
    config = settings.scoring
    since = scan_from(snapshots, config)
    counts = event_counts(opened, snapshots, config.window_days, now, since)
    moments = Moments(read_activation(opened, settings, now, now, since=since, lookback=False))
    if config.activation_steps:
        for index, snapshot in enumerate(snapshots):
            if snapshot.timestamp() - config.lookback_days * DAY > first.timestamp():
                moments.own[index] = read_activation(opened, settings, snapshot, now, since=since)
    trial = None if span is None else read_trial(opened, span, snapshots[-1], now, config.window_days, since)
    return counts, moments, trial


def _trial_span(accounts: pd.DataFrame, settings: Settings, snapshots: list[datetime]) -> TrialRange | None:
    """The account starts whose trial events any snapshot's trial signal reads (the union of each snapshot's)."""
    spans = []
    for snapshot in snapshots:
        found = trial_range(_accounts_then(accounts, snapshot), settings.scoring, snapshot)
        if found is not None:
            spans.append(found)
    if not spans:
        return None
    return TrialRange(min(s.first_start for s in spans), max(s.last_start for s in spans), spans[0].days)


class TrialAt:
    """The trial events as each snapshot's own read counts them: only accounts whose trial ended before the
    snapshot (the only ones its signal reads); their trial lies wholly before it, so the counts read once are
    theirs. Each row's trial end is looked up once, not per snapshot."""

    def __init__(self, trial: pd.DataFrame | None, accounts: pd.DataFrame, span: TrialRange | None) -> None:
        self.trial = trial
        self.ends: np.ndarray[Any, Any] = np.array([], dtype=np.float64)
        if trial is None or span is None:
            self.trial = None
            return
        started = utc(accounts["created_at"]) + pd.Timedelta(days=span.days)
        epoch = (started - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        # an account listed twice has ended its trial once any of its rows has
        earliest = pd.Series(epoch.to_numpy(), index=accounts["account_id"].astype(str)).groupby(level=0).min()
        found = earliest.reindex(trial["account_id"].astype(str))
        self.ends = found.to_numpy(dtype=np.float64, na_value=np.nan)

    def __call__(self, snapshot: datetime) -> pd.DataFrame | None:
        if self.trial is None:
            return None
        done = self.ends <= snapshot.timestamp()  # NaN (no start, or an unknown account) is never done
        return self.trial[done].reset_index(drop=True)


def _moments_at(moments: pd.DataFrame | None, snapshot: datetime) -> pd.DataFrame | None:
    """The activation moments as of `snapshot`, from those of all history: an account whose steps were all met
    before the snapshot was met at the same instant then; one met at or after it was not met yet."""
    if moments is None:
        return None
    epoch = pd.to_numeric(moments["activated_epoch"], errors="coerce")
    return moments.assign(activated_epoch=epoch.where(epoch < snapshot.timestamp()))


_NO_COUNTS = pd.DataFrame({"account_id": [], "event": [], "w": [], "p": []})


def counted(tables: pd.DataFrame, data_end: datetime, horizon_days: int) -> pd.Series:
    """Which (account, snapshot) rows are pairs (see the module docstring)."""
    snapshot = tables["snapshot"]
    existed = tables["created_at"].isna() | (tables["created_at"] <= snapshot)
    live = tables["churned_at"].isna() | (tables["churned_at"] > snapshot)
    fits = snapshot + pd.Timedelta(days=horizon_days) <= pd.Timestamp(data_end)
    return existed & live & ~tables["undated_churn"].astype(bool) & fits


def _pairs(
    tables: pd.DataFrame,
    outcome: Outcome,
    outcomes: pd.DataFrame | None,
    data_end: datetime,
    request: BacktestRequest,
) -> pd.DataFrame:
    pairs = tables[counted(tables, data_end, request.horizon_days)].copy()
    horizon = pd.Timedelta(days=request.horizon_days)
    if outcome == "churn":
        occurred = pairs["churned_at"]
    else:
        occurred = _first_outcome_after(pairs, outcomes, "expansion", horizon)
    within = (occurred > pairs["snapshot"]) & (occurred <= pairs["snapshot"] + horizon)
    return pairs.assign(positive=within.fillna(False).astype(bool), occurred_at=occurred.where(within))


def _first_outcome_after(
    pairs: pd.DataFrame, outcomes: pd.DataFrame | None, name: str, horizon: pd.Timedelta
) -> pd.Series:
    """Per pair, the first `name` outcome of its account in (snapshot, snapshot + horizon] (NaT when none)."""
    empty = pd.Series(pd.NaT, index=pairs.index, dtype="datetime64[us, UTC]")
    if outcomes is None or pairs.empty:
        return empty
    rows = outcomes.loc[outcomes["outcome"].eq(name), ["account_id", "occurred_at"]]
    joined = pairs[["account_id", "snapshot"]].reset_index().merge(rows, on="account_id", how="inner")
    inside = (joined["occurred_at"] > joined["snapshot"]) & (joined["occurred_at"] <= joined["snapshot"] + horizon)
    first = joined[inside].groupby("index")["occurred_at"].min()
    return empty.combine_first(first.astype(empty.dtype)).reindex(pairs.index)


def describe(replay_: Replay, request: BacktestRequest) -> dict[str, Any]:
    """The header of the JSON result: snapshots, horizon, cadence, end of data and notes."""
    from healthsync.scoring.backtest import iso, tier_mix

    counted_rows = replay_.tables[counted(replay_.tables, replay_.data_end, request.horizon_days)]
    return {
        "snapshots": [iso(moment) for moment in replay_.snapshots],
        "horizon_days": request.horizon_days,
        "every_days": request.every_days,
        "data_end": iso(replay_.data_end),
        "tier_mix": tier_mix(counted_rows),
        "notes": replay_.notes,
    }
