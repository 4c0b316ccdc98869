"""One status table for the three clients; each client's quirks are pinned in its own tests (test_retry.py,
tests/slack/)."""

from __future__ import annotations

import pytest

from healthsync.connector.sync.status import status_error
from healthsync.errors import AuthError, DestinationError, RejectedRecordError, RetriableError


@pytest.mark.parametrize(
    ("status", "expected", "retry_after"),
    [
        (429, RetriableError, 3.0),
        (500, RetriableError, None),
        (503, RetriableError, None),
        (401, AuthError, None),
        (403, AuthError, None),
        (400, RejectedRecordError, None),
        (404, RejectedRecordError, None),
        (409, RejectedRecordError, None),
        (422, RejectedRecordError, None),
    ],
)
def test_a_status_means_one_error_for_every_client(
    status: int, expected: type[DestinationError], retry_after: float | None
) -> None:
    error = status_error(status, f"X call: {status}", retry_after=3.0)
    assert type(error) is expected
    assert str(error) == f"X call: {status}"
    assert getattr(error, "retry_after", None) == retry_after
