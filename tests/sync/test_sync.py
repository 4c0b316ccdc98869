"""Sync engine end to end (SPEC sections 4 and 5): the official SDKs against the sandboxes over real HTTP,
real DuckDB product data, a real SQLite state store (tests/state/ runs the store on SQLite and PostgreSQL).

The first run of the 500-account world is made once (`first_run`): the tests that start from it get the sandboxes
and the state store as it left them, and a copy of its summary."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from healthsync.connector.sync.values import hubspot_value
from healthsync.errors import LockHeldError
from healthsync.mappings.loader import load_mapping
from healthsync.mappings.models import HubSpotMapping, IntercomMapping
from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.world import TOKENS, World, build_world, control, first_run, log_size, writes


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str) -> World:
    return build_world(tmp_path, hubspot, intercom, sqlite_url)


def hubspot_companies(world: World) -> dict[str, dict[str, Any]]:
    """Sandbox companies by their healthsync account id."""
    companies = control(world.hubspot, "GET", "state")["companies"]
    return {
        c["properties"]["healthsync_account_id"]: c for c in companies if c["properties"].get("healthsync_account_id")
    }


def intercom_companies(world: World) -> dict[str, dict[str, Any]]:
    return {c["company_id"]: c for c in control(world.intercom, "GET", "state")["companies"]}


def tag_names(company: dict[str, Any]) -> set[str]:
    return {tag["name"] for tag in (company.get("tags") or {}).get("tags", [])}


def remote_picture(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the sandboxes hold of healthsync's fields: HubSpot properties, Intercom attributes and tags."""
    hub = {
        key: {k: v for k, v in c["properties"].items() if k.startswith("healthsync_")}
        for key, c in hubspot_companies(world).items()
    }
    ic = {key: (c.get("custom_attributes") or {}, sorted(tag_names(c))) for key, c in intercom_companies(world).items()}
    return hub, ic


def test_first_run_provisions_and_writes_every_matched_company(world: World) -> None:
    summary = first_run(world)
    assert summary.exit_code == 0
    scores = summary.scores
    assert scores is not None
    state = control(world.hubspot, "GET", "state")
    assert "customer_health" in {g["name"] for g in state["property_groups"]["companies"]}
    props = {p["name"]: p for p in state["properties"]["companies"]}
    assert props["healthsync_health_score"]["type"] == "number"
    assert props["healthsync_health_tier"]["type"] == "enumeration"
    assert props["healthsync_health_tier"]["fieldType"] == "select"
    assert props["healthsync_last_active_at"]["type"] == "datetime"
    assert props["healthsync_account_id"]["hasUniqueValue"] is True

    mapping = load_mapping("hubspot", "hubspot", Path("."))
    assert isinstance(mapping, HubSpotMapping)
    rows = {r["account_id"]: r for r in scores.accounts.to_dict("records")}
    written = hubspot_companies(world)
    not_written = set(world.seeded.hubspot_missing) | set(world.seeded.hubspot_ambiguous)
    assert set(written) == set(rows) - not_written
    for key, company in written.items():
        for field in mapping.companies.fields:
            assert company["properties"].get(field.property, "") == hubspot_value(field, rows[key][field.column]), (
                key,
                field,
            )
    plan = summary.plans["hubspot"]
    actions = {r.key: r.action for r in plan.records if r.object_type == "companies"}
    assert {k for k, a in actions.items() if a == "ambiguous"} == set(world.seeded.hubspot_ambiguous)
    assert {k for k, a in actions.items() if a == "unmatched"} == set(world.seeded.hubspot_missing)

    intercom_map = load_mapping("intercom", "intercom", Path("."))
    assert isinstance(intercom_map, IntercomMapping)
    tier_tags = set(intercom_map.companies.tier_tags.values())
    for key, company in intercom_companies(world).items():
        if key in world.seeded.intercom_missing:
            continue
        assert company["custom_attributes"]["healthsync_health_score"] == rows[key]["health_score"]
        assert company["custom_attributes"]["healthsync_health_tier"] == rows[key]["health_tier"]
        assert tag_names(company) & tier_tags == {intercom_map.companies.tier_tags[rows[key]["health_tier"]]}
    counts = summary.counts["hubspot"]
    companies = [r for r in plan.records if r.object_type == "companies"]
    assert counts.updated + counts.unchanged + counts.unmatched + counts.ambiguous + counts.rejected >= len(companies)


def test_second_run_with_unchanged_input_makes_no_write_call(world: World) -> None:
    first_run(world)
    before = (log_size(world.hubspot), log_size(world.intercom))
    summary = world.run()
    assert summary.exit_code == 0
    assert writes(world.hubspot, before[0]) == []
    assert writes(world.intercom, before[1]) == []
    assert summary.counts["hubspot"].updated == 0
    assert summary.counts["intercom"].updated == 0
    with StateStore.open(world.settings().resolved_state_url()) as store:
        recorded = store.runs()[0].summary
    assert recorded is not None  # the run's peak memory and CPU, as the kernel counts them (issue 25, item 3)
    assert recorded["resources"]["peak_rss_mib"] > 50
    assert recorded["resources"]["cpu_seconds"] > 0


