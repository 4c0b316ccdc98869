"""`healthsync check` for HubSpot: token, scopes for the enabled features, property clashes, owners. Reads only.

Scopes per feature (HubSpot's API reference, "Scope requirements"; tasks are engagements and need the contact
object scopes): see `required_scopes`, the README lists the same table.
"""

from __future__ import annotations

from healthsync.connector.errors import AuthError, DestinationError
from healthsync.connector.hubspot.client import JSON, HubSpotClient
from healthsync.connector.settings import HubSpotConfig
from healthsync.connector.sync.check import Finding, error, ok
from healthsync.mappings.models import HubSpotField, HubSpotMapping

NAME = "hubspot"
MAX_UNIQUE_PROPERTIES = 10  # HubSpot: "up to 10 unique identifier properties for each object" (Properties guide)


def unique_id_problem(existing: dict[str, JSON], name: str) -> str | None:
    """Why the account-id property `name` cannot serve as healthsync's unique key in this portal, or None.

    A property without unique values makes HubSpot refuse every read and upsert by it ("read by non-unique
    property"), and `hasUniqueValue` cannot be changed once a property exists (PropertyCreate in
    CRM/Properties/Rollouts/145899/2026-09/properties.json); a portal at the unique-property maximum refuses ours.
    """
    current = existing.get(name)
    fix = "or set companies.account_id_property.name in the mapping to another name"
    if current is not None and not current.get("hasUniqueValue"):
        return (
            f"companies property {name!r} exists without unique values (hasUniqueValue false), so HubSpot refuses "
            f"reads and upserts by it and cannot make it unique later; delete or rename it in HubSpot, {fix}"
        )
    unique = [p for p, body in existing.items() if body.get("hasUniqueValue") and not p.startswith("hs_")]
    if current is None and len(unique) >= MAX_UNIQUE_PROPERTIES:
        return (
            f"the portal already has {len(unique)} unique-value company properties, HubSpot's limit of "
            f"{MAX_UNIQUE_PROPERTIES}, so it refuses the unique property {name!r}; archive one of "
            f"{', '.join(sorted(unique))} in HubSpot, {fix.replace('another name', 'one of them')}"
        )
    return None


def required_scopes(mapping: HubSpotMapping, config: HubSpotConfig) -> dict[str, str]:
    """scope -> the feature that needs it, for this mapping and configuration."""
    needs = {
        "crm.schemas.companies.read": "read company properties",
        "crm.schemas.companies.write": "create the Customer health company properties",
        "crm.objects.companies.read": "match companies",
        "crm.objects.companies.write": "write company properties"
        + (" and create companies" if config.create_companies else ""),
    }
    if mapping.contacts.enabled and mapping.contacts.fields:
        needs |= {
            "crm.schemas.contacts.read": "read contact properties",
            "crm.schemas.contacts.write": "create the contact properties",
            "crm.objects.contacts.read": "match contacts",
            "crm.objects.contacts.write": "write contact properties",
        }
    if mapping.tasks:
        needs.setdefault("crm.objects.contacts.read", "find tasks (tasks need the contact object scopes)")
        needs.setdefault("crm.objects.contacts.write", "create and complete tasks")
    return needs


def findings(
    client: HubSpotClient, mapping: HubSpotMapping, config: HubSpotConfig, wanted: dict[str, list[HubSpotField]]
) -> list[Finding]:
    try:
        granted = client.token_scopes()
    except AuthError as exc:
        return [error(NAME, f"the access token was refused: {exc}", "auth")]
    except DestinationError as exc:
        return [error(NAME, f"HubSpot did not answer: {exc}", "config")]
    found = _scopes(granted, required_scopes(mapping, config))
    found += _clashes(client, wanted)
    found.append(_owners(client))
    return found


def _scopes(granted: list[str] | None, needs: dict[str, str]) -> list[Finding]:
    if granted is None:
        return [Finding(NAME, "warning", "the token's scopes could not be read (not a private-app token?)")]
    missing = {scope: why for scope, why in sorted(needs.items()) if scope not in granted}
    if missing:
        return [error(NAME, f"missing scope {scope} (needed to {why})", "auth") for scope, why in missing.items()]
    return [ok(NAME, f"token valid; scopes sufficient ({', '.join(sorted(needs))})")]


def _clashes(client: HubSpotClient, wanted: dict[str, list[HubSpotField]]) -> list[Finding]:
    found: list[Finding] = []
    for object_type, fields in wanted.items():
        try:
            existing = {prop["name"]: prop for prop in client.properties(object_type)}
        except AuthError as exc:
            found.append(error(NAME, f"cannot read {object_type} properties: {exc}", "auth"))
            continue
        if object_type == "companies" and (problem := unique_id_problem(existing, fields[0].property)):
            found.append(error(NAME, problem, "config"))
        clashes = [f for f in fields if f.property in existing and existing[f.property].get("type") != f.type]
        for field in clashes:
            have = existing[field.property].get("type")
            found.append(
                error(
                    NAME,
                    f"{object_type} property {field.property!r} exists with type {have!r}, the mapping expects "
                    f"{field.type!r}; rename it in the mapping or change it in HubSpot",
                    "config",
                )
            )
        if not clashes:
            present = sum(1 for f in fields if f.property in existing)
            found.append(ok(NAME, f"{object_type} properties: {present} of {len(fields)} exist, no type clash"))
    return found


def _owners(client: HubSpotClient) -> Finding:
    try:
        owners = client.owners()
    except AuthError:
        return Finding(
            NAME,
            "warning",
            "owners not readable (scope crm.objects.owners.read); tasks still get each company's owner id",
        )
    if not owners:
        return Finding(NAME, "warning", "no owners in the portal: tasks will have no owner")
    return ok(NAME, f"{len(owners)} owners resolvable (tasks are owned by each company's owner)")
