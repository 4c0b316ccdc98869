"""Item 1: data attribute names are unique across models; a `datetime` attribute is listed back as `date`."""

from __future__ import annotations

from pathlib import Path

from healthsync.sandbox.base import SandboxServer
from tests.intercom.conftest import api, cli_env, default_mapping, intercom_world, set_mapping
from tests.world import control, healthsync, log_size, writes


def company_attributes(intercom: SandboxServer) -> list[str]:
    state = control(intercom, "GET", "state")
    return [a["name"] for a in state["data_attributes"] if a["model"] == "company"]


def test_a_contact_attribute_with_the_mapped_name_stops_the_run_before_any_write(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=20)
    taken = {"name": "healthsync_health_score", "model": "contact", "data_type": "integer"}
    assert api(intercom, "POST", "/data_attributes", taken).status_code == 200
    before = log_size(intercom)

    result = healthsync("run", "--config", str(world.config), env=cli_env())

    assert result.returncode == 2, result.stderr
    assert "'healthsync_health_score'" in result.stderr
    assert "contact (people) model" in result.stderr
    assert "companies.fields.0.name" in result.stderr
    assert writes(intercom, before) == []  # no partial provisioning, no company write
    assert company_attributes(intercom) == []

    renamed = default_mapping()
    renamed["companies"]["fields"][0]["name"] = "healthsync_company_score"
    set_mapping(world, renamed)
    again = healthsync("run", "--config", str(world.config), env=cli_env())
    assert again.returncode == 0, again.stderr
    assert "healthsync_company_score" in company_attributes(intercom)
    assert "healthsync_health_score" not in company_attributes(intercom)


def test_a_company_attribute_of_another_type_names_the_mapping_key(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=10)
    api(intercom, "POST", "/data_attributes", {"name": "healthsync_trend", "model": "company", "data_type": "float"})
    result = healthsync("plan", "--config", str(world.config), env=cli_env())
    assert result.returncode == 2
    assert "'healthsync_trend' exists with type 'float'" in result.stderr
    assert "companies.fields.2.name" in result.stderr


def test_a_datetime_attribute_passes_three_runs_in_a_row_provisioned_once(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    mapping = default_mapping()
    mapping["companies"]["fields"][6]["type"] = "datetime"  # last_active_at
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=20, mapping=mapping)
    created: list[int] = []
    for _ in range(3):
        before = log_size(intercom)
        summary = world.run()
        assert summary.exit_code == 0
        created.append(sum(1 for e in writes(intercom, before) if e["path"] == "/data_attributes"))
    assert created == [len(mapping["companies"]["fields"]), 0, 0]
    listed = {a["name"]: a for a in control(intercom, "GET", "state")["data_attributes"]}
    assert listed["healthsync_last_active_at"]["data_type"] == "date"  # how Intercom reports a datetime back


def test_missing_values_are_left_out_not_sent_as_null(
    tmp_path: Path, hubspot: SandboxServer, intercom: SandboxServer, sqlite_url: str
) -> None:
    world = intercom_world(tmp_path, hubspot, intercom, sqlite_url, accounts=12)
    silent = str(world.data.accounts["account_id"].iloc[0])
    world.sql(f"DELETE FROM events WHERE account_id = '{silent}'")  # never active: no last_active_at
    before = log_size(intercom)
    summary = world.run()
    assert summary.exit_code == 0  # the sandbox refuses null custom attributes, as Intercom does
    updates = [e for e in writes(intercom, before) if e["method"] == "PUT"]
    assert updates
    assert all(None not in e["body"]["custom_attributes"].values() for e in updates)
    silent_update = next(e for e in updates if e["path"] == f"/companies/{companies_by_key(intercom)[silent]}")
    assert "healthsync_last_active_at" not in silent_update["body"]["custom_attributes"]


def companies_by_key(intercom: SandboxServer) -> dict[str, str]:
    return {c["company_id"]: c["id"] for c in control(intercom, "GET", "state")["companies"]}
