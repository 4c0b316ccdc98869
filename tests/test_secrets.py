"""Secrets with whitespace and control characters, and the one redaction boundary (issue 13, item 6).

Tokens are stripped when loaded; an empty or unsendable one is the missing-token error (exit 5) before any call;
and no token reaches stdout, stderr, the JSON logs, a --debug traceback or the state store.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from healthsync.connector.logs import Redactor
from healthsync.sandbox.base import SandboxServer
from tests.world import World, build_world, healthsync, log_size

TOKEN = "pat-na1-7f3c9a2e-1b4d-4e8f-9a6b-0c5d3e2f1a90"


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    return build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=40)


def _store_text(db: Path) -> str:
    """Every value of every table of the SQLite state store, as text."""
    with sqlite3.connect(db) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))


def _leaks(secret: str, *texts: str) -> list[str]:
    pieces = {secret, secret.strip(), *(p for p in secret.replace("\x01", " ").split() if len(p) >= 6)}
    return [piece for piece in pieces for text in texts if piece in text]


def test_a_token_with_a_trailing_newline_works_and_never_shows(world: World) -> None:
    env = {"HUBSPOT_ACCESS_TOKEN": TOKEN + "\n", "INTERCOM_ACCESS_TOKEN": "ic-" + TOKEN + "\r\n"}
    result = healthsync("--debug", "run", "--config", str(world.config), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"event": "run_summary"' in result.stdout
    assert _leaks(TOKEN, result.stdout, result.stderr, _store_text(world.root / "state.db")) == []


@pytest.mark.parametrize("bad", [TOKEN[:12] + "\x01" + TOKEN[12:], TOKEN[:20] + "\u2019" + TOKEN[20:], " \n"])
def test_an_unsendable_or_empty_token_is_exit_5_before_any_call(world: World, bad: str) -> None:
    before = log_size(world.hubspot)
    result = healthsync("--debug", "run", "--config", str(world.config), env={"HUBSPOT_ACCESS_TOKEN": bad})
    assert result.returncode == 5, result.stderr[-3000:]
    assert "HUBSPOT_ACCESS_TOKEN" in result.stderr
    assert log_size(world.hubspot) == before  # up front: not one request, no retries
    if bad.strip():
        assert _leaks(bad, result.stdout, result.stderr) == []
    assert not (world.root / "state.db").exists() or _leaks(bad, _store_text(world.root / "state.db")) == []


def test_a_token_in_any_error_text_is_redacted_also_with_debug(world: World) -> None:
    # the token pasted into the wrong variable: the error echoes the value it got, the boundary redacts it
    env = {"HUBSPOT_ACCESS_TOKEN": TOKEN, "HEALTHSYNC_SCORING__WINDOW_DAYS": TOKEN}
    for fmt in ("text", "json"):
        result = healthsync("--debug", "--log-format", fmt, "validate", "--config", str(world.config), env=env)
        assert result.returncode == 2
        assert "HEALTHSYNC_SCORING__WINDOW_DAYS" in result.stderr
        assert "'***'" in result.stderr
        assert _leaks(TOKEN, result.stdout, result.stderr) == []


def test_redactor_covers_the_forms_a_secret_takes_in_exception_text() -> None:
    secret = "pat-na1-abc\x01def-0123456789"
    redact = Redactor([secret, "ab"])  # too short to be a token: left alone
    for shown in (secret, repr(secret), repr(secret.encode()), "Bearer%20" + "pat-na1-abc%01def-0123456789"):
        assert "pat-na1-abc" not in redact(f"ValueError: Invalid header value {shown}"), shown
    assert redact("ab cd") == "ab cd"
    assert redact.value({"error": [secret]}) == {"error": ["***"]}
