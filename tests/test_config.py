"""Configuration and mappings through the CLI: errors name the file, the line, the key and the expectation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.world import healthsync

ROOT = Path(__file__).resolve().parents[1]


def test_init_writes_a_config_and_mappings_that_validate(tmp_path: Path) -> None:
    created = healthsync("init", str(tmp_path / "site"))
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "site" / "mappings" / "hubspot.yaml").is_file()
    again = healthsync("init", str(tmp_path / "site"))
    assert again.returncode == 2
    assert "already exists" in again.stderr
    checked = healthsync("validate", "--config", str(tmp_path / "site" / "healthsync.yaml"))
    assert checked.returncode == 0, checked.stderr
    assert "mapping OK: hubspot" in checked.stdout


def test_the_reference_configuration_is_accepted_as_written() -> None:
    checked = healthsync("validate", "--config", str(ROOT / "examples" / "healthsync.yaml"))
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("scoring:\n  window_days: -3\n", ["healthsync.yaml:2", "scoring.window_days", "greater than or equal to 1"]),
        ("scoring:\n  windw_days: 3\n", ["healthsync.yaml:2", "scoring.windw_days", "unknown key"]),
        ("source:\n  kind: excel\n", ["healthsync.yaml:2", "source.kind", "'sql', 'files' or 'segment'"]),
        ("state: [1, 2]\n", ["healthsync.yaml:1", "state"]),
        ("scoring:\n  features: {a: [x], b: [x]}\n", ["scoring", "at most one feature"]),
        ("scoring: {tiers: {healthy: 20, at_risk: 50}}\n", ["scoring.tiers", "at_risk must not be above healthy"]),
        ("source: [\n", ["healthsync.yaml", "invalid YAML"]),
    ],
)
def test_config_errors_name_file_line_key_and_expectation(tmp_path: Path, yaml_text: str, expected: list[str]) -> None:
    config = tmp_path / "healthsync.yaml"
    config.write_text(yaml_text)
    result = healthsync("validate", "--config", str(config))
    assert result.returncode == 2
    for piece in expected:
        assert piece in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_environment_overrides_the_file_and_is_named_in_errors(tmp_path: Path) -> None:
    config = tmp_path / "healthsync.yaml"
    config.write_text("scoring:\n  window_days: 30\n")
    bad = healthsync("validate", "--config", str(config), env={"HEALTHSYNC_SCORING__WINDOW_DAYS": "zero"})
    assert bad.returncode == 2
    assert "environment variable HEALTHSYNC_SCORING__WINDOW_DAYS" in bad.stderr
    from_env = healthsync("validate", env={"HEALTHSYNC_CONFIG": str(config)})
    assert from_env.returncode == 0, from_env.stderr


def _write_mapping(tmp_path: Path, mutate: dict[str, object]) -> Path:
    mapping = yaml.safe_load((ROOT / "mappings" / "hubspot.yaml").read_text())
    mapping.update(mutate)
    path = tmp_path / "hubspot.yaml"
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    config = tmp_path / "healthsync.yaml"
    config.write_text(yaml.safe_dump({"destinations": {"hubspot": {"enabled": True, "mapping": "hubspot.yaml"}}}))
    return config


BAD_FIELD = {"column": "health_score", "property": "Health Score", "label": "x", "type": "number"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        ({"colour": "blue"}, ["hubspot.yaml:", "colour", "unknown key"]),
        ({"group": {"name": "customer_health", "label": "x", "extra": 1}}, ["group.extra", "unknown key"]),
        ({"companies": {"fields": [BAD_FIELD]}}, ["companies.fields.0.property", "lowercase"]),
        (
            {"companies": {"fields": [{**BAD_FIELD, "property": "hs_x", "column": "no_such_column"}]}},
            ["companies.fields.0.column", "unknown score column 'no_such_column'"],
        ),
        (
            {"companies": {"fields": [{**BAD_FIELD, "property": "hs_x", "type": "enumeration"}]}},
            ["companies.fields.0", "needs its options"],
        ),
        ({"tasks": [{"play": "churn_risk", "subject": "{{ nope }}"}]}, ["tasks.0.subject", "unknown placeholder nope"]),
        ({"tasks": [{"play": "churn_risk", "subject": "{{ name"}]}, ["tasks.0.subject", "malformed placeholder"]),
    ],
)
def test_mapping_errors_name_file_line_and_key(tmp_path: Path, mutate: dict[str, object], expected: list[str]) -> None:
    result = healthsync("validate", "--config", str(_write_mapping(tmp_path, mutate)))
    assert result.returncode == 2
    for piece in expected:
        assert piece in result.stderr, result.stderr


def test_a_missing_token_is_an_auth_error_exit_5(tmp_path: Path) -> None:
    config = tmp_path / "healthsync.yaml"
    settings = yaml.safe_load((ROOT / "examples" / "healthsync.yaml").read_text())
    settings["source"] = {
        k: str(ROOT / "examples" / v) if k in ("events", "accounts", "users") else v
        for k, v in settings["source"].items()
    }
    settings["destinations"] = {"hubspot": {"enabled": True, "base_url": "http://127.0.0.1:9"}}
    settings["state"] = {"url": f"sqlite:///{tmp_path / 'state.db'}"}
    config.write_text(yaml.safe_dump(settings))
    env = {key: value for key, value in os.environ.items() if not key.endswith("ACCESS_TOKEN")}
    result = healthsync("run", "--config", str(config), env=env, inherit_env=False)
    assert result.returncode == 5, result.stderr
    assert "HUBSPOT_ACCESS_TOKEN" in result.stderr
