"""Issue 25: an unchanged rerun searches a rotating 1/verify_every_runs of the remembered contacts, not every user,
and a tag changed by hand in Intercom is still put back within that many runs (connector/intercom/contacts.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from healthsync.sandbox.base import SandboxServer
from tests.intercom.conftest import api, contact_tags_world
from tests.intercom.test_contact_tags import contact_tags, expected, tiers_of
from tests.world import World, control, log_size, writes


def searched(intercom: SandboxServer, since: int) -> dict[str, list[str]]:
    """field -> the values the contact searches since `since` asked for (external_id, email)."""
    asked: dict[str, list[str]] = {}
    for entry in control(intercom, "GET", "requests")[since:]:
        if entry["path"] == "/contacts/search":
            query = entry["body"]["query"]
            if "starting_after" not in (entry["body"].get("pagination") or {}):  # a query's first page only
                asked.setdefault(query["field"], []).extend(query["value"])
    return asked


def verify_every(world: World, runs: int) -> None:
    config = yaml.safe_load(world.config.read_text())
    config["destinations"]["intercom"]["verify_every_runs"] = runs
    world.config.write_text(yaml.safe_dump(config, sort_keys=False))


def test_an_unchanged_rerun_searches_a_rotating_seventh_of_the_remembered_contacts(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = contact_tags_world(tmp_path, hubspot, intercom, sqlite_url, accounts=15)
    records = world.data.users.to_dict("records")
    users = sorted(str(u["user_id"]) for u in records)
    emails = {str(u["user_id"]): str(u["email"]) for u in records}
    email_only = {str(u["user_id"]) for position, u in enumerate(records) if position % 3 == 0}  # seed_contacts
    before = log_size(intercom)
    first = world.run()
    assert first.exit_code == 0
    assert sorted(searched(intercom, before)["external_id"]) == users  # a first run searches every user

    share = math.ceil(len(users) / 7)
    for turn in range(2):  # the rotation moves on from where the last run stopped
        before = log_size(intercom)
        rerun = world.run()
        assert rerun.exit_code == 0
        assert writes(intercom, before) == []
        asked = searched(intercom, before)
        window = users[turn * share : (turn + 1) * share]
        assert sorted(asked["external_id"]) == window
        assert sorted(asked["email"]) == sorted(emails[u] for u in window if u in email_only)  # not found above
    assert contact_tags(world) == expected(world, tiers_of(first))


def test_a_tag_removed_by_hand_is_put_back_within_verify_every_runs(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = contact_tags_world(tmp_path, hubspot, intercom, sqlite_url, accounts=15)
    verify_every(world, 2)
    first = world.run()
    assert first.exit_code == 0
    wanted = expected(world, tiers_of(first))
    users = sorted(world.data.users.to_dict("records"), key=lambda u: str(u["user_id"]))
    early, late = users[0], users[-1]  # in the first and the second half of the rotation
    state = control(intercom, "GET", "state")
    tag_ids = {tag["name"]: tag["id"] for tag in state["tags"]}
    contacts = {str(c["email"]): c for c in state["contacts"]}
    for user in (early, late):  # someone removes the tier tag in Intercom's UI
        contact: dict[str, Any] = contacts[str(user["email"])]
        (tag,) = wanted[str(user["email"])]
        api(intercom, "DELETE", f"/contacts/{contact['id']}/tags/{tag_ids[tag]}").raise_for_status()
    assert contact_tags(world)[str(early["email"])] == set()

    second = world.run()  # searches the first half: the early contact's tag is found missing and put back
    assert second.exit_code == 0
    now = contact_tags(world)
    assert now[str(early["email"])] == wanted[str(early["email"])]
    assert now[str(late["email"])] == set()  # not searched yet: the store still says it is tagged

    third = world.run()  # the second half: the late one too
    assert third.exit_code == 0
    assert contact_tags(world) == wanted
