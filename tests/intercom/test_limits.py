"""Issue 21: Intercom's limits not in its OpenAPI description, enforced by the sandbox and kept by the connector:
255 characters per string attribute value, 250 custom data attributes per workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from healthsync.connector.cli import cli, main
from healthsync.sandbox.base import SandboxServer
from tests.intercom.conftest import HEADERS, cli_env, companies, default_mapping, intercom_world
from tests.world import log_size, writes

WORDS = "adoption is spreading across the sales team while the managers review pipeline reports every week"


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=cli_env())


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The CLI's entry point in-process, as the shell sees it: (exit code, stdout and stderr)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in cli_env().items():
            patch.setenv(name, value)
        with pytest.raises(SystemExit) as exited:
            main(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def run_summary(result: Result) -> dict[str, Any]:
    """The run summary: the last JSON line on stdout (off a terminal)."""
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    summary = [line for line in lines if line.get("event") == "run_summary"]
    assert summary, result.output
    return dict(summary[-1])


def test_a_300_character_summary_is_cut_at_a_word_counted_and_not_rewritten(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    mapping = default_mapping()
    for field in mapping["companies"]["fields"]:
        if field["name"] == "healthsync_summary":
            field["column"] = "name"  # a score column whose text the test can choose
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=20, mapping=mapping)
    key = str(world.data.accounts["account_id"].iloc[0])
    text = " ".join([WORDS] * 4)[:300]
    assert len(text) == 300
    world.sql(f"UPDATE accounts SET name = '{text}' WHERE account_id = '{key}'")

    first = run_cli("run", "--config", str(world.config))
    assert first.exit_code == 0, first.output
    assert run_summary(first)["destinations"]["intercom"]["counts"]["truncated"] == 1
    attributes = companies(world)[key]["custom_attributes"]
    summary = attributes["healthsync_summary"]
    assert len(summary) <= 255
    assert summary.endswith("\u2026")
    assert text.startswith(summary[:-1])
    assert text[len(summary) - 1] == " "  # the cut is at a word boundary
    assert {"healthsync_health_score", "healthsync_health_tier", "healthsync_why"} <= set(attributes)

    before = log_size(intercom)
    again = run_cli("run", "--config", str(world.config))
    assert again.exit_code == 0, again.output
    assert writes(intercom, before) == []
    assert run_summary(again)["destinations"]["intercom"]["counts"]["truncated"] == 0


def test_one_long_summary_costs_nothing_else_of_its_company(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    mapping = default_mapping()
    for field in mapping["companies"]["fields"]:
        if field["name"] == "healthsync_summary":
            field["column"] = "name"
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=5, mapping=mapping)
    key = str(world.data.accounts["account_id"].iloc[2])
    text = " ".join([WORDS] * 4)[:300]
    world.sql(f"UPDATE accounts SET name = '{text}' WHERE account_id = '{key}'")
    summary = world.run()
    assert summary.exit_code == 0
    assert summary.counts["intercom"].truncated == 1
    assert summary.counts["intercom"].rejected == 0
    assert len(companies(world)[key]["custom_attributes"]["healthsync_summary"]) <= 255


def test_a_workspace_with_245_data_attributes_stops_check_and_run_before_any_write(
    tmp_path: Path,
    hubspot: SandboxServer,
    intercom: SandboxServer,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=10)
    with httpx.Client(base_url=intercom.base_url, headers=HEADERS, timeout=10) as client:
        for n in range(245):  # both models count towards the workspace's 250
            body = {"name": f"crm_field_{n}", "model": "contact" if n % 2 else "company", "data_type": "string"}
            client.post("/data_attributes", json=body).raise_for_status()
    before = log_size(intercom)

    code, output = run_main(capsys, "check", "--config", str(world.config))
    assert code == 2, output
    assert "250 custom data attributes" in output
    assert "5 free" in output
    assert "needs 10 more" in output

    code, output = run_main(capsys, "plan", "--config", str(world.config))
    assert code == 2, output
    assert "5 free" in output

    code, output = run_main(capsys, "run", "--config", str(world.config))
    assert code == 2, output
    assert "250 custom data attributes" in output
    assert "5 free" in output
    assert writes(intercom, before) == []
