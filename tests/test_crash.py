"""Crashes that heal (issue 13, item 5): real `healthsync run` processes, really killed, against the sandboxes.

SIGKILL: the next run on this host takes the dead holder's lease at once and marks its run `crashed`; a holder
on another host blocks only until its short lease expires. SIGTERM / SIGINT: the run finishes its batch,
checkpoints, releases the lease and exits 143 / 130; the next run starts at once. Either way the destinations
end in the right state: a further run writes nothing, and no task exists twice.

The run that is killed or signalled is a real process; the runs before and after it are `main` in this process (a
separate interpreter is not their point: the lock, the lease and the sandboxes are the same either way).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from healthsync.sandbox.base import SandboxServer
from healthsync.state import StateStore
from tests.world import TOKENS, World, build_world, control, healthsync, log_size, writes

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    assert TOKENS.hubspot_access_token is not None
    assert TOKENS.intercom_access_token is not None
    return {
        "HUBSPOT_ACCESS_TOKEN": TOKENS.hubspot_access_token.get_secret_value(),
        "INTERCOM_ACCESS_TOKEN": TOKENS.intercom_access_token.get_secret_value(),
    }


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    built = build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=150)
    yield built
    for server in (hubspot, intercom):
        control(server, "PUT", "faults", {})


def _start_run(world: World) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "healthsync", "run", "--config", str(world.config)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **_env()}
    )


def _slow_and_started(world: World, process: subprocess.Popen[str], since: int, at_least: int = 2) -> None:
    """Slow the sandboxes down, then wait until the run has written a few batches (it holds the lease)."""
    for server in (world.hubspot, world.intercom):
        control(server, "PUT", "faults", {"latency_ms": 150})
    deadline = time.monotonic() + 240
    while len(writes(world.hubspot, since)) < at_least:
        assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the run did not start writing"
        time.sleep(0.1)


def _runs(world: World) -> list[tuple[int, str, int | None]]:
    with sqlite3.connect(world.root / "state.db") as conn:
        return [tuple(row) for row in conn.execute("SELECT id, status, exit_code FROM runs ORDER BY id")]


def _lease_rows(world: World) -> list[Any]:
    with sqlite3.connect(world.root / "state.db") as conn:
        return list(conn.execute("SELECT holder FROM lease"))


def _assert_right_state(world: World) -> None:
    """A further run writes nothing, every matched company has its score, and no task exists twice."""
    before = (log_size(world.hubspot), log_size(world.intercom))
    again = healthsync("run", "--config", str(world.config), env=_env())
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert writes(world.hubspot, before[0]) == []
    assert writes(world.intercom, before[1]) == []
    snapshot = world.hubspot.sandbox.snapshot()
    scored = [c for c in snapshot["companies"] if c["properties"].get("healthsync_health_score")]
    assert len(scored) >= len(world.data.accounts) - len(world.seeded.hubspot_missing) - 2
    bodies = [str(t["properties"].get("hs_task_body") or "") for t in snapshot.get("tasks", [])]
    identities = Counter(match.group(1) for body in bodies if (match := re.search(r"\[healthsync:([^\]]+)\]", body)))
    assert identities
    assert max(identities.values()) == 1


def test_sigkill_the_next_run_on_this_host_takes_over_at_once(world: World) -> None:
    since = log_size(world.hubspot)  # the seeding wrote too
    first = _start_run(world)
    _slow_and_started(world, first, since)
    busy = healthsync("--log-format", "text", "run", "--config", str(world.config), env=_env())
    assert busy.returncode == 3
    assert "alive on this host" in busy.stderr, busy.stderr
    assert f"kill {first.pid}" in busy.stderr
    first.kill()
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    for server in (world.hubspot, world.intercom):
        control(server, "PUT", "faults", {})
    started = time.monotonic()
    second = healthsync("run", "--config", str(world.config), env=_env())
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "took over the lock" in second.stderr
    assert "run 1 did not finish" in second.stderr
    assert time.monotonic() - started < 60  # never waited for the lease
    assert [(status, code) for _id, status, code in _runs(world)] == [("crashed", None), ("ok", 0)]
    _assert_right_state(world)


def test_a_holder_on_another_host_blocks_only_until_its_short_lease_expires(world: World) -> None:
    config = yaml.safe_load(world.config.read_text())
    config["state"]["lock_ttl_seconds"] = 10
    for name in ("hubspot", "intercom"):
        config["destinations"][name]["timeout_seconds"] = 5
    world.config.write_text(yaml.safe_dump(config))
    with StateStore.open(f"sqlite:///{world.root / 'state.db'}") as store:
        crashed = store.acquire_lock("other-host pid 4242", ttl_seconds=10)  # crashed there: never renewed or released
        blocked = healthsync("--log-format", "text", "run", "--config", str(world.config), env=_env())
        assert blocked.returncode == 3
        assert "other-host pid 4242" in blocked.stderr
        assert "on another host or container" in blocked.stderr
        assert "--wait" in blocked.stderr
        # That holder's lease again, 4 s of it left this time: what `--wait` waits out (10 s would prove no more).
        crashed.release()
        expires_at = store.acquire_lock("other-host pid 4242", ttl_seconds=4).expires_at
    started, left = time.monotonic(), (expires_at - datetime.now(UTC)).total_seconds()
    waited = healthsync("run", "--wait", "--config", str(world.config), env=_env())
    assert waited.returncode == 0, waited.stdout[-3000:] + waited.stderr[-3000:]
    assert "took over the lock" in waited.stderr
    assert "other-host pid 4242" in waited.stderr
    assert left <= time.monotonic() - started < 60  # it waited until the lease had expired


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_finishes_the_batch_releases_the_lease_and_exits(world: World, signum: int, code: int) -> None:
    since = log_size(world.hubspot)  # the seeding wrote too
    first = _start_run(world)
    _slow_and_started(world, first, since)
    first.send_signal(signum)
    output, _ = first.communicate(timeout=120)
    assert first.returncode == code, output[-3000:]
    assert f"stopped by {signal.Signals(signum).name}" in output
    assert _lease_rows(world) == []  # released, not left to expire
    assert _runs(world) == [(1, "interrupted", code)]
    for server in (world.hubspot, world.intercom):
        control(server, "PUT", "faults", {})
    started = time.monotonic()
    second = healthsync("run", "--config", str(world.config), env=_env())
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "took over" not in second.stderr
    assert time.monotonic() - started < 60
    _assert_right_state(world)
