"""The CLI as users run it: score formats, the sandbox command and its control API, state reset."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pandas as pd
import pytest

from healthsync.sandbox.base import SandboxServer
from tests.world import TOKENS, World, build_world, control, healthsync, log_size, sandbox_process, writes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "healthsync.yaml"


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet", "table"])
def test_score_writes_every_format_to_a_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"scores.{fmt}"
    result = healthsync("score", "--config", str(EXAMPLE), "--format", fmt, "--output", str(out))
    assert result.returncode == 0, result.stderr
    accounts = len(pd.read_csv(ROOT / "examples" / "data" / "accounts.csv"))
    if fmt == "json":
        assert len(json.loads(out.read_text())) == accounts
    elif fmt == "csv":
        assert len(pd.read_csv(out)) == accounts
    elif fmt == "parquet":
        frame = pd.read_parquet(out)
        assert len(frame) == accounts
        assert frame["health_score"].between(1, 100).all()
    else:
        table = out.read_text()  # the readable columns; --columns or csv/json for the others
        assert "score" in table
        assert "tier" in table


def test_score_users_prints_one_row_per_user() -> None:
    result = healthsync("score", "--config", str(EXAMPLE), "--users", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    users = pd.read_csv(ROOT / "examples" / "data" / "users.csv")
    assert {r["user_id"] for r in rows} == set(users["user_id"])
    assert all(1 <= r["health_score"] <= 100 for r in rows)


def test_score_reports_rejected_rows_by_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("accounts", "users"):
        (data / f"{name}.csv").write_text((ROOT / "examples" / "data" / f"{name}.csv").read_text())
    events = (ROOT / "examples" / "data" / "events.csv").read_text().splitlines()
    header = events[0].split(",")
    bad = dict.fromkeys(header, "")
    bad.update({"account_id": "acc_001", "user_id": "u1", "event": "call_logged", "timestamp": "not-a-time"})
    events.append(",".join(bad[c] for c in header))
    (data / "events.csv").write_text("\n".join(events) + "\n")
    config = tmp_path / "healthsync.yaml"
    config.write_text(EXAMPLE.read_text())
    result = healthsync("score", "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "unparseable_timestamp" in result.stderr
    assert "not-a-time" in result.stderr
    read = re.search(r"events: read (\d+), accepted (\d+), rejected (\d+)", result.stderr)
    assert read is not None
    assert int(read.group(2)) + int(read.group(3)) == int(read.group(1)) == len(events) - 1


def test_sandbox_command_serves_both_and_answers_the_control_api() -> None:
    with sandbox_process("--seed", "3") as urls:
        for url in urls.values():
            assert httpx.put(f"{url}/_sandbox/faults", json={"latency_ms": 1}).json()["latency_ms"] == 1
            assert httpx.get(f"{url}/_sandbox/requests").json() == []
            assert httpx.post(f"{url}/_sandbox/reset").status_code == 200
            assert isinstance(httpx.get(f"{url}/_sandbox/state").json(), dict)
        owners = httpx.get(f"{urls['hubspot']}/crm/v3/owners", headers={"Authorization": "Bearer t"})
        assert owners.status_code == 200
        log = httpx.get(f"{urls['hubspot']}/_sandbox/requests").json()
        assert [(e["method"], e["path"], e["status"]) for e in log] == [("GET", "/crm/v3/owners", 200)]


def test_sandbox_state_survives_a_restart_with_state_dir(tmp_path: Path) -> None:
    auth = {"Authorization": "Bearer t"}
    company = {"properties": {"name": "Acme", "domain": "acme.example.com"}}
    search = {
        "filterGroups": [{"filters": [{"propertyName": "domain", "operator": "EQ", "value": "acme.example.com"}]}]
    }
    with sandbox_process("--state-dir", str(tmp_path)) as urls:
        created = httpx.post(f"{urls['hubspot']}/crm/v3/objects/companies", json=company, headers=auth)
        assert created.status_code == 201, created.text
        upsert = {"company_id": "acc_1", "name": "Acme"}
        assert httpx.post(f"{urls['intercom']}/companies", json=upsert, headers=auth).status_code == 200
    assert (tmp_path / "hubspot.pickle").is_file()
    with sandbox_process("--state-dir", str(tmp_path)) as urls:
        found = httpx.post(f"{urls['hubspot']}/crm/v3/objects/companies/search", json=search, headers=auth).json()
        assert [r["id"] for r in found["results"]] == [created.json()["id"]]
        companies = httpx.get(f"{urls['intercom']}/_sandbox/state").json()["companies"]
        assert [c["company_id"] for c in companies] == ["acc_1"]


@pytest.fixture
def world(tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer) -> World:
    return build_world(tmp_path, hubspot, intercom, f"sqlite:///{tmp_path / 'state.db'}", accounts=60)


def test_state_shows_runs_and_reset_costs_reads_not_writes(world: World) -> None:
    assert TOKENS.hubspot_access_token is not None
    assert TOKENS.intercom_access_token is not None
    env = {
        "HUBSPOT_ACCESS_TOKEN": TOKENS.hubspot_access_token.get_secret_value(),
        "INTERCOM_ACCESS_TOKEN": TOKENS.intercom_access_token.get_secret_value(),
    }
    assert healthsync("run", "--config", str(world.config), env=env).returncode == 0
    shown = healthsync("state", "--config", str(world.config))
    assert shown.returncode == 0
    assert re.search(r"run 1 started .* \(run\): status ok, exit 0; hubspot: .*updated \d+", shown.stdout)
    before = log_size(world.hubspot)
    assert healthsync("plan", "--config", str(world.config), env=env).returncode == 0
    assert writes(world.hubspot, before) == []
    reset = healthsync("state", "--config", str(world.config), "--reset", "--yes")
    assert reset.returncode == 0
    assert re.search(r"removed \d+ acknowledged records", reset.stdout)
    again = healthsync("run", "--config", str(world.config), env=env)
    assert again.returncode == 0
    # The destinations are the truth: a forgotten state is read back from HubSpot, nothing is resent.
    assert writes(world.hubspot, before) == []
    reads = control(world.hubspot, "GET", "requests")[before:]
    assert any(e["path"] == "/crm/objects/2026-09/companies/batch/read" for e in reads)
