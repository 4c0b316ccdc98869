"""10,000 accounts and 100,000 users (issue 25): the requests of an unchanged rerun and of a lost state store are
the ones the README's formula gives ("Sync semantics"), counted by the HubSpot sandbox over HTTP. Counts, not times:
the sandbox's rate limits are lifted. Marked slow (three runs at that size: about two minutes)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthsync.connector.engine import Engine
from healthsync.connector.settings import load_settings
from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.hubspot import HubSpotSandbox
from tests.hubspot.test_bounded_reads import reads
from tests.scale import product, seed, write_config
from tests.world import NOW, TOKENS, World, control, log_size, writes

pytestmark = pytest.mark.slow

ACCOUNTS, USERS, EVERY = 10_000, 100_000, 7


@pytest.fixture(scope="module")
def crm() -> Iterator[SandboxServer]:
    with SandboxServer(HubSpotSandbox(seed=5, index_lag_seconds=0.0)) as server:
        limits = {"requests_per_window": 10_000_000, "window_seconds": 10, "log_bodies": 2_000}
        control(server, "PUT", "limits", limits | {"search_requests_per_second": 100_000})
        yield server


def run(config: Path) -> None:
    summary = Engine(load_settings(config), secrets=TOKENS, sleep=lambda _s: None, now=NOW).run()
    assert summary.exit_code == 0


def test_an_unchanged_rerun_and_a_lost_store_make_the_readme_requests(tmp_path: Path, crm: SandboxServer) -> None:
    db = tmp_path / "product.duckdb"
    product(db, ACCOUNTS, USERS)
    seed(crm, None, db)
    hubspot = {
        "enabled": True,
        "base_url": crm.base_url,
        "requests_per_10s": 10_000_000,
        "searches_per_second": 100_000,
        "verify_every_runs": EVERY,
        "changed_overlap_minutes": 0,  # back-to-back runs standing for daily ones
    }
    config = write_config(tmp_path, db, {"hubspot": hubspot, "intercom": {"enabled": False}})
    world = World(tmp_path, None, db, config, crm, crm, None)  # type: ignore[arg-type]  # reads() needs .hubspot
    run(config)  # the first sync writes every company and contact

    (tmp_path / "state.db").unlink()
    before = log_size(crm)
    run(config)  # the state store lost: every record looked up once, with its values; nothing written
    kinds = reads(world, before)
    assert writes(crm, before) == []
    records = {kind: n for kind, n in kinds.items() if not kind.endswith(" tasks")}  # open tasks found again apart
    assert records == {"lookup companies": math.ceil(ACCOUNTS / 100), "lookup contacts": math.ceil(USERS / 100)}
    # the open tasks are found through the companies' associations, 1,000 companies a call (HubSpot's limit)
    associations = [e for e in control(crm, "GET", "requests")[before:] if "/associations/" in e["path"]]
    inputs = sum(len((entry.get("body") or {}).get("inputs") or []) for entry in associations)
    assert inputs > 1000
    assert len(associations) == math.ceil(inputs / 1000)

    before = log_size(crm)
    run(config)  # unchanged: nothing changed in HubSpot since the last run's search (which wrote nothing)
    kinds = reads(world, before)
    assert writes(crm, before) == []
    assert kinds == {
        "changed companies": 1,  # C = 0
        "changed contacts": 1,
        "verify companies": math.ceil(math.ceil(ACCOUNTS / EVERY) / 100),  # 15
        "verify contacts": math.ceil(math.ceil(USERS / EVERY) / 100),  # 143
    }
