"""What an HTTP status means to healthsync, once for the three clients (singer-sdk's `validate_response`).

    429                 RetriableError (with the wait the server asked for)
    5xx                 RetriableError
    401, 403            AuthError: the token is refused or lacks a permission
    any other 4xx       RejectedRecordError: this one record is refused, the rest go on

Each client checks its own quirks first and falls back on :func:`status_error`: HubSpot's daily limit (a 429 that
stops the run) and its missing scopes, Intercom's busy scroll (a 400 to retry), Slack's webhook (a 5xx may have
posted, a 404 is a revoked URL, any other refusal stops the run).
"""

from __future__ import annotations

from healthsync.errors import AuthError, DestinationError, RejectedRecordError, RetriableError


def status_error(
    status: int, detail: str, *, retry_after: float | None = None, missing_scopes: tuple[str, ...] = ()
) -> DestinationError:
    """The error an answer with `status` (400 or above) stands for, before any client's quirks (`missing_scopes`:
    the scopes a 401/403 named)."""
    if status == 429:  # only a 429's wait is honoured (a Retry-After on a 5xx is not)
        return RetriableError(detail, status=status, retry_after=retry_after)
    if status >= 500:
        return RetriableError(detail, status=status)
    if status in (401, 403):
        return AuthError(detail, status=status, missing_scopes=missing_scopes)
    return RejectedRecordError(detail, status=status)
