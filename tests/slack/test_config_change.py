"""A scoring-configuration change is visible and quiet (issue 20, item 4), through the CLI in-process against the
sandboxes over real HTTP and a real SQLite or PostgreSQL state store: `plan` counts the accounts the change moves,
the next `run` posts ONE Slack summary line instead of one alert per account (HubSpot is updated as usual), and
`history` marks the run."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from healthsync.connector.cli import cli
from healthsync.sandbox.base import SandboxServer
from tests.slack.book import alerts_in
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
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, slack: SandboxServer, state_url: str
) -> World:
    world = build_world(tmp_path, hubspot, intercom, state_url, accounts=200, destinations=("hubspot",))
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

    _cli(env, "run", "--config", config)
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
