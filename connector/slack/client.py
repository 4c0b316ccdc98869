"""The boundary to `slack_sdk`'s `WebhookClient`: the SDK's retries and logging off, one post per call,
answers classified by what they prove about the message.

An incoming webhook is not idempotent and cannot be read back, so every failure is sorted by one question:
could the message have been posted?

    200 ok                                   posted
    429 (Retry-After)                        not posted: retried by our one retry layer
    connection refused, unknown host         not posted (nothing left this machine): retried
    400 invalid_payload, no_text, ...        not posted: RejectedRecordError (reported, tried again next run)
    403 action_prohibited,                   not posted: AuthError naming the channel setting and its fix (the
        posting_to_general_channel_denied        webhook is fine; the channel does not let it post)
    403 invalid_token, 404 no_service        not posted: AuthError (the webhook URL is wrong or revoked)
    410 channel_is_archived, other 4xx       not posted: FatalDestinationError
    5xx, timeout, reset, lost answer         unknown: UnconfirmedPost (never posted again)

No message names the URL (it is the secret): errors say "the webhook" and the status and body code only.
"""

from __future__ import annotations

import http.client
import logging
import socket
import urllib.error
import urllib.parse
from typing import Any

from slack_sdk.webhook import WebhookClient

from healthsync.connector.sync.ratelimit import RateLimiter
from healthsync.connector.sync.retry import RetryPolicy
from healthsync.connector.sync.status import status_error
from healthsync.errors import (
    AuthError,
    DestinationError,
    FatalDestinationError,
    RetriableError,
)

JSON = dict[str, Any]


class UnconfirmedPost(DestinationError):
    """The webhook may or may not have posted the message (5xx, timeout, reset, lost answer)."""


def _quiet_logger() -> logging.Logger:
    """A logger the SDK writes to that goes nowhere: its debug lines carry the webhook URL."""
    logger = logging.Logger("healthsync.slack.sdk", level=logging.CRITICAL + 1)
    logger.propagate = False
    return logger


def _not_sent(exc: urllib.error.URLError) -> bool:
    """urllib wraps only connect/send failures in URLError; refused or unresolvable means nothing was sent."""
    return isinstance(exc.reason, ConnectionRefusedError | socket.gaierror)


CHANNEL_REFUSALS = {
    "action_prohibited": (
        "the channel's settings do not let this webhook post (an admin restricted who can post there, or the app is "
        "not allowed in it); the webhook itself is valid. Fix: in Slack, open the channel's settings and allow "
        "posting for this app (Posting permissions), or create the webhook for a channel it may post in"
    ),
    "posting_to_general_channel_denied": (
        "the webhook posts to the workspace's #general channel, where only admins may post; the webhook itself is "
        "valid. Fix: let everyone post in #general (Settings > Posting permissions), or create the webhook for "
        "another channel"
    ),
}


def classify(status: int, body: str, retry_after: str | None) -> Exception | None:
    """The error an answer stands for (None for a posted message)."""
    code = (body or "").strip()[:80]
    detail = f"Slack webhook: {status} {code}".strip()
    if 200 <= status < 300:
        return None
    if status >= 500:  # the post may have gone through: not retried blindly
        return UnconfirmedPost(detail)
    if status == 403 and code in CHANNEL_REFUSALS:
        return AuthError(f"{detail}: {CHANNEL_REFUSALS[code]}")
    if status in (401, 403, 404):
        return AuthError(f"{detail} (the webhook URL is wrong or was revoked; check SLACK_WEBHOOK_URL)")
    if status in (400, 429):
        wait = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
        return status_error(status, detail, retry_after=wait)
    return FatalDestinationError(detail)  # any other refusal: the webhook will not take this run's posts


class SlackClient:
    """Posts one message per call through the official SDK, rate-limited, retried only where nothing was posted."""

    def __init__(self, url: str, *, timeout: float, policy: RetryPolicy, limiter: RateLimiter) -> None:
        self._sdk = WebhookClient(url=url, timeout=max(int(timeout), 1), logger=_quiet_logger(), retry_handlers=[])
        parts = urllib.parse.urlsplit(url)
        segments = parts.path.strip("/").split("/")
        self.looks_valid = (
            parts.scheme in ("https", "http") and len(segments) == 4 and segments[0] == "services" and all(segments)
        )
        self._policy = policy
        self._limiter = limiter
        self.calls = 0

    @property
    def retries(self) -> int:
        return self._policy.retries

    def wait(self, seconds: float) -> None:
        self._policy.sleep(seconds)

    def post(self, body: JSON, before: Any = None) -> None:
        """Post `body`; `before` (the lease fence) is called before every attempt. Raises the classified error."""

        def attempt() -> None:
            if before is not None:
                before()
            self._limiter.acquire()
            self.calls += 1
            try:
                response = self._sdk.send_dict(body)
            except urllib.error.URLError as exc:
                if _not_sent(exc):
                    raise RetriableError("Slack webhook: connection refused (nothing was sent)") from None
                raise UnconfirmedPost(
                    f"Slack webhook: network error while sending ({type(exc.reason).__name__})"
                ) from None
            except (
                OSError,
                http.client.HTTPException,
                ValueError,
            ) as exc:  # reset, timeout or a broken answer after the request went out
                raise UnconfirmedPost(f"Slack webhook: no answer ({type(exc).__name__})") from None
            headers = {str(key).lower(): str(value) for key, value in dict(response.headers or {}).items()}
            error = classify(response.status_code, response.body, headers.get("retry-after"))
            if error is not None:
                raise error

        self._policy.call(attempt)

    def close(self) -> None:
        """Nothing to release: the SDK opens one connection per post."""
