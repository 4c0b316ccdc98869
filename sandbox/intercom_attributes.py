"""Data attributes: the built-in ones, creating custom ones, and checking ``custom_attributes`` against them.

Sources: the 2.16 OpenAPI description (``createDataAttribute``: its 400 examples "You already have 'x' in your
company data. To save this as new people data, use a different name." and "... is one of our standard attributes";
``data_type`` of a listed attribute is one of string, integer, float, boolean, date: a ``datetime`` attribute is
created but listed back as ``date``, an ``options`` one as ``string``). Names are unique across the company and the
contact (people) models, compared without regard to case (a guess: the strictest reading). A ``null`` custom
attribute value is refused (intercom/intercom-node#215: "not of type Numeric, String or Boolean";
intercom/intercom-ruby#564: nulling a number attribute is a 400 under 2.3); the strict reading is emulated on every
version.

Limits not in the OpenAPI description, emulated from Intercom's own words and its users' reports:

- a string attribute value longer than 255 characters is refused. Intercom support, quoted in
  xibodevelopment/backupwordpress#793: "Theres a limit of 255 characters on custom data attributes" (the request
  answered 422 Unprocessable Entity); backupwordpress#675 could not filter on values over 255 characters. Guesses:
  the REST API refuses with 422 ``parameter_invalid`` (the strict reading: not stored, not silently cut), and the
  length counts characters (code points), not bytes.
- a workspace holds at most 250 custom data attributes (Intercom help centre, "Send custom user attributes to
  Intercom", intercom.com/help/en/articles/179: "There's a limit of 250 custom data attributes per workspace, but
  you can archive unused attributes to free up space"). Guesses, in their most conservative form: the company and
  the contact models share the 250, archived attributes count too (the reading of the people data settings page
  that issue 21 reports; the help centre's "archive to free up space" suggests otherwise), and creating the 251st
  answers 400 ``parameter_invalid``.
"""

from __future__ import annotations

import re
from typing import Any

from healthsync.sandbox.intercom_store import JSON, IntercomError, IntercomStore, now

# (name, full_name, data_type, api_writable) of the standard attributes, as GET /data_attributes lists them.
_STANDARD: dict[str, list[tuple[str, str, str, bool]]] = {
    "company": [
        ("name", "name", "string", True),
        ("company_id", "company_id", "string", False),
        ("last_request_at", "last_request_at", "date", False),
        ("remote_created_at", "remote_created_at", "date", True),
        ("user_count", "user_count", "integer", False),
        ("session_count", "session_count", "integer", False),
        ("name", "plan.name", "string", False),
        ("monthly_spend", "monthly_spend", "float", True),
        ("size", "size", "integer", True),
        ("industry", "industry", "string", True),
        ("website", "website", "string", True),
        ("id", "id", "string", False),
        ("created_at", "created_at", "date", False),
        ("updated_at", "updated_at", "date", False),
        ("id", "plan.id", "string", False),
        ("app_id", "app_id", "string", False),
    ],
    "contact": [
        ("name", "name", "string", True),
        ("email", "email", "string", True),
        ("external_id", "external_id", "string", True),
        ("phone", "phone", "string", True),
        ("role", "role", "string", False),
        ("id", "id", "string", False),
        ("created_at", "created_at", "date", False),
        ("updated_at", "updated_at", "date", False),
        ("signed_up_at", "signed_up_at", "date", True),
        ("last_seen_at", "last_seen_at", "date", True),
    ],
}
_MODEL_WORDS = {"company": "company", "contact": "people"}
_DATA_TYPES = ("string", "integer", "float", "boolean", "date", "datetime", "options")
_NAME = re.compile(r"^[\w \-$€£¥]+$")
MAX_STRING = 255
MAX_CUSTOM = 250


def standard(model: str) -> list[JSON]:
    return [
        {
            "type": "data_attribute",
            "name": name,
            "full_name": full_name,
            "label": name.replace("_", " ").capitalize(),
            "description": f"The {name.replace('_', ' ')}",
            "data_type": data_type,
            "api_writable": writable,
            "ui_writable": False,
            "messenger_writable": True,
            "custom": False,
            "archived": False,
            "model": model,
        }
        for name, full_name, data_type, writable in _STANDARD[model]
    ]


