"""Company data attributes: which to create, and the clashes and type mismatches that stop a run before any write.

Intercom keeps one namespace of data attribute names across the company and the contact (people) models: creating a
company attribute whose name a contact attribute has is refused ("You already have 'x' in your people data"), so
provisioning lists both models and a clash is a configuration error naming the attribute, its owner and the
mapping key to change. A `datetime` attribute is listed back as `date` (the listed `data_type` is one of string,
integer, float, boolean, date: 2.16 OpenAPI, `data_attribute`), so the type check accepts that.
"""

from __future__ import annotations

from healthsync.connector.errors import ConfigError
from healthsync.connector.intercom.client import JSON, IntercomClient
from healthsync.connector.sync.plan import Provision
from healthsync.mappings.models import IntercomMapping

REPORTED_AS = {"datetime": "date"}  # mapping type -> the data_type Intercom lists it with
MODEL_WORDS = {"contact": "contact (people)", "company": "company"}


def same_type(listed: str | None, wanted: str) -> bool:
    return listed == wanted or listed == REPORTED_AS.get(wanted)


def problems(attributes: list[JSON], mapping: IntercomMapping, reference: str) -> list[str]:
    """Every clash or type mismatch between the mapping's attributes and what the workspace holds."""
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
    existing = {str(a.get("name", "")).lower() for a in attributes if a.get("model") == "company"}
    return [
        Provision("companies", "create attribute", f.name, {"data_type": f.type, "description": f.description})
        for f in mapping.companies.fields
        if f.name.lower() not in existing
    ]
