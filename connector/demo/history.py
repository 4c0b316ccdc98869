"""The demo product over 17 months, where usage causes what happens to the accounts (`healthsync demo`).

Each account has a latent engagement that drifts week by week (a random walk around a per-account trend). It sets
how often the account's users are active. Churn is a weekly hazard that rises as engagement falls; a churned
account's events stop at its churn date (accounts `churned_at`, `status` = `churned`). An expansion (table
`outcomes`: account_id, outcome = `expansion`, occurred_at, value) is a weekly hazard that rises with seat pressure
(users active that week against `seats_limit`) and engagement; it adds seats, which eases the pressure. The random
walk, the per-user propensities and the hazards' own draws are the noise: the relation is real but imperfect, as
`healthsync backtest` should find it. Deterministic for a seed and an `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from healthsync.connector.demo.data import EVENTS, PLANS, RATES, SEATS, DemoData, names, user_table

WEEKS = 75  # 17 months before as_of: 12 monthly snapshots, a 90-day horizon, and two 30-day windows before the first
CHURN_BASE = 0.0035  # weekly churn hazard at engagement 0; x e^(-CHURN_SLOPE * engagement)
CHURN_SLOPE = 1.6
EXPANSION_BASE = 0.15  # weekly expansion hazard at full seat pressure and engagement 0
EXPANSION_COOLDOWN = 8  # weeks after an expansion before the next can happen
ACTIVITY = 0.3  # daily activity probability of a user of propensity 1 at engagement 0
VOLUME = 0.5  # events per active day, against the roles' RATES (a lighter file, same shape)


@dataclass
class _Life:
    """One account's simulated history: its engagement per week and where its activity ends."""

    engagement: np.ndarray
    start_day: int
    end_day: int  # exclusive; the churn day when churned, else the last day of the history + 1
    churned: bool


def generate_history(n_accounts: int = 200, *, as_of: datetime, seed: int = 7) -> DemoData:
    """The demo product's tables as of `as_of` (UTC): accounts (with `churned_at`), users, events and outcomes."""
    rng = np.random.default_rng(seed)
    accounts = _accounts(rng, n_accounts, as_of)
    users = user_table(rng, accounts)
    users["created_at"] = _joined(rng, accounts, users, as_of)
    start = pd.Timestamp(as_of) - pd.Timedelta(days=WEEKS * 7)
    lives = [_life(rng, created, start) for created in accounts["created_at"]]
    events, weekly_active = _events(rng, users, accounts, lives, start)
    outcomes, seats = _expansions(rng, accounts, lives, weekly_active, start)
    accounts["seats_limit"] = seats
    _settle(rng, accounts, lives, start)
    return DemoData(accounts=accounts, users=users, events=events, outcomes=outcomes)


def _accounts(rng: np.random.Generator, n: int, as_of: datetime) -> pd.DataFrame:
    ids, account_names, domains = names(n)
    plan = rng.choice(PLANS, size=n, p=[0.35, 0.45, 0.20])
    recent = rng.random(n) < 0.12
    tenure = np.where(recent, rng.integers(2, 90, n), rng.integers(90, 900, n))
    seats = np.array([SEATS[p] for p in plan])
    return pd.DataFrame(
        {
            "account_id": ids,
            "name": account_names,
            "domain": domains,
            "plan": plan,
            "status": "paying",
            "created_at": pd.to_datetime([as_of - timedelta(days=int(days)) for days in tenure], utc=True),
            "churned_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]"),
            "seats_limit": np.where(rng.random(n) < 0.08, np.nan, seats),
            "mrr": 0.0,
        }
    )


def _joined(rng: np.random.Generator, accounts: pd.DataFrame, users: pd.DataFrame, as_of: datetime) -> pd.Series:
    """Admins join at the start; the others over the account's life (the team grows: seat pressure rises)."""
    created = users["account_id"].map(accounts.set_index("account_id")["created_at"])
    tenure = (pd.Timestamp(as_of) - created).dt.days.to_numpy()
    delay = np.minimum(rng.exponential(0.25, len(users)) * tenure, np.maximum(tenure - 1, 0))
    delay = np.where(users["role"].to_numpy() == "admin", rng.integers(0, 3, len(users)), delay)
    return created + pd.to_timedelta(delay.astype(int), unit="D")


def _life(rng: np.random.Generator, created: pd.Timestamp, start: pd.Timestamp) -> _Life:
    """Engagement per week (a drifting random walk from the account's start) and the churn it causes."""
    start_day = max(int((created - start) / pd.Timedelta(days=1)), 0)
    first_week = start_day // 7
    steps = rng.normal(0.0, 0.13, WEEKS) + rng.normal(0.0, 0.03)
    steps[: first_week + 1] = 0.0
    engagement = np.clip(rng.normal(0.35, 0.6) + np.cumsum(steps), -3.0, 1.6)
    hazard = CHURN_BASE * np.exp(-CHURN_SLOPE * engagement)
    hazard[: first_week + 3] = 0.0  # nobody churns in their first weeks
    churn_weeks = np.flatnonzero(rng.random(WEEKS) < hazard)
    if churn_weeks.size == 0:
        return _Life(engagement, start_day, WEEKS * 7, churned=False)
    end_day = max(int(churn_weeks[0]) * 7 + int(rng.integers(0, 7)), start_day + 1)
    return _Life(engagement, start_day, end_day, churned=True)


