"""The Slack sandbox answers as Slack's incoming webhooks do (slack_sdk's WebhookClient over real HTTP), and the
webhook URL never appears in healthsync's output, logs or state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.webhook import WebhookClient

from healthsync.sandbox.base import SandboxServer
from tests.slack.book import Book, account_id
from tests.slack.test_alerts import TIER_ONLY
from tests.world import healthsync


def _url(slack: SandboxServer) -> str:
    return slack.base_url + slack.sandbox.default_webhook.url_path  # type: ignore[attr-defined]


def _client(url: str) -> WebhookClient:
    return WebhookClient(url=url, retry_handlers=[])


@pytest.mark.parametrize(
    ("body", "status", "answer"),
    [
        ({"text": "hello"}, 200, "ok"),
        ({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}, 200, "ok"),
        ({"unfurl_links": True}, 400, "no_text"),
        ({}, 400, "invalid_payload"),  # the SDK sends null for an empty body
        ({"text": 5}, 400, "invalid_payload"),
        ({"text": "x", "blocks": [{"text": "no type"}]}, 400, "invalid_blocks"),
        ({"text": "x" * 40_001}, 400, "msg_too_long"),
    ],
)
def test_webhook_answers(slack: SandboxServer, body: dict[str, Any], status: int, answer: str) -> None:
    response = _client(_url(slack)).send_dict(body)
    assert (response.status_code, response.body) == (status, answer)
    stored = httpx.get(f"{slack.base_url}/_sandbox/state", timeout=10).json()["messages"]
    assert len(stored) == (1 if status == 200 else 0)


def _lift_limits(slack: SandboxServer) -> None:
    """A window wide enough for a test that posts several answers back to back (the default is one a second)."""
    limits = {"requests_per_window": 100, "window_seconds": 1}
    httpx.put(f"{slack.base_url}/_sandbox/limits", json=limits, timeout=10).raise_for_status()


def test_bad_json_unknown_and_revoked_webhooks_and_archived_channels(slack: SandboxServer) -> None:
    _lift_limits(slack)
    url = _url(slack)
    raw = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert (raw.status_code, raw.text) == (400, "invalid_payload")
    team, bot, _ = url.rsplit("/services/", 1)[1].split("/")
    wrong = _client(f"{slack.base_url}/services/{team}/{bot}/not-the-secret").send(text="x")
    assert (wrong.status_code, wrong.body) == (403, "invalid_token")
    unknown = _client(f"{slack.base_url}/services/T000/B000/secret").send(text="x")
    assert (unknown.status_code, unknown.body) == (404, "no_service")
    httpx.put(f"{slack.base_url}/_sandbox/channels", json={"channel": "#customer-health"}, timeout=10)
    archived = _client(url).send(text="x")
    assert (archived.status_code, archived.body) == (410, "channel_is_archived")


def test_restricted_channels_answer_403_with_their_code(slack: SandboxServer) -> None:
    _lift_limits(slack)
    general = httpx.post(f"{slack.base_url}/_sandbox/webhooks", json={"channel": "#general"}, timeout=10).json()
    for channel in ("#customer-health", "#general"):
        body = {"channel": channel, "posting": "admins"}
        httpx.put(f"{slack.base_url}/_sandbox/channels", json=body, timeout=10).raise_for_status()
    refused = _client(_url(slack)).send(text="x")
    assert (refused.status_code, refused.body) == (403, "action_prohibited")
    denied = _client(slack.base_url + general["url_path"]).send(text="x")
    assert (denied.status_code, denied.body) == (403, "posting_to_general_channel_denied")
    body = {"channel": "#customer-health", "posting": "everyone"}
    assert httpx.put(f"{slack.base_url}/_sandbox/channels", json=body, timeout=10).json()["archived"] is False
    assert _client(_url(slack)).send(text="x").status_code == 200


def test_one_post_a_second_by_default_and_metadata_arrays_are_dropped(slack: SandboxServer) -> None:
    assert (slack.sandbox.window.limit, slack.sandbox.window.seconds) == (1, 1.0)  # the default: one a second
    limits = {"requests_per_window": 1, "window_seconds": 30}  # the same pace, wide enough never to straddle a window
    httpx.put(f"{slack.base_url}/_sandbox/limits", json=limits, timeout=10).raise_for_status()
    url = _url(slack)
    listed = {"event_type": "e", "event_payload": {"alerts": ["a", "b"]}}
    first = _client(url).send_dict({"text": "one", "metadata": listed})
    second = _client(url).send(text="two")
    assert (first.status_code, second.status_code) == (200, 429)
    assert int(second.headers["Retry-After"]) >= 1
    (stored,) = httpx.get(f"{slack.base_url}/_sandbox/state", timeout=10).json()["messages"]
    assert stored["metadata"] is None


def test_rate_limits_and_faults(slack: SandboxServer) -> None:
    url = _url(slack)
    httpx.put(f"{slack.base_url}/_sandbox/limits", json={"requests_per_window": 2, "window_seconds": 30}, timeout=10)
    answers = [_client(url).send(text=str(n)) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert (answers[2].body, int(answers[2].headers["Retry-After"]) >= 1) == ("rate_limited", True)
    httpx.put(f"{slack.base_url}/_sandbox/limits", json={"requests_per_window": 100, "window_seconds": 1}, timeout=10)
    httpx.put(f"{slack.base_url}/_sandbox/faults", json={"error_rate": 1.0}, timeout=10)
    failed = _client(url).send(text="x")
    assert (failed.status_code, failed.body) == (500, "rollup_error")
    log = httpx.get(f"{slack.base_url}/_sandbox/requests", timeout=10).json()
    assert [entry["status"] for entry in log] == [200, 200, 429, 500]
    httpx.post(f"{slack.base_url}/_sandbox/reset", timeout=10)
    assert httpx.get(f"{slack.base_url}/_sandbox/state", timeout=10).json()["messages"] == []


def test_the_webhook_url_never_appears_in_output_logs_or_state(tmp_path: Path, slack: SandboxServer) -> None:
    book = Book(tmp_path, slack, f"sqlite:///{tmp_path / 'state.db'}", mapping=TIER_ONLY).write()
    url = book.webhook_url
    secret = url.rsplit("/", 1)[1]
    env = {**os.environ, "SLACK_WEBHOOK_URL": url}
    outputs = []
    for args in (["run"], ["--debug", "run"], ["plan"], ["state"], ["validate"]):
        done = healthsync(*args[:-1], args[-1], "--config", str(book.config), env=env)
        outputs.append(done.stdout + done.stderr)
    book.move(account_id(1), busy=False)
    outputs.append(healthsync("--debug", "run", "--config", str(book.config), env=env).stdout)
    httpx.put(f"{slack.base_url}/_sandbox/channels", json={"channel": "#customer-health"}, timeout=10)
    book.move(account_id(2), busy=False)
    failed = healthsync("--debug", "run", "--config", str(book.config), env=env)
    assert failed.returncode == 1
    assert "410 channel_is_archived" in failed.stderr
    outputs.append(failed.stdout + failed.stderr)
    assert len(book.messages()) == 1
    for text in outputs:
        assert secret not in text
        assert "/services/" not in text
    assert secret.encode() not in (tmp_path / "state.db").read_bytes()
