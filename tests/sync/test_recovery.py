"""Reliability through the CLI: rejected records, SIGKILL and resume, the lock, auth errors, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from healthsync.connector.sync.values import hubspot_value
from healthsync.mappings.loader import load_mapping
from healthsync.mappings.models import HubSpotMapping
from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.paths import MAPPINGS
from tests.sync.test_sync import hubspot_companies, intercom_companies, tag_names
from tests.world import TOKENS, World, build_world, control, healthsync


def cli(world: World, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return healthsync(*args, "--config", str(world.config), env=env or token_env())


def token_env(hubspot: str | None = None) -> dict[str, str]:
    assert TOKENS.hubspot_access_token is not None
    assert TOKENS.intercom_access_token is not None
    return {
        **os.environ,
        "HUBSPOT_ACCESS_TOKEN": hubspot or TOKENS.hubspot_access_token.get_secret_value(),
        "INTERCOM_ACCESS_TOKEN": TOKENS.intercom_access_token.get_secret_value(),
    }


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str) -> World:
    """200 accounts; a SQLite state store (the store itself runs on both backends in tests/state/)."""
    return build_world(tmp_path, hubspot, intercom, sqlite_url, accounts=200)


@pytest.fixture
def backend_world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, state_url: str) -> World:
    """The same world on SQLite or PostgreSQL (the `state_url` parameter): for what a killed process leaves in each."""
    return build_world(tmp_path, hubspot, intercom, state_url, accounts=200)


def assert_in_sync(world: World) -> None:
    """Every matched company carries the current scores; exactly one tier tag; nothing duplicated."""
    scores = world.engine().plan()
    assert scores.scores is not None
    assert all(r.action != "update" for p in scores.plans.values() for r in p.records), "something left to write"
    rows = {r["account_id"]: r for r in scores.scores.accounts.to_dict("records")}
    mapping = load_mapping("hubspot", "hubspot", Path("."))
    assert isinstance(mapping, HubSpotMapping)
    for key, company in hubspot_companies(world).items():
        for field in mapping.companies.fields:
            assert company["properties"].get(field.property, "") == hubspot_value(field, rows[key][field.column])
    seeded = len(world.data.accounts) - len(world.seeded.hubspot_missing) + len(world.seeded.hubspot_ambiguous)
    assert len(control(world.hubspot, "GET", "state")["companies"]) == seeded
    health_tags = {"Health: Healthy", "Health: Neutral", "Health: At risk"}
    for key, company in intercom_companies(world).items():
        if key not in world.seeded.intercom_missing:
            assert len(tag_names(company) & health_tags) == 1, key


def test_rejected_record_is_reported_others_written_exit_4_and_retried(world: World, tmp_path: Path) -> None:
    mapping = yaml.safe_load((MAPPINGS / "hubspot.yaml").read_text())
    limited = {"column": "health_tier", "property": "healthsync_tier_limited", "label": "Tier (limited)"}
    mapping["companies"]["fields"].append({**limited, "type": "enumeration", "options": ["healthy", "neutral"]})
    custom = tmp_path / "hubspot-custom.yaml"
    custom.write_text(yaml.safe_dump(mapping))
    config = yaml.safe_load(world.config.read_text())
    config["destinations"]["hubspot"]["mapping"] = str(custom)
    world.config.write_text(yaml.safe_dump(config))

    first = cli(world, "run")
    assert first.returncode == 4, first.stderr
    with StateStore.open(world.settings().resolved_state_url()) as store:
        rejected = {r.key: r.reason for r in store.rejections() if r.destination == "hubspot"}
    scores = world.engine().plan().scores
    assert scores is not None
    at_risk = set(scores.accounts.loc[scores.accounts.health_tier == "at_risk", "account_id"])
    written = hubspot_companies(world)
    assert set(rejected) == at_risk & (set(written) | set(rejected)) - set(world.seeded.hubspot_ambiguous)
    assert all("at_risk" in reason for reason in rejected.values())
    assert not set(rejected) & {k for k, c in written.items() if c["properties"].get("healthsync_health_score")}
    assert "rejected" in first.stdout

    again = cli(world, "run")  # retried, still refused
    assert again.returncode == 4
    assert "rejected" in cli(world, "state").stdout

    mapping["companies"]["fields"][-1]["options"].append("at_risk")  # the user fixes the mapping
    custom.write_text(yaml.safe_dump(mapping))
    fixed = cli(world, "run")
    assert fixed.returncode == 0, fixed.stderr
    with StateStore.open(world.settings().resolved_state_url()) as store:
        assert not [r for r in store.rejections() if r.destination == "hubspot"]
    assert {k for k, c in hubspot_companies(world).items() if c["properties"].get("healthsync_health_score")} >= set(
        rejected
    )


def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(backend_world: World) -> None:
    """About the backend too: a connection killed mid-transaction, then the lease it held, on each store."""
    world = backend_world
    config = yaml.safe_load(world.config.read_text())
    config["state"]["lock_ttl_seconds"] = 10
    for name in ("hubspot", "intercom"):  # the lease must outlive a request (2 x timeout)
        config["destinations"][name]["timeout_seconds"] = 5
    world.config.write_text(yaml.safe_dump(config))
    control(world.intercom, "PUT", "faults", {"latency_ms": 25})
    process = subprocess.Popen(
        [sys.executable, "-m", "healthsync", "run", "--config", str(world.config)],
        env=token_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        upserts = [e for e in control(world.intercom, "GET", "requests") if e["path"] == "/companies" and e["write"]]
        if len(upserts) >= 40 or process.poll() is not None:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    control(world.intercom, "PUT", "faults", {})
    rerun = cli(world, "run", "--wait")
    assert rerun.returncode == 0, rerun.stderr
    assert_in_sync(world)


def test_second_concurrent_run_exits_3(world: World) -> None:
    with StateStore.open(world.settings().resolved_state_url()) as store, store.acquire_lock("other-host:42", 60):
        result = cli(world, "run")
    assert result.returncode == 3
    assert "other-host:42" in result.stderr


def test_auth_error_exits_5_and_no_token_is_printed(world: World) -> None:
    result = cli(world, "run", env=token_env(hubspot="forbidden-token"))
    assert result.returncode == 5, result.stderr
    assert "forbidden-token" not in result.stdout + result.stderr
    ok = cli(world, "run")
    assert ok.returncode == 0
    for secret in (TOKENS.hubspot_access_token, TOKENS.intercom_access_token):
        assert secret is not None
        assert secret.get_secret_value() not in ok.stdout + ok.stderr


def test_logs_are_json_lines_when_not_a_terminal(world: World) -> None:
    result = cli(world, "run")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]
    assert any(r["message"] == "run finished" for r in records)
    summary = json.loads(result.stdout.splitlines()[-1])  # the run summary is the last JSON line
    assert summary["event"] == "run_summary"
    assert "hubspot" in summary["destinations"]
    assert "intercom" in summary["destinations"]
