"""The one retry layer (tenacity): 429, 5xx and network errors only, exponential backoff with jitter,
honouring the server's wait hint (Retry-After, X-RateLimit-Reset), bounded by attempts and total time.
The SDKs' own retries are turned off where the clients are built. Sleep and clock are injected for tests.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential

from healthsync.connector.errors import RetriableError

T = TypeVar("T")
log = logging.getLogger("healthsync.retry")


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    max_seconds: float = 120.0
    initial_wait: float = 0.5
    max_wait: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    retries: int = 0  # how many retries this policy has made (for the run summary)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        hint = getattr(exc, "retry_after", None)
        # tenacity's wait_exponential_jitter, spelled with the API every tenacity 9 has (its `initial` is
        # deprecated from 9.2, its `multiplier` missing before): initial_wait * 2**(n-1) + U(0, 1), at most max_wait.
        backoff = min(wait_exponential(multiplier=self.initial_wait)(state) + random.uniform(0, 1), self.max_wait)
        if isinstance(hint, int | float) and hint > 0:
            return float(min(hint, self.max_wait)) + min(backoff, 1.0) * 0.1
        return float(backoff)

    def _before_sleep(self, state: RetryCallState) -> None:
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
