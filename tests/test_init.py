"""The first hour of a new user: `init` in an empty folder, then every command without `-c` (issue 13, items 1-2, 7)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.paths import EXAMPLES
from tests.world import healthsync, sandbox_process

SANDBOX_TOKENS = {"HUBSPOT_ACCESS_TOKEN": "sandbox", "INTERCOM_ACCESS_TOKEN": "sandbox"}


def _env(**extra: str) -> dict[str, str]:
    """This environment without a config named by HEALTHSYNC_CONFIG (discovery must find ./healthsync.yaml)."""
    env = {k: v for k, v in os.environ.items() if k != "HEALTHSYNC_CONFIG" and not k.endswith("ACCESS_TOKEN")}
    return {**env, **extra}


def _wait_until_searchable(hubspot: str, companies: int) -> None:
    """Until the sandbox's search finds `companies` companies, as a user who seeded and then planned would wait."""
    search = f"{hubspot}/crm/objects/2026-09/companies/search"
    body = {"filterGroups": [], "sorts": [], "properties": [], "limit": 1, "after": "0"}
    deadline = time.monotonic() + 30
    while _post(search, body).json()["total"] < companies:
        assert time.monotonic() < deadline, "the sandbox's search index never caught up"
        time.sleep(0.3)  # under the sandbox's 5 searches a second


def _post(url: str, body: dict[str, object]) -> httpx.Response:
    response = httpx.post(url, json=body, headers={"Authorization": "Bearer sandbox"}, timeout=10)
    response.raise_for_status()
    return response


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("command", ["validate", "plan", "run", "score", "state"])
def test_without_a_config_anywhere_every_command_says_where_it_looked(tmp_path: Path, command: str) -> None:
    result = healthsync(command, cwd=tmp_path, env=_env(), inherit_env=False)
    assert result.returncode == 2, result.stderr
    message = str(_lines(result.stderr)[-1]["message"])
    assert "--config (not given)" in message
    assert "$HEALTHSYNC_CONFIG (not set)" in message
    assert str(tmp_path / "healthsync.yaml") in message
    assert "healthsync init" in message


def test_a_config_named_but_missing_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    by_env = healthsync("validate", cwd=tmp_path, env=_env(HEALTHSYNC_CONFIG=str(missing)), inherit_env=False)
    assert by_env.returncode == 2
    assert f"{missing}: no such configuration file (named by $HEALTHSYNC_CONFIG)" in by_env.stderr
    by_flag = healthsync("validate", "-c", str(missing), cwd=tmp_path, env=_env(), inherit_env=False)
    assert by_flag.returncode == 2
    assert "(given with --config)" in by_flag.stderr


def test_init_writes_the_example_data_the_config_scores(tmp_path: Path) -> None:
    created = healthsync("init", cwd=tmp_path, env=_env(), inherit_env=False)
    assert created.returncode == 0, created.stderr
    for name in ("accounts.csv", "users.csv", "events.csv"):
        assert (tmp_path / "data" / name).read_bytes() == (EXAMPLES / "data" / name).read_bytes()
    config = yaml.safe_load((tmp_path / "healthsync.yaml").read_text())
    assert config["destinations"]["hubspot"]["mapping"] == "mappings/hubspot.yaml"
    assert config["scoring"]["as_of"] == "2025-08-13T00:00:00Z"
    steps = " ".join(str(e["message"]) for e in _lines(created.stdout) if e["event"] == "next_step")
    assert "healthsync sandbox --seed-from healthsync.yaml" in steps
    assert "HUBSPOT_ACCESS_TOKEN" in steps
    assert "healthsync demo --keep-running" in steps
    schema = json.loads((tmp_path / "healthsync.schema.json").read_text())
    assert {"source", "scoring", "state", "destinations"} <= set(schema["properties"])

    scored = healthsync("score", "--format", "json", cwd=tmp_path, env=_env(), inherit_env=False)
    assert scored.returncode == 0, scored.stderr
    rows = json.loads(scored.stdout)
    tiers = {row["health_tier"] for row in rows}
    assert tiers == {"healthy", "neutral", "at_risk"}  # not every account at risk, as with as_of = now
    assert min(row["days_since_active"] for row in rows) <= 1


