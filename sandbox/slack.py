"""The Slack sandbox: an incoming-webhook emulator at ``POST /services/<T>/<B>/<secret>``, as ``slack_sdk``'s
``WebhookClient`` calls it (one JSON POST; ``WebhookResponse`` carries the status code and the raw text body).

Sources (what the real service answers):

- Slack, "Sending messages using incoming webhooks" and the changelog "Improving error conditions for Incoming
  Webhooks" (api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks): a posted message answers
  HTTP 200 with the plain-text body ``ok``; errors answer a plain-text code: 400 ``invalid_payload`` (the body cannot
  be understood as presented), 400 ``user_not_found``, 403 ``action_prohibited``, 404 ``channel_not_found``,
  410 ``channel_is_archived`` (the channel doesn't accept further messages), 500 ``rollup_error`` ("something
  strange and unusual happened"). "Interpret a HTTP 200 response as success and any other response code as a
  failure of some kind."
- Slack, "Rate limits" (api.slack.com/docs/rate-limits): "Posting messages: 1 per second. Short bursts >1 allowed.
  If you attempt bursts, there is no guarantee"; over it, incoming webhooks answer HTTP 429 Too Many Requests with a
  ``Retry-After`` header (seconds).
- The same changelog: 403 ``action_prohibited`` (an admin restricted posting in the channel) and
  ``posting_to_general_channel_denied`` (the webhook posts to #general, where only admins may post).
- slackapi/python-slack-sdk ``slack_sdk/webhook/client.py``: ``send_dict`` POSTs JSON with
  ``Content-Type: application/json;charset=utf-8``; a non-2xx answer is returned as a ``WebhookResponse``
  (``status_code``, ``body`` text, ``headers``), not raised; only its retry handlers (connection errors by default)
  resend.

Emulated conservatively (guesses, not documented in this form):

- ``no_text`` (400) when neither ``text`` nor ``blocks`` nor ``attachments`` is given (the code the API uses for a
  message without text; older answers said ``missing_text_or_fallback_or_attachments``).
- ``invalid_blocks`` (400) when ``blocks`` is not a list of at most 50 objects with a ``type``, or a section's text
  is over 3,000 characters (Block Kit's documented limits); ``msg_too_long`` (400) for text over 40,000 characters.
- an unknown ``/services/T/B`` answers 404 ``no_service``; a known one with the wrong secret 403 ``invalid_token``.
- the 429 body is the plain text ``rate_limited``; the default window is 1 post per second, no burst (the
  documented rate, without the bursts Slack does not guarantee);
- a restricted channel answers 403 ``action_prohibited``, and ``posting_to_general_channel_denied`` when it is
  ``#general``, with the plain-text code as body like every other error;
- message ``metadata`` (``event_type``, ``event_payload``) is kept only when every payload value is a string, a
  number or a boolean, and dropped silently otherwise (the message itself is posted): Slack documents metadata for
  ``chat.postMessage``, not for incoming webhooks, so a client must not depend on it.
- a 5xx (``error_rate`` fault) answers 500 ``rollup_error`` and posts nothing; a client cannot know that, since
  Slack may have posted before failing.

Control API: the shared one (``/_sandbox/requests``, ``state``, ``reset``, ``faults``, ``limits``) plus
``POST /_sandbox/webhooks`` (JSON ``channel``, optional ``archived``: a new webhook; answers its ``url_path``) and
``PUT /_sandbox/channels`` (JSON ``channel``, ``archived``, ``posting``: ``admins`` restricts posting in it,
``everyone`` lifts that). ``GET /_sandbox/state`` lists ``messages`` (channel,
text, blocks, ts) and ``webhooks`` (team, bot, channel, archived; never the secret).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from healthsync.sandbox.base import JSON, Request, Response, Sandbox

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_TEXT = 40_000
DEFAULT_CHANNEL = "#customer-health"


@dataclass
class Webhook:
    team: str
    bot: str
    secret: str
    channel: str
    archived: bool = False

    @property
    def url_path(self) -> str:
        return f"/services/{self.team}/{self.bot}/{self.secret}"


@dataclass
class SlackStore:
    webhooks: list[Webhook] = field(default_factory=list)
    messages: list[JSON] = field(default_factory=list)
    archived_channels: set[str] = field(default_factory=set)
    restricted_channels: set[str] = field(default_factory=set)


def _text(status: int, code: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, code.encode(), {"Content-Type": "text/html", **(headers or {})})


class SlackError(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


class SlackSandbox(Sandbox):
    name = "slack"
    default_limit = 1
    default_window_seconds = 1.0
    persisted = ("store",)

    store: SlackStore

    def register(self) -> None:
        self.route("POST", "/services/{team}/{bot}/{secret}", self._post)

    def reset_state(self) -> None:
        self._ids = random.Random(f"slack-{self.seed}")
        self.store = SlackStore()
        self.add_webhook(DEFAULT_CHANNEL)

    def after_load(self) -> None:
        if not hasattr(self.store, "restricted_channels"):  # saved before channels could be restricted
            self.store.restricted_channels = set()

    def add_webhook(self, channel: str, archived: bool = False) -> Webhook:
        hook = Webhook(
            team="T" + self._token(8, "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"),
            bot="B" + self._token(10, "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"),
            secret=self._token(24, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
            channel=channel,
        )
        self.store.webhooks.append(hook)
        if archived:
            self.store.archived_channels.add(channel)
        return hook

    def _token(self, length: int, alphabet: str) -> str:
        return "".join(self._ids.choice(alphabet) for _ in range(length))

    @property
    def default_webhook(self) -> Webhook:
        return self.store.webhooks[0]

    def snapshot(self) -> JSON:
        hooks = [
            {"team": h.team, "bot": h.bot, "channel": h.channel, "archived": h.channel in self.store.archived_channels}
            for h in self.store.webhooks
        ]
        return {"webhooks": hooks, "messages": list(self.store.messages)}

    # -- the shared hooks, in Slack's shapes -----------------------------------------------------------------
    def too_many_requests(self, request: Request) -> Response:
        return _text(429, "rate_limited", {"Retry-After": str(max(math.ceil(self.refused_for()), 1))})

    def server_error(self, request: Request) -> Response:
        return _text(500, "rollup_error")

    def not_found(self, request: Request) -> Response:
        return _text(404, "no_service")

    def bad_json(self, request: Request) -> Response:
        return _text(400, "invalid_payload")

    def control(self, request: Request) -> Response:
        action = request.path.removeprefix("/_sandbox/")
        body = request.json() if request.method in ("POST", "PUT") else None
        if request.method == "POST" and action == "webhooks":
            hook = self.add_webhook(
                str((body or {}).get("channel") or DEFAULT_CHANNEL), bool((body or {}).get("archived"))
            )
            return Response(200, {"url_path": hook.url_path, "channel": hook.channel})
        if request.method == "PUT" and action == "channels":
            channel = str((body or {}).get("channel") or DEFAULT_CHANNEL)
            settings = body or {}
            if "posting" in settings:
                restricted = self.store.restricted_channels
                (restricted.add if settings["posting"] == "admins" else restricted.discard)(channel)
            if settings.get("archived", "posting" not in settings):
                self.store.archived_channels.add(channel)
            elif "archived" in settings:
                self.store.archived_channels.discard(channel)
            return Response(
                200,
                {
                    "channel": channel,
                    "archived": channel in self.store.archived_channels,
                    "posting": "admins" if channel in self.store.restricted_channels else "everyone",
                },
            )
        return super().control(request)

    # -- the webhook ------------------------------------------------------------------------------------------
    def _post(self, request: Request) -> Response:
        try:
            hook = self._webhook(request.params)
            payload = _payload(request)
            _check_message(payload)
        except SlackError as exc:
            return _text(exc.status, exc.code)
        if hook.channel in self.store.archived_channels:
            return _text(410, "channel_is_archived")
        if hook.channel in self.store.restricted_channels:
            general = hook.channel.lstrip("#") == "general"
            return _text(403, "posting_to_general_channel_denied" if general else "action_prohibited")
        self.store.messages.append(
            {
                "channel": str(payload.get("channel") or hook.channel),
                "webhook": f"{hook.team}/{hook.bot}",
                "text": payload.get("text"),
                "blocks": payload.get("blocks"),
                "attachments": payload.get("attachments"),
                "metadata": _kept_metadata(payload.get("metadata")),
                "ts": f"{time.time():.6f}",
            }
        )
        return _text(200, "ok")

    def _webhook(self, params: dict[str, str]) -> Webhook:
        for hook in self.store.webhooks:
            if hook.team == params["team"] and hook.bot == params["bot"]:
                if hook.secret != params["secret"]:
                    raise SlackError(403, "invalid_token")
                return hook
        raise SlackError(404, "no_service")


def _payload(request: Request) -> JSON:
    """The message: a JSON body, or a form body's `payload` field (both accepted by Slack)."""
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    raw: Any = request.body
    if content_type == "application/x-www-form-urlencoded":
        raw = (parse_qs(request.body.decode("utf-8", "replace")).get("payload") or [""])[0]
    elif content_type != "application/json":
        raise SlackError(400, "invalid_payload")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise SlackError(400, "invalid_payload") from None
    if not isinstance(payload, dict):
        raise SlackError(400, "invalid_payload")
    return payload


def _kept_metadata(metadata: Any) -> Any:
    """Metadata with scalar payload values only; anything else is dropped (a guess, see the module docstring)."""
    if not isinstance(metadata, dict):
        return None
    payload = metadata.get("event_payload")
    flat = isinstance(payload, dict) and all(isinstance(v, str | int | float | bool) for v in payload.values())
    return metadata if flat else None


def _check_message(payload: JSON) -> None:
    text, blocks = payload.get("text"), payload.get("blocks")
    if text is not None and not isinstance(text, str):
        raise SlackError(400, "invalid_payload")
    if not text and not blocks and not payload.get("attachments"):
        raise SlackError(400, "no_text")
    if text and len(text) > MAX_TEXT:
        raise SlackError(400, "msg_too_long")
    if blocks is not None and not _valid_blocks(blocks):
        raise SlackError(400, "invalid_blocks")


def _valid_blocks(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return False
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return False
        text = block.get("text")
        if block["type"] == "section" and isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
            return False
    return True
