"""HubSpot associations v4 between companies, contacts and tasks (HUBSPOT_DEFINED types only).

An association is stored once, in the direction it was created; reading from the other side uses the inverse
type id (task->company 192 is company->task 191), as HubSpot associations are always two-way.

Batch reads (``POST /crm/v4/associations/{from}/{to}/batch/read``) take at most 1,000 inputs and page each
input's results: ``ASSOCIATION_PAGE`` per input, then ``paging.next.after``, which the next call sends back as
the input's ``after`` (HubSpot-public-api-spec-collection, CRM associations v4: PublicFetchAssociationsBatchRequest
``{id, after}``, PublicAssociationMultiWithLabel ``{from, to, paging}``; the 1,000-input limit is HubSpot's
documented batch-read limit; the page size is a guess, smaller than HubSpot's, so that paging is exercised).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from healthsync.sandbox.base import Request, Response
from healthsync.sandbox.hubspot_errors import JSON, OBJECT_NOT_FOUND, ApiError, iso
from healthsync.sandbox.hubspot_properties import OBJECT_TYPE_IDS, SINGULAR, object_type

MAX_ASSOCIATION_BATCH = 2000
MAX_ASSOCIATION_READ = 1000
ASSOCIATION_PAGE = 100

# type id -> (from type, to type, label or None, inverse type id)
TYPES: Mapping[int, tuple[str, str, str | None, int]] = MappingProxyType(
    {
        1: ("contacts", "companies", "Primary", 2),
        2: ("companies", "contacts", "Primary", 1),
        279: ("contacts", "companies", None, 280),
        280: ("companies", "contacts", None, 279),
        192: ("tasks", "companies", None, 191),
        191: ("companies", "tasks", None, 192),
        204: ("tasks", "contacts", None, 203),
        203: ("contacts", "tasks", None, 204),
    }
)
DEFAULT_TYPE: Mapping[tuple[str, str], int] = MappingProxyType(
    {(start, end): type_id for type_id, (start, end, label, _inverse) in TYPES.items() if label is None}
)


@dataclass(frozen=True)
class Link:
    from_type: str
    from_id: str
    to_type: str
    to_id: str
    type_id: int

    def inverse(self) -> Link:
        return Link(self.to_type, self.to_id, self.from_type, self.from_id, TYPES[self.type_id][3])

    def to_json(self) -> JSON:
        return {
            "from_type": self.from_type,
            "from_id": self.from_id,
            "to_type": self.to_type,
            "to_id": self.to_id,
            "type_id": self.type_id,
        }


def _indexed(index: dict[tuple[str, str, str], dict[str, list[int]]], stored: Link) -> None:
    """Add `stored` to an association index, seen from both ends."""
    for link in (stored, stored.inverse()):
        index.setdefault((link.from_type, link.from_id, link.to_type), {}).setdefault(link.to_id, []).append(
            link.type_id
        )


def type_spec(type_id: int) -> JSON:
    label = TYPES[type_id][2]
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}


class Associations:
    def __init__(self, exists: Callable[[str, str], bool]) -> None:
        self._exists = exists
        self.links: list[Link] = []

    def check(self, from_type: str, to_type: str | None, spec: JSON) -> tuple[str, int]:
        """The target type and type id of an AssociationSpec, or the HubSpot error for it."""
        category = spec.get("associationCategory")
        raw_id = spec.get("associationTypeId")
        if category != "HUBSPOT_DEFINED" or not isinstance(raw_id, int) or raw_id not in TYPES:
            raise ApiError.validation(f"association type id {raw_id} ({category}) does not exist")
        start, end, _label, _inverse = TYPES[raw_id]
        if start != from_type or (to_type is not None and end != to_type):
            target = to_type or end
            raise ApiError.validation(
                f"association type id {raw_id} is not valid between {SINGULAR[from_type]} and {SINGULAR[target]}"
            )
        return end, raw_id

    def require(self, object_type: str, object_id: str) -> None:
        if not self._exists(object_type, object_id):
            raise ApiError(
                404,
                OBJECT_NOT_FOUND,
                f"No {SINGULAR[object_type]} with ID {object_id} exists",
                context={"ids": [object_id]},
            )

    def add(self, link: Link) -> None:
        index, known = self._index()
        if link in known or link.inverse() in known:
            return
        self.links.append(link)
        known.add(link)
        _indexed(index, link)
        self.__dict__["_indexed"] = (self.links, len(self.links), index, known)  # kept current, not rebuilt

    def remove(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.links = [link for link in self.links if not _between(link, from_type, from_id, to_type, to_id)]

    def forget(self, object_type: str, object_id: str) -> None:
        """Drop every association of an archived record."""
        self.links = [
            link
            for link in self.links
            if (link.from_type, link.from_id) != (object_type, object_id)
            and (link.to_type, link.to_id) != (object_type, object_id)
        ]

    def targets(self, object_type: str, object_id: str, to_type: str) -> dict[str, list[int]]:
        """Associated ids of `to_type` with their type ids, seen from (object_type, object_id)."""
        found = self._index()[0].get((object_type, object_id, to_type), {})
        return {to_id: list(type_ids) for to_id, type_ids in found.items()}

    def _index(self) -> tuple[dict[tuple[str, str, str], dict[str, list[int]]], set[Link]]:
        """(from type, from id, to type) -> to id -> type ids, both directions, and the set of links: built again
        when `links` changed (appended to, or replaced). Every association read scanned every link, both ways
        (issue 25, item 8: a 10k-company first sync spent half a minute of the sandbox's CPU there)."""
        cached = self.__dict__.get("_indexed")
        if cached is not None and cached[0] is self.links and cached[1] == len(self.links):
            return cached[2], cached[3]
        index: dict[tuple[str, str, str], dict[str, list[int]]] = {}
        for stored in self.links:
            _indexed(index, stored)
        known = set(self.links)
        self.__dict__["_indexed"] = (self.links, len(self.links), index, known)
        return index, known

    def create(self, from_type: str, from_id: str, to_type: str, to_id: str, specs: list[JSON]) -> JSON:
        """Create labelled associations (PUT .../associations/{toType}/{toId}); a LabelsBetweenObjectPair."""
        self.require(from_type, from_id)
        self.require(to_type, to_id)
        type_ids = [self.check(from_type, to_type, spec)[1] for spec in specs]
        for type_id in type_ids:
            self.add(Link(from_type, from_id, to_type, to_id, type_id))
        return self.pair(from_type, from_id, to_type, to_id)

    def pair(self, from_type: str, from_id: str, to_type: str, to_id: str) -> JSON:
        type_ids = self.targets(from_type, from_id, to_type).get(to_id, [])
        labels = [label for type_id in type_ids if (label := TYPES[type_id][2]) is not None]
        return {
            "fromObjectTypeId": OBJECT_TYPE_IDS[from_type],
            "fromObjectId": int(from_id),
            "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
            "toObjectId": int(to_id),
            "labels": labels,
        }

    def create_default(self, from_type: str, from_id: str, to_type: str, to_id: str) -> JSON:
        self.require(from_type, from_id)
        self.require(to_type, to_id)
        type_id = DEFAULT_TYPE.get((from_type, to_type))
        if type_id is None:
            raise ApiError.validation(f"No default association between {from_type} and {to_type}")
        self.add(Link(from_type, from_id, to_type, to_id, type_id))
        return {
            "from": {"id": from_id},
            "to": {"id": to_id},
            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
        }

    def page(self, object_type: str, object_id: str, to_type: str) -> list[JSON]:
        self.require(object_type, object_id)
        targets = self.targets(object_type, object_id, to_type)
        return [
            {"toObjectId": int(to_id), "associationTypes": [type_spec(type_id) for type_id in type_ids]}
            for to_id, type_ids in sorted(targets.items(), key=lambda item: int(item[0]))
        ]


def _between(link: Link, from_type: str, from_id: str, to_type: str, to_id: str) -> bool:
    ends = {(link.from_type, link.from_id), (link.to_type, link.to_id)}
    return ends == {(from_type, from_id), (to_type, to_id)}


Route = tuple[str, str, Callable[[Request], Response]]


def association_routes(current: Callable[[], Associations]) -> list[Route]:
    """The v4 association endpoints; `current` gives the live store (it is replaced on reset)."""

    def types(request: Request, start: str, end: str) -> tuple[str, str]:
        return object_type(request.params[start]), object_type(request.params[end])

    def create(request: Request) -> Response:
        from_type, to_type = types(request, "objectType", "toObjectType")
        specs = request.json()
        if not isinstance(specs, list):
            raise ApiError.validation("Invalid input JSON: expected a list of association specs")
        pair = current().create(from_type, request.params["objectId"], to_type, request.params["toObjectId"], specs)
        return Response(201, pair)

    def create_default(request: Request) -> Response:
        from_type, to_type = types(request, "objectType", "toObjectType")
        made = current().create_default(from_type, request.params["objectId"], to_type, request.params["toObjectId"])
        return Response(200, _batch_body([made], []))

    def archive(request: Request) -> Response:
        from_type, to_type = types(request, "objectType", "toObjectType")
        current().remove(from_type, request.params["objectId"], to_type, request.params["toObjectId"])
        return Response(204)

    def page(request: Request) -> Response:
        from_type, to_type = types(request, "objectType", "toObjectType")
        return Response(200, {"results": current().page(from_type, request.params["objectId"], to_type)})

    def batch_create(request: Request) -> Response:
        from_type, to_type = types(request, "fromObjectType", "toObjectType")
        store = current()

        def one(item: JSON) -> JSON:
            from_id, to_id = _ids(item)
            return store.create(from_type, from_id, to_type, to_id, item.get("types") or [])

        return _per_input(_batch_inputs(request), one, ok_status=201)

    def batch_default(request: Request) -> Response:
        from_type, to_type = types(request, "fromObjectType", "toObjectType")
        return _per_input(
            _batch_inputs(request), lambda item: current().create_default(from_type, *_ids(item), to_type), 200
        )

    def batch_read(request: Request) -> Response:
        from_type, to_type = types(request, "fromObjectType", "toObjectType")

        def one(item: JSON) -> JSON:
            from_id = str(item.get("id"))
            start = int(str(item.get("after") or 0)) if str(item.get("after") or "0").isdigit() else 0
            found = current().page(from_type, from_id, to_type)
            result: JSON = {"from": {"id": from_id}, "to": found[start : start + ASSOCIATION_PAGE]}
            if start + ASSOCIATION_PAGE < len(found):
                after = str(start + ASSOCIATION_PAGE)
                result["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
            return result

        return _per_input(_batch_inputs(request, MAX_ASSOCIATION_READ), one, ok_status=200)

    def batch_archive(request: Request) -> Response:
        from_type, to_type = types(request, "fromObjectType", "toObjectType")
        for item in _batch_inputs(request):
            for target in item.get("to") or []:
                current().remove(from_type, str((item.get("from") or {}).get("id")), to_type, str(target.get("id")))
        return Response(204)

    single = "/crm/v4/objects/{objectType}/{objectId}/associations"
    batch = "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch"
    return [
        ("PUT", f"{single}/default/{{toObjectType}}/{{toObjectId}}", create_default),
        ("PUT", f"{single}/{{toObjectType}}/{{toObjectId}}", create),
        ("DELETE", f"{single}/{{toObjectType}}/{{toObjectId}}", archive),
        ("GET", f"{single}/{{toObjectType}}", page),
        ("POST", f"{batch}/create", batch_create),
        ("POST", f"{batch}/associate/default", batch_default),
        ("POST", f"{batch}/read", batch_read),
        ("POST", f"{batch}/archive", batch_archive),
    ]


def _ids(item: JSON) -> tuple[str, str]:
    return str((item.get("from") or {}).get("id")), str((item.get("to") or {}).get("id"))


def _batch_inputs(request: Request, limit: int = MAX_ASSOCIATION_BATCH) -> list[JSON]:
    body = request.json()
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
        raise ApiError.validation("Invalid input JSON: 'inputs' must be a list of objects")
    if len(inputs) > limit:
        raise ApiError.validation(f"Batch input size {len(inputs)} exceeds the limit of {limit}")
    return inputs


def _per_input(inputs: list[JSON], one: Callable[[JSON], JSON], ok_status: int) -> Response:
    results, errors = [], []
    for item in inputs:
        try:
            results.append(one(item))
        except ApiError as error:
            errors.append(error.standard_error())
    body = _batch_body(results, errors)
    return Response(207 if errors else ok_status, body)


def _batch_body(results: list[JSON], errors: list[JSON]) -> JSON:
    now = iso(time.time())
    body: JSON = {"status": "COMPLETE", "results": results, "requestedAt": now, "startedAt": now, "completedAt": now}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body
