"""The lease is a fence: a run stalled (SIGSTOP) past its lease inside a task create lets a second run in; when
it continues it writes nothing more and stops with a clear message; no task is duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healthsync.sandbox.base import SandboxServer
from tests.hubspot.crm import cli, duplicates, hubspot_only, marked, set_config, token_env
from tests.world import World, build_world, control

CREATE = "/crm/objects/2026-09/tasks/batch/create"


@pytest.mark.slow
def test_a_run_stalled_past_its_lease_in_a_task_create_duplicates_nothing(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer
) -> None:
    world: World = build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=40)
    hubspot_only(world)
    set_config(world, "state", "lock_ttl_seconds", value=10)
    set_config(world, "destinations", "hubspot", "timeout_seconds", value=5)
    control(world.hubspot, "PUT", "faults", {"latency_ms": 3000, "slow_path": CREATE})
    first = subprocess.Popen(
        [sys.executable, "-m", "healthsync", "run", "--config", str(world.config)],
        env=token_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(e["path"] == CREATE for e in control(world.hubspot, "GET", "requests")):
            assert time.monotonic() < deadline, "the first run never reached a task create"
            assert first.poll() is None, "the first run ended before its task create"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGSTOP)  # stalled with its create in flight
        control(world.hubspot, "PUT", "faults", {})
        time.sleep(12)  # past the 10 s lease
        second = cli(world, "run")
        assert second.returncode == 0, second.stdout + second.stderr
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 3, out + err
    assert "lease" in err
    assert duplicates(world.hubspot) == []
    assert marked(world.hubspot)
