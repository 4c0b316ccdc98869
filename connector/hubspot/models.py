"""Our own models of the HubSpot 2026-09 request and response bodies healthsync sends and reads.

Written from HubSpot's descriptions (HubSpot/HubSpot-public-api-spec-collection, read, not copied):
`PublicApiSpecs/CRM/Objects/Rollouts/424/2026-09/objects.json` (BatchReadInputSimplePublicObjectId,
PublicObjectSearchRequest, SimplePublicObjectBatchInputForCreate / BatchInput / BatchInputUpsert,
BatchResponseSimplePublicObject, BatchResponseSimplePublicUpsertObject, SimplePublicObject, StandardError, Error),
`CRM/Associations/Rollouts/130902/2026-09/associations.json` (BatchInputPublicFetchAssociationsBatchRequest,
BatchResponsePublicAssociationMultiWithLabel), `CRM/Properties/Rollouts/145899/2026-09/properties.json` (PropertyCreate,
PropertyUpdate, PropertyGroupCreate, Property, PropertyGroup), `CRM/Crm Owners/Rollouts/146888/2026-09/crmOwners.json`
(CollectionResponsePublicOwnerForwardPaging), `CRM/Schemas/Rollouts/145900/2026-09/schemas.json` (ObjectSchema).
Only the fields healthsync uses or must tolerate are modelled; types are strict (an integer is not a string); our
requests forbid undocumented fields, responses tolerate extra ones.

`check_exchange(method, path, status, request, response)` validates one logged exchange; the tests run it over
every request of a full run.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["CANCELED", "COMPLETE", "PENDING", "PROCESSING"]
Category = Literal["HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK"]
Operator = Literal[
    "BETWEEN", "CONTAINS_TOKEN", "EQ", "GT", "GTE", "HAS_PROPERTY", "IN", "LT", "LTE", "NEQ",
    "NOT_CONTAINS_TOKEN", "NOT_HAS_PROPERTY", "NOT_IN",
]  # fmt: skip


class Sent(BaseModel):
    """A request body: only documented fields, strict types."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Read(BaseModel):
    """A response body: strict types, extra fields tolerated (HubSpot adds fields within a version)."""

    model_config = ConfigDict(extra="allow", strict=True)


# -- requests ------------------------------------------------------------------------------------------------
class ObjectId(Sent):
    id: str


class BatchRead(Sent):
    inputs: list[ObjectId]
    properties: list[str]
    propertiesWithHistory: list[str]
    idProperty: str | None = None


class Filter(Sent):
    propertyName: str
    operator: Operator
    value: str | None = None
    values: list[str] | None = None
    highValue: str | None = None


class FilterGroup(Sent):
    filters: list[Filter]


class SearchRequest(Sent):
    after: str
    filterGroups: list[FilterGroup] = Field(max_length=6)
    limit: int = Field(le=200)
    properties: list[str]
    sorts: list[str]
    query: str | None = None


class AssociationSpec(Sent):
    associationCategory: Category
    associationTypeId: int


class AssociationTo(Sent):
    to: ObjectId
    types: list[AssociationSpec]


class CreateInput(Sent):
    properties: dict[str, str]
    associations: list[AssociationTo]
    objectWriteTraceId: str | None = None


class UpdateInput(Sent):
    id: str
    properties: dict[str, str]
    idProperty: str | None = None
    objectWriteTraceId: str | None = None


class BatchCreate(Sent):
    inputs: list[CreateInput] = Field(max_length=100)


class BatchUpdate(Sent):
    inputs: list[UpdateInput] = Field(max_length=100)


class FetchAssociations(Sent):
    id: str
    after: str | None = None


class AssociationBatchRead(Sent):
    inputs: list[FetchAssociations] = Field(max_length=1000)


class OptionInput(Sent):
    label: str
    value: str
    displayOrder: int
    hidden: bool
    description: str | None = None


class PropertyGroupCreate(Sent):
    name: str
    label: str
    displayOrder: int | None = None


class PropertyCreate(Sent):
    name: str
    label: str
    type: Literal["bool", "date", "datetime", "enumeration", "number", "phone_number", "string"]
    fieldType: str
    groupName: str
    description: str | None = None
    options: list[OptionInput] | None = None
    hasUniqueValue: bool | None = None
    displayOrder: int | None = None


class PropertyUpdate(Sent):
    options: list[OptionInput] | None = None
    label: str | None = None
    description: str | None = None
    groupName: str | None = None


# -- responses -----------------------------------------------------------------------------------------------
class ErrorDetail(Read):
    message: str
    code: str | None = None
    context: dict[str, list[str]] | None = None


class StandardError(Read):
    category: str
    context: dict[str, list[str]]
    errors: list[ErrorDetail]
    links: dict[str, str]
    message: str
    status: str


class Error(Read):
    category: str
    correlationId: str
    message: str
    context: dict[str, list[str]] | None = None
    errors: list[ErrorDetail] | None = None


class SimplePublicObject(Read):
    archived: bool
    createdAt: str
    id: str
    properties: dict[str, str | None]
    updatedAt: str
    objectWriteTraceId: str | None = None


class SimplePublicUpsertObject(SimplePublicObject):
    new: bool
    properties: dict[str, str]  # type: ignore[assignment]  # non-nullable here, as the description says


class _Batch(Read):
    completedAt: str
    startedAt: str
    status: Status
    errors: list[StandardError] | None = None
    numErrors: int | None = None


class BatchResponse(_Batch):
    results: list[SimplePublicObject]


class BatchUpsertResponse(_Batch):
    results: list[SimplePublicUpsertObject]


