"""Bounded reads (connector/hubspot/reads.py): through the sync engine against the HubSpot sandbox over HTTP.

A value changed by hand in HubSpot is written back by the next run; a company deleted in HubSpot is found by the
rotating re-verification within `verify_every_runs` runs; an unchanged rerun makes the requests the README's
formula gives; `plan` keeps no mark (a change it finds is still there for `run`).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.hubspot.crm import cli, hubspot_only, set_config
from tests.world import World, build_world, control, log_size, writes

HEADERS = {"Authorization": "Bearer pat-na1-admin"}
EVERY = 4


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    return bounded_world(tmp_path, hubspot, intercom)


def bounded_world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    """A HubSpot-only world of 60 accounts, rotating over EVERY runs, no overlap and no index lag."""
    built = build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=60)
    hubspot_only(built)
    set_config(built, "destinations", "hubspot", "verify_every_runs", value=EVERY)
    set_config(built, "destinations", "hubspot", "changed_overlap_minutes", value=0)
    control(hubspot, "PUT", "limits", {"search_index_lag_seconds": 0})
    return built


def api(world: World, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{world.hubspot.base_url}{path}", json=body, headers=HEADERS, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def remembered(world: World, object_type: str) -> dict[str, str]:
    with StateStore.open(world.settings().resolved_state_url()) as store:
        return {k: s.remote_id for k, s in store.records("hubspot", object_type).items() if s.remote_id}


def reads(world: World, since: int) -> Counter[str]:
    """Reads after `since`, by purpose: "changed companies" (the search for changes), "verify companies" (batch
    read by id), "lookup contacts" (batch read by email or account id), "match companies" (domain searches)."""
    kinds: Counter[str] = Counter()
    for entry in control(world.hubspot, "GET", "requests")[since:]:
        parts = entry["path"].split("?")[0].strip("/").split("/")
        if "objects" not in parts or entry["write"]:
            continue
        object_type, body = parts[parts.index("objects") + 2], entry.get("body") or {}
        if parts[-1] == "search":
            kinds[f"{'changed' if body.get('sorts') else 'match'} {object_type}"] += 1
        elif parts[-1] == "read":
            kinds[f"{'lookup' if body.get('idProperty') else 'verify'} {object_type}"] += 1
    return kinds


def test_a_value_changed_by_hand_in_hubspot_is_written_back_by_the_next_run(world: World) -> None:
    world.run()
    world.run()  # the first bounded run: finds the first run's own writes, equal, and writes nothing
    key, company = sorted(remembered(world, "companies").items())[0]
    ours = api(world, "GET", f"/crm/v3/objects/companies/{company}?properties=healthsync_health_tier")
    tier = ours["properties"]["healthsync_health_tier"]
    other = "healthy" if tier != "healthy" else "at_risk"
    api(world, "PATCH", f"/crm/v3/objects/companies/{company}", {"properties": {"healthsync_health_tier": other}})
    contact = sorted(remembered(world, "contacts").values())[0]
    path = f"/crm/v3/objects/contacts/{contact}?properties=healthsync_user_health_score"
    score = api(world, "GET", path)["properties"]["healthsync_user_health_score"]
    api(world, "PATCH", f"/crm/v3/objects/contacts/{contact}", {"properties": {"healthsync_user_health_score": "999"}})

    before = log_size(world.hubspot)
    summary = world.run()

    sent = writes(world.hubspot, before)
    contacts = [w for w in sent if w["path"].endswith("/contacts/batch/update")]
    assert [(i["id"], i["properties"]) for w in contacts for i in w["body"]["inputs"]] == [
        (contact, {"healthsync_user_health_score": score})
    ]
    sent = [w for w in sent if w not in contacts]
    assert len(sent) == 1
    assert sent[0]["path"].endswith("/companies/batch/update")
    assert [(i["id"], i["properties"]) for i in sent[0]["body"]["inputs"]] == [
        (company, {"healthsync_health_tier": tier})
    ]
    assert summary.counts["hubspot"].updated == 2
    now = api(world, "GET", f"/crm/v3/objects/companies/{company}?properties=healthsync_health_tier")
    assert now["properties"]["healthsync_health_tier"] == tier
    after = log_size(world.hubspot)
    world.run()
    assert writes(world.hubspot, after) == []  # corrected once; our correction found again is equal
    assert key in remembered(world, "companies")


def test_a_company_deleted_in_hubspot_is_found_within_verify_every_runs(world: World) -> None:
    world.run()
    ids = remembered(world, "companies")
    key, gone = max(ids.items(), key=lambda item: int(item[1]))  # the last in id order: the rotation reaches it last
    api(world, "DELETE", f"/crm/v3/objects/companies/{gone}")
    found_in = None
    for run in range(1, EVERY + 1):
        summary = world.run()
        record = next(r for r in summary.plans["hubspot"].records if r.object_type == "companies" and r.key == key)
        if "deleted or merged" in (record.note or ""):
            found_in = run
            break
        assert record.action == "unchanged"  # not written to meanwhile
    assert found_in is not None
    assert found_in <= EVERY
    assert summary.counts["hubspot"].rejected == 0


def test_an_unchanged_rerun_makes_the_requests_of_the_readme_formula(world: World) -> None:
    world.run()
    world.run()  # finds the first run's writes (all of them): C = every company we wrote
    before = log_size(world.hubspot)
    summary = world.run()
    assert writes(world.hubspot, before) == []
    assert summary.counts["hubspot"].updated == 0
    kinds = reads(world, before)
    for object_type in ("companies", "contacts"):
        n = len(remembered(world, object_type))
        assert kinds[f"changed {object_type}"] == 1  # C = 0: one page with no result
        assert kinds[f"verify {object_type}"] == math.ceil(math.ceil(n / EVERY) / 100)
    records = summary.plans["hubspot"].records
    pending = {
        t: sum(r.action not in ("update", "unchanged") for r in records if r.object_type == t)
        for t in ("companies", "contacts")
    }
    assert kinds["lookup companies"] == math.ceil(pending.get("companies", 0) / 100)
    assert kinds["lookup contacts"] == math.ceil(pending.get("contacts", 0) / 100)


def test_companies_about_to_be_written_are_verified_first(world: World) -> None:
    world.run()
    world.run()
    ids = remembered(world, "companies")
    key = max(ids, key=lambda k: int(ids[k]))  # outside the next rotation window
    world.sql(f"DELETE FROM events WHERE account_id = '{key}'")  # its score drops (and the p90 may move others)
    before = log_size(world.hubspot)
    summary = world.run()
    verified = [
        i["id"]
        for e in control(world.hubspot, "GET", "requests")[before:]
        if e["path"].endswith("/companies/batch/read") and not (e.get("body") or {}).get("idProperty")
        for i in e["body"]["inputs"]
    ]
    updates = [w for w in writes(world.hubspot, before) if w["path"].endswith("/companies/batch/update")]
    written = [i["id"] for w in updates for i in w["body"]["inputs"]]
    assert ids[key] in written
    assert set(written) <= set(verified)  # every company written to was read this run
    assert len(verified) < len(ids)  # and not every company
    records = summary.plans["hubspot"].records
    assert sum(r.action == "update" for r in records if r.object_type == "companies") == len(written)


def test_plan_keeps_no_mark_so_run_still_finds_the_change(world: World) -> None:
    world.run()
    world.run()
    company = sorted(remembered(world, "companies").values())[0]
    api(world, "PATCH", f"/crm/v3/objects/companies/{company}", {"properties": {"healthsync_health_tier": "healthy"}})
    assert cli(world, "plan").returncode == 0
    before = log_size(world.hubspot)
    world.run()
    sent = writes(world.hubspot, before)
    assert [i["id"] for w in sent for i in w["body"]["inputs"]] == [company] or _already_healthy(world, company)


def _already_healthy(world: World, company: str) -> bool:
    """True when the company's own tier is `healthy` (then the hand change changed nothing)."""
    with StateStore.open(world.settings().resolved_state_url()) as store:
        values = [s.values for s in store.records("hubspot", "companies").values() if s.remote_id == company]
    return bool(values) and values[0].get("healthsync_health_tier") == "healthy"


