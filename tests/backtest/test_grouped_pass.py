"""The backtest's grouped event pass (`connector/sources/snapshot_pass.py`) against one ordinary pass per snapshot.

A product with personas, workflows (one looking back further than two windows), features, a share, activation
steps, fractional weights, events exactly at midnight, duplicated event ids, rejected rows, an unknown account, a
user missing from the users table and a user active only after the last snapshot: the score tables of every
snapshot are equal, column by column, on DuckDB (files), SQLite and PostgreSQL, for snapshots on UTC midnights (the
events counted per day first) and off them (per event), and with a `lookback_days` shorter than the history before
every snapshot (the latest event and the activation steps counted within each snapshot's own lookback).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from healthsync.connector.backtest.replay import TABLE_COLUMNS, BacktestRequest, replay
from healthsync.connector.settings import load_settings
from healthsync.connector.sources import load, snapshot_pass
from healthsync.connector.sources.load import SourceData
from healthsync.connector.sources.pushdown import DAY
from healthsync.connector.sources.snapshot_pass import (
    Daily,
    KeyCoder,
    _mask,
    _sums,
    cumulative,
    grouped_pass,
    instant_order,
    reach_days,
)
from healthsync.connector.sources.snapshots import WindowCounts, count_query
from healthsync.scoring.config import ScoringConfig
from tests.backtest.product import END, START, make_product

replay_module = importlib.import_module("healthsync.connector.backtest.replay")  # the package exports replay()
NOW = END + timedelta(days=1)
RICH: dict[str, Any] = {
    "as_of": END.isoformat(),
    "window_days": 30,
    "weights": {"core_action": 2.5, "noise_action": 0.5, "report_viewed": 3},
    "features": {"core": ["core_action"], "reports": ["report_viewed"], "noise": ["noise_action"]},
    "activation_steps": [
        {"event": "core_action", "min_count": 15},
        {"event": "noise_action", "min_count": 5},
        {"event": "report_viewed"},
    ],
    "personas": {
        "member": {
            "label": "member",
            "workflows": [
                {"name": "core", "event": "core_action", "min_count": 3, "within_days": 7},
                {"name": "reports", "event": "report_viewed", "min_count": 1, "within_days": 90},
            ],
        },
        "admin": {
            "label": "admin",
            "key": False,
            "workflows": [{"name": "noise", "event": "noise_action", "min_count": 1, "within_days": 30}],
        },
    },
    "shares": {"noise": {"events": ["noise_action"], "among": ["core_action", "noise_action"], "label": "noise"}},
}
PLAIN: dict[str, Any] = {
    "as_of": END.isoformat(),
    "window_days": 21,
    "weights": {"core_action": 1, "noise_action": 10},
    "features": {"core": ["core_action"]},
    "activation_steps": [{"event": "core_action", "min_count": 15}],
    "plays": {"multi_user_activation": {"enabled": False}},
}


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    """The product's tables with the awkward rows added (see the module docstring)."""
    product = make_product(folder, accounts=40, seed=5)
    events = product.events.copy()
    rng = np.random.default_rng(1)
    midnight = rng.choice(len(events), 300, replace=False)
    stamps = pd.to_datetime(events["timestamp"], utc=True)
    events.loc[midnight, "timestamp"] = stamps.iloc[midnight].dt.floor("D").map(pd.Timestamp.isoformat).to_numpy()
    reports = events.sample(400, random_state=2).assign(event="report_viewed")
    extra = [
        ("acc0001", "acc0001-extra", "core_action", (START + timedelta(days=200, hours=3)).isoformat()),
        ("ghost", "ghost-u0", "core_action", (START + timedelta(days=300)).isoformat()),
        ("acc0002", None, "core_action", (START + timedelta(days=301)).isoformat()),
        ("acc0003", "acc0003-u0", "core_action", "not a date"),
        ("acc0004", "acc0004-late", "noise_action", (END - timedelta(days=2)).isoformat()),
    ]
    events = pd.concat([events, reports, pd.DataFrame(extra, columns=events.columns)], ignore_index=True)
    events["event_id"] = [f"e{index}" for index in range(len(events))]
    events = pd.concat([events, events.sample(50, random_state=3)], ignore_index=True)  # duplicated ids
    users = pd.read_csv(folder / "users.csv", dtype=str)
    users.loc[users["user_id"].str.endswith("-u2"), "role"] = "admin"
    accounts = pd.read_csv(folder / "accounts.csv", dtype=str, keep_default_na=False)
    return {"events": events, "accounts": accounts, "users": users}


