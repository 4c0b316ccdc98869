"""The lease lock: one run at a time, also across OS processes, on real SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from healthsync.errors import LockHeldError
from healthsync.state import StateStore
from tests.paths import ROOT


def test_second_acquire_names_the_holder(store: StateStore) -> None:
    lease = store.acquire_lock("host-a pid 1", ttl_seconds=60)

    with pytest.raises(LockHeldError, match=r"another run holds the lock: host-a pid 1 since .* UTC, expires .* UTC"):
        store.acquire_lock("host-b pid 2", ttl_seconds=60)
    assert LockHeldError.exit_code == 3

    lease.release()
    with store.acquire_lock("host-b pid 2", ttl_seconds=60) as second:
        assert second.holder == "host-b pid 2"
    store.acquire_lock("host-c pid 3", ttl_seconds=60).release()  # the context manager released it


def test_renew_moves_the_expiry(store: StateStore) -> None:
    with store.acquire_lock("a", ttl_seconds=30) as lease:
        before = lease.expires_at
        time.sleep(0.01)
        lease.renew()
        assert lease.expires_at > before


def test_expired_lease_is_taken_over_and_the_old_one_is_lost(store: StateStore) -> None:
    old = store.acquire_lock("a", ttl_seconds=0.05)
    time.sleep(0.1)

    new = store.acquire_lock("b", ttl_seconds=60)

    assert new.holder == "b"
    with pytest.raises(LockHeldError, match=r"the lease of a was lost .*: another run holds the lock: b since"):
        old.renew()
    old.release()  # a no-op: it must not free b's lease
    with pytest.raises(LockHeldError, match="holds the lock: b"):
        store.acquire_lock("c", ttl_seconds=60)


def test_wait_until_released(store: StateStore) -> None:
    lease = store.acquire_lock("a", ttl_seconds=60)
    releaser = threading.Timer(0.2, lease.release)
    releaser.start()
    try:
        started = time.monotonic()
        waited = store.acquire_lock("b", ttl_seconds=60, wait=True, timeout=10, poll_seconds=0.02)
        assert time.monotonic() - started >= 0.15
        assert waited.holder == "b"
    finally:
        releaser.join()


def test_wait_gives_up_after_the_timeout(store: StateStore) -> None:
    store.acquire_lock("a", ttl_seconds=60)
    started = time.monotonic()

    with pytest.raises(LockHeldError, match=r"holds the lock: a .*\(waited 0.2s\)"):
        store.acquire_lock("b", ttl_seconds=60, wait=True, timeout=0.2, poll_seconds=0.05)
    assert 0.15 <= time.monotonic() - started < 5


def test_bad_arguments() -> None:
    with StateStore.open("sqlite://") as store, pytest.raises(ValueError, match="must be positive"):
        store.acquire_lock("a", ttl_seconds=0)


_CONTENDER = """
import sys, time
from pathlib import Path
from healthsync.errors import LockHeldError
from healthsync.state import StateStore

url, name, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = StateStore.open(url)
(folder / f"{name}.ready").touch()
deadline = time.monotonic() + 30
while not (folder / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.002)
try:
    store.acquire_lock(name, ttl_seconds=60)
except LockHeldError as exc:
    print("held:", exc)
else:
    print("won")
"""


@pytest.mark.parametrize("fresh", [False, True], ids=["schema-ready", "fresh-database"])
def test_processes_racing_for_the_lock_exactly_one_wins(state_url: str, tmp_path: Path, fresh: bool) -> None:
    """Four OS processes start together; with a fresh database they also race to create the schema."""
    if not fresh:
        StateStore.open(state_url).close()
    names = [f"proc-{i}" for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CONTENDER, state_url, name, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"{name}.ready").exists() for name in names):
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
        assert time.monotonic() < deadline, "contenders did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0] * 4, outputs
    lines = [out.strip() for out, _err in outputs]
    assert lines.count("won") == 1, lines
    winner = names[lines.index("won")]
    assert all(f"holds the lock: {winner} since" in line for line in lines if line != "won"), lines
