"""Item 3: a company deleted in Intercom (its own DELETE /companies/{id}) is isolated, reported and forgotten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from healthsync.connector.engine import build_destination
from healthsync.connector.intercom.destination import IntercomDestination
from healthsync.connector.pipeline import compute_scores
from healthsync.connector.sync.destination import SyncContext
from healthsync.mappings.loader import load_mappings
from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.intercom.conftest import api, companies, default_mapping, intercom_world, set_mapping, tag_names
from tests.world import NOW, TOKENS, World, control, log_size, writes

ACCOUNTS = 120  # the first tag batch of a tier holds up to 100 companies


def delete_company(world: World, company_id: str) -> str:
    remote = str(companies(world)[company_id]["id"])
    answer = api(world.intercom, "DELETE", f"/companies/{remote}")
    assert answer.json() == {"id": remote, "object": "company", "deleted": True}
    return remote


def biggest_tier(world: World) -> tuple[str, list[str]]:
    """The tier tag held by the most companies, and those companies (sorted as the batches are)."""
    holders: dict[str, list[str]] = {}
    for key, company in companies(world).items():
        for name in tag_names(company):
            if name.startswith("Health: "):
                holders.setdefault(name, []).append(key)
    tag = max(holders, key=lambda name: len(holders[name]))
    return tag, sorted(holders[tag])


def renamed_tier_tags() -> dict[str, Any]:
    mapping = default_mapping()
    mapping["companies"]["tier_tags"] = {tier: f"Health v2: {tier}" for tier in ("healthy", "neutral", "at_risk")}
    return mapping


@pytest.mark.slow
def test_a_company_deleted_between_two_runs_is_reported_and_the_rest_tagged(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=ACCOUNTS)
    assert world.run().exit_code == 0
    old_tag, members = biggest_tier(world)
    dead = members[len(members) // 2]
    dead_remote = delete_company(world, dead)
    set_mapping(world, renamed_tier_tags())  # every company gets a new tier tag: full tag batches
    before = log_size(intercom)

    summary = world.run()

    assert summary.exit_code in (0, 4)
    record = next(r for r in summary.plans["intercom"].records if r.key == dead)
    assert (record.action, dead_remote in record.note) == ("unmatched", True)
    new_tag = f"Health v2: {old_tag.removeprefix('Health: ').lower().replace(' ', '_')}"
    alive = companies(world)
    assert dead not in alive
    for key in members:
        if key != dead:
            assert new_tag in tag_names(alive[key])
            assert old_tag in tag_names(alive[key])  # a tag the mapping no longer names is left alone
    bodies = [e["body"] for e in writes(intercom, before) if e["path"] == "/tags"]
    assert all(dead_remote not in {c["id"] for c in body["companies"]} for body in bodies)
    assert all(e["status"] == 200 for e in writes(intercom, before))
    assert "healthsync_health_score" in alive[members[0]]["custom_attributes"]


@pytest.mark.slow
@pytest.mark.parametrize("version", ["2.14", "2.16"])
def test_a_company_deleted_between_plan_and_write_is_isolated_from_its_tag_batch(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str, version: str
) -> None:
    """Under 2.14 one missing company makes the whole tag call 404: the other 99 still get their tag.
    Under 2.16 the call succeeds and lists the missing company as not tagged: reported the same way."""
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=ACCOUNTS)
    config = yaml.safe_load(world.config.read_text())
    config["destinations"]["intercom"]["api_version"] = version
    world.config.write_text(yaml.safe_dump(config))
    settings = world.settings()
    mappings = load_mappings(settings)
    destination = build_destination("intercom", settings, mappings["intercom"], TOKENS, lambda _s: None)
    assert isinstance(destination, IntercomDestination)
    scores = compute_scores(settings, now=NOW)
    with StateStore.open(sqlite_url) as store:
        ctx = SyncContext(store=store)
        plan = destination.plan(scores, ctx)
        batch = max(plan.tags, key=lambda tag: len(tag.add))
        assert len(batch.add) >= 50
        dead = sorted(batch.add)[len(batch.add) // 2]
        delete_company(world, dead)
        counts = destination.apply(plan, ctx)
        destination.close()
        remembered = store.records("intercom", "companies")

    its_tags = sum(1 for tag in plan.tags if dead in tag.add)
    assert counts.gone == 1 + its_tags  # its attribute update and each of its tags, reported
    refused = [e for e in control(intercom, "GET", "requests") if e["path"] == "/tags" and e["status"] == 404]
    assert len(refused) == (its_tags if version == "2.14" else 0)
    alive = companies(world)
    assert all(batch.tag in tag_names(alive[key]) for key in batch.add if key != dead)
    assert dead not in alive
    assert not any(key == dead and v for key, state in remembered.items() for v in state.values.values())

    before = log_size(intercom)
    summary = world.run()
    assert summary.exit_code == 0
    record = next(r for r in summary.plans["intercom"].records if r.key == dead)
    assert record.action == "unmatched"
    assert not [e for e in writes(intercom, before) if dead in str(e["body"])]
