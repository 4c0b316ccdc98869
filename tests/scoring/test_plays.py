"""Play flags, persona adoption and summaries (SPEC section 3) on crafted accounts, through `score_accounts`.

Each crafted account sits next to a healthy reference account (so the health scores are fixed) and is built from
the users it has: their role, the full weeks they were active in, and whether they did their persona's workflows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthsync.scoring import ACCOUNT_COLUMNS, score_accounts
from healthsync.scoring.config import ScoringConfig

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
PLAYS = ("multi_user_activation", "non_activation_day_14", "expansion_milestone", "churn_risk", "workflow_adoption")
PERSONAS: dict[str, Any] = {
    "rep": {
        "label": "rep",
        "workflows": [
            {"name": "enroll leads", "event": "lead_enrolled", "min_count": 5, "within_days": 7},
            {"name": "log calls", "event": "call_logged", "min_count": 3, "within_days": 7},
        ],
    },
    "manager": {
        "label": "manager",
        "workflows": [{"name": "review reports", "event": "report_viewed", "min_count": 1, "within_days": 7}],
    },
    "admin": {
        "label": "admin",
        "key": False,
        "weekly_target": 0.25,
        "workflows": [{"name": "maintain sequences", "event": "sequence_created", "within_days": 30}],
    },
}
CONFIG = ScoringConfig.model_validate(
    {
        "window_days": 30,
        "weights": {"lead_created": 9, "meeting_scheduled": 7, "call_logged": 5},
        "features": {"sequences": ["sequence_created", "lead_enrolled"], "meetings": ["meeting_scheduled"]},
        "activation_steps": [{"event": "sequence_created"}, {"event": "lead_enrolled", "min_count": 20}],
        "personas": PERSONAS,
        "shares": {
            "sequences": {
                "events": ["lead_enrolled"],
                "among": ["lead_enrolled", "call_logged"],
                "label": "outbound touches",
            }
        },
    }
)
WORKFLOWS = len(CONFIG.workflows())
LAST_ACTIVE = pd.Timestamp(AS_OF - timedelta(hours=12))


@dataclass
class User:
    role: str
    weeks: int = 4  # full weeks active of the 4 in the window (0: not active)
    flows: bool = True  # did their persona's workflows as intended


@dataclass
class Account:
    """A crafted account; activity not given is that of a healthy, fully set-up account."""

    account_id: str
    users: list[User]
    status: str = "paying"
    plan: str = "starter"
    tenure: int = 200
    seats: float = 10.0
    activity: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        created = pd.Timestamp(AS_OF - timedelta(days=self.tenure))
        return {"account_id": self.account_id, "name": self.account_id, "domain": f"{self.account_id}.example"} | {
            "plan": self.plan,
            "status": self.status,
            "created_at": created,
            "seats_limit": self.seats,
        }

    def people(self) -> list[dict[str, Any]]:
        return [
            {"user_id": f"{self.account_id}_u{i}", "account_id": self.account_id, "role": user.role, "email": None}
            for i, user in enumerate(self.users)
        ]

    def user_activity(self) -> list[dict[str, Any]]:
        rows = []
        for i, user in enumerate(self.users):
            if user.weeks > 0:
                counts = {f"workflow__{index}": 50 if user.flows else 0 for index in range(WORKFLOWS)}
                rows.append(
                    {"account_id": self.account_id, "user_id": f"{self.account_id}_u{i}", "events": 10 * user.weeks}
                    | {"events_prev": 10, "raw": 10.0, "raw_prev": 10.0, "active_days": 3 * user.weeks}
                    | {"active_days_7d": 2, "last_active_at": LAST_ACTIVE, "active_weeks": user.weeks, **counts}
                )
        return rows

    def account_activity(self) -> dict[str, Any]:
        active = sum(user.weeks > 0 for user in self.users)
        healthy = {
            "account_id": self.account_id,
            "events": 300,
            "events_prev": 300,
            "raw": 1000.0,
            "raw_prev": 1000.0,
            "active_users": active,
            "active_users_prev": active,
            "active_days": 25,
            "active_days_7d": 6,
            "last_active_at": LAST_ACTIVE,
            "feature__sequences": 1,
            "feature__meetings": 1,
            "step__0": 5,
            "step__1": 40,
            "trial_events": 20,
            "share_num__sequences": 80,
            "share_den__sequences": 100,
        }
        return healthy | self.activity


def team(reps: int = 4, managers: int = 1) -> list[User]:
    return [User("admin"), *[User("manager")] * managers, *[User("rep")] * reps]


REFERENCE = Account("ref", team())


def score(*accounts: Account, config: ScoringConfig = CONFIG) -> pd.DataFrame:
    """Score the accounts next to the healthy reference account; rows indexed by account_id."""
    every = [REFERENCE, *accounts]
    table = score_accounts(
        pd.DataFrame([account.row() for account in every]),
        pd.DataFrame([person for account in every for person in account.people()]),
        pd.DataFrame([account.account_activity() for account in every]),
        pd.DataFrame([row for account in every for row in account.user_activity()]),
        config,
        AS_OF,
    )
    return table.set_index("account_id")


HEALTHY = Account("healthy", team())
ONBOARDING = Account(
    "onboarding",
    [User("admin", 0), User("manager"), User("rep")],
    plan="enterprise",
    tenure=30,
    seats=60.0,
    activity={"events": 90, "raw": 500.0, "raw_prev": 500.0, "step__0": 1, "step__1": 4, "trial_events": 490},
)
NOT_ACTIVATED = Account("not_activated", team(), status="trial", tenure=20, activity={"step__0": 0, "step__1": 0})
SEATS_FULL = Account("seats_full", team(), seats=6.0)
FALLING = Account("falling", team(), activity={"raw": 300.0})
THIN_ADOPTION = Account(
    "thin_adoption",
    [User("admin"), User("manager"), User("rep"), *[User("rep", weeks=2, flows=False)] * 3],
    activity={"active_users_prev": 8},
)

CRAFTED = {
    "onboarding": (
        ONBOARDING,
        {
            "multi_user_activation": [
                "in onboarding (tenure 30 days <= 90)",
                "only 2 of 3 users active",
                "activation 50% < 70%",
                "setup steps incomplete: lead_enrolled (4 of 20)",
                "plan is enterprise",
                "trial was more active than now (35 events/day vs 3)",
            ]
        },
    ),
    "not_activated": (NOT_ACTIVATED, {"non_activation_day_14": ["tenure 20 days >= 14", "activation 0% < 40%"]}),
    "seats_full": (
        SEATS_FULL,
        {"expansion_milestone": ["6 of 6 seats used (100% >= 80%)", "health healthy (score 100)"]},
    ),
    "falling": (FALLING, {"churn_risk": ["score falling (-45)"]}),
    "thin_adoption": (
        THIN_ADOPTION,
        {
            "workflow_adoption": [
                "key personas active 40% < 60% (2 of 5 people)",
                "adoption shrinking (-2 active users vs last period)",
            ]
        },
    ),
    "healthy": (HEALTHY, {}),
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_each_crafted_account_fires_exactly_its_play(name: str) -> None:
    account, expected = CRAFTED[name]
    row = score(account).loc[account.account_id]
    assert row["plays"] == list(expected)
    assert row["play_reasons"] == expected


def test_every_play_has_a_crafted_account() -> None:
    fired = {play for _, expected in CRAFTED.values() for play in expected}
    assert fired == set(PLAYS)


def test_overlapping_definitions_all_fire() -> None:
    """An onboarding account where only the admin works, nothing set up: multi_user_activation (engagement limited
    to one user, activation low), non_activation_day_14 (day 30, activation below 40%) and workflow_adoption (no
    key persona active, no key workflow in use) overlap here, and all three fire."""
    stalled = Account(
        "stalled",
        [User("admin"), User("manager", 0), User("rep", 0), User("rep", 0)],
        plan="team",
        tenure=30,
        activity={"step__0": 0, "step__1": 0, "events": 30, "trial_events": 28},
    )
    row = score(stalled).loc["stalled"]
    assert row["plays"] == ["multi_user_activation", "non_activation_day_14", "workflow_adoption"]
    assert row["play_reasons"] == {
        "multi_user_activation": [
            "in onboarding (tenure 30 days <= 90)",
            "only 1 of 4 users active",
            "activation 0% < 70%",
            "setup steps incomplete: sequence_created, lead_enrolled (0 of 20)",
            "plan is team",
            "only admins active",
            "trial was more active than now (2 events/day vs 1)",
        ],
        "non_activation_day_14": ["tenure 30 days >= 14", "activation 0% < 40%"],
        "workflow_adoption": [
            "key personas active 0% < 60% (0 of 3 people)",
            "key workflows in use 0% < 60% (0 of 3)",
        ],
    }


def test_churn_risk_on_every_signal_and_overlap_with_expansion() -> None:
    """A quiet account long past onboarding: inactive 40 days, falling, at risk, 1 of 6 users active last month.
    Its seats are full, but expansion_milestone needs healthy or neutral health and activity: it does not fire."""
    quiet = Account(
        "quiet",
        [User("admin"), User("manager", 0), *[User("rep", 0)] * 4],
        seats=6.0,
        activity={"raw": 5.0, "last_active_at": pd.Timestamp(AS_OF - timedelta(days=40)), "active_users_prev": 1},
    )
    row = score(quiet, config=CONFIG.model_copy(update={"personas": {}})).loc["quiet"]
    assert row["plays"] == ["churn_risk"]
    assert row["play_reasons"]["churn_risk"] == [
        "no activity for 40 days (>= 30)",
        "score falling (-98)",
        "health at risk (score 2) after onboarding",
        "only 1 of 6 users active (17% < 30%)",
    ]


def test_churned_accounts_fire_no_play() -> None:
    churned = Account("gone", team(), status="churned", activity={"raw": 1.0, "step__0": 0, "step__1": 0})
    assert score(churned).loc["gone", "plays"] == []


def test_the_seed_qbr_summary() -> None:
    """7 reps and a manager; 5 reps and the manager active every week; sequences in 80% of outbound touches."""
    users = [User("admin", 0), User("manager"), *[User("rep")] * 5, *[User("rep", weeks=2, flows=False)] * 2]
    qbr = Account("qbr", users, seats=20.0, activity={"active_users_prev": 6})
    row = score(qbr).loc["qbr"]
    assert row["summary"] == (
        "5 of 7 reps and the manager were active every week; sequences in 80% of outbound touches; "
        "all 3 key workflows in use; adoption is spreading (+2 active users vs last period)."
    )
    assert "5 of 7 reps and the manager were active every week" in row["summary"]
    assert "sequences in 80% of outbound touches" in row["summary"]
    assert (row["key_personas_active_pct"], row["workflows_in_use_pct"], row["adoption_change"]) == (75, 100, 2)
    assert row["plays"] == []


@pytest.mark.parametrize(
    ("account", "summary"),
    [
        pytest.param(
            HEALTHY,
            "All 4 reps and the manager were active every week; sequences in 80% of outbound touches; "
            "all 3 key workflows in use; adoption is steady (as many active users as last period).",
            id="healthy",
        ),
        pytest.param(
            Account("mixed", [User("manager", 0), User("manager", 0), User("rep"), User("rep", 1)]),
            "1 of 2 reps was active every week but not the 2 managers; sequences in 80% of outbound touches; "
            "2 of 3 key workflows in use; adoption is steady (as many active users as last period).",
            id="a persona with nobody active",
        ),
    ],
)
def test_persona_summaries(account: Account, summary: str) -> None:
    assert score(account).loc[account.account_id, "summary"] == summary


def test_summary_without_personas_uses_the_account_numbers() -> None:
    config = CONFIG.model_copy(update={"personas": {}, "shares": {}})
    falling = Account("f", [User("rep"), User("rep", 0), User("rep", 0)], activity={"raw": 300.0, "active_days": 9})
    table = score(
        falling,
        Account("never", [User("rep", 0)], activity={"events": 0, "events_prev": 0, "raw": 0.0, "raw_prev": 0.0}),
        config=config,
    )
    assert (
        table.loc["f", "summary"]
        == "1 of 3 users was active on 9 of 30 days; both features in use; activity is falling (-45 score)."
    )
    assert table.loc["f", "key_personas_active_pct"] is pd.NA
    assert table.loc["f", "workflows_in_use_pct"] is pd.NA


@pytest.mark.parametrize(
    ("account", "plays", "play", "expected"),
    [
        pytest.param(HEALTHY, {"expansion_milestone": {"usage_at_least_pct": 60}}, "expansion_milestone", True),
        pytest.param(SEATS_FULL, {"expansion_milestone": {"enabled": False}}, "expansion_milestone", False),
        pytest.param(SEATS_FULL, {"expansion_milestone": {"tiers": ["at_risk"]}}, "expansion_milestone", False),
        pytest.param(FALLING, {"churn_risk": {"on_falling_trend": False}}, "churn_risk", False),
        pytest.param(ONBOARDING, {"churn_risk": {"active_user_pct_below": 70, "min_users": 3}}, "churn_risk", True),
        pytest.param(NOT_ACTIVATED, {"non_activation_day_14": {"min_tenure_days": 21}}, "non_activation_day_14", False),
        pytest.param(ONBOARDING, {"non_activation_day_14": {"activation_below": 60}}, "non_activation_day_14", True),
        pytest.param(ONBOARDING, {"multi_user_activation": {"max_active_users": 1}}, "multi_user_activation", False),
        pytest.param(
            ONBOARDING,
            {"multi_user_activation": {"activation_below": 50, "key_steps": ["sequence_created"]}},
            "multi_user_activation",
            False,
        ),
        pytest.param(
            THIN_ADOPTION,
            {"workflow_adoption": {"key_personas_active_below_pct": 40, "shrinking_by": 3}},
            "workflow_adoption",
            False,
        ),
        pytest.param(
            ONBOARDING,
            {"skip_statuses": ["paying"], "churn_risk": {"min_users": 3, "active_user_pct_below": 70}},
            "churn_risk",
            False,
        ),
    ],
)
def test_thresholds_are_configurable(account: Account, plays: dict[str, Any], play: str, expected: bool) -> None:
    config = CONFIG.model_copy(update={"plays": CONFIG.plays.model_validate(plays)})
    assert (play in score(account, config=config).loc[account.account_id, "plays"]) is expected


def test_extra_account_columns_as_usage_limits() -> None:
    config = CONFIG.model_copy(
        update={
            "plays": CONFIG.plays.model_validate(
                {"expansion_milestone": {"limits": [{"used": "api_calls", "limit": "api_quota"}]}}
            )
        }
    )
    accounts = pd.DataFrame([HEALTHY.row() | {"api_calls": 950, "api_quota": 1000}])
    table = score_accounts(
        accounts,
        pd.DataFrame(HEALTHY.people()),
        pd.DataFrame([HEALTHY.account_activity()]),
        pd.DataFrame(HEALTHY.user_activity()),
        config,
        AS_OF,
    )
    assert table.loc[0, "play_reasons"]["expansion_milestone"] == [
        "api_calls 950 of api_quota 1000 (95% >= 80%)",
        "health healthy (score 100)",
    ]


def test_unknown_key_step_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="key_steps"):
        ScoringConfig.model_validate(
            {"activation_steps": [{"event": "a"}], "plays": {"multi_user_activation": {"key_steps": ["nope"]}}}
        )


def test_personas_need_user_activity() -> None:
    with pytest.raises(ValueError, match="personas"):
        score_accounts(pd.DataFrame([HEALTHY.row()]), pd.DataFrame(), pd.DataFrame(), None, CONFIG, AS_OF)


def test_columns_and_empty_input() -> None:
    table = score_accounts(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), CONFIG, AS_OF)
    assert list(table.columns) == list(ACCOUNT_COLUMNS)
    assert table.empty


MISSING = re.compile(r"\b(nan|NaN|None|NaT|inf)\b|<NA>")
counts = st.integers(min_value=0, max_value=500)
account_ids = st.sampled_from(["a", "b", "c"])
roles = st.sampled_from(["rep", "manager", "admin", "", "Rep ", "guest"])
account_rows = st.fixed_dictionaries(
    {
        "account_id": account_ids,
        "events": counts,
        "events_prev": counts,
        "raw": st.floats(allow_nan=True, allow_infinity=True),
        "raw_prev": st.floats(min_value=0, max_value=1e6),
        "active_users": counts,
        "active_users_prev": counts,
        "active_days": st.integers(min_value=0, max_value=30),
        "step__0": counts,
        "trial_events": counts,
        "share_num__sequences": counts,
        "share_den__sequences": counts,
    }
)
user_rows = st.fixed_dictionaries(
    {
        "account_id": account_ids,
        "user_id": st.sampled_from(["u1", "u2", "u3", "ghost"]),
        "events": counts,
        "active_weeks": st.integers(min_value=0, max_value=4),
        **{f"workflow__{index}": counts for index in range(WORKFLOWS)},
    }
)
entity_rows = st.fixed_dictionaries(
    {
        "account_id": account_ids,
        "status": st.sampled_from(["paying", "trial", "churned", None]),
        "plan": st.sampled_from(["team", "starter", None]),
        "created_at": st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
        "seats_limit": st.one_of(st.none(), st.floats(min_value=0, max_value=50)),
    }
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(entity_rows, max_size=4),
    st.lists(st.tuples(account_ids, st.sampled_from(["u1", "u2", "u3"]), roles), max_size=6),
    st.lists(account_rows, max_size=4),
    st.lists(user_rows, max_size=6),
    st.sampled_from([CONFIG, CONFIG.model_copy(update={"personas": {}})]),
)
def test_arbitrary_activity_gives_plain_text(
    entities: list[dict[str, Any]],
    people: list[tuple[str, str, str]],
    rows: list[dict[str, Any]],
    user_rows_: list[dict[str, Any]],
    config: ScoringConfig,
) -> None:
    for entity in entities:
        days = entity.pop("created_at")
        entity["created_at"] = None if days is None else pd.Timestamp(AS_OF - timedelta(days=days))
    users = pd.DataFrame(people, columns=["account_id", "user_id", "role"])
    user_activity = (
        pd.DataFrame(user_rows_).drop_duplicates(["account_id", "user_id"]) if user_rows_ else pd.DataFrame()
    )
    table = score_accounts(pd.DataFrame(entities), users, pd.DataFrame(rows), user_activity, config, AS_OF)
    for plays, reasons, summary in zip(table["plays"], table["play_reasons"], table["summary"], strict=True):
        assert plays == list(reasons)
        assert set(plays) <= set(PLAYS)
        texts = [summary, *(reason for items in reasons.values() for reason in items)]
        assert all(isinstance(text, str) and text for text in texts)
        assert not any(MISSING.search(text[1:]) for text in texts), texts
        assert summary.endswith(".")
    for column in ("key_personas_active_pct", "workflows_in_use_pct"):
        values = table[column].dropna()
        assert all(0 <= value <= 100 for value in values)
    assert all(isinstance(value, int | float) and not math.isnan(value) for value in table["adoption_change"])
