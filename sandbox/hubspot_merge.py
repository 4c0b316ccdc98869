"""Merging records and expanding associations on object reads, as HubSpot's CRM v3 objects API does.

Sources: ``POST /crm/v3/objects/{objectType}/merge`` with ``{"primaryObjectId", "objectIdToMerge"}`` answers the
surviving SimplePublicObject (HubSpot API reference, "Merge two companies"; HubSpot-public-api-spec-collection,
CRM objects v3, PublicMergeInput). The survivor keeps the primary id and lists the merged ids in
``hs_merged_object_ids`` (``;``-joined, as HubSpot's multi-value properties are); reads of a merged id answer
with the survivor. Guesses, in their most conservative form: the survivor keeps the primary's values and takes
only the blanks from the merged record (never its unique values), and the merged record's associations move to
the survivor. ``?associations=companies`` on ``GET /crm/v3/objects/{type}/{id}`` and the list endpoint adds
``"associations": {"companies": {"results": [{"id", "type": "task_to_company"}]}}`` (CRM objects v3,
SimplePublicObjectWithAssociations).
"""

from __future__ import annotations

from typing import Any

from healthsync.sandbox.hubspot_associations import Link
from healthsync.sandbox.hubspot_errors import JSON, ApiError, iso
from healthsync.sandbox.hubspot_properties import SINGULAR, object_type
from healthsync.sandbox.hubspot_records import Records


def merge(records: Records, kind: str, body: Any) -> JSON:
    if not isinstance(body, dict) or not body.get("primaryObjectId") or not body.get("objectIdToMerge"):
        raise ApiError.validation(
            "Invalid input JSON: Cannot build PublicMergeInput, some of required attributes are not set "
            "[objectIdToMerge, primaryObjectId]"
        )
    primary = records.require(kind, str(body["primaryObjectId"]))
    merged = records.require(kind, str(body["objectIdToMerge"]))
    if primary is merged:
        raise ApiError.validation("Cannot merge an object into itself.")
    unique = set(records.catalogue.unique_names(kind)) | {"hs_object_id", "hs_merged_object_ids"}
    records.changed()
    for name, value in merged.properties.items():
        if name not in unique and not primary.properties.get(name):
            primary.properties[name] = value
    ids = [i for i in (primary.properties.get("hs_merged_object_ids") or "").split(";") if i]
    ids += [merged.id, *[i for i in (merged.properties.get("hs_merged_object_ids") or "").split(";") if i]]
    primary.properties["hs_merged_object_ids"] = ";".join(dict.fromkeys(ids))
    for to_type in ("companies", "contacts", "tasks"):
        for to_id, type_ids in records.associations.targets(kind, merged.id, to_type).items():
            for type_id in type_ids:
                records.associations.add(Link(kind, primary.id, to_type, to_id, type_id))
    records.archive(kind, merged.id)
    records.merged_into[(kind, merged.id)] = primary.id
    now = records._wall()
    primary.updated_at = now
    primary.properties["hs_lastmodifieddate" if kind != "contacts" else "lastmodifieddate"] = iso(now)
    records.versioned(primary)
    return primary.to_json()


def expand(records: Records, kind: str, body: JSON, wanted: list[str]) -> JSON:
    """`body` with the `associations` a read asked for (`?associations=companies,contacts`)."""
    if not wanted:
        return body
    found: JSON = {}
    for alias in wanted:
        try:
            to_type = object_type(alias)
        except ApiError:
            continue
        targets = records.associations.targets(kind, str(body["id"]), to_type)
        label = f"{SINGULAR[kind].lower()}_to_{SINGULAR[to_type].lower()}"
        if targets:
            found[to_type] = {"results": [{"id": to_id, "type": label} for to_id in sorted(targets, key=int)]}
    return {**body, "associations": found} if found else body
