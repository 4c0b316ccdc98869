"""HubSpot and Intercom synced at the same time (issue 25, item 5: a run took the sum of the two), through the
engine against both sandboxes: their requests overlap in time, one destination's failure is the error the run
raises and the next run completes both, and `destinations.concurrent: false` keeps them in turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from healthsync.connector.engine import stages
from healthsync.errors import HealthsyncError
from healthsync.sandbox.base import SandboxServer
from tests.hubspot.crm import set_config
from tests.world import World, build_world, control, log_size


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str) -> World:
    return build_world(tmp_path, hubspot, intercom, sqlite_url, accounts=60)


def _arrivals(server: SandboxServer, since: int) -> list[float]:
    return [float(entry["timestamp"]) for entry in control(server, "GET", "requests")[since:]]


def _spans(world: World, run: Any) -> tuple[list[float], list[float]]:
    """Arrival times of every request each sandbox received during `run()` (every request takes 20 ms)."""
    for server in (world.hubspot, world.intercom):
        control(server, "PUT", "faults", {"latency_ms": 20})
    before = (log_size(world.hubspot), log_size(world.intercom))
    run()
    for server in (world.hubspot, world.intercom):
        control(server, "PUT", "faults", {})
    return _arrivals(world.hubspot, before[0]), _arrivals(world.intercom, before[1])


def test_hubspot_and_intercom_are_synced_at_the_same_time(world: World) -> None:
    hub, ic = _spans(world, world.run)
    assert hub
    assert ic
    assert max(hub[0], ic[0]) < min(hub[-1], ic[-1])  # each received requests while the other did
    set_config(world, "destinations", "concurrent", value=False)
    hub, ic = _spans(world, lambda: world.run(full=True))
    assert hub
    assert ic
    assert hub[-1] <= ic[0]  # in turn: Intercom only after HubSpot's last request


def test_a_failing_destination_is_the_error_the_run_raises_and_the_next_run_completes_both(world: World) -> None:
    """Intercom answers every call 5xx: its error ends the run (HubSpot, in its own thread, stops at its next batch
    boundary, keeping what it acknowledged); the next run finishes both and a third writes nothing."""
    control(world.intercom, "PUT", "faults", {"error_rate": 1.0})  # every Intercom call answers 5xx
    with pytest.raises(HealthsyncError, match="Intercom"):
        world.run()
    control(world.intercom, "PUT", "faults", {})
    summary = world.run()  # what either acknowledged is kept; the rest follows, nothing twice
    assert summary.exit_code == 0
    before = (log_size(world.hubspot), log_size(world.intercom))
    assert world.run().exit_code == 0
    writes = [e for server, n in zip((world.hubspot, world.intercom), before, strict=True)
              for e in control(server, "GET", "requests")[n:] if e["write"]]  # fmt: skip
    assert writes == []


def test_stages_put_the_crms_together_and_slack_after() -> None:
    assert stages(["hubspot", "intercom", "slack"], concurrent=True) == [["hubspot", "intercom"], ["slack"]]
    assert stages(["intercom", "slack"], concurrent=True) == [["intercom"], ["slack"]]
    assert stages(["slack"], concurrent=True) == [["slack"]]
    assert stages(["hubspot", "intercom", "slack"], concurrent=False) == [["hubspot"], ["intercom"], ["slack"]]


def test_intercom_company_updates_are_sent_several_at_a_time(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    """Intercom updates a company per call: `concurrent_requests` of them are in flight at once (each held 100 ms by
    the sandbox, the next ones arrive before the first is answered); with 1 they go one after the other. A world of
    20 accounts: each update held one after the other costs 100 ms."""
    world = build_world(tmp_path, hubspot, intercom, sqlite_url, accounts=20)

    def arrivals_of_updates(**run: Any) -> list[tuple[float, float]]:
        control(world.intercom, "PUT", "faults", {"latency_ms": 100, "slow_path": "/companies/"})
        before = log_size(world.intercom)
        world.run(**run)
        control(world.intercom, "PUT", "faults", {})
        log = control(world.intercom, "GET", "requests")[before:]
        return [(float(e["timestamp"]), float(e["timestamp"]) + 0.1) for e in log if e["method"] == "PUT"]

    def most_in_flight(spans: list[tuple[float, float]]) -> int:
        return max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)

    set_config(world, "destinations", "hubspot", "enabled", value=False)
    concurrent = arrivals_of_updates()
    assert len(concurrent) > 8
    assert most_in_flight(concurrent) >= 2
    set_config(world, "destinations", "intercom", "concurrent_requests", value=1)
    one_by_one = arrivals_of_updates(full=True)
    assert len(one_by_one) == len(concurrent)
    assert most_in_flight(one_by_one) == 1
