"""Item 7 (Intercom's part of `healthsync check`): token, workspace and region, clashes, accounts as companies."""

from __future__ import annotations

from pathlib import Path

from healthsync.connector.engine import build_destination, load_mappings
from healthsync.connector.intercom.destination import IntercomDestination
from healthsync.connector.settings import Secrets
from healthsync.sandbox.base import SandboxServer
from tests.intercom.conftest import api, intercom_world
from tests.world import TOKENS, World, log_size, writes


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
        found = checked.preflight(list(world.data.accounts["account_id"].astype(str)))
    finally:
        checked.close()
    assert writes(intercom, before) == []
    messages = [message for _, _, message in found]
    assert found[0][0] == "ok"
    assert "token valid" in messages[0]
    assert "region US" in messages[0]
    clash = [f for f in found if f[0] == "error"]
    assert len(clash) == 1
    assert clash[0][1] == "config"
    assert "'healthsync_summary'" in clash[0][2]
    assert "companies.fields.8.name" in clash[0][2]
    assert "27 of 30 accounts exist as Intercom companies" in messages


def test_preflight_with_a_refused_token_is_an_auth_finding(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=5)
    checked = destination(world, Secrets(intercom_access_token="forbidden-token"))
    try:
        found = checked.preflight()
    finally:
        checked.close()
    assert [(severity, kind) for severity, kind, _ in found] == [("error", "auth")]
