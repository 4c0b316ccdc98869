"""Item 2: one company scroll at a time, never resumed after a lost answer; a plan next to a run breaks neither."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from healthsync.connector.engine import RunSummary
from healthsync.sandbox.base import SandboxServer
from tests.intercom.conftest import HEADERS, companies, intercom_world
from tests.world import World, control

ACCOUNTS = 130  # nine scroll pages of 15


def scroll_requests(world: World) -> list[dict[str, Any]]:
    return [e for e in control(world.intercom, "GET", "requests") if e["path"] == "/companies/scroll"]


def assert_every_company_synced(world: World, summary: RunSummary) -> None:
    assert summary.exit_code == 0
    synced = companies(world)
    assert len(synced) >= ACCOUNTS
    accounts = set(world.data.accounts["account_id"].astype(str))
    assert all("healthsync_health_score" in synced[key]["custom_attributes"] for key in accounts)


def assert_no_param_resent_after_a_lost_answer(world: World) -> None:
    requests = scroll_requests(world)
    for position, entry in enumerate(requests):
        if entry.get("fault") == "dropped_after_commit" and entry["query"].get("scroll_param"):
            later = [e["query"].get("scroll_param") for e in requests[position + 1 :]]
            assert entry["query"]["scroll_param"] not in later


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str) -> World:
    return intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=ACCOUNTS)


def test_the_answer_to_the_last_scroll_page_is_lost(world: World) -> None:
    control(world.intercom, "PUT", "scroll", {"drop_last": True})
    summary = world.run()
    assert_every_company_synced(world, summary)
    dropped = [e for e in scroll_requests(world) if e.get("fault") == "dropped_after_commit"]
    assert len(dropped) == 1
    assert_no_param_resent_after_a_lost_answer(world)
    assert summary.counts["intercom"].unmatched == 0


def test_a_lost_middle_page_restarts_the_scroll_instead_of_skipping_it(world: World) -> None:
    control(world.intercom, "PUT", "scroll", {"drop_page": 4, "expiry_seconds": 2})
    engine = world.engine()
    engine.sleep = time.sleep  # real waits: the broken scroll must expire before a new one may open
    summary = engine.run()
    assert_every_company_synced(world, summary)
    assert_no_param_resent_after_a_lost_answer(world)
    opened = [e for e in scroll_requests(world) if e["status"] == 200 and not e["query"].get("scroll_param")]
    assert len(opened) == 2  # the scroll was restarted from the beginning
    assert any(e["status"] == 400 for e in scroll_requests(world))  # scroll_exists, waited out


def test_a_broken_scroll_that_never_expires_falls_back_to_company_reads(world: World) -> None:
    control(world.intercom, "PUT", "scroll", {"drop_page": 2, "expiry_seconds": 3600})
    summary = world.run()
    assert_every_company_synced(world, summary)
    reads = [
        e for e in control(world.intercom, "GET", "requests") if e["path"] == "/companies" and e["method"] == "GET"
    ]
    assert len(reads) == ACCOUNTS


@pytest.mark.slow
def test_a_plan_started_while_a_run_scrolls(world: World) -> None:
    with httpx.Client(base_url=world.intercom.base_url, headers=HEADERS, timeout=10) as client:
        for n in range(1200):  # an established workspace: many companies that are not our accounts
            client.post("/companies", json={"company_id": f"other-{n}", "name": f"Other {n}"}).raise_for_status()
    control(world.intercom, "PUT", "faults", {"latency_ms": 20})
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["run"] = world.run()

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 60
    while not scroll_requests(world) and time.monotonic() < deadline:
        time.sleep(0.01)
    planned = world.engine().plan()
    runner.join(timeout=120)
    control(world.intercom, "PUT", "faults", {})

    assert not runner.is_alive()
    assert outcome["run"].exit_code == 0
    assert planned.plans["intercom"].counts().get("companies.unmatched", 0) == 0
    assert_every_company_synced(world, outcome["run"])
    assert any(e["status"] == 400 for e in scroll_requests(world))  # the two met: scroll_exists
