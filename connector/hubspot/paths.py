"""HubSpot's date-versioned CRM paths, one place for all of them (`destinations.hubspot.api_version`).

The 2026-09 paths are those of HubSpot's descriptions (HubSpot/HubSpot-public-api-spec-collection,
`PublicApiSpecs/CRM/Objects/Rollouts/424/2026-09/objects.json`,
`CRM/Properties/Rollouts/145899/2026-09/properties.json`, `CRM/Associations/Rollouts/130902/2026-09/associations.json`,
`CRM/Crm Owners/Rollouts/146888/2026-09/crmOwners.json`).
Names are percent-encoded: an object type or property name never changes the path's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


def _seg(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class Paths:
    version: str

    def groups(self, object_type: str) -> str:
        return f"{self.properties(object_type)}/groups"

    def properties(self, object_type: str) -> str:
        return f"/crm/properties/{self.version}/{_seg(object_type)}"

    def property(self, object_type: str, name: str) -> str:
        return f"{self.properties(object_type)}/{_seg(name)}"

    def objects(self, object_type: str) -> str:
        return f"/crm/objects/{self.version}/{_seg(object_type)}"

    def batch(self, object_type: str, kind: str) -> str:
        return f"{self.objects(object_type)}/batch/{kind}"

    def search(self, object_type: str) -> str:
        return f"{self.objects(object_type)}/search"

    def association_read(self, from_type: str, to_type: str) -> str:
        return f"/crm/associations/{self.version}/{_seg(from_type)}/{_seg(to_type)}/batch/read"

    def schema(self, object_type: str) -> str:
        """The object schema (`requiredProperties`), `CRM/Schemas/Rollouts/145900/2026-09/schemas.json`."""
        return f"/crm-object-schemas/{self.version}/schemas/{_seg(object_type)}"

    def owners(self) -> str:
        return f"/crm/owners/{self.version}"
