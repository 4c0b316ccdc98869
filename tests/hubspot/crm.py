"""Helpers for the HubSpot end-to-end tests: the CLI with tokens, the sandbox's tasks and writes."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from healthsync.connector.cli import main
from healthsync.sandbox.base import SandboxServer
from tests.world import TOKENS, World, control, healthsync, writes

TOKEN = TOKENS.hubspot_access_token.get_secret_value() if TOKENS.hubspot_access_token else ""


def token_env(hubspot: str | None = None) -> dict[str, str]:
    assert TOKENS.intercom_access_token is not None
    return {
        **os.environ,
        "HUBSPOT_ACCESS_TOKEN": hubspot or TOKEN,
        "INTERCOM_ACCESS_TOKEN": TOKENS.intercom_access_token.get_secret_value(),
    }


def cli(world: World, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    return healthsync(*args, "--config", str(world.config), env=token_env(token))


def sandbox_tasks(server: SandboxServer) -> list[dict[str, Any]]:
    return list(control(server, "GET", "state")["tasks"])


def identity(task: dict[str, Any]) -> str:
    body = str(task["properties"]["hs_task_body"])
    start = body.rindex("[healthsync:") + len("[healthsync:")
    return unquote(body[start : body.index("]", start)])


def marked(server: SandboxServer) -> list[dict[str, Any]]:
    """The sandbox's tasks that carry a healthsync marker."""
    return [t for t in sandbox_tasks(server) if "[healthsync:" in str(t["properties"].get("hs_task_body") or "")]


def duplicates(server: SandboxServer) -> list[str]:
    return [key for key, n in Counter(identity(t) for t in marked(server)).items() if n > 1]


def set_config(world: World, *path: str, value: Any) -> None:
    config = yaml.safe_load(world.config.read_text())
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    world.config.write_text(yaml.safe_dump(config, sort_keys=False))


def hubspot_only(world: World) -> None:
    set_config(world, "destinations", "intercom", "enabled", value=False)


def run_main(capsys: pytest.CaptureFixture[str], world: World, *args: str, token: str | None = None) -> tuple[int, str]:
    """`healthsync ARGS --config ...` in-process through the CLI's entry point: (exit code, stdout and stderr)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HUBSPOT_ACCESS_TOKEN", "INTERCOM_ACCESS_TOKEN"):
            patch.setenv(name, token_env(token)[name])
        with pytest.raises(SystemExit) as exited:
            main([*args, "--config", str(world.config)])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def changes(server: SandboxServer, since: int = 0) -> list[dict[str, Any]]:
    """Write requests that may have changed something: `check`'s scope probes (a batch update of record id 0, an
    empty update of a property that does not exist) are writes by method that HubSpot refuses, so they are not."""
    return [
        entry
        for entry in writes(server, since)
        if entry["status"] is not None
        and entry["status"] < 400
        and not (isinstance(entry.get("response"), dict) and entry["response"].get("results") == [])
    ]