def test_init_then_validate_plan_run_without_c_against_the_seeded_sandbox(tmp_path: Path) -> None:
    assert healthsync("init", cwd=tmp_path, env=_env(), inherit_env=False).returncode == 0
    with sandbox_process("--seed-from", "healthsync.yaml", cwd=tmp_path) as urls:
        env = _env(
            HEALTHSYNC_DESTINATIONS__HUBSPOT__BASE_URL=urls["hubspot"],
            HEALTHSYNC_DESTINATIONS__INTERCOM__BASE_URL=urls["intercom"],
            **SANDBOX_TOKENS,
        )
        companies = httpx.get(f"{urls['hubspot']}/_sandbox/state", timeout=10).json()["companies"]
        assert len(companies) == 40  # one per example account
        _wait_until_searchable(urls["hubspot"], 40)  # HubSpot's search index lags its writes (2 s in the sandbox)

        checked = healthsync("validate", cwd=tmp_path, env=env, inherit_env=False)
        assert checked.returncode == 0, checked.stderr
        assert str(tmp_path / "healthsync.yaml") in checked.stdout
        assert "mappings/hubspot.yaml" in checked.stdout

        planned = healthsync("plan", cwd=tmp_path, env=env, inherit_env=False)
        assert planned.returncode == 0, planned.stderr
        plans = {e["destination"]: e for e in _lines(planned.stdout) if e["event"] == "plan"}
        assert set(plans) == {"hubspot", "intercom"}
        assert "update 40" in str(plans["hubspot"]["message"])

        ran = healthsync("run", cwd=tmp_path, env=env, inherit_env=False)
        assert ran.returncode == 0, ran.stderr + ran.stdout
        summary = _lines(ran.stdout)[-1]
        assert summary["event"] == "run_summary"
        assert summary["exit_code"] == 0
        assert (tmp_path / "healthsync-state.db").is_file()  # relative to ./healthsync.yaml

        # the copied mapping is the one in use: an edit shows in validate
        mapping = tmp_path / "mappings" / "hubspot.yaml"
        mapping.write_text(mapping.read_text().replace("column: health_score", "column: health_scor", 1))
        broken = healthsync("validate", cwd=tmp_path, env=env, inherit_env=False)
        assert broken.returncode == 2
        assert "mappings/hubspot.yaml" in broken.stderr
        assert "unknown score column 'health_scor'" in broken.stderr


@pytest.mark.parametrize(
    ("yaml_text", "expected", "absent"),
    [
        (
            "destinations:\n  hubspot:\n    access_token: pat-na1-0000-secret\n",
            ["healthsync.yaml:3", "destinations.hubspot.access_token", "come from the environment"],
            "pat-na1-0000-secret",
        ),
        (
            "destinations:\n  hubspot:\n    enabled: true\n    mapping: hubspott\n",
            ["healthsync.yaml:4", "destinations.hubspot.mapping", "no default mapping named 'hubspott'"],
            "Traceback",
        ),
        (
            "state:\n  url: 'postgresql+psycopg://u:s3cr3tpw@db:notaport/x'\n",
            ["healthsync.yaml:2", "state.url", "not a database URL"],
            "s3cr3tpw",
        ),
    ],
)
def test_smaller_config_mistakes_name_file_line_and_key(
    tmp_path: Path, yaml_text: str, expected: list[str], absent: str
) -> None:
    (tmp_path / "healthsync.yaml").write_text(yaml_text)
    result = healthsync("--log-format", "text", "validate", cwd=tmp_path, env=_env(), inherit_env=False)
    assert result.returncode == 2
    for piece in expected:
        assert piece in result.stderr, result.stderr
    assert absent not in result.stderr + result.stdout


def test_config_schema_prints_the_json_schema_without_a_config(tmp_path: Path) -> None:
    result = healthsync("config", "schema", cwd=tmp_path, env=_env(), inherit_env=False)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "config_dir" not in schema["properties"]
    state = schema["$defs"]["StateConfig"]["properties"]
    assert state["lock_ttl_seconds"]["default"] == 60
