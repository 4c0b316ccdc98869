"""The account and user score tables, built from small activity frames (SPEC section 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthsync.scoring import ACCOUNT_COLUMNS, USER_COLUMNS, health_scores, score_accounts, score_users
from healthsync.scoring.config import ScoringConfig

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
FEATURES = {"sequences": ["sequence_created", "lead_enrolled"], "meetings": ["meeting_scheduled"], "reporting": []}
CONFIG = ScoringConfig(
    window_days=30,
    weights={"lead_created": 9, "meeting_scheduled": 7, "call_logged": 5},
    features=FEATURES,
    activation_steps=[{"event": "sequence_created"}, {"event": "lead_enrolled", "min_count": 20}],  # type: ignore[list-item]
)
MEAN_OF_USERS = CONFIG.model_copy(update={"account_score": "mean_of_users"})

INT_COLUMNS = [
    "health_score",
    "active_users",
    "total_users",
    "active_user_pct",
    "feature_adoption_pct",
    "usage_frequency_pct",
    "usage_frequency_7d_pct",
    "activation_pct",
    "previous_score",
]
NULLABLE_INT_COLUMNS = ["score_change", "days_since_active", "tenure_days"]


def accounts_frame(*ids: str, created_at: str | None = "2025-01-01") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": list(ids),
            "name": [f"Account {i}" for i in ids],
            "domain": [f"{i}.example" for i in ids],
            "plan": "team",
            "status": "paying",
            "created_at": pd.to_datetime(pd.Series([created_at] * len(ids), dtype="object"), utc=True),
            "seats_limit": 10.0,
            "mrr": 100.0,
        }
    )


def users_frame(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [user for _, user in pairs],
            "account_id": [account for account, _ in pairs],
            "email": [f"{user}@example.com" for _, user in pairs],
            "role": "rep",
            "created_at": pd.Timestamp("2025-02-01", tz="UTC"),
        }
    )


def activity_frame(rows: list[dict[str, Any]], *, per_user: bool = False) -> pd.DataFrame:
    """Activity rows with neutral defaults; each row names its account_id (and user_id) and what differs."""
    defaults: dict[str, Any] = {
        "events": 1,
        "events_prev": 1,
        "raw": 0.0,
        "raw_prev": 0.0,
        "active_days": 1,
        "active_days_7d": 1,
        "last_active_at": pd.Timestamp("2025-08-12 12:00", tz="UTC"),
        **{f"feature__{name}": 0 for name in FEATURES},
        "step__0": 0,
        "step__1": 0,
    }
    if not per_user:
        defaults |= {"active_users": 1, "active_users_prev": 1}
    return pd.DataFrame([defaults | row for row in rows])


def score_one(row: dict[str, Any], *, users: int = 0, config: ScoringConfig = CONFIG) -> pd.Series:
    """Score account "a" (with `users` listed users) next to nothing else; returns its row."""
    listed = users_frame(*(("a", f"u{i}") for i in range(users)))
    table = score_accounts(
        accounts_frame("a"), listed, activity_frame([{"account_id": "a", **row}]), None, config, AS_OF
    )
    return table.iloc[0]


def test_columns_order_and_one_sorted_row_per_account() -> None:
    activity = activity_frame([{"account_id": "b", "raw": 5.0}, {"account_id": "zz-unknown", "raw": 9.0}])
    table = score_accounts(accounts_frame("c", "a", "b"), users_frame(), activity, None, CONFIG, AS_OF)
    assert list(table.columns) == list(ACCOUNT_COLUMNS)
    assert table["account_id"].tolist() == ["a", "b", "c"]
    assert table["health_score"].tolist() == [1, 100, 1]


def test_account_without_activity() -> None:
    table = score_accounts(
        accounts_frame("a"), users_frame(("a", "u1"), ("a", "u2")), activity_frame([]), None, CONFIG, AS_OF
    )
    row = table.iloc[0]
    assert (row["raw_score"], row["health_score"], row["previous_score"]) == (0.0, 1, 1)
    assert (row["active_users"], row["total_users"], row["active_user_pct"]) == (0, 2, 0)
    assert (row["health_tier"], row["trend"]) == ("at_risk", "new")
    assert row["score_change"] is pd.NA
    assert row["last_active_at"] is pd.NaT
    assert row["days_since_active"] is pd.NA
    assert row["tenure_days"] == 224


@pytest.mark.parametrize(
    ("activity", "users", "column", "value"),
    [
        pytest.param({"active_users": 10}, 50, "active_user_pct", 20, id="active users 10 of 50"),
        pytest.param({"active_users": 40}, 50, "active_user_pct", 80, id="active users 40 of 50"),
        pytest.param({"active_users": 3}, 2, "total_users", 3, id="unlisted active users count as users"),
        pytest.param({"active_users": 3}, 2, "active_user_pct", 100, id="unlisted active users: 3 of 3"),
        pytest.param({"feature__sequences": 1, "feature__meetings": 1}, 0, "feature_adoption_pct", 67, id="2 of 3"),
        pytest.param({"active_days": 15}, 0, "usage_frequency_pct", 50, id="15 of 30 days"),
        pytest.param({"active_days_7d": 5}, 0, "usage_frequency_7d_pct", 71, id="5 of 7 days"),
        pytest.param({"step__0": 1, "step__1": 19}, 0, "activation_pct", 50, id="min_count not reached"),
        pytest.param({"step__0": 1, "step__1": 20}, 0, "activation_pct", 100, id="min_count reached"),
        pytest.param({"last_active_at": pd.Timestamp("2025-08-01", tz="UTC")}, 0, "days_since_active", 12, id="12d"),
        pytest.param({"raw": 112.0}, 0, "raw_score", 112.0, id="raw passes through"),
        pytest.param({"raw": -4.0}, 0, "health_score", 1, id="negative raw scores 1"),
    ],
)
def test_account_metrics(activity: dict[str, Any], users: int, column: str, value: object) -> None:
    assert score_one(activity, users=users)[column] == value


def test_seed_feature_adoption_and_activation() -> None:
    features = {f"f{i}": [f"e{i}"] for i in range(20)}
    steps = [{"event": f"e{i}"} for i in range(7)]
    config = ScoringConfig(features=features, activation_steps=steps)  # type: ignore[arg-type]
    used = {f"feature__f{i}": int(i < 15) for i in range(20)}
    done = {f"step__{i}": int(i < 5) for i in range(7)}
    row = score_one(used | done, config=config)
    assert (row["feature_adoption_pct"], row["activation_pct"]) == (75, 71)


def test_account_with_no_events_and_no_users() -> None:
    table = score_accounts(
        accounts_frame("a"), users_frame(), activity_frame([]), activity_frame([]), MEAN_OF_USERS, AS_OF
    )
    row = table.iloc[0]
    assert (row["health_score"], row["total_users"], row["active_user_pct"], row["trend"]) == (1, 0, 0, "new")


def test_usage_frequency_in_a_short_window_uses_the_window_for_7d() -> None:
    config = CONFIG.model_copy(update={"window_days": 5})
    row = score_one({"active_days": 5, "active_days_7d": 5}, config=config)
    assert (row["usage_frequency_pct"], row["usage_frequency_7d_pct"]) == (100, 100)


@pytest.mark.parametrize(
    ("config", "column"),
    [
        (CONFIG.model_copy(update={"features": {}}), "feature_adoption_pct"),
        (CONFIG.model_copy(update={"activation_steps": []}), "activation_pct"),
    ],
)
def test_nothing_configured_gives_zero(config: ScoringConfig, column: str) -> None:
    assert score_one({"feature__sequences": 1, "step__0": 5}, config=config)[column] == 0


def test_trend_from_current_and_previous_window() -> None:
    activity = activity_frame(
        [
            {"account_id": "up", "raw": 100.0, "raw_prev": 10.0},
            {"account_id": "down", "raw": 10.0, "raw_prev": 100.0},
            {"account_id": "same", "raw": 100.0, "raw_prev": 100.0},
            {"account_id": "fresh", "raw": 100.0, "events_prev": 0},
        ]
    )
    table = score_accounts(accounts_frame("up", "down", "same", "fresh"), users_frame(), activity, None, CONFIG, AS_OF)
    table = table.set_index("account_id")
    previous = health_scores(pd.Series([10.0, 100.0, 100.0, 0.0]), curve=2).tolist()
    assert table["previous_score"].tolist() == previous[1:2] + previous[3:] + previous[2:3] + previous[:1]
    assert table["trend"].to_dict() == {"down": "falling", "fresh": "new", "same": "steady", "up": "rising"}
    assert table.loc["fresh", "score_change"] is pd.NA
    assert table.loc["up", "score_change"] == 100 - previous[0]


def test_mean_of_users_account_score() -> None:
    users = users_frame(("a", "u1"), ("a", "u2"), ("b", "u3"))
    user_activity = activity_frame(
        [
            {"account_id": "a", "user_id": "u1", "raw": 50.0},
            {"account_id": "a", "user_id": "ghost", "raw": 1.0},
            {"account_id": "b", "user_id": "u3", "raw": 50.0, "raw_prev": 50.0},
        ],
        per_user=True,
    )
    account_activity = activity_frame([{"account_id": "a", "raw": 51.0}, {"account_id": "b", "raw": 50.0}])
    accounts = accounts_frame("a", "b", "empty")
    table = score_accounts(accounts, users, account_activity, user_activity, MEAN_OF_USERS, AS_OF)
    user_scores = score_users(users, user_activity, MEAN_OF_USERS, AS_OF).set_index("user_id")["health_score"]
    mean_a = (user_scores["u1"] + user_scores["u2"] + user_scores["ghost"]) / 3
    assert table["health_score"].tolist() == [int(mean_a + 0.5), user_scores["u3"], 1]
    assert table["previous_score"].tolist() == [1, 100, 1]


def test_mean_of_users_needs_user_activity() -> None:
    with pytest.raises(ValueError, match="mean_of_users"):
        score_accounts(accounts_frame("a"), users_frame(), activity_frame([]), None, MEAN_OF_USERS, AS_OF)


def test_score_users_includes_users_seen_only_in_activity() -> None:
    users = users_frame(("a", "u2"), ("a", "u1"))
    user_activity = activity_frame(
        [
            {"account_id": "a", "user_id": "u1", "raw": 10.0, "active_days": 5, "step__0": 1},
            {"account_id": "a", "user_id": "ghost", "raw": 100.0, "events_prev": 0},
        ],
        per_user=True,
    )
    table = score_users(users, user_activity, CONFIG, AS_OF)
    assert list(table.columns) == list(USER_COLUMNS)
    assert table["user_id"].tolist() == ["ghost", "u1", "u2"]
    assert table["health_score"].tolist() == health_scores(pd.Series([100.0, 10.0, 0.0]), curve=2).tolist()
    assert table["trend"].tolist()[0] == "new"
    assert table["email"].isna().tolist() == [True, False, False]
    assert table["tenure_days"].tolist() == [pd.NA, 193, 193]
    assert table["activation_pct"].tolist() == [0, 50, 0]
    assert table["usage_frequency_pct"].tolist() == [3, 17, 0]


def test_dtypes() -> None:
    table = score_accounts(
        accounts_frame("a", "b"), users_frame(), activity_frame([{"account_id": "a"}]), None, CONFIG, AS_OF
    )
    assert all(table[column].dtype == np.int64 for column in INT_COLUMNS)
    assert all(table[column].dtype == "Int64" for column in NULLABLE_INT_COLUMNS)
    assert str(table["last_active_at"].dtype).endswith("UTC]")


@pytest.mark.parametrize("config", [CONFIG, MEAN_OF_USERS], ids=["sum", "mean_of_users"])
def test_empty_frames(config: ScoringConfig) -> None:
    table = score_accounts(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), config, AS_OF)
    assert list(table.columns) == list(ACCOUNT_COLUMNS)
    assert table.empty
    assert score_users(pd.DataFrame(), None, config, AS_OF).columns.tolist() == list(USER_COLUMNS)


ids = st.sampled_from(["a", "b", "c", "d", "e"])
counts = st.integers(min_value=0, max_value=60)
activity_rows = st.fixed_dictionaries(
    {
        "account_id": ids,
        "events": counts,
        "events_prev": counts,
        "raw": st.floats(allow_nan=True, allow_infinity=True),
        "raw_prev": st.floats(min_value=-100, max_value=1e9),
        "active_users": counts,
        "active_days": st.integers(min_value=0, max_value=30),
        "active_days_7d": st.integers(min_value=0, max_value=7),
        "feature__sequences": st.integers(min_value=0, max_value=1),
        "step__1": counts,
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(ids, unique=True, max_size=5),
    st.lists(st.tuples(ids, st.sampled_from(["u1", "u2", "u3"])), max_size=8),
    st.lists(activity_rows, max_size=6),
    st.sampled_from([CONFIG, MEAN_OF_USERS]),
)
def test_score_accounts_never_emits_nan(
    account_ids: list[str], user_pairs: list[tuple[str, str]], rows: list[dict[str, Any]], config: ScoringConfig
) -> None:
    activity = pd.DataFrame(rows).drop_duplicates("account_id") if rows else pd.DataFrame()
    user_activity = activity.assign(user_id="u1") if rows else pd.DataFrame()
    table = score_accounts(
        accounts_frame(*account_ids), users_frame(*user_pairs), activity, user_activity, config, AS_OF
    )
    assert len(table) == len(account_ids)
    numeric = table[[*INT_COLUMNS, "raw_score"]]
    assert not numeric.isna().to_numpy().any()
    assert table["health_score"].between(1, 100).all()
    assert table["previous_score"].between(1, 100).all()
    percent_columns = [column for column in INT_COLUMNS if column.endswith("_pct")]
    assert table[percent_columns].apply(lambda column: column.between(0, 100).all()).all()
    assert (table["total_users"] >= table["active_users"]).all()
