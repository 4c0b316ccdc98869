"""Mapping models: what each destination receives, validated with `extra="forbid"` before any network call."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from healthsync.mappings.template import placeholders

HUBSPOT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
TIERS = ("healthy", "neutral", "at_risk")

HubSpotType = Literal["number", "enumeration", "datetime", "date", "string", "bool"]
DEFAULT_FIELD_TYPE: dict[str, str] = {
    "number": "number",
    "enumeration": "select",
    "datetime": "date",
    "date": "date",
    "string": "text",
    "bool": "booleancheckbox",
}
FIELD_TYPES: dict[str, set[str]] = {
    "number": {"number", "calculation_equation"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "datetime": {"date"},
    "date": {"date"},
    "string": {"text", "textarea", "phonenumber", "html"},
    "bool": {"booleancheckbox"},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubSpotField(_Strict):
    """One score column -> one HubSpot property of the right type."""

    column: str = Field(min_length=1)
    property: str
    label: str = Field(min_length=1)
    type: HubSpotType
    field_type: str | None = None
    options: list[str] = Field(default_factory=list)
    description: str = ""

    @field_validator("property")
    @classmethod
    def _name_rules(cls, value: str) -> str:
        if not HUBSPOT_NAME.match(value):
            raise ValueError("HubSpot property names are lowercase letters, digits and _, starting with a letter")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HubSpotField:
        self.field_type = self.field_type or DEFAULT_FIELD_TYPE[self.type]
        if self.field_type not in FIELD_TYPES[self.type]:
            allowed = ", ".join(sorted(FIELD_TYPES[self.type]))
            raise ValueError(f"field_type {self.field_type!r} does not fit type {self.type!r} (use {allowed})")
        if self.type == "enumeration" and not self.options:
            raise ValueError("an enumeration needs its options")
        return self


class PropertyGroup(_Strict):
    name: str = "customer_health"
    label: str = "Customer health"

    @field_validator("name")
    @classmethod
    def _name_rules(cls, value: str) -> str:
        if not HUBSPOT_NAME.match(value):
            raise ValueError("HubSpot group names are lowercase letters, digits and _, starting with a letter")
        return value


class AccountIdProperty(_Strict):
    name: str = "healthsync_account_id"
    label: str = "Account id (healthsync)"


def _template_values(values: dict[str, str]) -> dict[str, str]:
    """Property -> value templates, each checked by the template language (a bad one names its placeholder)."""
    for value in values.values():
        placeholders(value)
    return values


class HubSpotCompanies(_Strict):
    account_id_property: AccountIdProperty = Field(default_factory=AccountIdProperty)
    match_by_domain: bool = True
    fields: list[HubSpotField] = Field(min_length=1)
    on_create: dict[str, str] = Field(
        default_factory=dict,
        description="property -> value template set only on companies healthsync creates (e.g. a required property)",
    )

    @field_validator("on_create")
    @classmethod
    def _templates(cls, values: dict[str, str]) -> dict[str, str]:
        return _template_values(values)


class HubSpotContacts(_Strict):
    enabled: bool = True
    fields: list[HubSpotField] = Field(default_factory=list)


Priority = Literal["HIGH", "MEDIUM", "LOW"]


class Escalation(_Strict):
    """Raise a task's priority for accounts whose `column` (default `mrr`) is at least `at_least`."""

    column: str = Field(default="mrr", min_length=1)
    at_least: float
    priority: Priority = "HIGH"


class TaskRule(_Strict):
    """A play that creates a HubSpot task: one per (account, play, period), owned by the company owner."""

    play: str = Field(min_length=1)
    subject: str = Field(min_length=1, max_length=500)
    body: str = "{{ reasons }}\n\n{{ summary }}"
    priority: Priority = "MEDIUM"
    due_in_days: int = Field(default=3, ge=0, le=365)
    period: Literal["week", "month", "quarter"] = "week"
    escalate: Escalation | None = Field(default=None, description="a higher priority above an MRR threshold")
    properties: dict[str, str] = Field(
        default_factory=dict, description="more task properties, value templates (e.g. a property the portal requires)"
    )

    @field_validator("properties")
    @classmethod
    def _property_templates(cls, values: dict[str, str]) -> dict[str, str]:
        return _template_values(values)

    @field_validator("subject", "body")
    @classmethod
    def _template(cls, value: str) -> str:
        placeholders(value)
        return value


