"""`healthsync check` for HubSpot: token, scopes for the enabled features, property clashes, owners. Writes nothing.

Scopes per feature (HubSpot's API reference, "Scope requirements"; tasks are engagements and need the contact
object scopes): see `required_scopes`, the README lists the same table.

The token's scopes are verified the same way for a Service Key and a legacy private-app token: one harmless
request per needed scope (`probe`), which HubSpot answers 403 MISSING_SCOPES when the scope is missing. The
private-app access-token-info endpoint knows no Service Key, and the 2026-09 token introspection
(`POST /oauth/2026-09/token/introspect`, HubSpot/HubSpot-public-api-spec-collection
`PublicApiSpecs/Auth/Oauth/Rollouts/279897/2026-09/oauth.json`) needs an OAuth app's client id and secret, which
neither kind has; so neither is used. A read scope is probed with a read (one record, the property list); a write
scope with a write that cannot change anything: a batch update of record id 0 (HubSpot record ids are positive, so
it is refused as not found) and an empty update of a property healthsync never creates. Only a 401 or 403 counts.
"""

from __future__ import annotations

from typing import Any

from healthsync.connector.hubspot.client import JSON, HubSpotClient
from healthsync.connector.hubspot.tasks import WRITTEN
from healthsync.connector.settings import HubSpotConfig
from healthsync.connector.sync.check import Finding, error, ok
from healthsync.errors import AuthError, DestinationError, RejectedRecordError
from healthsync.mappings.models import HubSpotField, HubSpotMapping

NAME = "hubspot"
MAX_UNIQUE_PROPERTIES = 10  # HubSpot: "up to 10 unique identifier properties for each object" (Properties guide)
PROBE_RECORD = "0"  # no HubSpot record has id 0
PROBE_PROPERTY = "healthsync_scope_probe"  # never created: an empty update of it is refused as not found


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


def probe(client: HubSpotClient, scope: str) -> tuple[str, str, Any, list[tuple[str, str]] | None]:
    """The harmless request (method, path, body, query) that HubSpot lets past its scope check only with `scope`."""
    _, kind, object_type, access = scope.split(".")
    paths = client.paths
    if kind == "objects" and access == "read":
        return "GET", paths.objects(object_type), None, [("limit", "1"), ("properties", "hs_object_id")]
    if kind == "objects":
        return "POST", paths.batch(object_type, "update"), {"inputs": [{"id": PROBE_RECORD, "properties": {}}]}, None
    if access == "read":
        return "GET", paths.properties(object_type), None, None
    return "PATCH", paths.property(object_type, PROBE_PROPERTY), {}, None


def findings(
    client: HubSpotClient, mapping: HubSpotMapping, config: HubSpotConfig, wanted: dict[str, list[HubSpotField]]
) -> list[Finding]:
    needs = required_scopes(mapping, config)
    try:
        missing = {
            gap: needs.get(gap, "") for scope in sorted(needs) for gap in client.lacks(scope, *probe(client, scope))
        }
    except AuthError as exc:
        return [error(NAME, f"the access token was refused: {exc}", "auth")]
    except DestinationError as exc:
        return [error(NAME, f"HubSpot did not answer: {exc}", "config")]
    found = _scopes(missing, needs)
    found += _clashes(client, wanted)
    found += _unfilled(client, mapping, config)
    found.append(_owners(client))
    return found


def _creates(mapping: HubSpotMapping, config: HubSpotConfig) -> dict[str, dict[str, set[str]]]:
    """object type -> what creates it (companies, the task rule of each play) -> the properties it always sets."""
    creates: dict[str, dict[str, set[str]]] = {}
    if config.create_companies:
        prop = mapping.companies.account_id_property.name
        fields = {field.property for field in mapping.companies.fields}
        creates["companies"] = {"created companies": {"name", "domain", prop, *fields, *mapping.companies.on_create}}
    if mapping.tasks:
        creates["tasks"] = {f"tasks of play {rule.play}": {*WRITTEN, *rule.properties} for rule in mapping.tasks}
    return creates


def _unfilled(client: HubSpotClient, mapping: HubSpotMapping, config: HubSpotConfig) -> list[Finding]:
    """The properties the portal requires on a create (the object schema's `requiredProperties`) that healthsync's
    creates would not fill from the mapping: exit 2, naming them and the mapping key that supplies a value."""
    found: list[Finding] = []
    for object_type, creators in _creates(mapping, config).items():
        try:
            required = client.required_properties(object_type)
        except (AuthError, RejectedRecordError) as exc:
            found.append(
                Finding(
                    NAME,
                    "warning",
                    f"the portal's required {object_type} properties could not be read ({exc}); a create missing "
                    "one is refused per record at run time (exit 4)",
                )
            )
            continue
        key = "companies.on_create" if object_type == "companies" else "tasks[].properties"
        gaps = {what: [name for name in required if name not in sets] for what, sets in creators.items()}
        for what, names in gaps.items():
            if names:
                message = f"the portal requires {', '.join(names)} on {object_type}, which {what} would not fill"
                found.append(error(NAME, f"{message}; supply a value in the mapping ({key})", "config"))
        if not any(gaps.values()):
            found.append(ok(NAME, f"{object_type} creates fill every required property ({len(required)})"))
    return found


def _scopes(missing: dict[str, str], needs: dict[str, str]) -> list[Finding]:
    if missing:
        return [
            error(NAME, f"missing scope {scope}" + (f" (needed to {why})" if why else ""), "auth")
            for scope, why in sorted(missing.items())
        ]
    return [ok(NAME, f"token valid; scopes sufficient ({', '.join(sorted(needs))}; one request per scope)")]


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
