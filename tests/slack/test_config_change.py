"""A scoring-configuration change is visible and quiet (issue 20, item 4), through the CLI in-process against the
sandboxes over real HTTP and a real SQLite state store: `plan` counts the accounts the change moves,
the next `run` posts ONE Slack summary line instead of one alert per account (HubSpot is updated as usual), and
`history` marks the run."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from healthsync.connector.cli import cli
from healthsync.connector.slack.destination import SlackPlan
from healthsync.sandbox.base import SandboxServer
from healthsync.state import Ack, StateStore
from tests.slack.book import Book, account_id, alerts_in
from tests.world import TOKENS, World, build_world, control

NEW_WEIGHTS = {"lead_created": 9, "meeting_scheduled": 7, "call_logged": 5, "report_viewed": 10}  # reports count now


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """The CLI points the loggers at its (captured) stderr; give the next test back its own."""
    loggers = [logging.getLogger(), logging.getLogger("healthsync")]
    saved = [(log.handlers[:], log.level, log.propagate) for log in loggers]
    yield
    for log, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        log.handlers[:], log.level, log.propagate = handlers, level, propagate


@pytest.fixture
def world(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, slack: SandboxServer, sqlite_url: str
) -> World:
    world = build_world(tmp_path, hubspot, intercom, sqlite_url, accounts=200, destinations=("hubspot",))
    config = yaml.safe_load(world.config.read_text())
    config["destinations"]["slack"] = {"enabled": True, "messages_per_minute": 600}
    world.config.write_text(yaml.safe_dump(config, sort_keys=False))
    return world


def _env(world: World, slack: SandboxServer) -> dict[str, str]:
    assert TOKENS.hubspot_access_token is not None
    webhook = slack.base_url + slack.sandbox.default_webhook.url_path  # type: ignore[attr-defined]
    return {"HUBSPOT_ACCESS_TOKEN": TOKENS.hubspot_access_token.get_secret_value(), "SLACK_WEBHOOK_URL": webhook}


def _cli(env: dict[str, str], *args: str, fmt: str = "json") -> list[Any]:
    result = CliRunner().invoke(cli, ["--log-format", fmt, *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    if fmt == "text":
        return result.stdout.splitlines()
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _tiers(config: Path) -> dict[str, str]:
    """An independent picture: `healthsync score` with `config`, tier by account."""
    out = config.with_suffix(".scores.json")
    result = CliRunner().invoke(cli, ["score", "--config", str(config), "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return {row["account_id"]: row["health_tier"] for row in json.loads(out.read_text())}


def _reweight(config: Path, weights: dict[str, int]) -> Path:
    """Write the configuration with other weights; returns a copy of the one before."""
    before = config.with_name("before.yaml")
    before.write_text(config.read_text())
    data = yaml.safe_load(config.read_text())
    data["scoring"]["weights"] = weights
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return before


def _messages(slack: SandboxServer) -> list[dict[str, Any]]:
    return list(control(slack, "GET", "state")["messages"])


def test_a_weights_change_is_counted_by_plan_summarised_once_in_slack_and_marked_in_history(
    world: World, slack: SandboxServer
) -> None:
    env, config = _env(world, slack), str(world.config)
    _cli(env, "run", "--config", config)
    assert _messages(slack) == []  # the first run is a baseline: nothing posted
    old_config = _reweight(world.config, NEW_WEIGHTS)

    old, new = _tiers(old_config), _tiers(world.config)
    moved = sorted(key for key in new if new[key] != old[key])
    assert len(moved) >= 10
    (change,) = [event for event in _cli(env, "plan", "--config", config) if event["event"] == "config_change"]
    assert change["accounts_moving_tier"] == len(moved)
    assert change["accounts"] == moved
    assert change["previous_run"] == 1
    assert change["previous_fingerprint"] != change["fingerprint"]
    assert _messages(slack) == []  # plan posts nothing

    (done,) = [event for event in _cli(env, "run", "--config", config) if event["event"] == "run_summary"]
    assert done["config_change"]["accounts_moving_tier"] == len(moved)
    (summary,) = _messages(slack)  # one line, not one alert per account
    assert summary["text"] == f"scoring configuration changed: {len(moved)} accounts moved tier"
    (identity,) = alerts_in([summary])
    assert identity.startswith(f"scoring_config:{change['previous_fingerprint']}:{change['fingerprint']}:")
    companies = {
        c["properties"]["healthsync_account_id"]: c["properties"]
        for c in control(world.hubspot, "GET", "state")["companies"]
        if c["properties"].get("healthsync_account_id")
    }
    matched = [key for key in moved if key in companies]  # the seeded CRM leaves a few accounts unmatched
    assert len(matched) >= len(moved) // 2
    assert {key: companies[key]["healthsync_health_tier"] for key in matched} == {key: new[key] for key in matched}

    _cli(env, "run", "--config", config)  # a rerun: the change was announced once
    assert len(_messages(slack)) == 1

    runs = _cli(env, "history", moved[0], "--config", config)
    assert [(line["run"], line["config_changed"]) for line in runs] == [(3, False), (2, True), (1, False)]
    assert runs[1]["previous_fingerprint"] == change["previous_fingerprint"]
    assert runs[1]["scoring_fingerprint"] == runs[0]["scoring_fingerprint"] == change["fingerprint"]
    text = _cli(env, "history", moved[0], "--config", config, fmt="text")
    assert text[1].endswith(f"config {change['fingerprint']} (changed from {change['previous_fingerprint']})")
    assert "changed" not in text[0]
    assert "changed" not in text[2]


ANY_TIER: dict[str, Any] = {"destination": "slack", "rules": [{"name": "tier", "kind": "tier_change"}]}
STEEP = {"curve": 10}  # the quiet accounts' 22 (at_risk) becomes 64 (neutral); the busy ones stay at 100


@pytest.fixture
def book(tmp_path: Path, slack: SandboxServer, sqlite_url: str) -> Book:
    return Book(tmp_path, slack, sqlite_url, mapping=ANY_TIER).write()


def _steeper(book: Book) -> None:
    book.scoring = STEEP
    book.write()


def test_an_account_its_usage_moved_is_alerted_beside_the_summary(book: Book) -> None:
    book.run()
    book.scoring = STEEP
    book.move(account_id(7), busy=False)  # old curve: healthy -> at_risk; new curve: healthy -> neutral
    counts = book.run().counts["slack"]
    summary, digest = book.messages()
    assert summary["text"] == "scoring configuration changed: 51 accounts moved tier"  # the 50 quiet ones and acc-007
    assert alerts_in([digest]) == [f"{account_id(7)}:tier:2025-W33"]
    assert "healthy -> neutral" in digest["text"]
    assert counts.alerts_sent == 2
    book.run()
    assert len(book.messages()) == 2


def test_a_lost_answer_leaves_the_summary_in_the_channel_once(book: Book, slack: SandboxServer) -> None:
    book.run()
    _steeper(book)
    httpx.put(f"{slack.base_url}/_sandbox/faults", json={"drop_after_commit_rate": 1.0}, timeout=10).raise_for_status()
    assert book.run().counts["slack"].alerts_unconfirmed == 1
    httpx.put(f"{slack.base_url}/_sandbox/faults", json={}, timeout=10).raise_for_status()
    book.run()
    (summary,) = book.messages()
    assert summary["text"] == "scoring configuration changed: 50 accounts moved tier"
    assert len(book.posts()) == 1


def test_a_summary_left_by_a_killed_run_is_never_posted_nor_replaced_by_alerts(book: Book) -> None:
    book.run()
    _steeper(book)
    plan = book.engine().plan().plans["slack"]
    assert isinstance(plan, SlackPlan)
    assert plan.held is not None
    assert plan.tasks == []
    assert any(line.startswith("  summary scoring_config:") for line in plan.render())
    summary = plan.held.summary
    with StateStore.open(book.state_url) as store:  # what a run killed between the intent and the answer leaves
        store.task_intent("slack", summary.identity, "killed-run", summary.account, summary.rule, summary.period)
    counts = book.run().counts["slack"]
    assert (counts.alerts_sent, counts.alerts_unconfirmed) == (0, 1)
    book.run()
    assert book.posts() == []


def test_a_lost_state_store_is_a_baseline_not_a_second_summary(book: Book, tmp_path: Path) -> None:
    book.run()
    _steeper(book)
    book.run()
    assert len(book.messages()) == 1
    book.scoring = {}
    book.state_url = f"sqlite:///{tmp_path / 'new-state.db'}"
    book.write()
    book.run()  # a baseline: the configuration is recorded, nothing posted
    _steeper(book)
    assert book.run().counts["slack"].alerts_sent == 1  # a new change against the new state: announced
    book.state_url = f"sqlite:///{tmp_path / 'lost-again.db'}"
    book.write()
    assert book.run().plans["slack"].baseline  # type: ignore[attr-defined]
    assert len(book.messages()) == 2


def test_a_previous_configuration_this_release_refuses_is_reported_and_alerts_go_out_as_usual(book: Book) -> None:
    book.run()
    refused = {"fingerprint": "000000000000", "config": {"no_such_setting": 1}}
    with StateStore.open(book.state_url) as store:  # written by a release with other settings
        store.record_scoring(store.runs()[0].id, refused["fingerprint"], refused["config"])
        store.acknowledge("slack", "scoring", [Ack("config", None, refused)])
    _steeper(book)
    change = book.engine().plan().config_change
    assert change is not None
    assert (change.previous, change.moved) == ("000000000000", None)
    assert "not valid in this release" in change.describe()
    assert book.run().counts["slack"].alerts_sent == 50  # nothing to tell the two apart: every move is alerted
    (digest,) = book.messages()
    assert len(alerts_in([digest])) == 50
