"""Slack alerts end to end (SPEC section 4): the sync engine posts through slack_sdk's WebhookClient to the
Slack sandbox over real HTTP, with a real SQLite state store (tests/state/ runs the store on both backends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from healthsync.errors import FatalDestinationError
from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.slack.book import Book, account_id, alerts_in

TIER_ONLY: dict[str, Any] = {
    "destination": "slack",
    "delivery": "digest",
    "rules": [{"name": "into_at_risk", "kind": "tier_change", "to": ["at_risk"]}],
}


def _faults(slack: SandboxServer, **faults: float) -> None:
    httpx.put(f"{slack.base_url}/_sandbox/faults", json=faults, timeout=10).raise_for_status()


@pytest.fixture
def book(tmp_path: Path, slack: SandboxServer, sqlite_url: str) -> Book:
    return Book(tmp_path, slack, sqlite_url, mapping=TIER_ONLY).write()


def test_a_tier_change_sends_one_alert_and_a_rerun_sends_none(book: Book) -> None:
    assert book.run().counts["slack"].alerts_sent == 0  # baseline
    book.move(account_id(7), busy=False)
    summary = book.run()
    assert summary.counts["slack"].alerts_sent == 1
    (message,) = book.messages()
    assert alerts_in([message]) == [f"{account_id(7)}:into_at_risk:2025-W33"]
    assert "Company acc-007" in message["text"]
    assert "healthy -> at_risk" in message["text"]
    posts = len(book.posts())
    again = book.run()
    assert again.counts["slack"].alerts_sent == 0
    assert len(book.posts()) == posts == 1


def test_first_run_over_200_accounts_is_a_baseline_then_one_digest_names_the_3_changes(book: Book) -> None:
    first = book.run()
    assert first.plans["slack"].baseline  # type: ignore[attr-defined]
    assert book.posts() == []
    moved = [account_id(index) for index in (3, 50, 120)]
    book.move(*moved, busy=False)
    assert book.run().counts["slack"].alerts_sent == 3
    (message,) = book.messages()
    assert len(book.posts()) == 1
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert len(sections) == 3
    for key in moved:
        assert f"Company {key}" in message["text"]
        assert any(f"Company {key}" in text for text in sections)
    assert message["blocks"][0]["text"]["text"] == "Customer health alerts (3)"


def test_alert_baseline_alerts_on_the_first_run(book: Book) -> None:
    summary = book.run(alert_baseline=True)
    assert summary.counts["slack"].alerts_sent == 50  # every account already at_risk
    (message,) = book.messages()
    sections = [b for b in message["blocks"] if b["type"] == "section"]
    assert sections[-1]["text"]["text"] == "and 40 more"  # digest_limit 10
    assert len(alerts_in([message])) == 50


def test_a_rule_limited_to_enterprise_stays_quiet_for_a_team_account(tmp_path: Path, slack: SandboxServer) -> None:
    mapping = {**TIER_ONLY, "rules": [{**TIER_ONLY["rules"][0], "where": {"plan": "enterprise"}}]}
    book = Book(tmp_path, slack, f"sqlite:///{tmp_path / 's.db'}", mapping=mapping)
    book.plans = {account_id(1): "team", account_id(2): "enterprise"}
    book.write().run()
    book.move(account_id(1), busy=False)
    assert book.run().counts["slack"].alerts_sent == 0
    assert book.posts() == []
    book.move(account_id(2), busy=False)
    assert book.run().counts["slack"].alerts_sent == 1
    assert alerts_in(book.messages()) == [f"{account_id(2)}:into_at_risk:2025-W33"]


def test_thresholds_score_drop_and_numeric_filters(tmp_path: Path, slack: SandboxServer) -> None:
    rules = [
        {"name": "big_drop", "kind": "score_drop", "min_points": 90},
        {"name": "drop", "kind": "score_drop", "min_points": 50, "where": {"mrr": {"min": 500}}},
        {"name": "rich_drop", "kind": "score_drop", "min_points": 50, "where": {"mrr": {"min": 5000}}},
    ]
    book = Book(tmp_path, slack, f"sqlite:///{tmp_path / 's.db'}", mapping={"destination": "slack", "rules": rules})
    book.write().run()
    book.move(account_id(4), busy=False)  # 100 -> 22: a drop of 78
    assert book.run().counts["slack"].alerts_sent == 1
    assert alerts_in(book.messages()) == [f"{account_id(4)}:drop:2025-W33"]


@pytest.mark.parametrize("faults", [{"drop_after_commit_rate": 0.3}, {"reset_rate": 0.3}, {"error_rate": 0.3}])
def test_lost_answers_never_produce_a_second_message(
    tmp_path: Path, slack: SandboxServer, faults: dict[str, float]
) -> None:
    """At most once per alert; exactly once when Slack accepted the message and only the answer was lost."""
    mapping = {**TIER_ONLY, "delivery": "each"}
    book = Book(tmp_path, slack, f"sqlite:///{tmp_path / 's.db'}", mapping=mapping).write()
    book.run()
    moved = [account_id(index) for index in range(20)]
    book.move(*moved, busy=False)
    _faults(slack, **faults)
    counts = book.run().counts["slack"]
    assert counts.alerts_sent + counts.alerts_unconfirmed == 20
    assert counts.calls == 20  # one post per alert: nothing resent
    posted = alerts_in(book.messages())
    assert len(posted) == len(set(posted))
    if "drop_after_commit_rate" in faults:  # Slack committed every post: exactly one message per alert
        assert sorted(posted) == sorted(f"{key}:into_at_risk:2025-W33" for key in moved)
        assert counts.alerts_unconfirmed > 0
    book.run()
    _faults(slack)
    book.run()
    assert alerts_in(book.messages()) == posted
    with StateStore.open(book.state_url) as store:
        statuses = {task.identity: task.status for task in store.tasks("slack")}
    assert len(statuses) == 20
    assert set(statuses.values()) <= {"sent", "unconfirmed"}


def test_429_bursts_are_retried_and_post_exactly_once(book: Book, slack: SandboxServer) -> None:
    book.mapping = {**TIER_ONLY, "delivery": "each"}
    book.write().run()
    moved = [account_id(index) for index in range(6)]
    book.move(*moved, busy=False)
    _faults(slack, rate_limit_burst=0.5, burst_seconds=0)  # the book does not sleep: one-request bursts
    counts = book.run().counts["slack"]
    assert counts.alerts_sent == 6
    assert counts.retried > 0
    assert sorted(alerts_in(book.messages())) == sorted(f"{key}:into_at_risk:2025-W33" for key in moved)
    assert any(entry["status"] == 429 for entry in book.posts())


def test_an_intent_left_by_a_killed_run_is_never_posted(book: Book) -> None:
    book.run()
    book.move(account_id(9), busy=False)
    identity = f"{account_id(9)}:into_at_risk:2025-W33"
    with StateStore.open(book.state_url) as store:  # what a run killed between intent and answer leaves
        store.task_intent("slack", identity, "killed-run", account_id(9), "into_at_risk", "2025-W33")
    counts = book.run().counts["slack"]
    assert counts.alerts_sent == 0
    assert counts.alerts_unconfirmed == 1
    assert book.posts() == []


def test_an_archived_channel_stops_the_run_and_the_alert_is_posted_once_unarchived(
    book: Book, slack: SandboxServer
) -> None:
    book.run()
    book.move(account_id(5), busy=False)
    httpx.put(f"{slack.base_url}/_sandbox/channels", json={"channel": "#customer-health"}, timeout=10)
    with pytest.raises(FatalDestinationError, match="410 channel_is_archived"):
        book.run()
    assert book.messages() == []
    body = {"channel": "#customer-health", "archived": False}
    httpx.put(f"{slack.base_url}/_sandbox/channels", json=body, timeout=10)
    assert book.run().counts["slack"].alerts_sent == 1
    assert alerts_in(book.messages()) == [f"{account_id(5)}:into_at_risk:2025-W33"]


def test_a_lost_state_store_costs_one_round_of_alerts_never_a_duplicate(book: Book, tmp_path: Path) -> None:
    book.run()
    book.move(account_id(11), busy=False)
    book.run()
    assert len(book.messages()) == 1
    book.state_url = f"sqlite:///{tmp_path / 'new-state.db'}"
    book.write()
    assert book.run().plans["slack"].baseline  # type: ignore[attr-defined]
    book.run()
    assert len(book.messages()) == 1


@pytest.mark.slow
def test_a_run_that_lost_its_lease_posts_nothing_more(tmp_path: Path, slack: SandboxServer) -> None:
    """The lease is taken over while the run posts: the posts after that are not made and not marked sent;
    the next run posts each of them once."""
    import threading
    import time

    import sqlalchemy as sa
    import yaml

    from healthsync.errors import LeaseLostError

    book = Book(tmp_path, slack, f"sqlite:///{tmp_path / 's.db'}", mapping={**TIER_ONLY, "delivery": "each"})
    book.write()
    config = yaml.safe_load(book.config.read_text())
    config["state"]["lock_ttl_seconds"] = 10
    config["destinations"]["slack"]["timeout_seconds"] = 3
    book.config.write_text(yaml.safe_dump(config))
    book.run()
    moved = [account_id(index) for index in range(6)]
    book.move(*moved, busy=False)
    config = yaml.safe_load(book.config.read_text())
    config["state"]["lock_ttl_seconds"] = 10
    config["destinations"]["slack"]["timeout_seconds"] = 3
    book.config.write_text(yaml.safe_dump(config))
    _faults(slack, latency_ms=1500)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            book.run()
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while not book.messages() and time.monotonic() < deadline:
        time.sleep(0.05)
    engine = sa.create_engine(book.state_url)
    with engine.begin() as conn:  # another run takes the lease over
        conn.execute(sa.text("UPDATE lease SET token = 'taken-over', holder = 'another-host:1'"))
    worker.join(timeout=120)
    assert len(failure) == 1
    assert isinstance(failure[0], LeaseLostError)
    posted = alerts_in(book.messages())
    assert 1 <= len(posted) < 6
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM lease"))
    engine.dispose()
    _faults(slack)
    book.run()
    assert sorted(alerts_in(book.messages())) == sorted(f"{key}:into_at_risk:2025-W33" for key in moved)
