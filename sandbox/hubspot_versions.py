"""The sandbox's two generations of HubSpot paths: the date-versioned 2026-09 API and the legacy v3/v4 one.

Every v3/v4 route is also served at its 2026-09 path with the 2026-09 shapes of HubSpot's descriptions
(HubSpot/HubSpot-public-api-spec-collection: `PublicApiSpecs/CRM/Objects/Rollouts/424/2026-09/objects.json`,
`CRM/Associations/Rollouts/130902/2026-09/associations.json`, `CRM/Properties/Rollouts/145899/2026-09/properties.json`,
`CRM/Crm Owners/Rollouts/146888/2026-09/crmOwners.json`). The legacy paths keep answering, as HubSpot's still do
until their sunset; each legacy request is flagged ``"legacy": true`` in ``GET /_sandbox/requests`` and counted
in ``GET /_sandbox/state`` (``legacy_requests``).

What 2026-09 changes here, as its schemas say:
- required request fields are enforced (a 400 VALIDATION_ERROR naming the field): a batch read needs `inputs`,
  `properties` and `propertiesWithHistory` (`BatchReadInputSimplePublicObjectId`); a search needs `after`,
  `filterGroups`, `limit`, `properties` and `sorts` (`PublicObjectSearchRequest`); each batch-create input needs
  `properties` and `associations` (`SimplePublicObjectBatchInputForCreate`);
- an association result's `toObjectId` is a string and a type without a label has no `label` key
  (`MultiAssociatedObjectWithLabel`, `AssociationSpecWithLabel`: `label` is a non-nullable string);
- an upserted record's `properties` hold no null (`SimplePublicUpsertObject`: non-nullable strings); a read or
  updated record may hold null (`SimplePublicObject`: `nullable: true`).

Guesses (not in the descriptions; the most conservative reading): a partial batch failure answers 207 with the
per-input `errors` (the 2026-09 descriptions list only 200/201 and `default`; the client accepts any 2xx); only
2026-09 is served among the date versions (another date is a 404); the v4 association list
(`GET .../associations/{toObjectType}`), absent from the 2026-09 descriptions, has no 2026-09 path.
"""

from __future__ import annotations

import re
from typing import Any

from healthsync.sandbox.base import JSON, Request, Response
from healthsync.sandbox.hubspot_errors import ApiError

DATED = "2026-09"
_PREFIXES = (
    ("/crm/v3/objects/", f"/crm/objects/{DATED}/"),
    ("/crm/v3/properties/", f"/crm/properties/{DATED}/"),
    ("/crm/v3/owners", f"/crm/owners/{DATED}"),
    ("/crm/v4/associations/", f"/crm/associations/{DATED}/"),
    ("/crm/v4/objects/", f"/crm/objects/{DATED}/"),
)
_UNDATED = re.compile(r"^/crm/v4/objects/\{objectType\}/\{objectId\}/associations/\{toObjectType\}$")
_BATCH_READ = re.compile(rf"^/crm/objects/{DATED}/[^/]+/batch/read$")
_BATCH_CREATE = re.compile(rf"^/crm/objects/{DATED}/[^/]+/batch/create$")
_BATCH_UPSERT = re.compile(rf"^/crm/objects/{DATED}/[^/]+/batch/upsert$")
_SEARCH = re.compile(rf"^/crm/objects/{DATED}/[^/]+/search$")
_ASSOCIATION_READ = re.compile(rf"^/crm/associations/{DATED}/[^/]+/[^/]+/batch/read$")


def dated(pattern: str) -> str | None:
    """The 2026-09 path of a legacy route pattern; None when 2026-09 has none."""
    if _UNDATED.match(pattern):
        return None
    for legacy, current in _PREFIXES:
        if pattern.startswith(legacy):
            return current + pattern[len(legacy) :]
    return None


def is_legacy(path: str) -> bool:
    return path.startswith(("/crm/v3/", "/crm/v4/"))


def check(request: Request) -> None:
    """The 2026-09 required fields of the request bodies the descriptions define; a 400 naming the first missing."""
    if request.method != "POST":
        return
    if _BATCH_READ.match(request.path):
        reads = ("inputs", "properties", "propertiesWithHistory")
        _require(request.json(), reads, "BatchReadInputSimplePublicObjectId")
    elif _SEARCH.match(request.path):
        searches = ("after", "filterGroups", "limit", "properties", "sorts")
        body = request.json()
        _require(body, searches, "PublicObjectSearchRequest")
        if not isinstance(body["sorts"], list) or not all(isinstance(sort, str) for sort in body["sorts"]):
            # 2026-09's PublicObjectSearchRequest.sorts is an array of strings ("name", "-name" descending); the
            # v3 object form ({"propertyName", "direction"}) is not in its description: refused (a guess)
            raise ApiError.validation(
                "Invalid input JSON: PublicObjectSearchRequest.sorts must be strings", field=["sorts"]
            )
    elif _BATCH_CREATE.match(request.path):
        body = request.json()
        _require(body, ("inputs",), "BatchInputSimplePublicObjectBatchInputForCreate")
        for item in body["inputs"] if isinstance(body["inputs"], list) else []:
            _require(item, ("associations", "properties"), "SimplePublicObjectBatchInputForCreate")


def _require(body: Any, fields: tuple[str, ...], schema: str) -> None:
    if not isinstance(body, dict):
        raise ApiError.validation(f"Invalid input JSON: {schema} must be an object")
    for name in fields:
        if name not in body or body[name] is None:
            raise ApiError.validation(f"Invalid input JSON: {schema}.{name} is required", field=[name])


def reshape(request: Request, response: Response) -> None:
    """The 2026-09 response shapes (module docstring) of a body the legacy handlers built."""
    body = response.body
    if not isinstance(body, dict):
        return
    if _ASSOCIATION_READ.match(request.path):
        for result in body.get("results") or []:
            result["to"] = [_association(item) for item in result.get("to") or []]
    elif _BATCH_UPSERT.match(request.path):
        for result in body.get("results") or []:
            result["properties"] = {k: v for k, v in (result.get("properties") or {}).items() if v is not None}


def _association(item: JSON) -> JSON:
    types = [{k: v for k, v in spec.items() if not (k == "label" and v is None)} for spec in item["associationTypes"]]
    return {"toObjectId": str(item["toObjectId"]), "associationTypes": types}
