"""The CRM is the truth, the state store a cache: through the sync engine against the HubSpot sandbox over HTTP.

State loss costs reads (SQLite file deleted, an empty PostgreSQL store), merged and deleted companies, a company
with 250 tasks, account ids that break naive markers, companies created with their tasks in one run, option and
number formats HubSpot accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.hubspot.crm import duplicates, hubspot_only, identity, sandbox_tasks, set_config
from tests.world import World, build_world, control, log_size, writes

HEADERS = {"Authorization": "Bearer pat-na1-admin"}


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    built = build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=60)
    hubspot_only(built)
    return built


def company_ids(world: World) -> dict[str, str]:
    with StateStore.open(world.settings().resolved_state_url()) as store:
        return {k: s.remote_id for k, s in store.records("hubspot", "companies").items() if s.remote_id}


def api(world: World, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{world.hubspot.base_url}{path}", json=body, headers=HEADERS, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def test_losing_the_state_file_costs_reads_never_a_write_or_a_task(world: World) -> None:
    world.run()
    tasks = len(sandbox_tasks(world.hubspot))
    assert tasks > 0
    (world.root / "state.db").unlink()
    before = log_size(world.hubspot)
    summary = world.run()
    assert writes(world.hubspot, before) == []
    assert summary.counts["hubspot"].tasks_created == 0
    assert len(sandbox_tasks(world.hubspot)) == tasks
    assert summary.counts["hubspot"].unchanged > 0
    third = log_size(world.hubspot)
    world.run()  # the values read were checkpointed: the next run reads no baseline again
    reads = [e for e in control(world.hubspot, "GET", "requests")[third:] if e["path"].endswith("/batch/read")]
    assert len(reads) < 10
    full = world.run(full=True)
    assert full.counts["hubspot"].updated > 0  # --full still resends on purpose


@pytest.mark.postgres
def test_a_move_to_an_empty_postgresql_store_writes_nothing(world: World, pg_url: str) -> None:
    world.run()
    tasks = len(sandbox_tasks(world.hubspot))
    set_config(world, "state", "url", value=pg_url)
    before = log_size(world.hubspot)
    summary = world.run()
    assert writes(world.hubspot, before) == []
    assert (summary.counts["hubspot"].tasks_created, len(sandbox_tasks(world.hubspot))) == (0, tasks)


def test_merged_and_deleted_companies_are_matched_again_or_reported_never_written_twice(world: World) -> None:
    first = world.run()
    ids = company_ids(world)
    updated = [r.key for r in first.plans["hubspot"].records if r.object_type == "companies" and r.remote_id]
    primary, merged, deleted = (ids[key] for key in updated[:3])
    api(world, "POST", "/crm/v3/objects/companies/merge", {"primaryObjectId": primary, "objectIdToMerge": merged})
    api(world, "DELETE", f"/crm/v3/objects/companies/{deleted}")
    before = log_size(world.hubspot)
    second = world.run()
    assert second.exit_code in (0, 4)
    sent = writes(world.hubspot, before)
    targets = [str(i.get("id")) for e in sent for i in (e.get("body") or {}).get("inputs") or []]
    assert merged not in targets
    assert deleted not in targets
    assert len(targets) == len(set(targets))
    records = {r.key: r for r in second.plans["hubspot"].records if r.object_type == "companies"}
    assert records[updated[1]].action in ("unmatched", "update", "unchanged")
    assert records[updated[2]].action == "unmatched"
    assert "deleted or merged" in records[updated[2]].note
    assert world.run().exit_code in (0, 4)
    assert duplicates(world.hubspot) == []


def test_a_company_with_250_tasks_still_finds_its_play_task(world: World) -> None:
    plan = world.engine().plan()
    task = next(t for t in plan.plans["hubspot"].tasks if t.action == "create")
    link = [
        {"to": {"id": task.company_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}
    ]
    for _ in range(3):  # 250 other tasks first, so that the play's task is on the third page of associations
        filler = {"hs_timestamp": "2025-08-13T00:00:00Z", "hs_task_body": "call them"}
        api(
            world,
            "POST",
            "/crm/v3/objects/tasks/batch/create",
            {"inputs": [{"properties": filler, "associations": link}] * 84},
        )
    world.run()
    (world.root / "state.db").unlink()
    before = log_size(world.hubspot)
    again = world.run()
    assert again.counts["hubspot"].tasks_created == 0
    assert writes(world.hubspot, before) == []
    assert duplicates(world.hubspot) == []
    assert task.identity in {
        identity(t) for t in sandbox_tasks(world.hubspot) if "[healthsync:" in str(t["properties"].get("hs_task_body"))
    }


def test_adding_options_resends_the_existing_ones_in_camel_case(world: World) -> None:
    option = {"label": "Healthy", "value": "healthy", "hidden": False, "displayOrder": 0}
    group = {"name": "customer_health", "label": "Customer health"}
    api(world, "POST", "/crm/v3/properties/companies/groups", group)
    body = {"name": "healthsync_health_tier", "label": "Health tier", "type": "enumeration", "fieldType": "select"}
    api(world, "POST", "/crm/v3/properties/companies", {**body, "groupName": "customer_health", "options": [option]})
    before = log_size(world.hubspot)
    assert world.run().exit_code == 0
    patches = [e for e in control(world.hubspot, "GET", "requests")[before:] if e["method"] == "PATCH"]
    sent = next(e["body"]["options"] for e in patches if e["path"].endswith("/healthsync_health_tier"))
    assert {key for o in sent for key in o} <= {"label", "value", "displayOrder", "hidden", "description"}
    assert next(o["value"] for o in sent) == "healthy"
    assert all("hidden" in o and "displayOrder" in o for o in sent)


def test_fractional_weights_are_written_as_plain_decimals(world: World) -> None:
    world.run()
    ids = company_ids(world)
    big, tiny = sorted(ids)[5:7]
    for key, event in ((big, "big_deal"), (tiny, "tiny_ping")):
        world.sql(
            f"CREATE OR REPLACE TEMP TABLE one AS SELECT * FROM events WHERE account_id = '{key}' "
            "ORDER BY timestamp DESC LIMIT 1; "
            f"DELETE FROM events WHERE account_id = '{key}'; UPDATE one SET event = '{event}'; "
            "INSERT INTO events SELECT * FROM one"
        )
    weights = {**world.settings().scoring.weights, "big_deal": 1234567.5, "tiny_ping": 0.00005}
    set_config(world, "scoring", "weights", value=weights)
    summary = world.run()
    assert summary.counts["hubspot"].rejected == 0
    stored = {str(c["id"]): c["properties"] for c in control(world.hubspot, "GET", "state")["companies"]}
    assert stored[ids[big]]["healthsync_raw_score"] == "1234567.5"
    assert stored[ids[tiny]]["healthsync_raw_score"] == "0.00005"


def test_created_companies_get_their_tasks_in_the_same_run(world: World) -> None:
    control(world.hubspot, "POST", "reset")  # an empty CRM
    control(world.hubspot, "PUT", "limits", {"requests_per_window": 100_000, "window_seconds": 10})
    control(world.hubspot, "PUT", "limits", {"search_index_lag_seconds": 0, "search_requests_per_second": 1000})
    set_config(world, "destinations", "hubspot", "create_companies", value=True)
    lines = world.engine().plan().plans["hubspot"].render()
    planned = [line for line in lines if line.startswith("  task create")]
    assert planned
    assert all("(the company this run creates)" in line for line in planned)
    first = world.run()
    assert first.counts["hubspot"].created > 0
    assert first.counts["hubspot"].tasks_created == len(planned)
    before = log_size(world.hubspot)
    second = world.run()
    assert writes(world.hubspot, before) == []
    assert second.counts["hubspot"].tasks_created == 0
    assert duplicates(world.hubspot) == []