class HubSpotMapping(_Strict):
    """`mappings/hubspot.yaml`."""

    destination: Literal["hubspot"]
    group: PropertyGroup = Field(default_factory=PropertyGroup)
    companies: HubSpotCompanies
    contacts: HubSpotContacts = Field(default_factory=HubSpotContacts)
    tasks: list[TaskRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_properties(self) -> HubSpotMapping:
        for label, fields in (("companies", self.companies.fields), ("contacts", self.contacts.fields)):
            names = [field.property for field in fields]
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise ValueError(f"{label}: property mapped twice: {', '.join(duplicates)}")
        return self


IntercomType = Literal["string", "integer", "float", "boolean", "date", "datetime"]


class IntercomAttribute(_Strict):
    """One score column -> one Intercom company data attribute."""

    column: str = Field(min_length=1)
    name: str = Field(pattern=r"^[A-Za-z0-9_]{1,190}$")
    type: IntercomType
    description: str = ""


class IntercomCompanies(_Strict):
    fields: list[IntercomAttribute] = Field(min_length=1)
    tier_tags: dict[str, str] = Field(
        default_factory=lambda: {
            "healthy": "Health: Healthy",
            "neutral": "Health: Neutral",
            "at_risk": "Health: At risk",
        }
    )

    play_tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _every_tier(self) -> IntercomCompanies:
        unknown = sorted(set(self.tier_tags) - set(TIERS))
        if unknown:
            raise ValueError(f"tier_tags: unknown tier {', '.join(unknown)} (tiers: {', '.join(TIERS)})")
        missing = [tier for tier in TIERS if tier not in self.tier_tags]
        if missing:
            raise ValueError(f"tier_tags: a tag name is needed for every tier; missing {', '.join(missing)}")
        if len(set(self.tier_tags.values())) != len(self.tier_tags):
            raise ValueError("tier_tags: every tier needs its own tag name")
        if set(self.tier_tags.values()) & set(self.play_tags.values()):
            raise ValueError("play_tags: a play tag must not share its name with a tier tag")
        return self


class IntercomContacts(_Strict):
    """Contact tags: each contact of an account carries the account's tier tag (the company tags' names)."""

    tier_tags: bool = False


class IntercomMapping(_Strict):
    """`mappings/intercom.yaml`."""

    destination: Literal["intercom"]
    companies: IntercomCompanies
    contacts: IntercomContacts = Field(default_factory=IntercomContacts)


TierName = Literal["healthy", "neutral", "at_risk"]
Scalar = str | int | float | bool


class Range(_Strict):
    """A numeric filter: `min` <= value (and value <= `max`)."""

    min: float | None = None
    max: float | None = None


class SlackRule(_Strict):
    """One kind of alert, with its filters; sent at most once per (account, rule, period)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    kind: Literal["tier_change", "play_fired", "score_drop", "activation_completed"]
    from_tiers: list[TierName] = Field(default_factory=list, alias="from", description="tier_change: from (any)")
    to_tiers: list[TierName] = Field(default_factory=list, alias="to", description="tier_change: into (any)")
    plays: list[str] = Field(default_factory=list, description="play_fired: these plays (any)")
    min_points: int = Field(default=10, ge=1, le=99, description="score_drop: a drop of at least this many points")
    where: dict[str, Scalar | list[Scalar] | Range] = Field(
        default_factory=dict, description="score-table column -> value, list of values, or {min, max}"
    )
    period: Literal["run", "day", "week", "month", "quarter"] = "week"
    text: str = Field(default="", max_length=500, description="template of the alert line (default: by kind)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("text")
    @classmethod
    def _template(cls, value: str) -> str:
        placeholders(value)
        return value


class SlackMapping(_Strict):
    """`mappings/slack.yaml`: alert rules and how they are delivered (a digest per run, or one message each)."""

    destination: Literal["slack"]
    delivery: Literal["digest", "each"] = "digest"
    digest_limit: int = Field(default=10, ge=1, le=40, description="alerts listed in a digest before 'and N more'")
    title: str = Field(default="Customer health alerts", min_length=1, max_length=150)
    rules: list[SlackRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_rules(self) -> SlackMapping:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"rules: rule name used twice: {', '.join(duplicates)}")
        return self
