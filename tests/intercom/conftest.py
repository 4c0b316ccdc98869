"""An Intercom-only world: demo product data in DuckDB, the Intercom sandbox seeded over HTTP, a config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from healthsync.connector.demo.data import generate, write_duckdb
from healthsync.mappings.loader import mapping_path
from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.seed import TOKEN, SeedPlan, SeedResult, seed_intercom
from tests.world import AS_OF, SCORING, World, control

USERS = {"users": "users"}
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}


def api(server: SandboxServer, method: str, path: str, body: Any = None) -> httpx.Response:
    """One call to the sandbox's Intercom API, as a user's own tooling (or Intercom's UI) would make it."""
    return httpx.request(method, server.base_url + path, json=body, headers=HEADERS, timeout=10)


def default_mapping() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(mapping_path("intercom", Path(".")).read_text())
    return loaded


def write_mapping(root: Path, mapping: dict[str, Any], name: str = "intercom-mapping.yaml") -> Path:
    path = root / name
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return path


def intercom_world(
    root: Path,
    hubspot: SandboxServer,
    intercom: SandboxServer,
    state_url: str,
    *,
    accounts: int = 60,
    mapping: dict[str, Any] | None = None,
    missing_every: int = 0,
    contacts: bool = False,
) -> World:
    """Accounts as Intercom companies (every `missing_every`-th left out), optionally users as contacts."""
    data = generate(accounts, as_of=AS_OF, seed=11)
    db = root / "product.duckdb"
    write_duckdb(data, db)
    control(intercom, "PUT", "limits", {"requests_per_window": 100_000, "window_seconds": 10})
    seeded = seed_intercom(
        intercom.base_url, data.accounts, SeedPlan(intercom_missing_every=missing_every), SeedResult()
    )
    if contacts:
        seed_contacts(intercom, data.users.to_dict("records"))
    intercom_config: dict[str, Any] = {
        "enabled": True,
        "base_url": intercom.base_url,
        "requests_per_10s": 100_000,
        "max_retry_seconds": 30,
    }
    if mapping is not None:
        intercom_config["mapping"] = str(write_mapping(root, mapping))
    config = {
        "source": {
            "kind": "sql",
            "url": f"duckdb:///{db}",
            "events": "events",
            "accounts": "accounts",
            "users": "users",
        },
        "scoring": SCORING,
        "state": {"url": state_url},
        "destinations": {"intercom": intercom_config},
    }
    path = root / "healthsync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return World(root, data, db, path, hubspot, intercom, seeded)


def seed_contacts(intercom: SandboxServer, users: list[dict[str, Any]]) -> None:
    """Users as contacts: two in three by external_id (and email), every third by email only (a lead-like record)."""
    with httpx.Client(base_url=intercom.base_url, headers=HEADERS, timeout=10) as client:
        for position, user in enumerate(users):
            body: dict[str, Any] = {"email": str(user["email"]), "role": "user"}
            if position % 3:
                body["external_id"] = str(user["user_id"])
            client.post("/contacts", json=body).raise_for_status()


def set_mapping(world: World, mapping: dict[str, Any]) -> None:
    """Point the world's config at `mapping` (written next to it)."""
    config = yaml.safe_load(world.config.read_text())
    config["destinations"]["intercom"]["mapping"] = str(write_mapping(world.root, mapping))
    world.config.write_text(yaml.safe_dump(config, sort_keys=False))


def companies(world: World) -> dict[str, dict[str, Any]]:
    """The sandbox's companies by company_id."""
    return {c["company_id"]: c for c in control(world.intercom, "GET", "state")["companies"]}


def tag_names(record: dict[str, Any]) -> set[str]:
    return {tag["name"] for tag in (record.get("tags") or {}).get("tags", [])}


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"
