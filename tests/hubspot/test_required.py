"""Required properties (issue 24, item 4): a portal's required-property rules, enforced by HubSpot from the 2026-09
API on, refuse creates and updates per record; healthsync reports each refused record naming the property (exit 4)
and never aborts the batch; the mapping supplies values for created companies (`companies.on_create`) and tasks
(`tasks[].properties`); `check` lists the required properties its creates would not fill (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.seed import SeedPlan
from healthsync.state import StateStore
from tests.hubspot.crm import changes, hubspot_only, run_main, sandbox_tasks, set_config
from tests.paths import MAPPINGS
from tests.world import World, build_world, control, log_size


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    """Every account still to be created in HubSpot, and `industry` required on companies."""
    plan = SeedPlan(missing_every=1, ambiguous=0)
    built = build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=40, seed_plan=plan)
    hubspot_only(built)
    set_config(built, "destinations", "hubspot", "create_companies", value=True)
    require(hubspot, "companies", ["industry"])
    return built


def require(server: SandboxServer, object_type: str, properties: list[str]) -> None:
    url = f"{server.base_url}/_sandbox/required_properties"
    response = httpx.put(url, json={"object_type": object_type, "properties": properties}, timeout=30)
    response.raise_for_status()


def task_property(server: SandboxServer, name: str) -> None:
    body = {"name": name, "label": name, "type": "string", "fieldType": "text", "groupName": "taskinformation"}
    headers = {"Authorization": "Bearer pat-na1-admin"}
    response = httpx.post(f"{server.base_url}/crm/properties/2026-09/tasks", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text


def with_mapping(world: World, change: dict[str, Any]) -> None:
    mapping = yaml.safe_load((MAPPINGS / "hubspot.yaml").read_text())
    for key, value in change.items():
        mapping["companies" if key == "on_create" else key] = (
            value
            if key != "on_create"
            else {
                **mapping["companies"],
                "on_create": value,
            }
        )
    custom = world.root / "required.yaml"
    custom.write_text(yaml.safe_dump(mapping))
    set_config(world, "destinations", "hubspot", "mapping", value=str(custom))


def rejected(world: World) -> dict[str, str]:
    with StateStore.open(world.settings().resolved_state_url()) as store:
        return {f"{r.object_type}:{r.key}": r.reason for r in store.rejections() if r.destination == "hubspot"}


def test_creates_missing_a_required_property_are_refused_per_record_naming_it(world: World) -> None:
    summary = world.run()
    assert summary.exit_code == 4
    reasons = rejected(world)
    companies = [reason for key, reason in reasons.items() if key.startswith("companies:")]
    assert len(companies) == summary.counts["hubspot"].rejected
    assert companies
    assert all("industry" in reason and "REQUIRED" in reason for reason in companies)
    assert control(world.hubspot, "GET", "state")["companies"] == []


def test_the_mapping_supplies_the_required_values_of_created_companies_and_tasks(world: World) -> None:
    task_property(world.hubspot, "queue_name")
    require(world.hubspot, "tasks", ["hs_task_type", "queue_name"])
    with_mapping(world, {"on_create": {"industry": "COMPUTER_SOFTWARE"}})
    mapping = yaml.safe_load(Path(str(world.root / "required.yaml")).read_text())
    for rule in mapping["tasks"]:
        rule["properties"] = {"queue_name": "{{ play }} queue"}
    (world.root / "required.yaml").write_text(yaml.safe_dump(mapping))
    summary = world.run()
    assert summary.exit_code == 0, rejected(world)
    assert summary.counts["hubspot"].created > 0
    assert summary.counts["hubspot"].tasks_created > 0
    companies = control(world.hubspot, "GET", "state")["companies"]
    assert all(c["properties"].get("industry") == "COMPUTER_SOFTWARE" for c in companies)
    assert all(t["properties"].get("queue_name") for t in sandbox_tasks(world.hubspot))


def test_a_task_missing_a_required_property_is_reported_by_its_identity(world: World) -> None:
    task_property(world.hubspot, "queue_name")
    require(world.hubspot, "tasks", ["queue_name"])
    with_mapping(world, {"on_create": {"industry": "COMPUTER_SOFTWARE"}})
    summary = world.run()
    assert summary.exit_code == 4
    tasks = {key: reason for key, reason in rejected(world).items() if key.startswith("tasks:")}
    assert len(tasks) == summary.counts["hubspot"].rejected > 0
    assert all("queue_name" in reason for reason in tasks.values())
    assert summary.counts["hubspot"].created > 0, "the companies were created all the same"
    mapping = yaml.safe_load((world.root / "required.yaml").read_text())
    for rule in mapping["tasks"]:
        rule["properties"] = {"queue_name": "{{ play }} queue"}
    (world.root / "required.yaml").write_text(yaml.safe_dump(mapping))
    again = world.run()  # at once: a refused create left nothing that could still arrive, so no delivery bound
    assert again.exit_code == 0, rejected(world)
    assert again.counts["hubspot"].tasks_created == len(tasks)
    assert again.counts["hubspot"].tasks_unconfirmed == 0


def test_check_lists_the_required_properties_the_creates_would_not_fill(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    task_property(world.hubspot, "queue_name")
    require(world.hubspot, "tasks", ["queue_name"])
    before = log_size(world.hubspot)
    code, output = run_main(capsys, world, "check")
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("hubspot: error:")]
    assert any("requires industry on companies" in e and "companies.on_create" in e for e in errors), output
    assert any("requires queue_name on tasks" in e and "tasks[].properties" in e for e in errors), output
    assert not any("hs_timestamp" in e for e in errors), "a property every task create sets is not listed"
    assert changes(world.hubspot, before) == []


def test_check_passes_once_the_mapping_supplies_the_required_values(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    task_property(world.hubspot, "queue_name")
    require(world.hubspot, "tasks", ["queue_name"])
    with_mapping(world, {"on_create": {"industry": "COMPUTER_SOFTWARE"}})
    mapping = yaml.safe_load((world.root / "required.yaml").read_text())
    for rule in mapping["tasks"]:
        rule["properties"] = {"queue_name": "{{ play }} queue"}
    (world.root / "required.yaml").write_text(yaml.safe_dump(mapping))
    code, output = run_main(capsys, world, "check")
    assert code == 0, output
    assert "hubspot: ok: companies creates fill every required property (1)" in output
    assert "hubspot: ok: tasks creates fill every required property (2)" in output
