"""The benchmark workload as the two baselines read it: paths and scoring parameters from `healthsync.yaml`.

Both baselines compute the same per-account metrics (one row per account of accounts.parquet):

| column | definition |
|---|---|
| total_users | users of the account in users.parquet |
| raw_score / raw_score_prev | sum of event weights in the window [as_of - window_days, as_of) / the one before |
| events_in_window / events_prev_window | event counts in those windows |
| active_users / active_users_prev | distinct users with any event in those windows |
| active_days / active_days_7d | distinct UTC days with any event in the window / in the last 7 days |
| last_active_at | latest event timestamp before as_of (ever) |
| features_used | distinct features (named event groups) used in the window |
| activation_steps_done | activation steps reached before as_of (event count >= min_count, ever) |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

COLUMNS = [
    "account_id",
    "name",
    "domain",
    "plan",
    "status",
    "total_users",
    "raw_score",
    "raw_score_prev",
    "events_in_window",
    "events_prev_window",
    "active_users",
    "active_users_prev",
    "active_days",
    "active_days_7d",
    "last_active_at",
    "features_used",
    "activation_steps_done",
]


@dataclass(frozen=True)
class Workload:
    events: Path
    accounts: Path
    users: Path
    as_of: datetime
    window_days: int
    default_weight: float
    weights: dict[str, float]
    features: dict[str, list[str]]
    steps: list[tuple[str, int]]

    @property
    def window_start(self) -> datetime:
        return self.as_of - timedelta(days=self.window_days)

    @property
    def previous_start(self) -> datetime:
        return self.as_of - timedelta(days=2 * self.window_days)

    @property
    def week_start(self) -> datetime:
        return self.as_of - timedelta(days=7)


def load_workload(config: Path) -> Workload:
    doc = yaml.safe_load(config.read_text())
    source, scoring = doc["source"], doc["scoring"]
    as_of = datetime.fromisoformat(scoring["as_of"].replace("Z", "+00:00")).astimezone(UTC)
    steps = [(s["event"], int(s.get("min_count", 1))) for s in scoring.get("activation_steps", [])]
    return Workload(
        events=config.parent / source["events"],
        accounts=config.parent / source["accounts"],
        users=config.parent / source["users"],
        as_of=as_of,
        window_days=int(scoring.get("window_days", 30)),
        default_weight=float(scoring.get("default_weight", 0)),
        weights={k: float(v) for k, v in scoring.get("weights", {}).items()},
        features={k: list(v) for k, v in scoring.get("features", {}).items()},
        steps=steps,
    )