def test_a_lost_state_store_reads_each_record_once_and_writes_nothing(world: World) -> None:
    world.run()
    companies, contacts = len(remembered(world, "companies")), len(remembered(world, "contacts"))
    (world.root / "state.db").unlink()
    before = log_size(world.hubspot)
    summary = world.run()
    assert writes(world.hubspot, before) == []
    kinds = reads(world, before)
    accounts = sum(r.object_type == "companies" for r in summary.plans["hubspot"].records)
    users = sum(n for (kind, _), n in summary.plans["hubspot"].kinds().items() if kind == "contacts")
    assert kinds["lookup companies"] == math.ceil(accounts / 100)  # by account id, with their values
    assert kinds["lookup contacts"] == math.ceil(users / 100)  # by email, with their values
    assert kinds["verify companies"] == kinds["verify contacts"] == 0  # nothing remembered, nothing read twice
    assert kinds["changed companies"] == kinds["changed contacts"] == 0  # no mark: no search for changes
    assert (len(remembered(world, "companies")), len(remembered(world, "contacts"))) == (companies, contacts)


@pytest.mark.parametrize("searches_per_second", [100_000, 1])
def test_after_a_first_sync_a_rerun_pages_through_the_changes_or_reads_everything_whichever_is_quicker(
    world: World, searches_per_second: int
) -> None:
    """The first sync's writes are all changes: at 1 search a second (100,000 reads per 10 s) paging through 200+
    changed contacts takes longer than 3 batch reads, so the rerun reads everything; at 100,000 a second, it pages."""
    set_config(world, "destinations", "hubspot", "searches_per_second", value=searches_per_second)
    world.run()
    contacts = len(remembered(world, "contacts"))
    assert contacts > 200  # more than one page of changes
    before = log_size(world.hubspot)
    assert world.run().exit_code == 0
    kinds = reads(world, before)
    if searches_per_second == 1:
        assert (kinds["changed contacts"], kinds["verify contacts"]) == (1, math.ceil(contacts / 100))
    else:
        assert (kinds["changed contacts"], kinds["verify contacts"]) == (math.ceil(contacts / 200), 0)
    assert writes(world.hubspot, before) == []
