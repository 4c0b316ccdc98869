"""Compatibility name: the exception tree lives at the bottom of the package, in :mod:`healthsync.errors`.

Kept so that code written against `healthsync.connector.errors` keeps working; healthsync's own modules import
`healthsync.errors` (tests/test_layout.py checks it).
"""

from __future__ import annotations

from healthsync.errors import (
    AuthError,
    ConfigError,
    DestinationError,
    FatalDestinationError,
    HealthsyncError,
    Interrupted,
    LeaseLostError,
    LockHeldError,
    RejectedRecordError,
    RejectedShareError,
    RetriableError,
    SourceError,
    first_line,
)

__all__ = [
    "AuthError",
    "ConfigError",
    "DestinationError",
    "FatalDestinationError",
    "HealthsyncError",
    "Interrupted",
    "LeaseLostError",
    "LockHeldError",
    "RejectedRecordError",
    "RejectedShareError",
    "RetriableError",
    "SourceError",
    "first_line",
]
