"""`healthsync check`: read-only preflight findings, one line each, contributed by every destination.

A destination's `check()` makes read calls only (token, scopes, properties, owners). The exit code of the
whole check is the worst finding's: 5 for authentication or scope problems, 2 for configuration problems
(a property that exists with another type, an unreadable source), else 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["ok", "warning", "error"]
Kind = Literal["config", "auth", "info"]
EXIT_CODES: dict[Kind, int] = {"auth": 5, "config": 2, "info": 0}


@dataclass(frozen=True)
class Finding:
    """One line of `healthsync check`: `hubspot: error: token lacks scope crm.objects.companies.write (...)`."""

    source: str
    severity: Severity
    message: str
    kind: Kind = "info"

    def __str__(self) -> str:
        return f"{self.source}: {self.severity}: {self.message}"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind] if self.severity == "error" else 0


def ok(source: str, message: str) -> Finding:
    return Finding(source, "ok", message)


def error(source: str, message: str, kind: Kind) -> Finding:
    return Finding(source, "error", message, kind)


def exit_code(findings: list[Finding]) -> int:
    """5 when any auth or scope error, else 2 when any configuration error, else 0."""
    codes = {finding.exit_code for finding in findings}
    return 5 if 5 in codes else 2 if 2 in codes else 0
