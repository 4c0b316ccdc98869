"""A crafted book of accounts (CSV files) whose tiers a test can move one account at a time.

150 accounts log 20 calls in the window (raw 20 = the 90th percentile: score 100, healthy), 50 log 2 (score 22,
at_risk). Moving a few accounts between the groups leaves the percentile, so every other score, unchanged.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from healthsync.connector.engine import Engine, RunSummary
from healthsync.connector.settings import Secrets, load_settings
from healthsync.sandbox.base import SandboxServer

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
NOW = datetime(2025, 8, 13, 6, tzinfo=UTC)
BUSY, QUIET = 20, 2


def account_id(index: int) -> str:
    return f"acc-{index:03d}"


@dataclass
class Book:
    root: Path
    slack: SandboxServer
    state_url: str
    accounts: int = 200
    busy: set[str] = field(default_factory=set)
    plans: dict[str, str] = field(default_factory=dict)
    mapping: dict[str, Any] | None = None
    scoring: dict[str, Any] = field(default_factory=dict)  # on top of as_of and the call_logged weight

    @property
    def webhook_url(self) -> str:
        return self.slack.base_url + self.slack.sandbox.default_webhook.url_path  # type: ignore[attr-defined]

    @property
    def config(self) -> Path:
        return self.root / "healthsync.yaml"

    def write(self) -> Book:
        limits = {"requests_per_window": 10_000, "window_seconds": 1}  # tests/slack/test_sandbox_*: the real window
        httpx.put(f"{self.slack.base_url}/_sandbox/limits", json=limits, timeout=10).raise_for_status()
        ids = [account_id(index) for index in range(self.accounts)]
        if not self.busy:
            self.busy = set(ids[: self.accounts * 3 // 4])
        rows = [_account(key, self.plans.get(key, "team")) for key in ids]
        _csv(self.root / "accounts.csv", rows)
        _csv(self.root / "users.csv", [_user(key) for key in ids])
        _csv(self.root / "events.csv", [event for key in ids for event in _events(key, key in self.busy)])
        slack: dict[str, Any] = {"enabled": True, "max_retry_seconds": 30, "messages_per_minute": 600}
        if self.mapping is not None:
            (self.root / "slack.yaml").write_text(yaml.safe_dump(self.mapping, sort_keys=False))
            slack["mapping"] = "slack.yaml"
        config = {
            "source": {"kind": "files", "events": "events.csv", "accounts": "accounts.csv", "users": "users.csv"},
            "scoring": {"as_of": AS_OF.isoformat(), "weights": {"call_logged": 1}, **self.scoring},
            "state": {"url": self.state_url},
            "destinations": {"slack": slack},
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        return self

    def move(self, *keys: str, busy: bool) -> None:
        """Make `keys` busy (healthy) or quiet (at_risk) and rewrite the files."""
        for key in keys:
            (self.busy.add if busy else self.busy.discard)(key)
        self.write()

    def engine(self) -> Engine:
        secrets = Secrets(slack_webhook_url=self.webhook_url)
        return Engine(load_settings(self.config), secrets=secrets, sleep=lambda _s: None, now=NOW)

    def run(self, **kwargs: Any) -> RunSummary:
        return self.engine().run(**kwargs)

    def messages(self) -> list[dict[str, Any]]:
        state = httpx.get(f"{self.slack.base_url}/_sandbox/state", timeout=10).json()
        return list(state["messages"])

    def posts(self) -> list[dict[str, Any]]:
        log = httpx.get(f"{self.slack.base_url}/_sandbox/requests", timeout=10).json()
        return [entry for entry in log if entry["path"].startswith("/services/")]


def alerts_in(messages: list[dict[str, Any]]) -> list[str]:
    """Every alert identity carried by the messages in the channel (from the marker in their blocks)."""
    found: list[str] = []
    for message in messages:
        for block in message.get("blocks") or []:
            for element in block.get("elements", []) if block["type"] == "context" else []:
                text = str(element.get("text", ""))
                found += text.split("\n")[1:] if text.startswith("alerts:\n") else []
    return found


def _account(key: str, plan: str) -> dict[str, Any]:
    return {
        "account_id": key,
        "name": f"Company {key}",
        "domain": f"{key}.example",
        "plan": plan,
        "status": "paying",
        "created_at": "2024-01-01T00:00:00Z",
        "seats_limit": 50,
        "mrr": 1000,
    }


def _user(key: str) -> dict[str, Any]:
    return {"user_id": f"{key}-u1", "account_id": key, "email": f"a@{key}.example", "role": "rep", "created_at": ""}


def _events(key: str, busy: bool) -> list[dict[str, Any]]:
    count = BUSY if busy else QUIET
    return [
        {
            "account_id": key,
            "user_id": f"{key}-u1",
            "event": "call_logged",
            "timestamp": (AS_OF - timedelta(days=1 + index % 20, hours=1)).isoformat().replace("+00:00", "Z"),
        }
        for index in range(count)
    ]


def _csv(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
