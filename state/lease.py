"""The lease lock: one run at a time across processes and machines that share the state database.

A lease is one row in `lease` (primary key = lock name). Taking it is atomic without any database-specific
locking: a conditional UPDATE takes over an *expired* row, else an INSERT relies on the primary key; whoever
loses either race sees rowcount 0 or an IntegrityError. Renew and release only touch the row while it still
carries this lease's random token, so a lease that expired and was taken over can't clobber its successor.
On PostgreSQL the database clock decides expiry (machines' clocks may differ); on SQLite the local clock does.

A crashed holder heals fast: the default lease is short (a minute, renewed while the run lives), and a holder on
this host (same hostname and PID namespace, both in the holder name) whose process is gone is taken over at once,
again with a conditional UPDATE on its token. The lock message says whether the holder is alive (checkable only on
this host) and how to proceed.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from healthsync.errors import LockHeldError
from healthsync.state.schema import lease as lease_table

LOCK_NAME = "sync"
_HOLDER = re.compile(r"^(?P<host>\S+) pid (?P<pid>\d+)(?: \(pidns (?P<ns>\d+)\))?$")


def _pid_namespace() -> str | None:
    """This process's PID namespace (containers on one host have different ones), where Linux tells."""
    try:
        return re.sub(r"\D", "", os.readlink("/proc/self/ns/pid")) or None
    except OSError:
        return None


def default_holder() -> str:
    """A holder name that says where the run is: host, process id (and PID namespace, to tell containers apart)."""
    namespace = _pid_namespace()
    return f"{socket.gethostname()} pid {os.getpid()}" + (f" (pidns {namespace})" if namespace else "")


@dataclass(frozen=True)
class Holder:
    """What a holder name tells: its host and pid, and whether it is on this host (then it can be checked)."""

    name: str
    host: str | None = None
    pid: int | None = None
    local: bool = False

    @classmethod
    def parse(cls, name: str) -> Holder:
        match = _HOLDER.match(name)
        if match is None:
            return cls(name)
        local = match["host"] == socket.gethostname() and match["ns"] == _pid_namespace()
        return cls(name, match["host"], int(match["pid"]), local)

    def alive(self) -> bool | None:
        """True / False for a holder on this host; None when that can't be known (another host or container)."""
        if not self.local or self.pid is None:
            return None
        if self.pid == os.getpid():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # another user's process
        return not _zombie(self.pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet holds nothing any more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def now_utc(connection: Connection) -> datetime:
    """The clock that decides lease expiry: the server's on PostgreSQL, this machine's otherwise."""
    if connection.dialect.name == "postgresql":
        value = connection.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        if isinstance(value, datetime):
            return value.astimezone(UTC)
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Lease:
    """A held lease lock; renew it before `expires_at`, release it when done (or use it as a context manager)."""

    def __init__(
        self,
        engine: Engine,
        *,
        holder: str,
        token: str,
        ttl_seconds: float,
        expires_at: datetime,
        took_over: str | None = None,
    ) -> None:
        self._engine = engine
        self._token = token
        self._ttl = timedelta(seconds=ttl_seconds)
        self.holder = holder
        self.expires_at = expires_at
        self.took_over = took_over  # the holder this lease replaced: expired, or gone from this host
        self.released = False

    def renew(self) -> None:
        """Push `expires_at` one TTL into the future; LockHeldError if the lease was lost (expired and taken over)."""
        with self._engine.begin() as conn:
            expires_at = now_utc(conn) + self._ttl
            result = conn.execute(
                sa.update(lease_table)
                .where(lease_table.c.name == LOCK_NAME, lease_table.c.token == self._token)
                .values(expires_at=expires_at)
            )
            if result.rowcount != 1:
                held_by = _describe(conn) or "nobody holds the lock now"
                raise LockHeldError(f"the lease of {self.holder} was lost (it expired): {held_by}")
        self.expires_at = expires_at

    def release(self) -> None:
        """Give the lock up; a no-op when it was already released or lost."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.delete(lease_table).where(lease_table.c.name == LOCK_NAME, lease_table.c.token == self._token)
            )
        self.released = True

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lease(holder={self.holder!r}, expires_at={_stamp(self.expires_at)!r})"


def acquire(
    engine: Engine,
    holder: str,
    ttl_seconds: float,
    *,
    wait: bool = False,
    timeout: float | None = None,
    poll_seconds: float = 1.0,
) -> Lease:
    """Take the lock or raise LockHeldError; with `wait`, poll until it is free (or until `timeout` seconds)."""
    if ttl_seconds <= 0 or poll_seconds <= 0:
        raise ValueError("ttl_seconds and poll_seconds must be positive")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        lease = _try_acquire(engine, holder, ttl_seconds)
        if lease is not None:
            return lease
        with engine.connect() as conn:
            held_by = _describe(conn)
        if held_by is None:  # released between our attempt and the look: try again at once
            continue
        remaining = None if deadline is None else deadline - time.monotonic()
        if not wait or (remaining is not None and remaining <= 0):
            raise LockHeldError(f"{held_by} (waited {timeout:g}s)" if wait and timeout is not None else held_by)
        time.sleep(poll_seconds if remaining is None else min(poll_seconds, remaining))


def _try_acquire(engine: Engine, holder: str, ttl_seconds: float) -> Lease | None:
    token = uuid.uuid4().hex
    with engine.begin() as conn:
        now = now_utc(conn)
        expires_at = now + timedelta(seconds=ttl_seconds)
        values = {"holder": holder, "token": token, "acquired_at": now, "expires_at": expires_at}
        current = conn.execute(sa.select(lease_table).where(lease_table.c.name == LOCK_NAME)).one_or_none()
        if current is not None and (current.expires_at <= now or Holder.parse(current.holder).alive() is False):
            taken_over = conn.execute(
                sa.update(lease_table)
                .where(lease_table.c.name == LOCK_NAME, lease_table.c.token == current.token)
                .values(values)
            )
            if taken_over.rowcount != 1:
                return None
            return Lease(
                engine,
                holder=holder,
                token=token,
                ttl_seconds=ttl_seconds,
                expires_at=expires_at,
                took_over=current.holder,
            )
        if current is not None:
            return None
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(lease_table).values(name=LOCK_NAME, **values))
    except IntegrityError:
        return None
    return Lease(engine, holder=holder, token=token, ttl_seconds=ttl_seconds, expires_at=expires_at)


def _describe(conn: Connection) -> str | None:
    """Who holds the lock, whether it is alive and what to do, as the LockHeldError message; None when nobody does."""
    row = conn.execute(sa.select(lease_table).where(lease_table.c.name == LOCK_NAME)).one_or_none()
    if row is None:
        return None
    holder = Holder.parse(row.holder)
    left = max(0, round((_aware(row.expires_at) - now_utc(conn)).total_seconds()))
    held = (
        f"another run holds the lock: {row.holder} since {_stamp(row.acquired_at)}, "
        f"expires {_stamp(row.expires_at)} (in {left} s)"
    )
    if holder.alive():
        return (
            f"{held}; it is alive on this host and renews its lease while it runs. Wait for it with --wait, "
            f"or stop it with `kill {holder.pid}` (it finishes its batch, checkpoints and releases the lock)"
        )
    return (
        f"{held}; it runs on another host or container, so whether it is alive cannot be checked from here. "
        "If it crashed, its lease expires by then: retry after that, or use --wait"
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