def _events(
    rng: np.random.Generator, users: pd.DataFrame, accounts: pd.DataFrame, lives: list[_Life], start: pd.Timestamp
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every user's events over its account's life, and the account's active users per week."""
    index = {account_id: position for position, account_id in enumerate(accounts["account_id"])}
    joined = ((users["created_at"] - start) / pd.Timedelta(days=1)).clip(lower=0).astype(int).to_numpy()
    roles = users["role"].to_numpy()
    propensity = np.where(roles == "admin", 0.35, rng.beta(2.0, 1.6, len(users)) * 1.3)
    weekly: dict[str, np.ndarray] = {aid: np.zeros(WEEKS, dtype=int) for aid in accounts["account_id"]}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for position, account_id in enumerate(users["account_id"].to_numpy()):
        life = lives[index[account_id]]
        days = np.arange(max(joined[position], life.start_day), life.end_day)
        chance = np.clip(propensity[position] * ACTIVITY * np.exp(life.engagement[days // 7]), 0, 0.95)
        active = days[rng.random(days.size) < chance]
        np.add.at(weekly[account_id], np.unique(active // 7), 1)
        counts = rng.poisson(np.multiply(RATES[roles[position]], VOLUME), (active.size, len(EVENTS)))
        if counts.sum():
            parts.append((np.full(int(counts.sum()), position), counts, active))
    return _frame(rng, users, parts, start), weekly


def _frame(
    rng: np.random.Generator,
    users: pd.DataFrame,
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    start: pd.Timestamp,
) -> pd.DataFrame:
    who = np.concatenate([part[0] for part in parts])
    kinds = np.concatenate([np.repeat(np.tile(np.arange(len(EVENTS)), a.size), c.ravel()) for _, c, a in parts])
    days = np.concatenate([np.repeat(active, counts.sum(axis=1)) for _, counts, active in parts])
    seconds = days * 86_400 + rng.integers(0, 86_400, days.size)
    order = np.lexsort((who, seconds))  # by time, then user (positions run in user_id order)
    who, kinds, seconds = who[order], kinds[order], seconds[order]
    return pd.DataFrame(
        {
            "event_id": [f"evt_{i:08d}" for i in range(len(order))],
            "account_id": users["account_id"].to_numpy()[who],
            "user_id": users["user_id"].to_numpy()[who],
            "event": np.array(EVENTS)[kinds],
            "timestamp": start + pd.to_timedelta(seconds, unit="s"),
        }
    )


def _expansions(
    rng: np.random.Generator,
    accounts: pd.DataFrame,
    lives: list[_Life],
    weekly_active: dict[str, np.ndarray],
    start: pd.Timestamp,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Expansions caused by seat pressure and engagement; each adds half the seats again. Returns the seats now."""
    rows: list[tuple[str, pd.Timestamp, float]] = []
    seats_now = accounts["seats_limit"].to_numpy(dtype=float).copy()
    for position, account_id in enumerate(accounts["account_id"]):
        seats, life = seats_now[position], lives[position]
        if np.isnan(seats):
            continue
        ready = 0
        for week in range(life.start_day // 7 + 4, (life.end_day - 1) // 7):
            pressure = weekly_active[account_id][week] / seats
            hazard = EXPANSION_BASE * np.clip((pressure - 0.6) / 0.4, 0, 1) * np.exp(0.5 * life.engagement[week])
            if week >= ready and rng.random() < hazard:
                added = max(float(np.ceil(seats * 0.5)), 1.0)
                day = start + pd.Timedelta(days=week * 7 + int(rng.integers(0, 7)), hours=int(rng.integers(8, 18)))
                rows.append((str(account_id), day, round(added * float(rng.uniform(40, 90)), 2)))
                seats, ready = seats + added, week + EXPANSION_COOLDOWN
        seats_now[position] = seats
    outcomes = pd.DataFrame(rows, columns=["account_id", "occurred_at", "value"])
    outcomes.insert(1, "outcome", "expansion")
    outcomes["occurred_at"] = pd.to_datetime(outcomes["occurred_at"], utc=True)
    return outcomes.sort_values(["occurred_at", "account_id"]).reset_index(drop=True), seats_now


def _settle(rng: np.random.Generator, accounts: pd.DataFrame, lives: list[_Life], start: pd.Timestamp) -> None:
    """Status, churn date and MRR as the accounts table shows them at as_of."""
    churned = np.array([life.churned for life in lives])
    end_days = np.array([life.end_day for life in lives])
    churned_at = start + pd.to_timedelta(end_days, unit="D") + pd.to_timedelta(rng.integers(8, 18, len(lives)), "h")
    accounts["churned_at"] = pd.Series(churned_at, index=accounts.index).where(churned)
    tenure = (start + pd.Timedelta(days=WEEKS * 7) - accounts["created_at"]).dt.days.to_numpy()
    trial = (tenure <= 30) & (rng.random(len(accounts)) < 0.6)
    accounts["status"] = np.where(churned, "churned", np.where(trial, "trial", "paying"))
    seats = accounts["seats_limit"].fillna(20).to_numpy()
    accounts["mrr"] = np.round(np.where(accounts["status"] == "paying", seats * rng.uniform(40, 90, len(seats)), 0), 2)