class NextPage(Read):
    after: str


class Paging(Read):
    next: NextPage | None = None


class SearchResponse(Read):
    results: list[SimplePublicObject]
    total: int
    paging: Paging | None = None


class AssociationSpecWithLabel(Read):
    category: Category
    typeId: int
    label: str | None = Field(default=None)  # absent when unlabelled; never null (checked below)


class AssociatedObject(Read):
    toObjectId: str
    associationTypes: list[AssociationSpecWithLabel]


class AssociationResult(Read):
    from_: ObjectId = Field(alias="from")
    to: list[AssociatedObject]
    paging: Paging | None = None


class AssociationBatchResponse(_Batch):
    results: list[AssociationResult]


class Option(Read):
    label: str
    value: str
    hidden: bool
    displayOrder: int | None = None


class Property(Read):
    name: str
    label: str
    type: str
    fieldType: str
    groupName: str
    description: str
    options: list[Option]
    hasUniqueValue: bool | None = None


class Properties(Read):
    results: list[Property]


class PropertyGroup(Read):
    archived: bool
    label: str
    name: str
    displayOrder: int | None = None


class PropertyGroups(Read):
    results: list[PropertyGroup]


class Owner(Read):
    archived: bool
    createdAt: str
    id: str
    type: Literal["PERSON", "QUEUE"]
    updatedAt: str
    email: str | None = None
    userId: int | None = None


class Owners(Read):
    results: list[Owner]
    paging: Paging | None = None


class ObjectPage(Read):
    """CollectionResponseSimplePublicObjectWithAssociationsForwardPaging (check's read-scope probe)."""

    results: list[SimplePublicObject]
    paging: Paging | None = None


class ObjectSchema(Read):
    """ObjectSchema of `CRM/Schemas/Rollouts/145900/2026-09/schemas.json`: its required fields."""

    allowsSensitiveProperties: bool
    archived: bool
    associations: list[dict[str, Any]]
    fullyQualifiedName: str
    id: str
    labels: dict[str, str]
    name: str
    objectTypeId: str
    properties: list[dict[str, Any]]
    requiredProperties: list[str]
    searchableProperties: list[str]
    secondaryDisplayProperties: list[str]


_V = r"\d{4}-\d{2}"
_ASSOCIATIONS = rf"^/crm/associations/{_V}/[^/]+/[^/]+/batch/read$"
Route = tuple[str, re.Pattern[str], type[BaseModel] | None, type[BaseModel] | None]
ROUTES: list[Route] = [
    ("POST", re.compile(rf"^/crm/objects/{_V}/[^/]+/batch/read$"), BatchRead, BatchResponse),
    ("POST", re.compile(rf"^/crm/objects/{_V}/[^/]+/batch/create$"), BatchCreate, BatchResponse),
    ("POST", re.compile(rf"^/crm/objects/{_V}/[^/]+/batch/update$"), BatchUpdate, BatchResponse),
    ("POST", re.compile(rf"^/crm/objects/{_V}/[^/]+/batch/upsert$"), BatchUpdate, BatchUpsertResponse),
    ("POST", re.compile(rf"^/crm/objects/{_V}/[^/]+/search$"), SearchRequest, SearchResponse),
    ("POST", re.compile(_ASSOCIATIONS), AssociationBatchRead, AssociationBatchResponse),
    ("GET", re.compile(rf"^/crm/properties/{_V}/[^/]+/groups$"), None, PropertyGroups),
    ("POST", re.compile(rf"^/crm/properties/{_V}/[^/]+/groups$"), PropertyGroupCreate, PropertyGroup),
    ("GET", re.compile(rf"^/crm/properties/{_V}/[^/]+$"), None, Properties),
    ("POST", re.compile(rf"^/crm/properties/{_V}/[^/]+$"), PropertyCreate, Property),
    ("PATCH", re.compile(rf"^/crm/properties/{_V}/[^/]+/[^/]+$"), PropertyUpdate, Property),
    ("GET", re.compile(rf"^/crm/owners/{_V}$"), None, Owners),
    ("GET", re.compile(rf"^/crm/objects/{_V}/[^/]+$"), None, ObjectPage),
    ("GET", re.compile(rf"^/crm-object-schemas/{_V}/schemas/[^/]+$"), None, ObjectSchema),
]  # fmt: skip


class UnknownEndpoint(ValueError):
    """A request to a path healthsync has no model for (so: one it should not send)."""


def check_exchange(method: str, path: str, status: int | None, request: Any, response: Any) -> None:
    """Validate one request and its answer; raises pydantic's ValidationError or UnknownEndpoint."""
    sent, answered = _models(method, path)
    if sent is not None:
        sent.model_validate(request)
    if status is None or status == 429:  # a reset connection; a 429 has HubSpot's rate-limit body
        return
    if status >= 400:
        Error.model_validate(response)
    elif answered is not None:
        model = answered.model_validate(response)
        _no_null_labels(model)


def _models(method: str, path: str) -> tuple[type[BaseModel] | None, type[BaseModel] | None]:
    for verb, pattern, sent, answered in ROUTES:
        if verb == method and pattern.match(path):
            return sent, answered
    raise UnknownEndpoint(f"{method} {path}")


def _no_null_labels(model: BaseModel) -> None:
    """`label` is a non-nullable string in AssociationSpecWithLabel: absent is fine, null is not."""
    if isinstance(model, AssociationBatchResponse):
        for result in model.results:
            for item in result.to:
                for spec in item.associationTypes:
                    if "label" in spec.model_fields_set and spec.label is None:
                        raise ValueError(f"association type {spec.typeId}: label is null")
