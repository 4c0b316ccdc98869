"""A run's recorded peak memory is its own (issue 25, item 3): not the size of the process that started it; it is
recorded next to `destinations.memory_mib`, with a warning when the peak went past it."""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.hubspot.crm import set_config
from tests.world import build_world

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc only")
REPORT = "import json; from healthsync.connector.engine import resources; print(json.dumps(resources(2048)))"


def test_the_peak_of_a_run_started_by_a_large_process_is_the_runs_own() -> None:
    ballast = b"\x01" * (600 * 1024**2)  # resident in this process when the run starts
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True, check=True, timeout=120)
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the kernel's figure, carried over
    peak = json.loads(out.stdout)["peak_rss_mib"]
    assert len(ballast) == 600 * 1024**2  # held until the run has ended
    assert parent >= 600
    assert child >= 600  # what ru_maxrss says of the child: the parent's size, not the child's
    assert 20 < peak < 400  # an interpreter with pandas and the SDKs imported, far from the parent's 600 MiB


def test_a_run_records_its_peak_next_to_memory_mib_and_warns_past_it(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    world = build_world(tmp_path, hubspot, intercom, sqlite_url, accounts=10)
    set_config(world, "destinations", "memory_mib", value=256)  # the least it takes: a test process may pass it
    with caplog.at_level(logging.WARNING, logger="healthsync"):
        summary = world.run()
    with StateStore.open(world.settings().resolved_state_url()) as store:
        recorded = next(run for run in store.runs() if run.id == summary.run_id).summary
    assert recorded is not None
    used = recorded["resources"]
    assert used["memory_mib"] == 256
    assert used["peak_rss_mib"] > 0
    warned = [r for r in caplog.records if "went past destinations.memory_mib" in r.getMessage()]
    assert len(warned) == (1 if used["peak_rss_mib"] > 256 else 0)
