"""Task markers survive any account id: `a]b`, `x[y`, `with space` and 300 characters, on PostgreSQL state."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from healthsync.sandbox.base import SandboxServer
from tests.hubspot.crm import duplicates, hubspot_only, identity, marked
from tests.world import World, build_world

ODD_IDS = ["a]b", "x[y", "with space", "z" * 300]


@pytest.mark.postgres
def test_odd_account_ids_get_one_task_each_across_three_runs(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, pg_url: str
) -> None:
    world: World = build_world(tmp_path, hubspot, intercom, pg_url, accounts=60)
    hubspot_only(world)
    tasks = [t for t in world.engine().plan().plans["hubspot"].tasks if t.action == "create"]
    chosen = list(dict.fromkeys(t.account for t in tasks))[: len(ODD_IDS)]
    assert len(chosen) == len(ODD_IDS)
    for old, new in zip(chosen, ODD_IDS, strict=True):
        for table in ("events", "users", "accounts"):
            world.sql(f"UPDATE {table} SET account_id = '{new}' WHERE account_id = '{old}'")
    created = [world.run().counts["hubspot"].tasks_created for _ in range(3)]
    assert created[0] > 0
    assert created[1:] == [0, 0]
    per_account = Counter(identity(t).rsplit(":", 2)[0] for t in marked(world.hubspot))
    assert all(per_account[new] >= 1 for new in ODD_IDS)
    assert duplicates(world.hubspot) == []
