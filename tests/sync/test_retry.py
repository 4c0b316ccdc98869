"""The one retry layer, the error translation at the SDK boundary, and the client-side rate limiter.

Pure policy code, driven with injected sleep and clock (no real waiting); the SDK exception classes are the
real ones. The end-to-end behaviour under faults is in tests/test_sync.py."""

from __future__ import annotations

import json
import time

import pytest
import urllib3
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.properties import ApiException as PropertiesApiException
from intercom.core.api_error import ApiError

from healthsync.connector.hubspot import client as hubspot_client
from healthsync.connector.intercom import client as intercom_client
from healthsync.connector.sync.ratelimit import RateLimiter
from healthsync.connector.sync.retry import RetryPolicy
from healthsync.errors import AuthError, FatalDestinationError, RejectedRecordError, RetriableError
from tests.clock import FakeTime

SECRET = "pat-na1-secret-token"


def hubspot_error(cls: type[Exception], status: int, body: dict[str, object], headers: dict[str, str]) -> Exception:
    exc = cls(status=status, reason="x")
    exc.body = json.dumps(body)  # type: ignore[attr-defined]
    exc.headers = {**headers, "Authorization": f"Bearer {SECRET}"}  # type: ignore[attr-defined]
    return exc


@pytest.mark.parametrize("cls", [ObjectsApiException, PropertiesApiException])
@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "retry_after"),
    [
        (
            429,
            {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
            {"Retry-After": "2"},
            RetriableError,
            2.0,
        ),
        (429, {"errorType": "RATE_LIMIT", "policyName": "DAILY"}, {}, FatalDestinationError, None),
        (502, {"message": "bad gateway"}, {}, RetriableError, None),
        (401, {"category": "INVALID_AUTHENTICATION"}, {}, AuthError, None),
        (403, {"category": "MISSING_SCOPES"}, {}, AuthError, None),
        (
            400,
            {"category": "VALIDATION_ERROR", "message": "Property values were not valid"},
            {},
            RejectedRecordError,
            None,
        ),
    ],
)
def test_hubspot_errors_translate_by_status_whatever_the_sub_package(
    cls: type[Exception],
    status: int,
    body: dict[str, object],
    headers: dict[str, str],
    expected: type[Exception],
    retry_after: float | None,
) -> None:
    translated = hubspot_client.translate(hubspot_error(cls, status, body, headers), "batch update")
    assert type(translated) is expected
    assert getattr(translated, "retry_after", None) == retry_after
    assert SECRET not in str(translated)
    assert "Authorization" not in str(translated)


def test_network_errors_are_retriable() -> None:
    assert isinstance(hubspot_client.translate(urllib3.exceptions.ProtocolError("reset"), "x"), RetriableError)


def test_intercom_429_waits_until_the_window_resets() -> None:
    reset = str(int(time.time()) + 5)
    error = ApiError(
        status_code=429, headers={"x-ratelimit-reset": reset}, body={"errors": [{"code": "rate_limit_exceeded"}]}
    )
    translated = intercom_client.translate(error, "update company")
    assert isinstance(translated, RetriableError)
    assert translated.retry_after is not None
    assert 3 <= translated.retry_after <= 5
    rejected = intercom_client.translate(
        ApiError(status_code=400, body={"errors": [{"code": "parameter_invalid"}]}), "x"
    )
    assert isinstance(rejected, RejectedRecordError)
    assert "parameter_invalid" in str(rejected)


def test_retry_policy_honours_the_hint_and_is_bounded() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=4, sleep=slept.append)
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        raise RetriableError("429", status=429, retry_after=3)

    with pytest.raises(RetriableError):
        policy.call(flaky)
    assert calls == 4
    assert len(slept) == 3
    assert all(3 <= s < 3.2 for s in slept)
    assert policy.retries == 3


def test_retry_policy_backs_off_exponentially_and_never_retries_a_rejected_record() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=5, initial_wait=0.5, sleep=slept.append)
    outcomes = iter([RetriableError("503"), RetriableError("503"), RetriableError("503"), "ok"])

    def recovering() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert policy.call(recovering) == "ok"
    assert len(slept) == 3
    assert slept[2] > slept[0]

    def refused() -> None:
        raise RejectedRecordError("400")

    with pytest.raises(RejectedRecordError):
        policy.call(refused)
    assert len(slept) == 3


def test_rate_limiter_keeps_under_the_window_and_obeys_the_server() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(2, 10.0, clock=lambda: now[0], sleep=sleep)
    limiter.acquire()
    limiter.acquire()
    assert slept == []
    limiter.acquire()
    assert slept == [10.0]
    limiter.observe(remaining=0, resets_in=4.0)
    limiter.acquire()
    assert slept[-1] == pytest.approx(4.0)


def test_own_backoff_is_short_for_a_one_off_fault_and_about_a_minute_for_a_persistent_one() -> None:
    policy = RetryPolicy(max_attempts=8)
    ceilings = [0.1, 0.3, 0.9, 2.7, 8.1, 24.3, 30.0]  # 0.1 s x 3 per attempt, at most max_wait (30 s)
    for attempt, ceiling in enumerate(ceilings, start=1):
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling + 1e-9 for wait in waits), (attempt, min(waits), max(waits))
    assert 0.5 * sum(ceilings) <= sum(policy.backoff(n) for n in range(1, 8)) <= sum(ceilings) + 1e-9


def test_an_exhausted_window_without_a_reset_time_waits_for_our_oldest_call_to_leave_it() -> None:
    clock = FakeTime()
    limiter = RateLimiter(100, 10.0, clock=clock.monotonic, sleep=clock.sleep)
    start = clock.now
    for offset in (0.0, 3.0, 7.0):
        clock.now = start + offset
        limiter.acquire()
    limiter.observe_window(remaining=0, window_seconds=10.0)  # HubSpot: 0 left of its 10-second window
    limiter.acquire()
    assert clock.slept == [pytest.approx(3.0)]  # until the call at 0 s leaves the window (10 s), not 10 s from now
    limiter.observe_window(remaining=5, window_seconds=10.0)
    limiter.acquire()
    assert len(clock.slept) == 1
    clock.now += 60.0  # none of our calls in the window: the portal's other apps spent it; wait it out whole
    limiter.observe_window(remaining=0, window_seconds=10.0)
    limiter.acquire()
    assert clock.slept[-1] == pytest.approx(10.0)
