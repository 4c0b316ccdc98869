"""HubSpot's property catalogue: groups and property definitions per object type, and value validation.

Every record value is a string. Values are checked and normalized the way HubSpot does: a number is digits, an
optional leading ``-`` and one ``.`` (no exponent: ``1.2e+06`` is refused per record with INVALID_DECIMAL),
enumeration values must be among the options (multi-select values joined by ``;``), a ``date`` must be midnight
UTC, a ``datetime`` is stored as ISO 8601 UTC, a ``bool`` is ``true`` or ``false``; ``""`` clears a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from healthsync.sandbox.hubspot_errors import JSON, OBJECT_ALREADY_EXISTS, OBJECT_NOT_FOUND, ApiError, Problem, iso

OBJECT_TYPE_IDS: Mapping[str, str] = MappingProxyType({"contacts": "0-1", "companies": "0-2", "tasks": "0-27"})
SINGULAR: Mapping[str, str] = MappingProxyType({"contacts": "CONTACT", "companies": "COMPANY", "tasks": "TASK"})
_ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: name for name, type_id in OBJECT_TYPE_IDS.items() for alias in (name, name[:-1], type_id)}
)
FIELD_TYPES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "string": ("text", "textarea", "file", "html", "phonenumber", "calculation_equation"),
        "number": ("number", "calculation_equation"),
        "date": ("date",),
        "datetime": ("date",),
        "enumeration": ("select", "radio", "checkbox", "booleancheckbox", "calculation_equation"),
        "bool": ("booleancheckbox",),
    }
)
DEFAULT_GROUPS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "companies": ("companyinformation", "Company information"),
        "contacts": ("contactinformation", "Contact information"),
        "tasks": ("taskinformation", "Task information"),
    }
)
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
# name, label, type, fieldType, options (values), read-only value
_Spec = tuple[str, str, str, str, tuple[str, ...], bool]
_COMMON: tuple[_Spec, ...] = (
    ("hs_object_id", "Record ID", "number", "number", (), True),
    ("hubspot_owner_id", "Owner", "enumeration", "select", (), False),
    ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", (), True),
    ("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", (), True),
)
_DEFAULTS: Mapping[str, tuple[_Spec, ...]] = MappingProxyType(
    {
        "companies": (
            ("name", "Company name", "string", "text", (), False),
            ("domain", "Company Domain Name", "string", "text", (), False),
            ("hs_additional_domains", "Additional Domains", "string", "text", (), False),
            ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", LIFECYCLE_STAGES, False),
            ("description", "Description", "string", "textarea", (), False),
            ("industry", "Industry", "string", "text", (), False),
            ("numberofemployees", "Number of Employees", "number", "number", (), False),
            ("createdate", "Create Date", "datetime", "date", (), True),
        ),
        "contacts": (
            ("email", "Email", "string", "text", (), False),
            ("firstname", "First Name", "string", "text", (), False),
            ("lastname", "Last Name", "string", "text", (), False),
            ("jobtitle", "Job Title", "string", "text", (), False),
            ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", LIFECYCLE_STAGES, False),
            ("createdate", "Create Date", "datetime", "date", (), True),
            ("lastmodifieddate", "Last Modified Date", "datetime", "date", (), True),
        ),
        "tasks": (
            ("hs_task_subject", "Task Title", "string", "text", (), False),
            ("hs_task_body", "Notes", "string", "textarea", (), False),
            (
                "hs_task_status",
                "Task Status",
                "enumeration",
                "select",
                ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
                False,
            ),
            ("hs_task_priority", "Priority", "enumeration", "select", ("NONE", "LOW", "MEDIUM", "HIGH"), False),
            ("hs_task_type", "Task Type", "enumeration", "select", ("TODO", "CALL", "EMAIL"), False),
            ("hs_timestamp", "Due date", "datetime", "date", (), False),
            ("hs_task_completion_date", "Completed at", "datetime", "date", (), True),
            ("hs_createdate", "Create Date", "datetime", "date", (), True),
        ),
    }
)
OPTION_KEYS = ("label", "value", "description", "displayOrder", "hidden")  # OptionInput (properties v3 spec)
_PLAIN_NUMBER = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)$")
MAX_UNIQUE = 10  # "up to 10 unique identifier properties for each object" (HubSpot's Properties guide)
UNIQUE_BY_DEFAULT: Mapping[str, frozenset[str]] = MappingProxyType(
    {"contacts": frozenset({"email", "hs_object_id"}), "companies": frozenset({"hs_object_id"}), "tasks": frozenset()}
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED_FIELDS = ("name", "label", "type", "fieldType", "groupName")


def object_type(alias: str) -> str:
    """The canonical plural name for an object type given as name, singular or type id."""
    name = _ALIASES.get(alias.lower())
    if name is None:
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {alias}")
    return name


def _option(value: str, label: str, order: int) -> JSON:
    return {"label": label, "value": value, "description": "", "displayOrder": order, "hidden": False}


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    created_at: float
    options: list[JSON] = field(default_factory=list)
    description: str = ""
    has_unique_value: bool = False
    hubspot_defined: bool = False
    read_only_value: bool = False
    hidden: bool = False
    form_field: bool = False
    display_order: int = -1
    updated_at: float = 0.0

    @property
    def multi(self) -> bool:
        return self.type == "enumeration" and self.field_type == "checkbox"

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [dict(option) for option in self.options],
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": self.name == "hubspot_owner_id",
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "archived": False,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at or self.created_at),
        }

    def normalize(self, raw: Any) -> str | Problem:
        """The stored string for `raw`, or the Problem HubSpot reports for it."""
        value = _as_string(raw)
        if value == "":
            return ""
        if self.type == "string":
            return value
        if value != value.strip():
            return Problem("INVALID_VALUE", self.name, f"{value!r} has leading or trailing whitespace")
        if self.type == "number":
            return _number(self.name, value)
        if self.type == "bool":
            if value.lower() not in ("true", "false"):
                return Problem(
                    "INVALID_OPTION", self.name, f"{value} was not one of the allowed options: [true, false]"
                )
            return value.lower()
        if self.type in ("date", "datetime"):
            return _instant(self.name, value, date_only=self.type == "date")
        return self._enumeration(value)

    def _enumeration(self, value: str) -> str | Problem:
        allowed = [str(option["value"]) for option in self.options]
        parts = value.split(";") if self.multi else [value]
        for part in parts:
            if part not in allowed:
                listed = ", ".join(allowed)
                return Problem("INVALID_OPTION", self.name, f"{part} was not one of the allowed options: [{listed}]")
        return value


def _as_string(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _number(name: str, value: str) -> str | Problem:
    if not _PLAIN_NUMBER.match(value):
        return Problem("INVALID_DECIMAL", name, f"{value} was not a valid number.")
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        return Problem("INVALID_DECIMAL", name, f"{value} was not a valid number.")
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def parse_instant(value: str) -> datetime | None:
    """A date or datetime given as epoch milliseconds or ISO 8601 (naive means UTC)."""
    if re.fullmatch(r"-?\d+", value):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _instant(name: str, value: str, *, date_only: bool) -> str | Problem:
    moment = parse_instant(value)
    if moment is None:
        return Problem("INVALID_DATE", name, f"{value} is not a valid date or timestamp.")
    if not date_only:
        return iso(moment.timestamp())
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        at = f"{moment.hour}:{moment.minute}:{moment.second}.{moment.microsecond // 1000}"
        return Problem("INVALID_DATE", name, f"{value} is at {at} UTC, not midnight!")
    return moment.strftime("%Y-%m-%d")


@dataclass
class Group:
    name: str
    label: str
    display_order: int = -1

    def to_json(self) -> JSON:
        return {"name": self.name, "label": self.label, "displayOrder": self.display_order, "archived": False}


class Catalogue:
    """Property groups and definitions of every object type, the built-in ones first."""

    def __init__(self, clock: Callable[[], float], owners: list[JSON]) -> None:
        self._clock = clock
        self.groups: dict[str, dict[str, Group]] = {}
        self.properties: dict[str, dict[str, PropertyDef]] = {}
        owner_options = [
            _option(owner["id"], f"{owner['firstName']} {owner['lastName']}", order)
            for order, owner in enumerate(owners)
        ]
        for name in OBJECT_TYPE_IDS:
            group_name, group_label = DEFAULT_GROUPS[name]
            self.groups[name] = {group_name: Group(group_name, group_label)}
            self.properties[name] = {}
            for spec in (*_DEFAULTS[name], *_COMMON):
                prop = self._builtin(spec, group_name)
                if prop.name == "hubspot_owner_id":
                    prop.options = [dict(option) for option in owner_options]
                self.properties[name][prop.name] = prop

    def _builtin(self, spec: _Spec, group_name: str) -> PropertyDef:
        name, label, type_, field_type, values, read_only = spec
        return PropertyDef(
            name=name,
            label=label,
            type=type_,
            field_type=field_type,
            group_name=group_name,
            created_at=0.0,
            options=[_option(value, value.replace("_", " ").title(), order) for order, value in enumerate(values)],
            hubspot_defined=True,
            read_only_value=read_only,
        )

    def get(self, object_type: str, name: str) -> PropertyDef | None:
        return self.properties[object_type].get(name)

    def require(self, object_type: str, name: str) -> PropertyDef:
        prop = self.get(object_type, name)
        if prop is None:
            raise ApiError(404, OBJECT_NOT_FOUND, f"Unable to find property {name} on object type {object_type}")
        return prop

    def is_unique(self, object_type: str, name: str) -> bool:
        prop = self.get(object_type, name)
        return name in UNIQUE_BY_DEFAULT[object_type] or (prop is not None and prop.has_unique_value)

    def unique_names(self, object_type: str) -> list[str]:
        return [name for name, prop in self.properties[object_type].items() if prop.has_unique_value]

    def custom(self, object_type: str) -> list[PropertyDef]:
        return [prop for prop in self.properties[object_type].values() if not prop.hubspot_defined]

    def group(self, object_type: str, name: str) -> Group:
        found = self.groups[object_type].get(name)
        if found is None:
            raise ApiError(404, OBJECT_NOT_FOUND, f"Unable to find property group {name}")
        return found

    def create_group(self, object_type: str, body: JSON) -> Group:
        missing = [key for key in ("name", "label") if not body.get(key)]
        if missing:
            raise _not_set("PropertyGroupCreate", missing)
        name = str(body["name"])
        _check_name(name, "property group")
        if name in self.groups[object_type]:
            raise ApiError(409, OBJECT_ALREADY_EXISTS, f"A property group named '{name}' already exists.")
        group = Group(name, str(body["label"]), int(body.get("displayOrder", -1)))
        self.groups[object_type][name] = group
        return group

    def create_property(self, object_type: str, body: JSON) -> PropertyDef:
        missing = [key for key in _REQUIRED_FIELDS if not body.get(key)]
        if missing:
            raise _not_set("PropertyCreate", missing)
        name = str(body["name"])
        _check_name(name, "property")
        if name in self.properties[object_type]:
            raise ApiError(409, OBJECT_ALREADY_EXISTS, f"Property named '{name}' already exists.")
        now = self._clock()
        prop = PropertyDef(
            name=name,
            label=str(body["label"]),
            type=str(body["type"]),
            field_type=str(body["fieldType"]),
            group_name=str(body["groupName"]),
            created_at=now,
            updated_at=now,
            description=str(body.get("description") or ""),
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            hidden=bool(body.get("hidden", False)),
            form_field=bool(body.get("formField", False)),
            display_order=int(body.get("displayOrder", -1)),
            options=_options(body.get("options") or []),
        )
        self._check_definition(object_type, prop)
        if prop.has_unique_value and len(self.unique_names(object_type)) >= MAX_UNIQUE:
            raise ApiError.validation(  # the limit is documented; the message is a guess
                f"You can have at most {MAX_UNIQUE} unique value properties per object; {object_type} has "
                f"{MAX_UNIQUE} already.",
                limit=[str(MAX_UNIQUE)],
            )
        self.properties[object_type][name] = prop
        return prop

    def update_property(self, object_type: str, name: str, body: JSON) -> PropertyDef:
        prop = self.require(object_type, name)
        if prop.hubspot_defined:
            raise ApiError.validation(f"The definition of the HubSpot property {name} is read-only.")
        changed = PropertyDef(**{**prop.__dict__})
        for key, attr in (("label", "label"), ("description", "description"), ("groupName", "group_name")):
            if key in body:
                setattr(changed, attr, str(body[key]))
        if "fieldType" in body:
            changed.field_type = str(body["fieldType"])
        if "options" in body:
            changed.options = _options(body["options"] or [])
        for key, attr in (("hidden", "hidden"), ("formField", "form_field")):
            if key in body:
                setattr(changed, attr, bool(body[key]))
        if "displayOrder" in body:
            changed.display_order = int(body["displayOrder"])
        self._check_definition(object_type, changed)
        changed.updated_at = self._clock()
        self.properties[object_type][name] = changed
        return changed

    def _check_definition(self, object_type: str, prop: PropertyDef) -> None:
        if prop.type not in FIELD_TYPES:
            raise ApiError.validation(f"{prop.type} is not a valid property type. Valid types: {list(FIELD_TYPES)}")
        if prop.field_type not in FIELD_TYPES[prop.type]:
            raise ApiError.validation(
                f"Field type {prop.field_type} is not valid for property type {prop.type}; "
                f"use one of {list(FIELD_TYPES[prop.type])}"
            )
        if prop.group_name not in self.groups[object_type]:
            raise ApiError.validation(f"Property group {prop.group_name} does not exist.")
        if prop.has_unique_value and prop.type not in ("string", "number"):
            raise ApiError.validation("Only string and number properties can require unique values.")
        if prop.type == "bool" and not prop.options:
            prop.options = [_option("true", "Yes", 0), _option("false", "No", 1)]
        if prop.type == "enumeration" and not prop.options:
            raise ApiError.validation(f"Enumeration property {prop.name} must have at least one option.")
        values = [option["value"] for option in prop.options]
        if len(values) != len(set(values)):
            raise ApiError.validation(f"Options of property {prop.name} must have distinct values.")


def _options(raw: list[JSON]) -> list[JSON]:
    """Options as OptionInput defines them: `label`, `value` and `hidden` required, `displayOrder` and
    `description` optional, nothing else (HubSpot-public-api-spec-collection, CRM properties v3, OptionInput;
    hubspot-api-python `crm/properties/models/option_input.py`)."""
    options = []
    for order, item in enumerate(raw):
        unknown = [key for key in item if key not in OPTION_KEYS]
        if unknown:
            raise ApiError.validation(
                f'Invalid input JSON: Unrecognized field "{unknown[0]}" (class OptionInput), not marked as ignorable'
            )
        missing = [key for key in ("hidden", "label", "value") if key not in item]
        if missing:
            raise _not_set("OptionInput", missing)
        if not item.get("label") or item.get("value") in (None, ""):
            raise ApiError.validation("Every option needs a label and a value.")
        option = _option(str(item["value"]), str(item["label"]), int(item.get("displayOrder", order)))
        option["description"] = str(item.get("description") or "")
        option["hidden"] = bool(item.get("hidden", False))
        options.append(option)
    return options


def _check_name(name: str, what: str) -> None:
    if not _NAME.match(name) or len(name) > 100 or name.startswith("hs_"):
        raise ApiError.validation(
            f"{name!r} is not a valid {what} name: it must start with a lowercase letter, contain only lowercase "
            "letters, digits and underscores, be at most 100 characters long and not start with 'hs_'.",
            name=[name],
        )


def _not_set(model: str, missing: list[str]) -> ApiError:
    listed = ", ".join(missing)
    return ApiError.validation(
        f"Invalid input JSON: Cannot build {model}, some of required attributes are not set [{listed}]"
    )
