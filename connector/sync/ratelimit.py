"""Client-side rate limiting: stay under each destination's documented limit instead of collecting 429s."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# Requests sent a window apart can arrive closer together (their latencies differ), and a server counts arrivals:
# at 5 searches per 1-second window, HubSpot syncs collected 429s (72 at 100k accounts, each paid with a
# Retry-After) and searched at 3.6 a second; a window this much longer searches at 4.5 without them (issue 25).
# The ten-second windows (HubSpot, Intercom) get the same margin: at 190 per 10 s a 10k-account sync drew a 429
# with a 10-second Retry-After every few windows.
ARRIVAL_MARGIN = 0.1


class RateLimiter:
    """At most `limit` calls in any sliding window of `window_seconds`, plus server hints.

    `observe` takes what the server said about its own window (remaining calls, seconds until it resets);
    when the server reports an exhausted window, the next call waits for the reset.
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        """Wait (once) until one more call fits, then count it."""
        with self._lock:
            now = self._clock()
            while self._calls and now - self._calls[0] >= self.window_seconds:
                self._calls.popleft()
            wait = max(self._blocked_until - now, 0.0)
            if len(self._calls) >= self.limit:
                wait = max(wait, self.window_seconds - (now - self._calls[0]))
            if wait > 0:
                self.waited += wait
                self._sleep(wait)
                now = self._clock()
            self._blocked_until = 0.0
            self._calls.append(now)

    def observe(self, remaining: int | None, resets_in: float | None) -> None:
        """Record the server's view of its window."""
        if remaining is not None and remaining <= 0 and resets_in is not None and resets_in > 0:
            with self._lock:
                self._blocked_until = max(self._blocked_until, self._clock() + resets_in)

    def observe_window(self, remaining: int | None, window_seconds: float | None) -> None:
        """Record a server's count of calls left in its window when it gives no time to reset (HubSpot sends the
        window's length, `X-HubSpot-RateLimit-Interval-Milliseconds`, not when it ends): with none left, the next call
        waits until the oldest of our calls in that window leaves it, which is when the window has room again if
        ours were the calls that filled it; the whole window when we made none in it. (Waiting the window's length
        from the last call, as before, cost HubSpot syncs a quarter of their rate: 12.7-14.9 requests a second
        instead of 19, issue 25.) A 429 still gets the server's Retry-After through the retry layer."""
        if remaining is None or remaining > 0 or window_seconds is None or window_seconds <= 0:
            return
        with self._lock:
            now = self._clock()
            recent = [moment for moment in self._calls if now - moment < window_seconds]
            until = recent[0] + window_seconds if recent else now + window_seconds
            self._blocked_until = max(self._blocked_until, until)
