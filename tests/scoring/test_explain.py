"""Explanations and the plays' supporting metrics: pure functions, then the score table from crafted CSV files."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from healthsync.connector.pipeline import compute_scores
from healthsync.connector.settings import load_settings
from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.explain import movers, reasons, why

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
SEED = ScoringConfig(
    weights={"lead_created": 9, "meeting_scheduled": 7, "call_logged": 5},
    features={"leads": ["lead_created"], "meetings": ["meeting_scheduled"], "calls": ["call_logged"]},
)


def test_the_seed_example_names_leads_24_meetings_31_calls_45() -> None:
    parts = {"leads": (3, 27.0), "meetings": (5, 35.0), "calls": (10, 50.0)}
    assert reasons(112, parts, SEED) == "45% calls (10 x 5), 31% meetings (5 x 7), 24% leads (3 x 9)"


def test_movers_and_the_one_line_why() -> None:
    now = {"meetings": (2, 14.0), "calls": (12, 60.0), "leads": (3, 27.0)}
    before = {"meetings": (5, 35.0), "calls": (10, 50.0), "leads": (3, 27.0)}
    assert movers(now, before) == "meetings -60%, calls +20%"
    line = why(82, 91, "45% meetings (31)", movers(now, before))
    assert line == "82: 45% meetings (31); down from 91: meetings -60%, calls +20% vs last period"
    assert reasons(0, {}, SEED) == "no weighted activity in the window"


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def crafted_book(root: Path, extra: dict[str, Any] | None = None) -> Path:
    """`seed`: 3 leads, 5 meetings, 10 calls (raw 112); `roles`: 3 of its 4 roles active; `fast`: its 20th
    lead_enrolled on day 9 after created_at; `other`: little activity."""
    created = AS_OF - timedelta(days=20)
    accounts = [
        {
            "account_id": key,
            "name": key.title(),
            "domain": f"{key}.example",
            "plan": "team",
            "status": "paying",
            "created_at": _stamp(created),
            "seats_limit": seats,
            "mrr": mrr,
        }
        for key, mrr, seats in (("seed", 9000, 1), ("roles", 100, 4), ("fast", 100, 10), ("other", 100, 10))
    ]
    roles = ["rep", "manager", "admin", "analyst"]
    users = [
        {"user_id": f"roles-{r}", "account_id": "roles", "email": f"{r}@roles.example", "role": r, "created_at": ""}
        for r in roles
    ]
    users += [
        {"user_id": f"{k}-u", "account_id": k, "email": f"u@{k}.example", "role": "rep", "created_at": ""}
        for k in ("seed", "fast", "other")
    ]
    events: list[dict[str, Any]] = []

    def add(account: str, user: str, event: str, count: int, at: datetime) -> None:
        events.extend(
            {"account_id": account, "user_id": user, "event": event, "timestamp": _stamp(at + timedelta(minutes=i))}
            for i in range(count)
        )

    recent = AS_OF - timedelta(days=2)
    add("seed", "seed-u", "lead_created", 3, recent)
    add("seed", "seed-u", "meeting_scheduled", 5, recent)
    add("seed", "seed-u", "call_logged", 10, recent)
    for role in roles[:3]:
        add("roles", f"roles-{role}", "call_logged", 2, recent)
    add("fast", "fast-u", "sequence_created", 1, created + timedelta(days=1))
    add("fast", "fast-u", "lead_enrolled", 19, created + timedelta(days=3))
    add("fast", "fast-u", "lead_enrolled", 5, created + timedelta(days=9, hours=2))  # the 20th on day 9
    add("other", "other-u", "call_logged", 1, recent)
    _write(root / "accounts.csv", accounts)
    _write(root / "users.csv", users)
    _write(root / "events.csv", events)
    config = {
        "source": {"kind": "files", "events": "events.csv", "accounts": "accounts.csv", "users": "users.csv"},
        "scoring": {
            "as_of": AS_OF.isoformat(),
            "weights": dict(SEED.weights),
            "features": dict(SEED.features),
            "activation_steps": [{"event": "sequence_created"}, {"event": "lead_enrolled", "min_count": 20}],
        },
        "state": {"url": f"sqlite:///{root / 'state.db'}"},
        **(extra or {}),
    }
    path = root / "healthsync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def table(tmp_path: Path) -> dict[str, dict[str, Any]]:
    frame = compute_scores(load_settings(crafted_book(tmp_path)), now=AS_OF).accounts
    return {row["account_id"]: row for row in frame.to_dict("records")}


def test_the_score_table_explains_the_seed_example(table: dict[str, dict[str, Any]]) -> None:
    seed = table["seed"]
    assert seed["raw_score"] == 112
    assert seed["score_reasons"] == "45% calls (10 x 5), 31% meetings (5 x 7), 24% leads (3 x 9)"
    assert seed["score_movers"] == ""  # nothing in the previous window: trend new
    assert seed["score_why"] == f"{seed['health_score']}: {seed['score_reasons']}"


def test_roles_days_to_activation_and_team_activation(table: dict[str, dict[str, Any]]) -> None:
    assert (table["roles"]["roles_active"], table["roles"]["roles_total"]) == (3, 4)
    assert table["fast"]["days_to_activation"] == 9
    assert table["fast"]["users_activated_pct"] == 100
    assert table["fast"]["activation_pct"] == 100
    assert pd_na(table["seed"]["days_to_activation"])  # never activated: null
    assert table["seed"]["users_activated_pct"] == 0
    assert table["seed"]["mrr"] == 9000


def pd_na(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
