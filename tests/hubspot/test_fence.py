"""The lease is a fence: a run stalled (SIGSTOP) past its lease inside a task create lets a second run in; when
it continues it writes nothing more and stops with a clear message; no task is duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from healthsync.sandbox.base import SandboxServer
from healthsync.state.schema import lease
from tests.hubspot.crm import cli, duplicates, hubspot_only, marked, set_config, token_env
from tests.world import World, build_world, control

CREATE = "/crm/objects/2026-09/tasks/batch/create"


def _until_its_lease_expired(pid: int, world: World) -> float:
    """Seconds until the lease of the stopped run `pid` has expired (by the state store's clock, this machine's on
    SQLite), read once the process is really stopped: it can renew no more. The fence's proof of the lease ends no
    later than the stored expiry, so past it the run's next write must find the lease lost."""
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "T":
        assert time.monotonic() < deadline, "the first run did not stop"
        time.sleep(0.01)
    engine = sa.create_engine(f"sqlite:///{world.root / 'state.db'}")
    try:
        with engine.connect() as conn:
            expires_at = conn.execute(sa.select(lease.c.expires_at)).scalar_one()
    finally:
        engine.dispose()
    return max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5


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
        time.sleep(_until_its_lease_expired(first.pid, world))  # 7-10 s: the 10 s lease from its last renewal
        second = cli(world, "run")
        assert second.returncode == 0, second.stdout + second.stderr
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 3, out + err
    assert "lease" in err
    assert duplicates(world.hubspot) == []
    assert marked(world.hubspot)
