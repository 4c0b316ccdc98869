"""The lease as a fence: a run writes to a destination only while it can prove it still holds the lease.

    fence = Fence(margin_seconds=30)          # built before the destinations, handed to every client
    with store.acquire_lock(holder, ttl) as lease, fence.holding(lease, ttl):
        ...                                   # a heartbeat thread renews the lease every ttl/3 seconds
        fence.check()                         # before every remote write (each attempt of each call)

The heartbeat renews the lease on a timer, so scoring and a call in flight never let it lapse. `check()`
passes only while the last successful renewal proves the lease for at least `margin_seconds` more (one
request's timeout: a write that starts now ends, or times out, before the lease could expire). When the
renewal finds the lease taken over (the process was stalled past the TTL, e.g. SIGSTOP), or cannot renew
it in time, `check()` raises LeaseLostError and the run writes nothing more. A fence that holds no lease
(`plan`, `check`) passes: those commands make no write call.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from healthsync.errors import HealthsyncError, LeaseLostError

log = logging.getLogger("healthsync.fence")


class Renewable(Protocol):
    holder: str

    def renew(self) -> None:
        """Push the lease one TTL further; LockHeldError if it was lost."""


class Fence:
    """Guards every remote write with proof of the lease (see the module docstring)."""

    def __init__(self, margin_seconds: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.margin = margin_seconds
        self._clock = clock
        self._lease: Renewable | None = None
        self._ttl = 0.0
        self._proven_until = 0.0
        self._lost: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @contextlib.contextmanager
    def holding(self, lease: Renewable, ttl_seconds: float) -> Iterator[Fence]:
        """Arm the fence with `lease` and renew it every ttl/3 seconds until the block ends."""
        self._lease, self._ttl = lease, float(ttl_seconds)
        self._proven_until = self._clock() + self._ttl
        self._lost, self._stop = None, threading.Event()
        beat = threading.Thread(target=self._beat, name="healthsync-lease-heartbeat", daemon=True)
        beat.start()
        try:
            yield self
        finally:
            self._stop.set()
            beat.join(timeout=max(self._ttl, 1.0))
            self._lease = None

    @property
    def lost(self) -> str | None:
        """Why the lease was lost, or None while it is held."""
        return self._lost

    def _beat(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            self.renew()
            if self._lost is not None:
                return

    def renew(self) -> bool:
        """Renew now; False (and the fence closed for good) if the lease was taken over."""
        lease = self._lease
        if lease is None or self._lost is not None:
            return self._lost is None
        started = self._clock()
        with self._lock:
            try:
                lease.renew()
            except HealthsyncError as exc:  # LockHeldError: expired and taken over by another run
                self._lost = str(exc)
                log.error("lease lost; no more writes", extra={"reason": self._lost})
                return False
            except Exception as exc:  # the state database did not answer: the proof simply ages
                log.warning("lease renewal failed; will retry", extra={"error": f"{type(exc).__name__}: {exc}"})
                return True
            self._proven_until = started + self._ttl
        return True

    def check(self) -> None:
        """Pass only while the lease is proven for `margin` seconds more; else LeaseLostError."""
        if self._lease is None:
            return
        if self._lost is None and self._clock() + self.margin >= self._proven_until:
            self.renew()  # the timer is late (stalled process, slow database): try once, now
        if self._lost is not None:
            raise LeaseLostError(f"stopped before writing more: {self._lost}")
        if self._clock() + self.margin >= self._proven_until:
            raise LeaseLostError(
                f"stopped before writing more: the lease of {self._lease.holder} could not be renewed in time"
            )
