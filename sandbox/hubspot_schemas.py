"""The object schema read of the HubSpot sandbox, for the portal's required properties of companies and tasks.

Source: ``GET /crm-object-schemas/2026-09/schemas/{objectType}`` answers an ``ObjectSchema`` whose
``requiredProperties`` are "the names of properties that should be required when creating an object of this
type" (HubSpot/HubSpot-public-api-spec-collection, `PublicApiSpecs/CRM/Schemas/Rollouts/145900/2026-09/
schemas.json`; its required fields are those built here). The portal's rules are what the 2026-09 API enforces on
every create and update (HubSpot changelog "CRM API write validation enforcement starting with the 2026-09 API
version"); the property definitions (`Property` in `CRM/Properties/.../2026-09/properties.json`) carry no
required flag and the property validations (`CRM/Property Validations/.../2026-09`) have no REQUIRED rule type,
so this is the only 2026-09 read that names them.

Guesses, in their most conservative form:
- HubSpot documents this read for custom objects; it is served here for the standard object types too
  (companies, contacts, tasks) and still needs the documented scope ``crm.schemas.custom.read``.
- ``requiredProperties`` lists the rules set with ``PUT /_sandbox/required_properties`` and the properties the
  sandbox always requires on a create (a task's ``hs_timestamp``); conditional rules are not modelled.
- ``includePropertyDefinitions`` and ``includeAssociationDefinitions`` false leave ``properties`` and
  ``associations`` empty (they are required fields of the answer, so they stay, as empty lists).
"""

from __future__ import annotations

from healthsync.sandbox.base import Request, Response
from healthsync.sandbox.hubspot_errors import JSON
from healthsync.sandbox.hubspot_properties import OBJECT_TYPE_IDS, SINGULAR, object_type
from healthsync.sandbox.hubspot_records import Records

PATH = "/crm-object-schemas/2026-09/schemas/{objectType}"
SCOPE = "crm.schemas.custom.read"
_PRIMARY = {"companies": "name", "contacts": "email", "tasks": "hs_task_subject"}


def object_schema(records: Records, request: Request) -> Response:
    kind = object_type(request.params["objectType"])
    catalogue = records.catalogue
    wanted = (request.arg("includePropertyDefinitions") or "true").lower() != "false"
    properties = [prop.to_json() for prop in catalogue.properties[kind].values()] if wanted else []
    body: JSON = {
        "id": OBJECT_TYPE_IDS[kind],
        "objectTypeId": OBJECT_TYPE_IDS[kind],
        "name": kind,
        "fullyQualifiedName": kind,
        "labels": {"singular": SINGULAR[kind].capitalize(), "plural": kind.capitalize()},
        "archived": False,
        "allowsSensitiveProperties": False,
        "associations": [],
        "properties": properties,
        "requiredProperties": list(records.required_on_create(kind)),
        "searchableProperties": [_PRIMARY[kind]],
        "secondaryDisplayProperties": [],
        "primaryDisplayProperty": _PRIMARY[kind],
    }
    return Response(200, body)
