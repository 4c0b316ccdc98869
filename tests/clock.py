"""A fake clock for tests that must not sleep: only sleeping moves it."""

from __future__ import annotations


class FakeTime:
    """A monotonic clock only sleeping moves, shared by the connector's limiter and the sandbox's window."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
