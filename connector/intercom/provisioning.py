"""Company data attributes: which to create, and the clashes and type mismatches that stop a run before any write.

Intercom keeps one namespace of data attribute names across the company and the contact (people) models: creating a
company attribute whose name a contact attribute has is refused ("You already have 'x' in your people data"), so
provisioning lists both models and a clash is a configuration error naming the attribute, its owner and the
mapping key to change. A workspace holds at most 250 custom data attributes, both models and archived ones
counted: when the missing ones would not fit, that is a configuration error too, before anything is created. A
`datetime` attribute is listed back as `date` (the listed `data_type` is one of string,
integer, float, boolean, date: 2.16 OpenAPI, `data_attribute`), so the type check accepts that.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthsync.connector.intercom.client import JSON, IntercomClient
from healthsync.connector.sync.plan import Provision
from healthsync.errors import ConfigError
from healthsync.mappings.models import IntercomMapping

MAX_CUSTOM = 250  # custom data attributes per workspace (sandbox/intercom_attributes.py, sources)
REPORTED_AS = {"datetime": "date"}  # mapping type -> the data_type Intercom lists it with
MODEL_WORDS = {"contact": "contact (people)", "company": "company"}


def same_type(listed: str | None, wanted: str) -> bool:
    return listed == wanted or listed == REPORTED_AS.get(wanted)


def problems(attributes: list[JSON], mapping: IntercomMapping, reference: str) -> list[str]:
    """Every clash or type mismatch between the mapping's attributes and what the workspace holds (archived
    attributes aside), and whether the ones to create fit under the workspace's limit."""
    found = _clashes([a for a in attributes if not a.get("archived")], mapping, reference)
    room = capacity(attributes, mapping)
    if room.needed > room.free:
        found.append(room.describe())
    return found


@dataclass
class Capacity:
    """Custom data attributes: in use (both models, archived included), free under the limit, and needed."""

    used: int
    needed: int

    @property
    def free(self) -> int:
        return max(MAX_CUSTOM - self.used, 0)

    def describe(self) -> str:
        return (
            f"Intercom allows {MAX_CUSTOM} custom data attributes per workspace (company and people data together, "
            f"archived ones included): {self.used} are in use, {self.free} free, and healthsync needs {self.needed} "
            "more; delete unused attributes in Intercom (Settings > Data), or map fewer fields"
        )


def capacity(attributes: list[JSON], mapping: IntercomMapping) -> Capacity:
    custom = [a for a in attributes if a.get("custom")]
    existing = {str(a.get("name", "")).lower() for a in attributes if not a.get("archived")}
    needed = sum(1 for f in mapping.companies.fields if f.name.lower() not in existing)
    return Capacity(used=len(custom), needed=needed)


def _clashes(attributes: list[JSON], mapping: IntercomMapping, reference: str) -> list[str]:
    by_name = {str(a.get("name", "")).lower(): a for a in attributes if a.get("model") != "company"}
    by_name |= {str(a.get("name", "")).lower(): a for a in attributes if a.get("model") == "company"}
    found = []
    for index, field in enumerate(mapping.companies.fields):
        key = f"companies.fields.{index}.name"
        where = f"change `{key}` in the intercom mapping ({reference})"
        current = by_name.get(field.name.lower())
        if current is None:
            continue
        model = str(current.get("model"))
        if model != "company":
            found.append(
                f"Intercom data attribute {field.name!r} already exists on the {MODEL_WORDS.get(model, model)} "
                f"model (names are unique across models); {where}"
            )
        elif not current.get("custom", True):
            found.append(f"Intercom data attribute {field.name!r} is a standard company attribute; {where}")
        elif not same_type(current.get("data_type"), field.type):
            found.append(
                f"Intercom company attribute {field.name!r} exists with type {current.get('data_type')!r}, "
                f"the mapping expects {field.type!r}; {where}"
            )
    return found


def missing(client: IntercomClient, mapping: IntercomMapping, reference: str) -> list[Provision]:
    """The attributes to create; ConfigError (exit 2) listing every clash, before anything is created."""
    attributes = client.data_attributes()
    found = problems(attributes, mapping, reference)
    if found:
        raise ConfigError("Intercom provisioning refused:\n  " + "\n  ".join(found))
    existing = {
        str(a.get("name", "")).lower() for a in attributes if a.get("model") == "company" and not a.get("archived")
    }
    return [
        Provision("companies", "create attribute", f.name, {"data_type": f.type, "description": f.description})
        for f in mapping.companies.fields
        if f.name.lower() not in existing
    ]