def list_attributes(store: IntercomStore, model: str | None, include_archived: bool) -> JSON:
    if model == "conversation":
        message = "model=conversation is no longer supported. Use GET /conversations/attributes instead"
        raise IntercomError(422, "parameter_invalid", message)
    models = [model] if model in _STANDARD else list(_STANDARD)
    data: list[JSON] = []
    for name in models:
        custom = [a for a in store.attributes if a["model"] == name and (include_archived or not a["archived"])]
        data += standard(name) + [dict(a) for a in custom]
    return {"type": "list", "data": data}


def create_attribute(store: IntercomStore, body: JSON) -> JSON:
    name, model, data_type = body.get("name"), body.get("model"), body.get("data_type")
    if model not in _STANDARD:
        raise _invalid("The Data Attribute model field must be either contact or company")
    if not isinstance(name, str) or not name.strip():
        raise IntercomError(400, "parameter_not_found", "Name is required")
    if not _NAME.match(name):
        raise _invalid(
            "Your name for this attribute must only contain alphanumeric characters, currency symbols, and hyphens"
        )
    if data_type not in _DATA_TYPES:
        raise _invalid("Data Type isn't an option")
    word = _MODEL_WORDS[model]
    if any(name.lower() == s[0].lower() for s in _STANDARD[model]):
        raise _invalid(
            f"'{name}' is one of our standard attributes for your {word} data. "
            f"To save this as new {word} data, use a different name."
        )
    clash = next((a for a in store.attributes if a["name"].lower() == name.lower()), None)
    if clash is not None:
        had = _MODEL_WORDS[clash["model"]]
        raise _invalid(
            f"You already have '{clash['name']}' in your {had} data. "
            f"To save this as new {word} data, use a different name."
        )
    if sum(1 for a in store.attributes if a["custom"]) >= MAX_CUSTOM:
        raise _invalid(
            f"You have reached the limit of {MAX_CUSTOM} custom data attributes for your workspace. "
            "Archived attributes count towards the limit."
        )
    options = [str(o.get("value")) for o in body.get("options") or [] if isinstance(o, dict)]
    if data_type == "options" and len(options) < 2:
        raise _invalid("You must have at least two options on a list type data attribute")
    stamp = now()
    attribute: JSON = {
        "id": store.next_number(),
        "type": "data_attribute",
        "name": name,
        "full_name": f"custom_attributes.{name}",
        "label": name,
        "description": str(body.get("description") or ""),
        "data_type": {"datetime": "date", "options": "string"}.get(data_type, data_type),
        "api_writable": True,
        "ui_writable": False,
        "messenger_writable": bool(body.get("messenger_writable", False)),
        "custom": True,
        "archived": False,
        "admin_id": "991200001",
        "created_at": stamp,
        "updated_at": stamp,
        "model": model,
    }
    if options:
        attribute["options"] = options
    store.attributes.append(attribute)
    return dict(attribute)


def check_custom_attributes(store: IntercomStore, model: str, values: Any) -> dict[str, Any]:
    """The `custom_attributes` of a write, or an IntercomError for an unknown attribute or a wrong type."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise _invalid("custom_attributes must be an object")
    known = {a["name"]: a for a in store.attributes if a["model"] == model and not a["archived"]}
    for name, value in values.items():
        attribute = known.get(name)
        if attribute is None:
            raise _invalid(f"Custom attribute '{name}' does not exist")
        if value is None:
            raise _invalid(f"Custom attribute '{name}': value null is not of type Numeric, String or Boolean")
        if not _compatible(attribute, value):
            raise _invalid(f"Custom attribute '{name}' expects a {attribute['data_type']} value, got {value!r}")
        if isinstance(value, str) and len(value) > MAX_STRING:
            message = f"Custom attribute '{name}' is {len(value)} characters long; the limit is {MAX_STRING}"
            raise IntercomError(422, "parameter_invalid", message)
    return dict(values)


def _compatible(attribute: JSON, value: Any) -> bool:
    if value is None:  # refused, as intercom/intercom-node#215 and intercom/intercom-ruby#564 report (a guess: strict)
        return False
    if "options" in attribute:
        return bool(value in attribute["options"])
    kind = str(attribute["data_type"])
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int)
    if kind in ("float", "date"):
        return isinstance(value, int | float)
    return False


def _invalid(message: str) -> IntercomError:
    return IntercomError(400, "parameter_invalid", message)
