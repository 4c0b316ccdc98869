"""A product with a known truth for the backtest tests: churn is caused by one event (`core_action`) and not by
another (`noise_action`).

Each account has a latent rate of `core_action` and an independent rate of `noise_action`. Its daily churn hazard
falls as its core rate rises; an account fated to churn fades out over the 60 days before its churn date (both
events), and sends nothing after it. Written as CSV files with a config (files source) in a folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 480
END = START + timedelta(days=DAYS)  # the end of the data (scoring.as_of)
FADE_DAYS = 60


@dataclass
class Product:
    folder: Path
    config: Path
    accounts: pd.DataFrame
    events: pd.DataFrame

    def with_config(self, name: str, **scoring: Any) -> Path:
        """Another config file in the folder with `scoring` keys replaced."""
        document = yaml.safe_load(self.config.read_text())
        document["scoring"].update(scoring)
        path = self.folder / name
        path.write_text(yaml.safe_dump(document))
        return path


def _account_rows(rng: np.random.Generator, n: int, hazard: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    core = rng.lognormal(mean=0.0, sigma=0.8, size=n)  # core actions per active day, relative
    noise = rng.lognormal(mean=0.0, sigma=0.8, size=n)
    created = rng.integers(0, 120, size=n)
    daily = hazard * np.exp(-1.6 * core)
    lifetime = rng.exponential(1.0 / daily)
    churn_day = created + 45 + lifetime.astype(int)
    churned = churn_day < DAYS - 1
    accounts = pd.DataFrame(
        {
            "account_id": [f"acc{i:04d}" for i in range(n)],
            "name": [f"Account {i}" for i in range(n)],
            "domain": [f"account{i}.example" for i in range(n)],
            "plan": "team",
            "status": np.where(churned, "churned", "paying"),
            "created_at": [(START + timedelta(days=int(d))).isoformat() for d in created],
            "seats_limit": 10,
            "churned_at": [
                (START + timedelta(days=int(d), hours=12)).isoformat() if c else ""
                for d, c in zip(churn_day, churned, strict=True)
            ],
        }
    )
    return accounts, core, noise


def _events(rng: np.random.Generator, accounts: pd.DataFrame, core: np.ndarray, noise: np.ndarray) -> pd.DataFrame:
    rows: list[tuple[str, str, str, str]] = []
    for index, account in enumerate(accounts.itertuples(index=False)):
        first = (pd.Timestamp(account.created_at) - pd.Timestamp(START)).days
        last = (pd.Timestamp(account.churned_at) - pd.Timestamp(START)).days if account.churned_at else DAYS
        for day in range(first, last):
            fade = min(1.0, max(0.05, (last - day) / FADE_DAYS)) if account.churned_at else 1.0
            for event, rate in (("core_action", core[index]), ("noise_action", noise[index])):
                for _ in range(rng.poisson(rate * fade)):
                    moment = START + timedelta(days=day, seconds=int(rng.integers(0, 86400)))
                    rows.append(
                        (account.account_id, f"{account.account_id}-u{rng.integers(0, 3)}", event, moment.isoformat())
                    )
    return pd.DataFrame(rows, columns=["account_id", "user_id", "event", "timestamp"])


def make_product(folder: Path, *, accounts: int = 160, hazard: float = 0.012, seed: int = 3) -> Product:
    """Write the product (events.csv, accounts.csv, users.csv) and healthsync.yaml into `folder`."""
    rng = np.random.default_rng(seed)
    table, core, noise = _account_rows(rng, accounts, hazard)
    events = _events(rng, table, core, noise)
    users = pd.DataFrame(
        [
            (f"{a}-u{k}", a, f"u{k}@{a}.example", "member", START.isoformat())
            for a in table["account_id"]
            for k in range(3)
        ],
        columns=["user_id", "account_id", "email", "role", "created_at"],
    )
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "accounts.csv", index=False)
    events.to_csv(folder / "events.csv", index=False)
    users.to_csv(folder / "users.csv", index=False)
    config = {
        "source": {"kind": "files", "events": "events.csv", "accounts": "accounts.csv", "users": "users.csv"},
        "scoring": {
            "as_of": END.isoformat(),
            "window_days": 30,
            "weights": {"core_action": 1, "noise_action": 10},
            "tiers": {"healthy": 70, "at_risk": 30},
            "activation_steps": [{"event": "core_action", "min_count": 15}, {"event": "noise_action", "min_count": 5}],
        },
        "state": {"url": f"sqlite:///{folder / 'state.db'}"},
    }
    path = folder / "healthsync.yaml"
    path.write_text(yaml.safe_dump(config))
    return Product(folder, path, table, events)
