"""Issue 21: Slack at its documented limits. A channel that refuses the webhook is reported as the channel setting it
is (not as a revoked webhook); posts are spaced one a second, so 40 alerts take about 40 s and never meet a 429."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from healthsync.connector.cli import main
from healthsync.connector.engine import Engine
from healthsync.connector.settings import Secrets, load_settings
from healthsync.sandbox.base import RateWindow, SandboxServer
from tests.clock import FakeTime
from tests.slack.book import NOW, Book, account_id, alerts_in

EACH: dict[str, Any] = {
    "destination": "slack",
    "delivery": "each",
    "rules": [{"name": "into_at_risk", "kind": "tier_change", "to": ["at_risk"]}],
}


def run_main(capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with pytest.raises(SystemExit) as exited:
            main(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


@pytest.mark.parametrize(
    ("channel", "code"),
    [("#customer-health", "action_prohibited"), ("#general", "posting_to_general_channel_denied")],
)
def test_a_channel_that_refuses_the_webhook_names_the_setting_and_exits_5(
    tmp_path: Path, slack: SandboxServer, capsys: pytest.CaptureFixture[str], channel: str, code: str
) -> None:
    book = Book(tmp_path, slack, f"sqlite:///{tmp_path / 's.db'}", mapping=EACH).write()
    hook = httpx.post(f"{slack.base_url}/_sandbox/webhooks", json={"channel": channel}, timeout=10).json()
    httpx.put(f"{slack.base_url}/_sandbox/channels", json={"channel": channel, "posting": "admins"}, timeout=10)
    env = {"SLACK_WEBHOOK_URL": slack.base_url + hook["url_path"]}
    status, output = run_main(capsys, env, "run", "--alert-baseline", "--config", str(book.config))
    assert status == 5, output  # README, exit codes: a permission refused by the destination
    assert f"403 {code}" in output
    assert "Posting permissions" in output
    assert "the webhook itself is valid" in output
    assert "revoked" not in output
    assert book.messages() == []
    assert [entry["status"] for entry in book.posts()] == [403]  # refused once, not retried


def test_40_alerts_delivered_each_are_spaced_a_second_apart_without_a_429(tmp_path: Path, slack: SandboxServer) -> None:
    book = Book(tmp_path, slack, f"sqlite:///{tmp_path / 's.db'}", mapping=EACH).write()
    config = yaml.safe_load(book.config.read_text())
    del config["destinations"]["slack"]["messages_per_minute"]  # the default: one a second
    book.config.write_text(yaml.safe_dump(config))
    book.run()  # the baseline
    moved = [account_id(index) for index in range(40)]
    book.move(*moved, busy=False)
    book.config.write_text(yaml.safe_dump(config))
    clock = FakeTime()
    slack.sandbox.window = RateWindow(1, 1.0, clock=clock.monotonic)  # the sandbox's default pace, on the same clock
    secrets = Secrets(slack_webhook_url=book.webhook_url)
    engine = Engine(load_settings(book.config), secrets=secrets, sleep=clock.sleep, clock=clock.monotonic, now=NOW)

    counts = engine.run().counts["slack"]

    assert counts.alerts_sent == 40
    assert counts.retried == 0
    assert [entry["status"] for entry in book.posts()] == [200] * 40
    assert sum(clock.slept) == pytest.approx(39.0)  # 40 posts, one a second: about 40 s from the first to the last
    assert sorted(alerts_in(book.messages())) == sorted(f"{key}:into_at_risk:2025-W33" for key in moved)


def test_the_marker_survives_without_metadata(book_each: Book) -> None:
    book_each.run()
    book_each.move(account_id(3), busy=False)
    book_each.run()
    (message,) = book_each.messages()
    assert alerts_in([message]) == [f"{account_id(3)}:into_at_risk:2025-W33"]  # read from the blocks
    assert any(
        str(e.get("text", "")).startswith("healthsync:") for b in message["blocks"] for e in b.get("elements", [])
    )
    assert message["metadata"]["event_payload"]["alerts"] == 1  # flat: the sandbox keeps it (an extra only)


@pytest.fixture
def book_each(tmp_path: Path, slack: SandboxServer) -> Book:
    return Book(tmp_path, slack, f"sqlite:///{tmp_path / 's.db'}", mapping=EACH).write()
