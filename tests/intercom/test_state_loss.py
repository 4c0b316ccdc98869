"""Item 6: with an empty or reset state store, a run reads Intercom's values and writes only what differs."""

from __future__ import annotations

from pathlib import Path

from healthsync.sandbox.base import SandboxServer
from tests.intercom.conftest import cli_env, contact_tags_world, default_mapping, intercom_world
from tests.world import control, healthsync, log_size, writes


def forget_everything(sqlite_url: str) -> None:
    """The state store is lost: its SQLite file deleted (how each backend forgets is tests/state/'s business)."""
    Path(sqlite_url.removeprefix("sqlite:///")).unlink()


def test_losing_the_state_costs_reads_never_writes(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    mapping = default_mapping()
    mapping["contacts"]["tier_tags"] = True
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=40, mapping=mapping, contacts=True)
    first = world.run()
    assert first.exit_code == 0
    assert first.counts["intercom"].updated > 0
    assert first.counts["intercom"].tagged > 0

    forget_everything(sqlite_url)
    before = log_size(intercom)
    second = world.run()

    assert second.exit_code == 0
    assert writes(intercom, before) == []
    counts = second.counts["intercom"]
    assert (counts.updated, counts.tagged, counts.untagged) == (0, 0, 0)
    assert counts.unchanged == first.counts["intercom"].updated


def test_a_cli_run_after_the_state_file_was_deleted_reads_intercom_back_and_writes_nothing(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = contact_tags_world(tmp_path, hubspot, intercom, sqlite_url, accounts=30)
    first = healthsync("run", "--config", str(world.config), env=cli_env())
    assert first.returncode == 0, first.stderr
    sent = writes(intercom)
    assert {e["path"].split("/")[1] for e in sent} >= {"companies", "tags"}  # attributes and tags were written

    Path(sqlite_url.removeprefix("sqlite:///")).unlink()
    before = log_size(intercom)
    second = healthsync("run", "--config", str(world.config), env=cli_env())

    assert second.returncode == 0, second.stderr
    log = control(intercom, "GET", "requests")[before:]
    assert [e for e in log if e["write"]] == []  # the sandbox's own request log: not one write
    read = {(e["method"], e["path"]) for e in log}
    assert ("GET", "/companies/scroll") in read  # every company read back, with its attributes and tags
    assert ("POST", "/contacts/search") in read  # the contacts, with their tags
