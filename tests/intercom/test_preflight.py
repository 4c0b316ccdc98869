"""Item 7 (Intercom's part of `healthsync check`): token, workspace and region, clashes, accounts as companies."""

from __future__ import annotations

from pathlib import Path

from healthsync.connector.engine import build_destination
from healthsync.connector.intercom.destination import IntercomDestination
from healthsync.connector.settings import Secrets
from healthsync.mappings.loader import load_mappings
from healthsync.sandbox.base import SandboxServer
from tests.intercom.conftest import api, intercom_world
from tests.world import TOKENS, World, healthsync, log_size, writes


def destination(world: World, secrets: Secrets = TOKENS) -> IntercomDestination:
    settings = world.settings()
    built = build_destination("intercom", settings, load_mappings(settings)["intercom"], secrets, lambda _s: None)
    assert isinstance(built, IntercomDestination)
    return built


def test_preflight_reports_workspace_clashes_and_matched_accounts_without_writing(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=30, missing_every=10)
    api(intercom, "POST", "/data_attributes", {"name": "healthsync_summary", "model": "contact", "data_type": "string"})
    before = log_size(intercom)
    checked = destination(world)
    try:
        found = checked.check(list(world.data.accounts["account_id"].astype(str)))
    finally:
        checked.close()
    assert writes(intercom, before) == []
    messages = [f.message for f in found]
    assert found[0].severity == "ok"
    assert "token valid" in messages[0]
    assert "region US" in messages[0]
    clash = [f for f in found if f.severity == "error"]
    assert len(clash) == 1
    assert clash[0].kind == "config"
    assert "'healthsync_summary'" in clash[0].message
    assert "companies.fields.8.name" in clash[0].message
    assert "27 of 30 accounts exist as Intercom companies" in messages


def test_preflight_with_a_refused_token_is_an_auth_finding(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=5)
    checked = destination(world, Secrets(intercom_access_token="forbidden-token"))
    try:
        found = checked.check()
    finally:
        checked.close()
    assert [(f.severity, f.kind) for f in found] == [("error", "auth")]


def test_healthsync_check_covers_intercom(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=20, missing_every=5)
    assert TOKENS.intercom_access_token is not None
    env = {"INTERCOM_ACCESS_TOKEN": TOKENS.intercom_access_token.get_secret_value()}
    before = log_size(intercom)
    clean = healthsync("check", "--config", str(world.config), env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "intercom: ok: token valid" in clean.stdout
    assert "region US" in clean.stdout
    assert "intercom: ok: 16 of 20 accounts exist as Intercom companies" in clean.stdout
    api(intercom, "POST", "/data_attributes", {"name": "healthsync_trend", "model": "contact", "data_type": "string"})
    clashing = healthsync("check", "--config", str(world.config), env=env)
    assert clashing.returncode == 2
    assert "intercom: error: Intercom data attribute 'healthsync_trend' already exists" in clashing.stdout
    assert [e for e in writes(intercom, before) if e["path"] != "/data_attributes"] == []
    refused = healthsync("check", "--config", str(world.config), env={"INTERCOM_ACCESS_TOKEN": "forbidden-token"})
    assert refused.returncode == 5
