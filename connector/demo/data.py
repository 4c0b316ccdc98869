"""The demo product: a sales-engagement tool (reps, managers, admins) with a few hundred accounts.

Deterministic for a seed and an `as_of`; every health tier, trend and play shows up. Written into a DuckDB file
(tables `events`, `accounts`, `users`, and `outcomes` when there are) or returned as frames for tests.
`generate` is the last 90 days as the sync tests know them; `history.generate_history` is 17 months whose churn
and expansions follow from the usage (what `healthsync demo` writes, for the backtest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from healthsync.connector.sources.files import DUCKDB_MEMORY_LIMIT

EVENTS = ("sequence_created", "lead_enrolled", "lead_created", "meeting_scheduled", "call_logged", "report_viewed")
# events per active user-day, by role
RATES = {
    "rep": (0.15, 3.0, 1.5, 0.6, 2.0, 0.2),
    "manager": (0.05, 0.3, 0.2, 0.3, 0.2, 1.5),
    "admin": (0.3, 0.5, 0.1, 0.05, 0.05, 0.5),
}
PLANS = ("starter", "team", "enterprise")
SEATS = {"starter": 5.0, "team": 20.0, "enterprise": 60.0}
WORDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "cyberdyne")
SUFFIXES = ("labs", "corp", "io", "group", "systems", "works", "cloud", "data")
# The demo's personas, summary share and plays (the scoring section of `healthsync demo`, see demo/runner.py).
PERSONAS: dict[str, Any] = {
    "rep": {
        "label": "rep",
        "workflows": [
            {"name": "prospect", "event": "lead_created", "min_count": 2, "within_days": 7},
            {"name": "enroll leads in sequences", "event": "lead_enrolled", "min_count": 3, "within_days": 7},
            {"name": "call", "event": "call_logged", "min_count": 3, "within_days": 7},
            {"name": "book meetings", "event": "meeting_scheduled", "min_count": 1, "within_days": 14},
        ],
    },
    "manager": {
        "label": "manager",
        "workflows": [
            {"name": "review pipeline reports", "event": "report_viewed", "min_count": 2, "within_days": 7},
            {"name": "join meetings", "event": "meeting_scheduled", "min_count": 1, "within_days": 30},
            {"name": "coach on sequences", "event": "lead_enrolled", "min_count": 1, "within_days": 30},
        ],
    },
    "admin": {
        "label": "admin",
        "key": False,
        "weekly_target": 0.25,
        "workflows": [{"name": "maintain sequences", "event": "sequence_created", "min_count": 1, "within_days": 30}],
    },
}
SHARES: dict[str, Any] = {
    "sequences": {
        "events": ["lead_enrolled"],
        "among": ["lead_enrolled", "call_logged", "meeting_scheduled"],
        "label": "outbound touches",
    }
}


@dataclass
class DemoData:
    accounts: pd.DataFrame
    users: pd.DataFrame
    events: pd.DataFrame
    outcomes: pd.DataFrame | None = None  # account_id, outcome, occurred_at, value (history only)


def names(n: int) -> tuple[list[str], list[str], list[str]]:
    """Account ids, company names and domains of `n` demo accounts."""
    ids = [f"acc_{i:04d}" for i in range(1, n + 1)]
    titles = [
        f"{WORDS[i % len(WORDS)].title()} {SUFFIXES[(i // len(WORDS)) % len(SUFFIXES)].title()} {i}" for i in range(n)
    ]
    return ids, titles, [f"{name.lower().replace(' ', '-')}.example.com" for name in titles]


def _account_table(rng: np.random.Generator, n: int, as_of: datetime) -> pd.DataFrame:
    ids, names_, domains = names(n)
    status = rng.choice(["paying", "trial", "churned"], size=n, p=[0.72, 0.18, 0.10])
    plan = rng.choice(PLANS, size=n, p=[0.35, 0.45, 0.20])
    tenure = np.where(status == "trial", rng.integers(2, 30, n), rng.integers(5, 720, n))
    created = [as_of - timedelta(days=int(days)) for days in tenure]
    seats = np.array([SEATS[p] for p in plan])
    seats = np.where(rng.random(n) < 0.08, np.nan, seats)
    mrr = np.round(np.where(status == "paying", seats * rng.uniform(40, 90, n), 0.0), 2)
    return pd.DataFrame(
        {
            "account_id": ids,
            "name": names_,
            "domain": domains,
            "plan": plan,
            "status": status,
            "created_at": pd.to_datetime(created, utc=True),
            "seats_limit": seats,
            "mrr": np.nan_to_num(mrr),
        }
    )


def user_table(rng: np.random.Generator, accounts: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for account in accounts.to_dict("records"):
        cap = account["seats_limit"] if not np.isnan(account["seats_limit"]) else 20
        size = int(np.clip(rng.zipf(1.6), 1, cap * 1.05))
        size = max(size, 2 if account["plan"] != "starter" else 1)
        roles = ["admin", *list(rng.choice(["rep", "rep", "rep", "rep", "manager"], size=size - 1))]
        for index, role in enumerate(roles):
            joined = account["created_at"] + timedelta(days=int(rng.integers(0, 10)))
            rows.append(
                (f"{account['account_id']}_u{index:03d}", account["account_id"], role, joined, account["domain"])
            )
    users = pd.DataFrame(rows, columns=["user_id", "account_id", "role", "created_at", "domain"])
    users["email"] = users["user_id"].str.replace("_", ".") + "@" + users.pop("domain")
    return users[["user_id", "account_id", "email", "role", "created_at"]]


def _profile(rng: np.random.Generator, status: str) -> tuple[float, float, float, int]:
    """(share of users active, intensity now, intensity in the previous window, days since last activity)."""
    if status == "churned":
        return 0.3, 0.0, 0.4, int(rng.integers(35, 80))
    kind = rng.choice(
        ["thriving", "steady", "fading", "growing", "dormant", "lonely"], p=[0.25, 0.3, 0.15, 0.12, 0.08, 0.1]
    )
    share, now, before = {
        "thriving": (0.9, 1.2, 1.1),
        "steady": (0.6, 0.7, 0.7),
        "fading": (0.4, 0.3, 1.0),
        "growing": (0.8, 1.1, 0.3),
        "dormant": (0.2, 0.0, 0.5),
        "lonely": (0.1, 0.6, 0.6),
    }[kind]
    idle = int(rng.integers(31, 60)) if kind == "dormant" else 0
    return share, now, before, idle


def _events(rng: np.random.Generator, accounts: pd.DataFrame, users: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    user_index: list[np.ndarray] = []
    event_index: list[np.ndarray] = []
    offsets: list[np.ndarray] = []
    positions = {key: group.index.to_numpy() for key, group in users.groupby("account_id")}
    roles = users["role"].to_numpy()
    columns = (accounts["account_id"].tolist(), accounts["status"].tolist(), accounts["created_at"].tolist())
    for account_id, status, created_at in zip(*columns, strict=True):
        share, now, before, idle = _profile(rng, str(status))
        tenure = max((pd.Timestamp(as_of) - pd.Timestamp(created_at)).days, 1)
        days = np.arange(idle, min(tenure, 90))
        for position in positions.get(str(account_id), []):
            if rng.random() > share and roles[position] != "admin":
                continue
            intensity = np.where(days < 30, now, before) * rng.uniform(0.5, 1.5)
            active = days[rng.random(days.size) < np.clip(intensity * 0.6, 0, 0.95)]
            counts = rng.poisson(RATES[roles[position]], (active.size, len(EVENTS)))
            total = int(counts.sum())
            if total == 0:
                continue
            user_index.append(np.full(total, position))
            event_index.append(np.repeat(np.tile(np.arange(len(EVENTS)), active.size), counts.ravel()))
            offsets.append(np.repeat(active, counts.sum(axis=1)) * 86_400 + rng.integers(1, 86_400, total))
    who = np.concatenate(user_index)
    seconds = np.concatenate(offsets)
    events = pd.DataFrame(
        {
            "account_id": users["account_id"].to_numpy()[who],
            "user_id": users["user_id"].to_numpy()[who],
            "event": np.array(EVENTS)[np.concatenate(event_index)],
            "timestamp": pd.Timestamp(as_of) - pd.to_timedelta(seconds, unit="s"),
        }
    )
    events = events.sort_values(["timestamp", "user_id"], kind="stable").reset_index(drop=True)
    events.insert(0, "event_id", pd.Series(np.arange(len(events))).map("evt_{:08d}".format))
    return events


def generate(n_accounts: int = 300, *, as_of: datetime, seed: int = 7) -> DemoData:
    """The demo product's three tables, as of `as_of` (UTC)."""
    rng = np.random.default_rng(seed)
    accounts = _account_table(rng, n_accounts, as_of)
    users = user_table(rng, accounts)
    return DemoData(accounts=accounts, users=users, events=_events(rng, accounts, users, as_of))


def write_duckdb(data: DemoData, path: Path) -> None:
    """Write the tables into a DuckDB file (replacing it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path), config={"memory_limit": DUCKDB_MEMORY_LIMIT}) as con:
        con.execute("SET TimeZone = 'UTC'")
        for name in ("accounts", "users", "events", "outcomes"):
            frame = getattr(data, name)
            if frame is None:
                continue
            con.register("frame", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
