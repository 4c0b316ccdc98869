"""An Intercom-only world: demo product data in DuckDB, the Intercom sandbox seeded over HTTP, a config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from healthsync.mappings.loader import mapping_path
from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.seed import TOKEN, SeedPlan
from tests.world import TOKENS, World, build_world, control

USERS = {"users": "users"}
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}


def api(server: SandboxServer, method: str, path: str, body: Any = None) -> httpx.Response:
    """One call to the sandbox's Intercom API, as a user's own tooling (or Intercom's UI) would make it."""
    return httpx.request(method, server.base_url + path, json=body, headers=HEADERS, timeout=10)


def cli_env() -> dict[str, str]:
    """The environment a CLI run against the Intercom sandbox needs: its token."""
    assert TOKENS.intercom_access_token is not None
    return {"INTERCOM_ACCESS_TOKEN": TOKENS.intercom_access_token.get_secret_value()}


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
    mappings = None if mapping is None else {"intercom": str(write_mapping(root, mapping))}
    plan = SeedPlan(intercom_missing_every=missing_every)
    world = build_world(
        root,
        hubspot,
        intercom,
        state_url,
        accounts=accounts,
        mapping=mappings,
        seed_plan=plan,
        destinations=("intercom",),
    )
    if contacts:
        seed_contacts(intercom, world.data.users.to_dict("records"))
    return world


def contact_tags_world(
    root: Path, hubspot: SandboxServer, intercom: SandboxServer, state_url: str, *, accounts: int
) -> World:
    """An Intercom world with users as contacts and a mapping that tags each contact with its account's tier."""
    mapping = default_mapping()
    mapping["contacts"]["tier_tags"] = True
    return intercom_world(root, hubspot, intercom, state_url, accounts=accounts, mapping=mapping, contacts=True)


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