def test_company_writes_are_batched_by_hundred(world: World) -> None:
    summary = first_run(world)
    matched = sum(1 for r in summary.plans["hubspot"].records if r.object_type == "companies" and r.action == "update")
    updates = [e for e in writes(world.hubspot) if e["path"] == "/crm/objects/2026-09/companies/batch/update"]
    assert len(updates) == math.ceil(matched / 100)
    assert all(len(e["body"]["inputs"]) <= 100 for e in updates)
    provisioning = [e for e in writes(world.hubspot) if e["path"].startswith("/crm/properties/2026-09/")]
    assert len(provisioning) == len(summary.plans["hubspot"].provisioning)
    # provisioning is one-time: a full resend provisions nothing
    before = log_size(world.hubspot)
    world.run(full=True)
    assert not [e for e in writes(world.hubspot, before) if e["path"].startswith("/crm/properties/2026-09/")]


def _quieter(world: World, keys: list[str]) -> None:
    """Drop every other in-window event of these accounts: raw stays > 0, so others' normalization holds."""
    quoted = ", ".join(f"'{k}'" for k in keys)
    world.sql(
        f"DELETE FROM events WHERE account_id IN ({quoted}) AND timestamp >= TIMESTAMPTZ '2025-07-14' "
        "AND hash(event_id) % 2 = 0"
    )


def test_changing_ten_accounts_writes_only_those(world: World) -> None:
    first = first_run(world)
    assert first.scores is not None
    table = first.scores.accounts
    cutoff = table.loc[table.health_score < 100, "raw_score"].quantile(0.5)
    candidates = table[(table.raw_score > 20) & (table.raw_score < cutoff) & (table.health_score < 100)]
    hub_written = set(hubspot_companies(world))
    ic_keys = set(intercom_companies(world)) - set(world.seeded.intercom_missing)
    chosen = [k for k in candidates.account_id if k in hub_written and k in ic_keys][:10]
    assert len(chosen) == 10
    _quieter(world, chosen)
    hub_before, ic_before = log_size(world.hubspot), log_size(world.intercom)
    second = world.run()
    assert second.scores is not None
    companies = [e for e in writes(world.hubspot, hub_before) if "/companies/" in e["path"]]
    assert len(companies) == 1
    assert {i["objectWriteTraceId"] for i in companies[0]["body"]["inputs"]} <= set(chosen)
    upserts = [e for e in writes(world.intercom, ic_before) if e["path"] == "/companies"]
    assert {e["body"]["company_id"] for e in upserts} <= set(chosen)
    # tier changes move the Intercom tag exclusively
    old = first.scores.accounts.set_index("account_id").health_tier
    new = second.scores.accounts.set_index("account_id").health_tier
    tags = load_mapping("intercom", "intercom", Path(".")).companies.tier_tags  # type: ignore[attr-defined]
    remote = intercom_companies(world)
    for key in chosen:
        assert tag_names(remote[key]) & set(tags.values()) == {tags[new[key]]}
        if new[key] != old[key]:
            assert tags[old[key]] not in tag_names(remote[key])


def test_plan_prints_field_diff_and_writes_nothing(world: World) -> None:
    before = (log_size(world.hubspot), log_size(world.intercom))
    summary = world.engine().plan()
    assert writes(world.hubspot, before[0]) == []
    assert writes(world.intercom, before[1]) == []
    lines = "\n".join(summary.plans["hubspot"].render())
    assert "provision: companies: create property healthsync_health_score" in lines
    assert "healthsync_health_score: (none) -> '" in lines
    assert "ambiguous" in lines


def test_faults_end_in_the_same_remote_state(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    # the fault-free reference run and the faulty run each keep their own state
    clean = build_world(tmp_path / "clean", hubspot, intercom, f"sqlite:///{tmp_path / 'clean.db'}")
    first_run(clean)
    expected = remote_picture(clean)
    for server in (hubspot, intercom):
        control(server, "POST", "reset")
    faulty = build_world(tmp_path / "faulty", hubspot, intercom, sqlite_url)
    faults = {"error_rate": 0.1, "rate_limit_burst": 0.02, "drop_after_commit_rate": 0.01, "reset_rate": 0.02}
    faults["burst_seconds"] = 0  # the world does not sleep, so a burst is the one request it refuses
    for server in (hubspot, intercom):
        control(server, "PUT", "faults", faults)
    summary = faulty.run()
    for server in (hubspot, intercom):
        control(server, "PUT", "faults", {})
    got = remote_picture(faulty)
    counts = {name: c.as_dict() for name, c in summary.counts.items()}
    assert got == expected, (len(got[0]), len(expected[0]), counts)
    for name, plan in summary.plans.items():
        counts = summary.counts[name]
        accounted = counts.updated + counts.created + counts.unchanged + counts.unmatched
        accounted += counts.ambiguous + counts.rejected
        assert accounted == plan.planned(), name
    assert sum(c.retried for c in summary.counts.values()) > 0


def test_a_second_concurrent_run_is_refused(world: World) -> None:
    with StateStore.open(world.settings().resolved_state_url()) as store, store.acquire_lock("someone-else", 60):
        with pytest.raises(LockHeldError, match="someone-else") as caught:
            world.run()
        assert caught.value.exit_code == 3


def test_tokens_never_reach_the_state_store(world: World, sqlite_url: str) -> None:
    first_run(world)
    with StateStore.open(world.settings().resolved_state_url()) as store:
        dump = repr(store.runs()) + repr(store.rejections())
        dump += repr(store.records("hubspot", "companies")) + repr(store.records("intercom", "companies"))
    for secret in (TOKENS.hubspot_access_token, TOKENS.intercom_access_token):
        assert secret is not None
        assert secret.get_secret_value() not in dump
    raw = Path(sqlite_url.removeprefix("sqlite:///")).read_bytes()
    assert b"test-secret" not in raw
