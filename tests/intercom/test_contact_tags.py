"""Item 4: contact tier tags (off by default): exclusive, matched by external_id then email, only changes sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from healthsync.connector.intercom.client import IntercomClient
from healthsync.connector.sync.ratelimit import RateLimiter
from healthsync.connector.sync.retry import RetryPolicy
from healthsync.mappings.loader import load_mapping
from healthsync.mappings.models import IntercomMapping
from healthsync.sandbox.base import SandboxServer
from tests.intercom.conftest import HEADERS, contact_tags_world
from tests.paths import ROOT
from tests.world import World, control, log_size, writes

TIER_TAGS = {"healthy": "Health: Healthy", "neutral": "Health: Neutral", "at_risk": "Health: At risk"}


def contact_tags(world: World) -> dict[str, set[str]]:
    """Contact email -> its tag names."""
    state = control(world.intercom, "GET", "state")
    names = {tag["id"]: tag["name"] for tag in state["tags"]}
    return {c["email"]: {names[t["id"]] for t in c["tags"]["data"]} for c in state["contacts"]}


def expected(world: World, tiers: dict[str, str]) -> dict[str, set[str]]:
    users: list[dict[str, Any]] = world.data.users.to_dict("records")
    return {str(u["email"]): {TIER_TAGS[tiers[str(u["account_id"])]]} for u in users}


def tiers_of(summary: Any) -> dict[str, str]:
    return {str(r["account_id"]): str(r["health_tier"]) for r in summary.scores.accounts.to_dict("records")}


def test_contact_tags_are_off_in_the_default_mapping() -> None:
    mapping = load_mapping("intercom", "intercom", ROOT)
    assert isinstance(mapping, IntercomMapping)
    assert mapping.contacts.tier_tags is False


def test_a_tier_change_moves_every_contact_of_the_account(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = contact_tags_world(tmp_path, hubspot, intercom, sqlite_url, accounts=15)
    first = world.run()
    assert first.exit_code == 0
    assert contact_tags(world) == expected(world, tiers_of(first))  # by external_id, and by email for the rest

    tiers = tiers_of(first)
    moved = next(key for key, tier in sorted(tiers.items()) if tier != "at_risk")
    world.sql(f"DELETE FROM events WHERE account_id = '{moved}'")  # no activity: the account drops to at_risk
    before = log_size(intercom)
    second = world.run()
    assert tiers_of(second)[moved] == "at_risk"
    assert contact_tags(world) == expected(world, tiers_of(second))
    changed = {key for key, tier in tiers_of(second).items() if tiers[key] != tier}  # scores are relative
    assert moved in changed
    members = [u for u in world.data.users.to_dict("records") if str(u["account_id"]) in changed]
    sent = writes(intercom, before)
    untags = [e for e in sent if e["method"] == "DELETE" and "/tags/" in e["path"]]
    assert len(untags) == len(members)  # one call per contact: the API has no batch untag
    tag_calls = [e for e in sent if e["path"] == "/tags" and "users" in (e["body"] or {})]
    assert len(tag_calls) == len({tiers_of(second)[key] for key in changed})  # one batch per new tag
    assert sum(len(e["body"]["users"]) for e in tag_calls) == len(members)

    before = log_size(intercom)
    third = world.run()
    assert third.exit_code == 0
    assert writes(intercom, before) == []


def test_contact_searches_read_as_json_survive_errors_and_find_every_contact(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    """The contact search is read as JSON through the SDK's transport, not as SDK models (issue 25: 170 ms of CPU
    per page of 100): its 5xx answers are retried like any other call's, and every contact is still matched."""
    world = contact_tags_world(tmp_path, hubspot, intercom, sqlite_url, accounts=40)
    control(world.intercom, "PUT", "faults", {"error_rate": 0.5, "error_path": "/contacts/search"})
    first = world.run()
    control(world.intercom, "PUT", "faults", {})
    assert first.exit_code == 0
    assert contact_tags(world) == expected(world, tiers_of(first))
    searches = [e for e in control(world.intercom, "GET", "requests") if e["path"] == "/contacts/search"]
    assert any(e["status"] is not None and e["status"] >= 500 for e in searches)
    assert any(e["status"] == 200 for e in searches)


def test_a_contact_search_keeps_only_the_keys_asked_for(intercom: SandboxServer) -> None:
    """Matching holds every found contact until the plan is made: the client keeps only the keys it reads (issue 25,
    item 7: the full contacts of a million users were most of the run's memory), page by page."""
    for n in range(120):  # two pages of 100
        body = {"role": "user", "external_id": f"u{n}", "email": f"u{n}@acme.com", "name": f"User {n}"}
        httpx.post(f"{intercom.base_url}/contacts", json=body, headers=HEADERS, timeout=10).raise_for_status()
    client = IntercomClient(
        "token",
        base_url=intercom.base_url,
        api_version="2.14",
        timeout=10,
        policy=RetryPolicy(sleep=lambda _s: None),
        limiter=RateLimiter(10_000, 10.0),
    )
    ids = [f"u{n}" for n in range(120)]
    try:
        slim = client.search_contacts("external_id", ids, keep=("id", "external_id"))
        full = client.search_contacts("external_id", ids)
    finally:
        client.close()
    assert sorted(c["external_id"] for c in slim) == sorted(ids)
    assert {tuple(sorted(c)) for c in slim} == {("external_id", "id")}
    assert {c["id"]: c["external_id"] for c in slim} == {c["id"]: c["external_id"] for c in full}
    assert all(c["name"].startswith("User ") for c in full)  # without `keep`, the whole contact
