"""The demo product's history: churn and expansions that its usage causes, with noise, deterministic per seed.

The checks here are independent of `healthsync backtest`: each pairs (account, monthly snapshot) by hand, as the
issue defines it, and ranks the accounts by the demo's weighted usage in the 30 days before the snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from healthsync.connector.demo.data import DemoData, write_duckdb
from healthsync.connector.demo.history import generate_history
from healthsync.connector.demo.runner import DEMO_SCORING

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
HORIZON = pd.Timedelta(days=90)


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate_history(200, as_of=AS_OF, seed=7)  # what `healthsync demo` generates by default


@pytest.fixture(scope="module")
def pairs(demo: DemoData) -> pd.DataFrame:
    return monthly_pairs(demo)


def monthly_pairs(demo: DemoData) -> pd.DataFrame:
    """(account, snapshot) pairs over 12 monthly snapshots whose horizon ends by as_of, with usage and outcomes."""
    events = demo.events.assign(weight=demo.events["event"].map(DEMO_SCORING["weights"]).fillna(0))
    accounts, outcomes = demo.accounts.set_index("account_id"), demo.outcomes
    assert outcomes is not None
    users = demo.users.groupby("account_id").size()
    rows = []
    for k in range(12):
        snapshot = pd.Timestamp(AS_OF) - HORIZON - pd.Timedelta(days=30 * k)
        window = events[(events["timestamp"] < snapshot) & (events["timestamp"] >= snapshot - pd.Timedelta(days=30))]
        usage = window.groupby("account_id")["weight"].sum()
        live = accounts[(accounts["created_at"] <= snapshot) & ~(accounts["churned_at"] <= snapshot)]
        churned = live["churned_at"] <= snapshot + HORIZON
        ahead = outcomes[(outcomes["occurred_at"] > snapshot) & (outcomes["occurred_at"] <= snapshot + HORIZON)]
        rows.append(
            pd.DataFrame(
                {
                    "usage": usage.reindex(live.index, fill_value=0.0),
                    "users": users.reindex(live.index, fill_value=0),
                    "churn": churned.to_numpy(),
                    "expansion": live.index.isin(ahead["account_id"]),
                }
            )
        )
    return pd.concat(rows)


def _auc(score: pd.Series, positive: pd.Series) -> float:
    """ROC AUC by ranks (Mann-Whitney), ties counted half."""
    ranks = score.rank()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive.to_numpy()].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_the_same_seed_gives_the_same_product_and_another_seed_another() -> None:
    first, again = generate_history(30, as_of=AS_OF, seed=3), generate_history(30, as_of=AS_OF, seed=3)
    for name in ("accounts", "users", "events", "outcomes"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    other = generate_history(30, as_of=AS_OF, seed=4)
    assert not first.events["timestamp"].equals(other.events["timestamp"])


def test_the_history_spans_15_months_and_stops_at_each_churn(demo: DemoData) -> None:
    events, accounts = demo.events, demo.accounts
    assert events["timestamp"].max() < pd.Timestamp(AS_OF)
    assert pd.Timestamp(AS_OF) - events["timestamp"].min() >= pd.Timedelta(days=450)
    assert ((accounts["status"] == "churned") == accounts["churned_at"].notna()).all()
    assert (accounts["churned_at"].dropna() < pd.Timestamp(AS_OF)).all()
    last = events.groupby("account_id")["timestamp"].max()
    ends = accounts.set_index("account_id")["churned_at"].reindex(last.index)
    assert (last[ends.notna()] < ends[ends.notna()]).all()  # nothing after the churn date
    first = events.groupby("account_id")["timestamp"].min()
    assert (first >= accounts.set_index("account_id")["created_at"].reindex(first.index)).all()


def test_a_fifth_or_so_of_the_accounts_churn_with_enough_positives_to_backtest(
    demo: DemoData, pairs: pd.DataFrame
) -> None:
    share = demo.accounts["churned_at"].notna().mean()
    assert 0.15 <= share <= 0.30
    assert pairs["churn"].sum() >= 30
    assert pairs["expansion"].sum() >= 30


def test_churn_follows_falling_usage_but_not_perfectly(pairs: pd.DataFrame) -> None:
    auc = _auc(-pairs["usage"], pairs["churn"])  # less usage, more churn
    assert 0.6 <= auc <= 0.9
    assert _auc(-pairs["users"].astype(float), pairs["churn"]) < auc - 0.1  # not the account's size


def test_expansions_follow_usage(pairs: pd.DataFrame) -> None:
    assert _auc(pairs["usage"], pairs["expansion"]) >= 0.65


def test_expansions_are_outcome_rows_within_each_accounts_life(demo: DemoData) -> None:
    outcomes = demo.outcomes
    assert outcomes is not None
    assert list(outcomes.columns) == ["account_id", "outcome", "occurred_at", "value"]
    assert set(outcomes["outcome"]) == {"expansion"}
    assert (outcomes["value"] > 0).all()
    life = demo.accounts.set_index("account_id").loc[outcomes["account_id"]]
    assert (outcomes["occurred_at"].to_numpy() > life["created_at"].to_numpy()).all()
    churned = life["churned_at"].notna().to_numpy()
    assert (outcomes["occurred_at"].to_numpy()[churned] < life["churned_at"].to_numpy()[churned]).all()


def test_the_duckdb_file_holds_the_outcomes_and_the_churn_dates(tmp_path: Path) -> None:
    data = generate_history(30, as_of=AS_OF, seed=5)
    write_duckdb(data, tmp_path / "product.duckdb")
    with duckdb.connect(str(tmp_path / "product.duckdb"), read_only=True) as con:
        churned = con.execute("SELECT count(*) FROM accounts WHERE churned_at IS NOT NULL").fetchone()
        stored = con.execute("SELECT count(*) FROM outcomes WHERE outcome = 'expansion'").fetchone()
    assert data.outcomes is not None
    assert churned == (int(np.sum(data.accounts["status"] == "churned")),)
    assert stored == (len(data.outcomes),)
