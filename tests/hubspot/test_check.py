"""`healthsync check`: a preflight that writes nothing, through the CLI against the HubSpot sandbox over real HTTP;
its scope verification works alike for a Service Key and a legacy private-app token (issue 24, item 3)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from healthsync.sandbox.base import SandboxServer
from tests.hubspot.crm import changes, cli, hubspot_only, run_main
from tests.world import World, build_world, control, log_size, writes

EVERY_SCOPE = [
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.objects.owners.read",
]


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    built = build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=40)
    hubspot_only(built)
    return built


def limit_token(server: SandboxServer, token: str, scopes: list[str], kind: str = "private_app") -> None:
    control(server, "PUT", "tokens", {"token": token, "scopes": scopes, "kind": kind})


def test_check_passes_on_a_fresh_portal_and_changes_nothing(world: World) -> None:
    before, state = log_size(world.hubspot), control(world.hubspot, "GET", "state")
    result = cli(world, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("source: ok:") for line in lines)
    assert any(line.startswith("hubspot: ok: token valid; scopes sufficient") for line in lines)
    assert any("owners resolvable" in line for line in lines)
    assert changes(world.hubspot, before) == []
    assert len(writes(world.hubspot, before)) == 4, "one refused write per write scope (the probes)"
    assert control(world.hubspot, "GET", "state") == state


def test_a_service_key_passes_check_and_runs(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    limit_token(world.hubspot, "sk-na1-healthsync", EVERY_SCOPE, kind="service_key")
    info = httpx.post(
        f"{world.hubspot.base_url}/oauth/v2/private-apps/get/access-token-info",
        json={"tokenKey": "sk-na1-healthsync"},
        timeout=10,
    )
    assert info.status_code == 404, "the private-app endpoint knows no Service Key, as at HubSpot"
    before = log_size(world.hubspot)
    code, output = run_main(capsys, world, "check", token="sk-na1-healthsync")
    assert code == 0, output
    assert "hubspot: ok: token valid; scopes sufficient" in output
    code, output = run_main(capsys, world, "run", token="sk-na1-healthsync")
    assert code == 0, output
    assert control(world.hubspot, "GET", "state")["tasks"], "the run wrote its tasks"
    sent = control(world.hubspot, "GET", "requests")[before:]
    assert not any(entry["path"].endswith("access-token-info") for entry in sent)


def test_a_service_key_without_companies_write_fails_check_naming_it_and_writes_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    scopes = [s for s in EVERY_SCOPE if s != "crm.objects.companies.write"]
    limit_token(world.hubspot, "sk-na1-limited", scopes, kind="service_key")
    before, state = log_size(world.hubspot), control(world.hubspot, "GET", "state")
    code, output = run_main(capsys, world, "check", token="sk-na1-limited")
    assert code == 5, output
    missing = [line for line in output.splitlines() if line.startswith("hubspot: error: missing scope")]
    assert missing == ["hubspot: error: missing scope crm.objects.companies.write (needed to write company properties)"]
    assert changes(world.hubspot, before) == []
    assert control(world.hubspot, "GET", "state") == state
    assert "sk-na1-limited" not in output


def test_a_token_without_companies_write_makes_check_and_run_exit_5_naming_it(world: World) -> None:
    limit_token(world.hubspot, "pat-na1-limited", [s for s in EVERY_SCOPE if s != "crm.objects.companies.write"])
    checked = cli(world, "check", token="pat-na1-limited")
    assert checked.returncode == 5, checked.stdout + checked.stderr
    assert "hubspot: error: missing scope crm.objects.companies.write" in checked.stdout
    ran = cli(world, "run", token="pat-na1-limited")
    assert ran.returncode == 5, ran.stdout + ran.stderr
    assert "crm.objects.companies.write" in ran.stderr
    assert "pat-na1-limited" not in ran.stdout + ran.stderr + checked.stdout + checked.stderr


def test_the_sandbox_answers_missing_scopes_like_hubspot(world: World) -> None:
    limit_token(world.hubspot, "pat-na1-readonly", ["crm.objects.companies.read"])
    response = httpx.post(
        f"{world.hubspot.base_url}/crm/v3/objects/companies/batch/update",
        json={"inputs": []},
        headers={"Authorization": "Bearer pat-na1-readonly"},
    )
    body = response.json()
    assert response.status_code == 403
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredScopes"] == ["crm.objects.companies.write"]
    info = httpx.post(
        f"{world.hubspot.base_url}/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": "pat-na1-readonly"}
    )
    assert info.json()["scopes"] == ["crm.objects.companies.read"]


def test_a_property_of_another_type_is_a_configuration_finding(world: World) -> None:
    body = {"name": "healthsync_health_score", "label": "Health", "type": "string", "fieldType": "text"}
    body["groupName"] = "companyinformation"
    response = httpx.post(
        f"{world.hubspot.base_url}/crm/v3/properties/companies",
        json=body,
        headers={"Authorization": "Bearer pat-na1-admin"},
    )
    assert response.status_code == 201, response.text
    result = cli(world, "check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "companies property 'healthsync_health_score' exists with type 'string'" in result.stdout


def test_an_unreadable_source_is_a_configuration_finding(world: World) -> None:
    world.db.unlink()
    result = cli(world, "check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert any(line.startswith("source: error:") for line in result.stdout.splitlines())
