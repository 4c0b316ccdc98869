"""The one retry layer (tenacity): 429, 5xx and network errors only, exponential backoff with jitter,
honouring the server's wait hint (Retry-After, X-RateLimit-Reset), bounded by attempts and total time.
The SDKs' own retries are turned off where the clients are built. Sleep and clock are injected for tests.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from healthsync.errors import RetriableError

T = TypeVar("T")
log = logging.getLogger("healthsync.retry")
_COUNTING = threading.Lock()


@dataclass
class RetryPolicy:
    """Retry 429, 5xx and network errors (RetriableError).

    The wait before retry n (n = 1, 2, ...) is the server's hint when it gave one (Retry-After, X-RateLimit-Reset),
    else a backoff of its own with equal jitter: half of `initial_wait * growth ** (n - 1)` (at most `max_wait`) plus a
    random share of the other half. The defaults (0.1 s, x3) make the one-off fault, by far the most common, cost
    0.05-0.1 s, and a 5xx that persists still wait about a minute in all over 8 attempts (0.1, 0.3, 0.9, 2.7, 8.1,
    24.3, 30 s at most) before the call gives up: at 1 s and x2 with up to 1 s of jitter on top (tenacity's
    `wait_exponential_jitter`), 30% of 5xx answers made a 10-second sync of 200 accounts take 205 s, 200 of them asleep
    (benchmarks/RESULTS.md, "Faults").
    """

    max_attempts: int = 6
    max_seconds: float = 120.0
    initial_wait: float = 0.1
    growth: float = 3.0
    max_wait: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    retries: int = 0  # how many retries this policy has made (for the run summary)

    def backoff(self, attempt: int) -> float:
        """Our own wait after failed attempt number `attempt` (1-based), without a server hint."""
        ceiling = min(self.initial_wait * self.growth ** (attempt - 1), self.max_wait)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, int | float) and hint > 0:  # the server's wait, and a little jitter
            return float(min(hint, self.max_wait)) + random.uniform(0, 0.1)
        return self.backoff(state.attempt_number)

    def _before_sleep(self, state: RetryCallState) -> None:
        with _COUNTING:  # calls may retry in several threads at once (Intercom's concurrent company updates)
            self.retries += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        log.info("retrying after a transient error", extra={"attempt": state.attempt_number, "error": str(exc)})

    def call(self, fn: Callable[[], T]) -> T:
        """Call `fn`, retrying RetriableError; the last error is raised when the budget is spent."""
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_seconds),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(fn)
