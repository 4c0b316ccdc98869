"""Contact plans built in slices of users (issue 25, item 3: memory bounded by `destinations.memory_mib`), through
the sync engine against the sandboxes over HTTP: a book planned a few users at a time reads, writes and corrects
exactly what the whole book planned at once does, because the search for changes and the rotation look at the
whole book once and only the store, the desired values, the reads and the diffs go slice by slice."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from healthsync.connector.settings import Destinations
from healthsync.connector.sync.destination import key_order
from healthsync.sandbox.base import SandboxServer
from tests.hubspot.crm import set_config
from tests.hubspot.test_bounded_reads import EVERY, api, bounded_world, remembered
from tests.intercom.conftest import contact_tags_world
from tests.intercom.test_contact_reads import searched
from tests.intercom.test_contact_tags import contact_tags, expected, tiers_of
from tests.world import World, control, log_size, writes

SLICE = 7  # users a slice: a few dozen slices in a world of a few hundred users


def verified(world: World, since: int, object_type: str) -> list[str]:
    """The ids HubSpot batch reads by id (not by email) asked for since `since`."""
    ids: list[str] = []
    for entry in control(world.hubspot, "GET", "requests")[since:]:
        body = entry.get("body") or {}
        if entry["path"].endswith(f"/{object_type}/batch/read") and not body.get("idProperty"):
            ids += [str(item["id"]) for item in body["inputs"]]
    return ids


@pytest.fixture
def sliced(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    built = bounded_world(tmp_path, hubspot, intercom)
    set_config(built, "destinations", "plan_slice_users", value=SLICE)
    return built


def test_hubspot_contacts_in_slices_verify_the_whole_books_rotation_and_correct_drift(sliced: World) -> None:
    first = sliced.run()
    users = {str(email).lower() for email in sliced.data.users["email"] if email}
    assert len(users) > 10 * SLICE
    plan = first.plans["hubspot"]
    counts = first.counts["hubspot"]
    accounted = counts.updated + counts.unchanged + counts.unmatched + counts.created + counts.ambiguous
    assert accounted + counts.rejected == plan.planned()
    assert sum(n for (kind, _), n in plan.kinds().items() if kind == "contacts") == len(users)
    sliced.run()  # finds the first run's own writes: every record read, as in one slice
    ids = sorted(remembered(sliced, "contacts").values())

    before = log_size(sliced.hubspot)
    rerun = sliced.run()
    assert writes(sliced.hubspot, before) == []
    share = math.ceil(len(ids) / EVERY)
    assert sorted(verified(sliced, before, "contacts")) == ids[:share]  # the whole book's rotation, not a slice's
    assert rerun.plans["hubspot"].kinds()[("contacts", "unchanged")] == len(ids)
    listed = {r.action for r in rerun.plans["hubspot"].records if r.object_type == "contacts"}
    assert listed == {"unmatched"}  # the unchanged ones are counted, not listed

    contact = ids[-1]  # in the last slice, outside this run's rotation window
    path = f"/crm/v3/objects/contacts/{contact}?properties=healthsync_user_health_score"
    score = api(sliced, "GET", path)["properties"]["healthsync_user_health_score"]
    api(sliced, "PATCH", f"/crm/v3/objects/contacts/{contact}", {"properties": {"healthsync_user_health_score": "9"}})
    before = log_size(sliced.hubspot)
    sliced.run()
    sent = [w for w in writes(sliced.hubspot, before) if w["path"].endswith("/contacts/batch/update")]
    assert [(i["id"], i["properties"]) for w in sent for i in w["body"]["inputs"]] == [
        (contact, {"healthsync_user_health_score": score})
    ]


def test_intercom_contact_tags_in_slices_search_the_whole_books_rotation(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = contact_tags_world(tmp_path, hubspot, intercom, sqlite_url, accounts=15)
    set_config(world, "destinations", "plan_slice_users", value=SLICE)
    users = sorted(str(user_id) for user_id in world.data.users["user_id"])
    assert len(users) > 5 * SLICE
    before = log_size(intercom)
    first = world.run()
    assert first.exit_code == 0
    assert sorted(searched(intercom, before)["external_id"]) == users
    assert contact_tags(world) == expected(world, tiers_of(first))
    share = math.ceil(len(users) / 7)
    for turn in range(2):
        before = log_size(intercom)
        assert world.run().exit_code == 0
        assert writes(intercom, before) == []
        assert sorted(searched(intercom, before)["external_id"]) == users[turn * share : (turn + 1) * share]


def test_the_slice_follows_the_memory_setting() -> None:
    assert Destinations().slice_users() == 2048 * 25
    assert Destinations(memory_mib=512).slice_users() == 12_800
    assert Destinations(memory_mib=512, plan_slice_users=10).slice_users() == 10


def test_key_order_sorts_as_python_and_keeps_the_last_row_of_a_repeated_key() -> None:
    frame = pd.DataFrame(
        {"email": [" B@x.com", "a@x.com", None, "b@x.com", "", "é@x.com", "Z@x.com", "a_b@x.com"], "n": range(8)}
    )
    keys, rows = key_order(frame, "email", email=True)
    assert keys == sorted({"b@x.com", "a@x.com", "é@x.com", "z@x.com", "a_b@x.com"})
    assert dict(zip(keys, frame["n"].iloc[rows], strict=True)) == {
        "a@x.com": 1,
        "a_b@x.com": 7,
        "b@x.com": 3,  # " B@x.com" (row 0) and "b@x.com" (row 3) are one contact: the last row wins
        "z@x.com": 6,
        "é@x.com": 5,
    }
    ids, _ = key_order(pd.DataFrame({"user_id": [" u2", "u1", "U1"]}), "user_id")
    assert ids == [" u2", "U1", "u1"]  # ids are taken as they are
    assert key_order(frame, "missing") == ([], [])
