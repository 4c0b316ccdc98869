"""Seed the sandboxes with a CRM as a customer's would look, through the ordinary APIs over HTTP.

Not a mirror of the accounts: some companies are missing, some carry a different primary domain (the account's
domain is one of their additional domains), one domain belongs to two companies (ambiguous), and only some
users exist as contacts. That is what matching has to cope with in real life.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd

TOKEN = "sandbox-seed-token"


@dataclass
class SeedPlan:
    """Which accounts are seeded how (every n-th account by position; 0 disables a perturbation)."""

    missing_every: int = 25
    other_domain_every: int = 10
    ambiguous: int = 1
    contacts_every: int = 2
    intercom_missing_every: int = 30
    owners: bool = True


@dataclass
class SeedResult:
    hubspot_missing: list[str] = field(default_factory=list)
    hubspot_other_domain: list[str] = field(default_factory=list)
    hubspot_ambiguous: list[str] = field(default_factory=list)
    intercom_missing: list[str] = field(default_factory=list)
    contacts: int = 0


def _post(client: httpx.Client, path: str, body: Any) -> Any:
    response = client.post(path, json=body)
    response.raise_for_status()
    return response.json()


def _every(position: int, n: int) -> bool:
    return n > 0 and position % n == n - 1


def seed_hubspot(base_url: str, accounts: pd.DataFrame, users: pd.DataFrame, plan: SeedPlan) -> SeedResult:
    """Create companies (and contacts) in the HubSpot sandbox with batch creates, 100 per call."""
    result = SeedResult()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        owners = client.get("/crm/owners/2026-09").json().get("results", []) if plan.owners else []
        inputs = []
        for position, row in enumerate(accounts.to_dict("records")):
            key, domain = str(row["account_id"]), str(row["domain"])
            if _every(position, plan.missing_every):
                result.hubspot_missing.append(key)
                continue
            props = {"name": str(row["name"]), "domain": domain}
            if _every(position, plan.other_domain_every):
                props["domain"] = "www-" + domain.replace(".example.com", ".example.org")
                props["hs_additional_domains"] = domain
                result.hubspot_other_domain.append(key)
            if owners:
                props["hubspot_owner_id"] = str(owners[position % len(owners)]["id"])
            inputs.append({"properties": props, "associations": []})
            if position < plan.ambiguous:
                inputs.append({"properties": {**props, "name": f"{row['name']} (duplicate)"}, "associations": []})
                result.hubspot_ambiguous.append(key)
        for start in range(0, len(inputs), 100):
            _post(client, "/crm/objects/2026-09/companies/batch/create", {"inputs": inputs[start : start + 100]})
        people = [
            {
                "properties": {"email": str(u["email"]), "firstname": str(u["user_id"]).split("_")[-1]},
                "associations": [],
            }
            for position, u in enumerate(users.to_dict("records"))
            if _every(position, plan.contacts_every)
        ]
        for start in range(0, len(people), 100):
            _post(client, "/crm/objects/2026-09/contacts/batch/create", {"inputs": people[start : start + 100]})
        result.contacts = len(people)
    return result


def seed_intercom(base_url: str, accounts: pd.DataFrame, plan: SeedPlan, result: SeedResult) -> SeedResult:
    """Create companies in the Intercom sandbox, keyed by company_id = account id, as the product would."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for position, row in enumerate(accounts.to_dict("records")):
            if _every(position, plan.intercom_missing_every):
                result.intercom_missing.append(str(row["account_id"]))
                continue
            _post(client, "/companies", {"company_id": str(row["account_id"]), "name": str(row["name"])})
    return result
