"""healthsync speaks only HubSpot's 2026-09 API, and every body it sends and reads is the 2026-09 shape.

Full runs (provisioning, matching by id property and domain, company upserts, task creates, then a run with a lost
state that reads associations and finds tasks by marker) and `check` are replayed from the sandbox's request log:
0 legacy (/crm/v3, /crm/v4) requests, and each request and response validates against connector/hubspot/models.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from healthsync.connector.hubspot.models import check_exchange
from healthsync.sandbox.base import SandboxServer
from tests.hubspot.crm import cli, hubspot_only, set_config
from tests.world import World, build_world, control, log_size


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    built = build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=60)
    hubspot_only(built)
    set_config(built, "destinations", "hubspot", "create_companies", value=True)
    return built


def exchanges(world: World, since: int) -> list[dict[str, Any]]:
    return list(control(world.hubspot, "GET", "requests")[since:])


def test_full_runs_and_check_send_no_legacy_request_and_every_body_is_2026_09(world: World) -> None:
    before = log_size(world.hubspot)
    legacy_before = control(world.hubspot, "GET", "state")["legacy_requests"]
    first = world.run()
    assert first.exit_code == 0
    assert first.counts["hubspot"].created > 0
    assert first.counts["hubspot"].tasks_created > 0
    (world.root / "state.db").unlink()
    again = world.run()
    assert again.exit_code == 0
    assert again.counts["hubspot"].tasks_created == 0
    assert cli(world, "check").returncode == 0
    sent = exchanges(world, before)
    paths = {entry["path"] for entry in sent}
    assert any(p == "/crm/associations/2026-09/companies/tasks/batch/read" for p in paths)
    assert any(p.endswith("/batch/upsert") for p in paths)
    assert any(p.endswith("/search") for p in paths)
    assert [entry["path"] for entry in sent if entry["legacy"]] == []
    assert control(world.hubspot, "GET", "state")["legacy_requests"] == legacy_before
    for entry in sent:
        check_exchange(entry["method"], entry["path"], entry["status"], entry["body"], entry["response"])
