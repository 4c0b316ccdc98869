"""Issue 21: Intercom paced at a share of its documented limit, and the server's X-RateLimit-Remaining/Reset
honoured as they arrive: a workspace whose window is smaller than our share still sees no 429."""

from __future__ import annotations

from pathlib import Path

import yaml

from healthsync.connector.engine import Engine
from healthsync.connector.settings import IntercomConfig, load_settings
from healthsync.sandbox.base import RateWindow, SandboxServer
from tests.clock import FakeTime
from tests.intercom.conftest import intercom_world
from tests.world import NOW, TOKENS, control, log_size


def test_the_default_share_is_half_of_10000_a_minute_in_10_second_windows() -> None:
    assert IntercomConfig().requests_per_10s == 833  # 10,000 / 6 = 1,666 a window; half left to other integrations


def test_an_exhausted_server_window_is_waited_out_instead_of_collecting_429s(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=200)
    config = yaml.safe_load(world.config.read_text())
    del config["destinations"]["intercom"]["requests_per_10s"]  # the default share: more than this window allows
    world.config.write_text(yaml.safe_dump(config))
    clock = FakeTime()
    intercom.sandbox.window = RateWindow(166, 10.0, clock=clock.monotonic)  # the sandbox's default window
    engine = Engine(world.settings(), secrets=TOKENS, sleep=clock.sleep, clock=clock.monotonic, now=NOW)

    before = log_size(intercom)
    summary = engine.run()

    assert summary.exit_code == 0
    log = control(intercom, "GET", "requests")[before:]
    assert len(log) > 166  # more calls than one window holds
    assert [e for e in log if e["status"] == 429] == []
    assert summary.counts["intercom"].retried == 0
    assert clock.slept  # the limiter waited for the window's reset, as X-RateLimit-Reset said
    assert load_settings(world.config).destinations.intercom.requests_per_10s == 833
