"""The Slack sandbox on a free port (once per session), reset for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.slack import SlackSandbox


@pytest.fixture(scope="session")
def slack_server() -> Iterator[SandboxServer]:
    with SandboxServer(SlackSandbox(seed=0)) as server:
        yield server


@pytest.fixture
def slack(slack_server: SandboxServer) -> SandboxServer:
    slack_server.sandbox.reset()
    return slack_server