def _write(folder: Path, frames: dict[str, pd.DataFrame], source: str, url: str, scoring: dict[str, Any]) -> Path:
    body: dict[str, Any] = {"scoring": scoring, "state": {"url": f"sqlite:///{folder / 'state.db'}"}}
    if source == "files":
        for name, frame in frames.items():
            frame.to_csv(folder / f"{name}.csv", index=False)
        body["source"] = {"kind": "files", **{name: f"{name}.csv" for name in frames}}
    else:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                for name, frame in frames.items():
                    frame.to_sql(name, conn, index=False, if_exists="replace")
        finally:
            engine.dispose()
        body["source"] = {"kind": "sql", "url": url, **{name: name for name in frames}}
    config = folder / f"healthsync_{source}.yaml"
    config.write_text(yaml.safe_dump(body))
    return config


def _tables(
    config: Path, request: BacktestRequest, grouped: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[pd.DataFrame, list[SourceData]]:
    """The score tables of every snapshot, and what each snapshot's read returned (activity frames, reports)."""
    calls: list[int] = []
    reads: list[SourceData] = []
    real_rows, real_read = snapshot_pass.read_pass, load.read_window

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_rows(*args, **kwargs)

    def kept(*args: Any, **kwargs: Any) -> SourceData:
        data = real_read(*args, **kwargs)
        reads.append(data)
        return data

    monkeypatch.setattr(replay_module, "GROUPED", grouped)
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "1")  # the reads are counted in this process
    monkeypatch.setattr(replay_module, "read_pass", counted)
    monkeypatch.setattr(replay_module, "read_window", kept)
    result = replay(load_settings(config), request, NOW)
    assert len(calls) == int(grouped)
    return result.tables.loc[:, [*TABLE_COLUMNS, "snapshot"]], reads


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    return _frames(tmp_path_factory.mktemp("grouped"))


Tables = tuple[pd.DataFrame, list[SourceData]]


@pytest.fixture(scope="module")
def per_snapshot(
    frames: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[dict[str, Any], BacktestRequest], Tables]:
    """The oracle: one ordinary pass per snapshot, on the files source, made once per scoring and request and
    compared with the grouped pass on every source. The ordinary pass gives the same tables and reads on DuckDB,
    SQLite and PostgreSQL (tests/sources/test_parity.py; on this product too, checked when this was written), and it
    was two thirds of this file's time when it ran again on each source."""
    made: dict[str, Tables] = {}

    def tables(scoring: dict[str, Any], wanted: BacktestRequest) -> Tables:
        key = yaml.safe_dump(scoring) + repr(wanted)
        if key not in made:
            config = _write(tmp_path_factory.mktemp("per-snapshot"), frames, "files", "", scoring)
            with pytest.MonkeyPatch.context() as monkeypatch:
                made[key] = _tables(config, wanted, False, monkeypatch)
        return made[key]

    return tables


