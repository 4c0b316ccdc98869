"""The healthsync exception tree.

    HealthsyncError                   exit 1 (anything not more specific)
    ├── ConfigError                   exit 2: configuration, mapping or validation error
    ├── SourceError                   exit 1: reading or aggregating the usage data failed
    │   └── RejectedShareError        exit 2: too many input rows were rejected
    ├── LockHeldError                 exit 3: another run holds the lease lock
    │   └── LeaseLostError            exit 3: this run lost its lease (stalled past it): no more writes
    ├── Interrupted                   exit 143 (SIGTERM) / 130 (SIGINT): stopped after checkpointing
    └── DestinationError              exit 1
        ├── RetriableError            429, 5xx, network: retried by the one retry layer
        ├── FatalDestinationError     exit 1: the run cannot go on (e.g. daily limit reached)
        │   └── AuthError             exit 5: authentication or permission refused
        └── RejectedRecordError       one record refused (4xx); reported, retried next run

Library errors are translated at the boundary (`raise ... from exc`); no message ever carries a token,
an Authorization header or a query string.
"""

from __future__ import annotations


def first_line(exc: BaseException | None) -> str:
    """A library error in one line for a message: its type and the first line of its text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class HealthsyncError(Exception):
    """Root of every error healthsync raises on purpose."""

    exit_code = 1


class ConfigError(HealthsyncError):
    """The configuration or a mapping is invalid; the message names file, key and expectation."""

    exit_code = 2


class SourceError(HealthsyncError):
    """The usage data could not be read or aggregated."""


class RejectedShareError(SourceError):
    """More input rows were rejected than `source.max_rejected_share` allows."""

    exit_code = 2


class LockHeldError(HealthsyncError):
    """Another run holds the lease lock."""

    exit_code = 3


class LeaseLostError(LockHeldError):
    """This run can no longer prove it holds the lease (another run took it over); it writes nothing more."""


class Interrupted(HealthsyncError):
    """A signal asked the run to stop; it stopped at a batch boundary, checkpointed and released the lease."""

    def __init__(self, message: str, *, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class DestinationError(HealthsyncError):
    """A destination call failed."""


class RetriableError(DestinationError):
    """A transient failure (429, 5xx, network); the retry layer tries again."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FatalDestinationError(DestinationError):
    """The destination refuses in a way that stops the run."""


class AuthError(FatalDestinationError):
    """The token is missing, invalid or lacks a scope (`missing_scopes`: those the destination named)."""

    exit_code = 5

    def __init__(self, message: str, *, status: int | None = None, missing_scopes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.missing_scopes = missing_scopes


class RejectedRecordError(DestinationError):
    """The destination refused one record; the rest go on."""

    def __init__(self, message: str, *, record_key: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.record_key = record_key
        self.status = status
