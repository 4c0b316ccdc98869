"""Output a machine can read off a terminal, and a table a person can read on one (issue 13, items 3-4).

Terminal tests run the CLI under a real pseudo-terminal of a given size (the `pty` module), as a user's shell.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from healthsync.sandbox.base import SandboxServer
from tests.paths import EXAMPLES
from tests.world import TOKENS, World, build_world, healthsync

CONFIG = EXAMPLES / "healthsync.yaml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def in_terminal(args: list[str], columns: int, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run `healthsync ARGS` with stdout and stderr on a pseudo-terminal `columns` wide; its screen text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    clean = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "HEALTHSYNC_LOG_FORMAT")}
    process = subprocess.Popen(
        [sys.executable, "-m", "healthsync", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**clean, "TERM": "xterm-256color", **(env or {})},
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=timeout) == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r", "")


@pytest.fixture(scope="module")
def scores() -> list[dict[str, object]]:
    result = healthsync("score", "--config", str(CONFIG), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


@pytest.mark.parametrize("columns", [80, 160])
def test_score_on_a_terminal_shows_whole_values_fitted_to_the_width(
    columns: int, scores: list[dict[str, object]]
) -> None:
    screen = in_terminal(["score", "--config", str(CONFIG)], columns).splitlines()
    rule = next(i for i, line in enumerate(screen) if line.startswith("───"))
    top = max(i for i, line in enumerate(screen[:rule]) if "INFO" in line) + 1  # the log lines come first
    lines = screen[top:]
    table = "\n".join(lines)
    assert max(len(line.rstrip()) for line in lines) <= columns
    header = " ".join(lines[: rule - top])
    for title in ("account", "score", "tier", "trend", "active", "users", "last", "active", "plays"):
        assert title in header
    assert "raw_score" not in table
    assert "summary" not in table
    text = " ".join(table.split())  # names and plays wrap between words, never inside one
    for row in scores:
        first, *rest = str(row["name"]).split()
        date = str(row["last_active_at"])[:10]
        cells = f"{row['health_score']} {row['health_tier']} {row['trend']} {row['active_users']}/{row['total_users']}"
        assert re.search(rf"(?<!\S){re.escape(first)}(?: \S+){{0,3}}? {re.escape(cells)} {date}(?!\S)", text), (
            first,
            cells,
        )
        assert all(re.search(rf"(?<!\S){re.escape(word)}(?!\S)", text) for word in rest), row["name"]
    for play in ("churn_risk", "workflow_adoption", "expansion_milestone", "multi_user_activation"):
        fired = sum(play in list(row["plays"]) for row in scores)  # type: ignore[call-overload]
        assert fired, play
        assert len(re.findall(rf"\b{play}\b", table)) == fired, play
    if columns == 160:  # wide enough: one line per account
        assert len([line for line in lines if line.strip()]) == len(scores) + 1 + rule - top


def test_score_columns_picks_the_columns(scores: list[dict[str, object]]) -> None:
    screen = in_terminal(["score", "--config", str(CONFIG), "--columns", "account_id,summary"], 100)
    assert "account_id" in screen
    assert "summary" in screen
    assert "tier" not in screen
    words = " ".join(screen.split())
    assert " ".join(str(scores[0]["summary"]).split()) in words
    csv = healthsync("score", "--config", str(CONFIG), "--columns", "account_id,health_score")
    assert csv.stdout.splitlines()[0] == "account_id,health_score"
    bad = healthsync("score", "--config", str(CONFIG), "--columns", "acount_id")
    assert bad.returncode == 2
    assert "unknown column(s) acount_id" in bad.stderr


def test_score_piped_without_format_is_csv(scores: list[dict[str, object]]) -> None:
    result = healthsync("score", "--config", str(CONFIG))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("account_id,name,domain,health_score")
    assert len(lines) == len(scores) + 1


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    return build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=60)


def _env() -> dict[str, str]:
    assert TOKENS.hubspot_access_token is not None
    assert TOKENS.intercom_access_token is not None
    return {
        "HUBSPOT_ACCESS_TOKEN": TOKENS.hubspot_access_token.get_secret_value(),
        "INTERCOM_ACCESS_TOKEN": TOKENS.intercom_access_token.get_secret_value(),
    }


def test_run_off_a_terminal_every_line_is_json_and_the_last_the_summary(world: World) -> None:
    log = world.root / "log"
    with log.open("w") as handle:  # run ... > log 2>&1
        code = subprocess.run(
            [sys.executable, "-m", "healthsync", "run", "--config", str(world.config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **_env()},
            timeout=300,
            check=False,
        ).returncode
    assert code == 0, log.read_text()[-3000:]
    events = [json.loads(line) for line in log.read_text().splitlines()]  # every line parses
    summary = events[-1]
    assert summary["event"] == "run_summary"
    assert summary["exit_code"] == 0
    run_id = summary["run_id"]
    assert isinstance(run_id, int)
    assert set(summary["destinations"]) == {"hubspot", "intercom"}
    assert summary["destinations"]["hubspot"]["counts"]["updated"] > 0
    assert all("run_id" in event for event in events)
    started = next(i for i, e in enumerate(events) if e["message"] == f"run {run_id} started")
    assert all(event["run_id"] == run_id for event in events[started:])
    assert any(event["event"] == "log" and event["level"] == "info" for event in events)


def test_log_format_text_overrides_the_detection(world: World) -> None:
    result = healthsync("--log-format", "text", "state", "--config", str(world.config))
    assert result.returncode == 0, result.stderr
    assert not result.stdout.lstrip().startswith("{")
    as_json = healthsync("state", "--config", str(world.config), env={"HEALTHSYNC_LOG_FORMAT": "json"})
    assert all(json.loads(line) for line in as_json.stdout.splitlines())


def test_progress_bars_on_a_terminal_cover_every_phase(world: World) -> None:
    screen = in_terminal(["run", "--config", str(world.config)], 160, env=_env())
    for phase in ("score accounts", "hubspot companies", "hubspot tasks", "intercom companies", "intercom tag"):
        bars = [line for line in screen.splitlines() if phase in line]
        assert bars, (phase, screen[-3000:])
        assert "100%" in bars[-1], bars[-1]
    assert re.search(r"run \d+ finished with exit code 0", screen)


def test_state_says_started_not_run_started(world: World) -> None:
    assert healthsync("run", "--config", str(world.config), env=_env()).returncode == 0
    shown = healthsync("--log-format", "text", "state", "--config", str(world.config))
    assert re.search(r"^run 1 started \d{4}-\d\d-\d\d [\d:]+ \(run\): status ok, exit 0; hubspot: ", shown.stdout, re.M)