@pytest.mark.parametrize("source", ["files", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
@pytest.mark.parametrize(
    ("scoring", "start", "every"),
    [
        (RICH, datetime(2024, 6, 1, tzinfo=UTC), 30),
        (PLAIN, datetime(2024, 5, 20, 6, 30, tzinfo=UTC), 23),
        ({**RICH, "lookback_days": 120}, datetime(2024, 6, 1, tzinfo=UTC), 30),
    ],
    ids=["rich-midnight", "plain-offset", "rich-lookback"],
)
def test_the_grouped_pass_gives_the_per_snapshot_tables(
    request: pytest.FixtureRequest,
    frames: dict[str, pd.DataFrame],
    per_snapshot: Callable[[dict[str, Any], BacktestRequest], Tables],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    scoring: dict[str, Any],
    start: datetime,
    every: int,
) -> None:
    url = {"files": "", "sqlite": f"sqlite:///{tmp_path / 'product.db'}"}.get(source)
    if url is None:
        url = str(request.getfixturevalue("pg_url"))
    config = _write(tmp_path, frames, source, url, scoring)
    wanted = BacktestRequest(start=start, every_days=every, horizon_days=90, outcomes=("churn",))
    expected, expected_reads = per_snapshot(scoring, wanted)
    got, got_reads = _tables(config, wanted, True, monkeypatch)
    assert expected["snapshot"].nunique() >= 8
    assert (expected["raw_score"] > 0).any()
    assert expected["health_tier"].nunique() == 3
    pd.testing.assert_frame_equal(got, expected)
    for got_read, expected_read in zip(got_reads, expected_reads, strict=True):  # every count, not only the scores
        pd.testing.assert_frame_equal(got_read.account_activity, expected_read.account_activity)
        if expected_read.user_activity is None:
            assert got_read.user_activity is None
        else:
            assert got_read.user_activity is not None
            pd.testing.assert_frame_equal(got_read.user_activity, expected_read.user_activity)
        assert got_read.reports["events"] == expected_read.reports["events"]
    report = expected_reads[0].reports["events"]
    assert set(report.rejected) == {"missing_user_id", "unparseable_timestamp", "duplicate_event_id", "unknown_account"}
    assert (scoring["window_days"] == 30) == (expected_reads[0].user_activity is not None)


def test_reach_covers_two_windows_the_last_week_and_the_longest_workflow() -> None:
    assert reach_days(ScoringConfig.model_validate(PLAIN)) == 42
    assert reach_days(ScoringConfig.model_validate(RICH)) == 90
    assert reach_days(ScoringConfig.model_validate({"window_days": 3})) == 7


def test_grouped_where_a_day_mask_holds_the_window() -> None:
    assert grouped_pass("duckdb", 30)
    assert grouped_pass("postgresql", 62)
    assert grouped_pass("sqlite", 30)
    assert not grouped_pass("duckdb", 63)
    assert not grouped_pass("snowflake", 30)


def test_cumulative_runs_the_intervals_up_to_each_snapshot() -> None:
    history = pd.DataFrame(
        {
            "account_id": ["a", "a", "a", "b", None, "c"],
            "user_id": ["u", "u", "v", "w", None, "x"],
            "reason": [None, None, None, None, "missing_event", "unknown_account"],
            "hs_interval": [0, 2, 3, 1, 3, 0],
            "n_rows": [1, 2, 1, 1, 5, 1],
            "last_ts": [10.0, 30.0, 45.0, 20.0, None, 5.0],
            "step_0": [1, 2, 1, 0, 0, 9],
        }
    )
    found = cumulative(history, [10.0, 20.0, 30.0], [10.0, 20.0, 30.0], 1)
    # unknown accounts and rejected rows have no key; every accepted (account, user) has a row at every snapshot
    assert list(found.keys.itertuples(index=False, name=None)) == [("a", "u"), ("a", "v"), ("b", "w")]
    np.testing.assert_array_equal(found.last, [[10.0, 10.0, 30.0], [np.nan] * 3, [np.nan, 20.0, 20.0]])
    np.testing.assert_array_equal(found.steps[0], [[1, 1, 3], [0, 0, 0], [0, 0, 0]])


def test_instants_sort_stably_as_a_float_sort_does() -> None:
    rng = np.random.default_rng(2)
    placed = rng.integers(20_000, 20_120, 5000) * DAY + rng.integers(0, 2, 5000)  # day placements: radix path
    anywhere = rng.uniform(0, 200 * DAY, 5000)  # any instant: the float sort
    far = np.array([0.0, 40_000 * DAY, DAY + 1, DAY])  # placements over more than 32,768 days
    for ts in (placed, anywhere, far, np.array([])):
        assert instant_order(ts).tolist() == np.argsort(ts, kind="stable").tolist()


def test_day_masks_equal_the_or_of_each_rows_bit() -> None:
    rng = np.random.default_rng(8)
    ts = np.sort(rng.uniform(0, 40 * DAY, 3000))
    code = rng.integers(0, 50, 3000)
    daily = Daily.of_columns(ts, code, {"n": np.ones(3000)})
    for days, snap in ((1, 40 * DAY), (7, 38 * DAY + 5)):
        rows = daily.within(snap - 30 * DAY, snap)
        expected = [0] * 50
        for key, moment in zip(daily.code[rows].tolist(), daily.ts[rows].tolist(), strict=True):
            expected[key] |= 1 << int((snap - moment) // (days * DAY))
        assert _mask(daily, rows, snap, days, 50).tolist() == expected


def test_numbered_keys_are_sorted_by_text_whatever_order_the_database_numbered_them() -> None:
    # the pass rows carry key_code only; the key rows (n_rows NULL) name each code's (account, user)
    raw = pd.DataFrame(
        {
            "account_id": [None, None, None, None, "b", "a", "a"],
            "user_id": [None, None, None, None, "w", "v", "u"],
            "key_code": [2, 0, np.nan, 2, 0, 1, 2],
            "reason": [None, None, "missing_event", None, None, None, None],
            "n_rows": [1, 4, 2, 3, None, None, None],
        }
    )
    accepted = np.array([True, True, False, True, False, False, False])
    coder = KeyCoder.of_rows(raw, accepted)
    assert list(coder.keys.itertuples(index=False, name=None)) == [("a", "u"), ("a", "v"), ("b", "w")]
    assert list(coder.row) == [0, 2, 0]  # codes 2, 0, 2: (a, u), (b, w), (a, u)


def test_daily_rows_keep_known_keys_in_instant_order_and_mask_their_day_buckets() -> None:
    # rows of (b, w), an unknown account, (a, u) twice: key positions 1, -1, 0, 0
    daily = Daily.of_columns(
        np.array([3 * DAY + 1, DAY, 2 * DAY, DAY + 1]),
        np.array([1, -1, 0, 0]),
        {"n": np.array([1.0, 5.0, 2.0, 3.0]), "wsum": np.array([0.5, 1.0, 2.0, 3.0])},
    )
    assert list(daily.code) == [0, 0, 1]  # the unknown account's row is left out
    assert list(daily.ts) == [DAY + 1, 2 * DAY, 3 * DAY + 1]
    rows = daily.within(2 * DAY, 4 * DAY)
    assert list(daily.ts[rows]) == [2 * DAY, 3 * DAY + 1]
    # floor((4 days - ts) / 1 day): 2 days exactly -> bucket 2; 3 days + 1 s -> bucket 0
    assert list(_mask(daily, rows, 4 * DAY, 1, 2)) == [0b100, 0b1]
    assert list(_sums(daily, daily.within(0, 4 * DAY), "n", 2)) == [5, 1]


def test_window_counts_count_each_snapshots_two_windows_in_one_query() -> None:
    # window 1 day: the snapshot at 3 days has W = [2, 3) days and P = [1, 2) days
    events = pd.DataFrame(
        {
            "account_key": ["a", "a", "a", "b", "b", "a"],
            "event": ["x", "x", "x", "y", "x", "x"],
            "ts": [1 * DAY, 2 * DAY, 3 * DAY, 2 * DAY, 0.0, 2 * DAY + 5],
        }
    )
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE ev (account_key VARCHAR, event VARCHAR, ts DOUBLE)"))
        conn.execute(sa.text("INSERT INTO ev VALUES (:account_key, :event, :ts)"), events.to_dict("records"))
        rows = sa.table("ev", sa.column("account_key"), sa.column("event"), sa.column("ts")).alias("rows")
        query = count_query(sa.select(rows).subquery(), [4 * DAY, 3 * DAY], 1)
        frame = pd.DataFrame(conn.execute(query).mappings().all())
    counts = WindowCounts.of(frame, [4 * DAY, 3 * DAY])
    counted = counts.long()
    found = [(str(r.snapshot.date()), r.account_id, r.event, r.w, r.p) for r in counted.itertuples(index=False)]
    assert found == [
        ("1970-01-04", "a", "x", 2, 1),
        ("1970-01-04", "b", "y", 1, 0),
        ("1970-01-05", "a", "x", 1, 2),
        ("1970-01-05", "b", "y", 0, 1),
    ]
    # one snapshot's counts as a grid: a row per account asked for (unknown: zeros), a column per event asked for
    earlier = counts.position(pd.Timestamp(3 * DAY, unit="s", tz="UTC"))
    grid = counts.grid(earlier, pd.Series(["b", "zz", "a"]), ["x", "y", "nope"], "w")
    assert grid.tolist() == [[0, 1, 0], [0, 0, 0], [2, 0, 0]]
    assert counts.grid(earlier, pd.Series(["a"]), ["x"], "p").tolist() == [[1]]
