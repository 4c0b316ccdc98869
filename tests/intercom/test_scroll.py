"""One company scroll at a time, never resumed after a lost answer, and never a read per company when it breaks
(issue 21: the paged listing reads the rest); a plan next to a run breaks neither."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from healthsync.connector.cli import cli
from healthsync.connector.engine import Engine, RunSummary
from healthsync.connector.intercom import listing as connector_listing
from healthsync.sandbox import intercom_companies as sandbox_companies
from healthsync.sandbox.base import SandboxServer
from tests.clock import FakeTime
from tests.intercom.conftest import HEADERS, cli_env, companies, intercom_world, tag_names
from tests.world import NOW, TOKENS, World, control

ACCOUNTS = 130  # nine scroll pages of 15
TIER_TAGS = {"Health: Healthy", "Health: Neutral", "Health: At risk"}


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


def company_reads(world: World) -> list[dict[str, Any]]:
    """`GET /companies?company_id=`: the one-read-per-company fallback."""
    log = control(world.intercom, "GET", "requests")
    return [e for e in log if e["path"] == "/companies" and e["method"] == "GET" and "company_id" in e["query"]]


def listing_pages(world: World) -> list[dict[str, Any]]:
    log = control(world.intercom, "GET", "requests")
    return [e for e in log if e["path"] == "/companies" and e["method"] == "GET" and "page" in e["query"]]


def test_a_lost_middle_page_is_never_skipped_the_listing_reads_the_rest(world: World) -> None:
    control(world.intercom, "PUT", "scroll", {"drop_page": 4, "expiry_seconds": 3600})
    summary = world.run()
    assert_every_company_synced(world, summary)
    assert_no_param_resent_after_a_lost_answer(world)
    opened = [e for e in scroll_requests(world) if not e["query"].get("scroll_param")]
    assert len(opened) == 1  # the broken scroll was not restarted: the paged listing read the rest
    assert len(listing_pages(world)) == 3  # 130 companies, 60 a page
    assert company_reads(world) == []


def test_a_broken_scroll_that_never_expires_costs_three_listing_pages_not_a_read_per_company(world: World) -> None:
    control(world.intercom, "PUT", "scroll", {"drop_page": 2, "expiry_seconds": 3600})
    summary = world.run()
    assert_every_company_synced(world, summary)
    assert company_reads(world) == []
    assert len(listing_pages(world)) == 3


def test_a_scroll_page_answered_500_then_scroll_exists_for_a_minute(world: World) -> None:
    """Issue 21, must show: through the CLI, exit 0, no read per company, the expected attributes and tags."""
    control(world.intercom, "PUT", "scroll", {"fail_page": 3})  # the default one-minute expiry
    result = CliRunner().invoke(cli, ["run", "--config", str(world.config)], env=cli_env())
    assert result.exit_code == 0, result.output
    failed = [e for e in scroll_requests(world) if e["status"] == 500]
    assert len(failed) == 1
    busy = httpx.get(world.intercom.base_url + "/companies/scroll", headers=HEADERS, timeout=10)
    assert busy.status_code == 400  # the broken scroll is still open: a restart would have met scroll_exists
    assert busy.json()["errors"][0]["code"] == "scroll_exists"
    assert company_reads(world) == []
    synced = companies(world)
    scores = world.data.accounts.set_index("account_id")
    assert all("healthsync_health_score" in synced[str(key)]["custom_attributes"] for key in scores.index)
    tiers = {c["company_id"]: tag_names(c) for c in synced.values()}
    assert all(len(names & TIER_TAGS) == 1 for names in tiers.values())


@pytest.mark.slow
def test_a_plan_started_while_a_run_scrolls(world: World) -> None:
    store = world.intercom.sandbox.store  # type: ignore[attr-defined]
    for n in range(1200):  # an established workspace: many companies that are not our accounts
        sandbox_companies.upsert(store, {"company_id": f"other-{n}", "name": f"Other {n}"})
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


def test_the_listing_stops_at_intercoms_documented_10000_in_the_connector_and_the_sandbox(
    intercom: SandboxServer,
) -> None:
    """The limit the test below lowers: 10,000 companies (2.16 OpenAPI, `listAllCompanies`), in both; past it the
    sandbox's pages come back empty while `total_count` counts every company."""
    assert connector_listing.LIST_LIMIT == sandbox_companies.LIST_LIMIT == 10_000
    store = intercom.sandbox.store  # type: ignore[attr-defined]
    sandbox_companies.upsert(store, {"company_id": "other-0", "name": "Other 0"})
    (made,) = store.companies.values()
    for n in range(1, 10_001):  # copies of it: 10,001 upserts would each look the company_id up in a growing store
        other = {**made, "id": f"{made['id']}-{n}", "company_id": f"other-{n}", "name": f"Other {n}"}
        store.companies[other["id"]] = {**other, "custom_attributes": {}, "tag_ids": []}
    last = sandbox_companies.retrieve(store, {"page": "167", "per_page": "60"})
    beyond = sandbox_companies.retrieve(store, {"page": "168", "per_page": "60"})
    assert [c["company_id"] for c in last["data"]][-1] == "other-9999"
    assert len(last["data"]) == 40
    assert beyond["data"] == []
    assert beyond["total_count"] == 10_001


def test_above_the_listing_limit_the_broken_scroll_is_waited_out_once(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace of more companies than the paged listing returns, ours past its reach: the broken scroll's
    one-minute expiry is waited out (on a fake clock the connector's sleep and the sandbox's expiry share) and a new
    scroll reads all. The listing limit (Intercom's 10,000, pinned by the test above) is lowered to 300 in both the
    connector and the sandbox: the same pages, waits and requests, on a workspace of 430 companies, not 10,130."""
    limit = 300
    monkeypatch.setattr(connector_listing, "LIST_LIMIT", limit)
    monkeypatch.setattr(sandbox_companies, "LIST_LIMIT", limit)
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=ACCOUNTS)
    store = intercom.sandbox.store  # type: ignore[attr-defined]
    ours = dict(store.companies)
    store.companies.clear()
    for n in range(limit):  # an established workspace, listed before our companies
        sandbox_companies.upsert(store, {"company_id": f"other-{n}", "name": f"Other {n}"})
    store.companies.update(ours)
    control(world.intercom, "PUT", "scroll", {"fail_page": 2})  # the default one-minute expiry
    clock = FakeTime()
    monkeypatch.setattr(intercom.sandbox, "clock", clock.monotonic)

    summary = Engine(world.settings(), secrets=TOKENS, sleep=clock.sleep, now=NOW).run()

    assert_every_company_synced(world, summary)
    assert summary.counts["intercom"].scroll_waits == 1
    assert [w for w in clock.slept if w > 30] == [61.0]
    assert company_reads(world) == []
    assert len(listing_pages(world)) == 5  # 300 listed, 60 a page; none asked past the limit
