"""The portal rules that break a first sync (issue 24, item 5), through the CLI and the engine against the sandbox:
a non-unique account-id property, a portal at HubSpot's 10 unique properties, task completion answered 404 per
task or for the whole batch, and an account whose domain is only one of a company's additional domains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from healthsync.sandbox.base import SandboxServer
from tests.hubspot.crm import changes, cli, hubspot_only, identity, sandbox_tasks, set_config
from tests.world import World, build_world, control, log_size, writes

HEADERS = {"Authorization": "Bearer pat-na1-admin"}
V = "2026-09"


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    built = build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=60)
    hubspot_only(built)
    return built


def api(world: World, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{world.hubspot.base_url}{path}", json=body, headers=HEADERS, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def company_property(world: World, name: str, *, unique: bool) -> None:
    body = {"name": name, "label": name, "type": "string", "fieldType": "text", "groupName": "companyinformation"}
    api(world, "POST", f"/crm/properties/{V}/companies", {**body, "hasUniqueValue": unique})


def refused_everywhere(world: World, *needles: str) -> None:
    for command in ("check", "plan", "run"):
        before = log_size(world.hubspot)
        result = cli(world, command)
        assert result.returncode == 2, (command, result.stdout + result.stderr)
        for needle in needles:
            assert needle in result.stdout + result.stderr, (command, needle)
        made = changes(world.hubspot, before) if command == "check" else writes(world.hubspot, before)
        assert made == [], command  # check's scope probes are refused writes: they change nothing


def test_a_non_unique_account_id_property_is_refused_before_any_write(world: World) -> None:
    company_property(world, "healthsync_account_id", unique=False)
    refused_everywhere(world, "healthsync_account_id", "without unique values", "account_id_property")


def test_a_portal_at_ten_unique_properties_is_refused_before_any_write(world: World) -> None:
    for index in range(10):
        company_property(world, f"erp_key_{index}", unique=True)
    refused_everywhere(world, "healthsync_account_id", "limit of 10")


@pytest.mark.parametrize("whole_batch", [False, True], ids=["per-task-404", "whole-batch-404"])
def test_a_deleted_task_does_not_keep_the_others_open(world: World, whole_batch: bool) -> None:
    assert world.run().exit_code == 0
    churn = {identity(t): str(t["id"]) for t in sandbox_tasks(world.hubspot) if ":churn_risk:" in identity(t)}
    assert len(churn) >= 2, "the test data should fire churn_risk for two accounts at least"
    deleted = sorted(churn.values())[0]
    api(world, "DELETE", f"/crm/objects/{V}/tasks/{deleted}")
    control(world.hubspot, "PUT", "limits", {"missing_fails_batch": whole_batch})
    try:
        set_config(world, "scoring", "plays", "churn_risk", value={"enabled": False})
        summary = world.run()
    finally:
        control(world.hubspot, "PUT", "limits", {"missing_fails_batch": False})
    assert summary.exit_code == 0
    assert summary.counts["hubspot"].tasks_completed == len(churn) - 1
    status = {str(t["id"]): t["properties"]["hs_task_status"] for t in sandbox_tasks(world.hubspot)}
    assert all(status[task] == "COMPLETED" for task in churn.values() if task != deleted)
    assert world.run().counts["hubspot"].tasks_completed == 0, "the deleted task is forgotten, not retried"


def test_a_domain_among_several_additional_domains_matches_its_company(world: World) -> None:
    plan = world.engine().plan().plans["hubspot"]
    record = next(r for r in plan.records if r.object_type == "companies" and r.action == "update" and r.remote_id)
    domain = str(world.data.accounts.set_index("account_id").loc[record.key, "domain"])
    moved = {"domain": "elsewhere.example.net", "hs_additional_domains": f"first.example.net;{domain};last.example.net"}
    api(world, "PATCH", f"/crm/objects/{V}/companies/{record.remote_id}", {"properties": moved})
    again = world.engine().plan().plans["hubspot"]
    matched = next(r for r in again.records if r.object_type == "companies" and r.key == record.key)
    assert (matched.action, matched.remote_id) == ("update", record.remote_id)
    searches = [e for e in control(world.hubspot, "GET", "requests") if e["path"].endswith("/search")]
    assert all("CONTAINS_TOKEN" not in str(e["body"]) for e in searches)


def test_a_first_sync_reads_each_contact_once(world: World) -> None:
    """Contacts are looked up by email with the mapped properties in the same call: the plan diffs against what
    that lookup returned, so no contact is read again by id (issue 25, item 2: 20,000 reads at a million users).
    The contacts end with the mapped values."""
    before = log_size(world.hubspot)
    summary = world.run()
    assert summary.exit_code == 0
    reads = [
        entry
        for entry in control(world.hubspot, "GET", "requests")[before:]
        if entry["method"] == "POST" and entry["path"] == f"/crm/objects/{V}/contacts/batch/read"
    ]
    by_email = [entry for entry in reads if entry["body"].get("idProperty") == "email"]
    asked = sum(len(entry["body"]["inputs"]) for entry in by_email)
    users = world.data.users
    assert asked == users["email"].dropna().str.strip().str.lower().nunique()
    assert len(by_email) == -(-asked // 100)
    assert [entry for entry in reads if entry not in by_email] == []  # no second read by id
    contacts = api(world, "GET", f"/crm/objects/{V}/contacts?limit=100&properties=email,healthsync_user_health_score")
    scored = [c for c in contacts["results"] if c["properties"].get("healthsync_user_health_score") not in (None, "")]
    assert scored  # the plan wrote the mapped values it diffed for
    rerun = log_size(world.hubspot)
    assert world.run().exit_code == 0
    assert writes(world.hubspot, rerun) == []  # what the first run wrote is what the lookup now reads
