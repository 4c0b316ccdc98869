"""The HubSpot sandbox: CRM objects, properties, owners and associations at HubSpot's date-versioned 2026-09 paths
and at the legacy v3/v4 paths (:mod:`healthsync.sandbox.hubspot_versions`: shapes, counted legacy requests).

Requests need ``Authorization: Bearer <token>``; scopes and ``PUT /_sandbox/tokens`` are described in
:mod:`healthsync.sandbox.hubspot_scopes` (the token "forbidden-token" lacks every scope). The per-app
ten-second window (100 requests by default) and the search limit (5 per second, counted apart) answer 429 with
HubSpot's body and ``Retry-After: 1`` (a fault burst: its end, rounded up); every response carries the
``X-HubSpot-RateLimit-*`` headers. Writes reach search only after ``index_lag_seconds`` (also
``search_index_lag_seconds`` of ``PUT /_sandbox/limits``).
"""

from __future__ import annotations

import math
import random
import time
import uuid
from typing import Any

from healthsync.sandbox import hubspot_versions as versions
from healthsync.sandbox.base import JSON, Handler, RateWindow, Request, Response, Sandbox
from healthsync.sandbox.hubspot_associations import association_routes
from healthsync.sandbox.hubspot_errors import OBJECT_NOT_FOUND, ApiError, iso
from healthsync.sandbox.hubspot_merge import expand, merge
from healthsync.sandbox.hubspot_properties import OBJECT_TYPE_IDS, Catalogue, object_type
from healthsync.sandbox.hubspot_records import Records
from healthsync.sandbox.hubspot_schemas import PATH as SCHEMA_PATH
from healthsync.sandbox.hubspot_schemas import object_schema
from healthsync.sandbox.hubspot_scopes import TOKEN_INFO_PATH, Tokens, missing_scopes_error
from healthsync.sandbox.hubspot_search import search

SEARCH_PER_SECOND = 5
MISSING_SCOPES_TOKEN = "forbidden-token"
_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
_OWNER_EPOCH = 1_672_531_200.0  # 2023-01-01T00:00:00Z


class HubSpotSandbox(Sandbox):
    name = "hubspot"
    default_limit = 100
    default_window_seconds = 10.0

    records: Records
    owners: list[JSON]
    search_window: RateWindow

    def __init__(self, seed: int = 0, index_lag_seconds: float = 2.0) -> None:
        self.index_lag_seconds = index_lag_seconds
        super().__init__(seed)

    persisted = ("_ids", "owners", "records")

    def after_load(self) -> None:
        """A restarted server's index has caught up: every stored version is visible to search."""
        for records in self.records.by_type.values():
            for record in records.values():
                record.versions = [(float("-inf"), values) for _, values in record.versions]
        self.records._monotonic = time.monotonic
        self.records._lookups = {}  # rebuilt from the loaded records when first used

    # -- state -----------------------------------------------------------------------------------------------
    def reset_state(self) -> None:
        self._ids = random.Random(f"hubspot-{self.seed}")
        self.owners = [self._owner(index) for index in range(3)]
        catalogue = Catalogue(time.time, self.owners)
        self.records = Records(catalogue, time.time, time.monotonic, self.index_lag_seconds)
        self.search_window = RateWindow(SEARCH_PER_SECOND, 1.0)
        self.tokens = Tokens(MISSING_SCOPES_TOKEN)

    def extra_control(self, request: Request, action: str) -> Response | None:
        if request.method == "PUT" and action == "required_properties":
            try:
                return Response(200, self.records.require_properties(request.json()))
            except ApiError as error:
                return self._error(error)
        if request.method == "PUT" and action == "tokens":
            try:
                return Response(200, self.tokens.register(request.json()))
            except ValueError as exc:
                return Response(400, {"message": str(exc)})
        return None

    def _owner(self, index: int) -> JSON:
        first, last = self._ids.choice(_FIRST), self._ids.choice(_LAST)
        user_id = self._ids.randint(1_000_000, 9_999_999)
        created = iso(_OWNER_EPOCH + index * 86_400)
        return {
            "id": str(self._ids.randint(10_000_000, 99_999_999)),
            "email": f"{first}.{last}@example.com".lower(),
            "firstName": first,
            "lastName": last,
            "userId": user_id,
            "userIdIncludingInactive": user_id,
            "type": "PERSON",
            "createdAt": created,
            "updatedAt": created,
            "archived": False,
            "teams": [],
        }

    def snapshot(self) -> JSON:
        catalogue = self.records.catalogue
        return {
            "property_groups": {
                name: [group.to_json() for group in groups.values()] for name, groups in catalogue.groups.items()
            },
            "properties": {name: [prop.to_json() for prop in catalogue.custom(name)] for name in OBJECT_TYPE_IDS},
            **{
                name: [_stored(record.to_json()) for record in records.values()]
                for name, records in self.records.by_type.items()
            },
            "associations": [link.to_json() for link in self.records.associations.links],
            "owners": [dict(owner) for owner in self.owners],
            "legacy_requests": sum(1 for entry in self.log if entry.get("legacy")),
        }

    def configure_extra_limits(self, settings: JSON) -> JSON:
        if "search_index_lag_seconds" in settings:
            self.records.index_lag = float(settings["search_index_lag_seconds"])
        if "missing_fails_batch" in settings:  # a guess made testable: is a missing id a whole-batch 404?
            self.records.missing_fails_batch = bool(settings["missing_fails_batch"])
        if "search_requests_per_second" in settings:
            self.search_window = RateWindow(int(settings["search_requests_per_second"]), 1.0)
        return {
            "search_index_lag_seconds": self.records.index_lag,
            "search_requests_per_second": self.search_window.limit,
            "missing_fails_batch": self.records.missing_fails_batch,
        }

    # -- limits, errors and headers -----------------------------------------------------------------------------
    def is_write(self, request: Request) -> bool:
        reads = ("/search", "/batch/read", TOKEN_INFO_PATH)
        return request.method != "GET" and not request.path.endswith(reads)

    def rate_limit(self, request: Request) -> Response | None:
        if request.path.endswith("/search"):
            return None if self.search_window.take() else self._limited("SECONDLY")
        return None if self.window.take() else self.too_many_requests(request)

    def too_many_requests(self, request: Request) -> Response:
        return self._limited("TEN_SECONDLY_ROLLING", math.ceil(self.burst_left()))

    def _limited(self, policy: str, retry_after: int = 1) -> Response:
        body = {
            "status": "error",
            "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": self._correlation_id(),
            "policyName": policy,
        }
        return Response(429, body, {"Retry-After": str(max(retry_after, 1))})

    def decorate(self, request: Request, response: Response) -> None:
        response.headers.setdefault("X-HubSpot-RateLimit-Max", str(self.window.limit))
        response.headers.setdefault("X-HubSpot-RateLimit-Remaining", str(self.window.remaining))
        response.headers.setdefault("X-HubSpot-RateLimit-Interval-Milliseconds", str(int(self.window.seconds * 1000)))

    def server_error(self, request: Request) -> Response:
        status = self.rng.choice((500, 502, 503, 504))
        return self._error(ApiError(status, "INTERNAL_ERROR", "An internal error occurred. Please try again."))

    def not_found(self, request: Request) -> Response:
        return self._error(ApiError(404, OBJECT_NOT_FOUND, f"resource not found: {request.method} {request.path}"))

    def bad_json(self, request: Request) -> Response:
        return self._error(ApiError.validation("Invalid input JSON: the request body is not valid JSON"))

    def _correlation_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _error(self, error: ApiError) -> Response:
        return Response(error.status, error.body(self._correlation_id()))

    def dispatch(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        try:
            current = not versions.is_legacy(request.path)
            self.records.enforce_required = current
            if current:
                versions.check(request)
            response = super().dispatch(request)
        except ApiError as error:
            return self._error(error)
        if current:
            versions.reshape(request, response)
        return response

    def is_legacy(self, request: Request) -> bool:
        return versions.is_legacy(request.path)

    def _authenticate(self, request: Request) -> Response | None:
        if request.path == TOKEN_INFO_PATH:  # the token to look at is in the body, no Authorization needed
            return None
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            message = (
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
            )
            return self._error(ApiError(401, "INVALID_AUTHENTICATION", message))
        missing = self.tokens.missing(token.strip(), request)
        if missing:
            response = self._error(missing_scopes_error(missing))
            response.body["links"] = {"scopes": "https://developers.hubspot.com/scopes"}
            return response
        return None

    # -- routes ----------------------------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Every route at its legacy path and, where 2026-09 has one, at its 2026-09 path."""
        super().route(method, pattern, handler)
        current = versions.dated(pattern)
        if current is not None:
            super().route(method, current, handler)

    def register(self) -> None:
        route = self.route
        route("POST", TOKEN_INFO_PATH, lambda request: Response(200, self.tokens.info(request.json())))
        route("GET", SCHEMA_PATH, lambda request: object_schema(self.records, request))
        route("GET", "/crm/v3/owners", self._list_owners)
        route("GET", "/crm/v3/owners/{ownerId}", self._get_owner)
        properties = "/crm/v3/properties/{objectType}"
        route("GET", f"{properties}/groups", self._list_groups)
        route("POST", f"{properties}/groups", self._create_group)
        route("GET", f"{properties}/groups/{{groupName}}", self._get_group)
        route("GET", properties, self._list_properties)
        route("POST", properties, self._create_property)
        route("GET", f"{properties}/{{propertyName}}", self._get_property)
        route("PATCH", f"{properties}/{{propertyName}}", self._update_property)
        objects = "/crm/v3/objects/{objectType}"
        route("POST", f"{objects}/batch/create", self._batch(lambda records: records.batch_create, 201))
        route("POST", f"{objects}/batch/read", self._batch(lambda records: records.batch_read, 200))
        route("POST", f"{objects}/batch/update", self._batch(lambda records: records.batch_update, 200))
        route("POST", f"{objects}/batch/upsert", self._batch(lambda records: records.batch_upsert, 200))
        route("POST", f"{objects}/batch/archive", self._batch_archive)
        route("POST", f"{objects}/search", self._search)
        route(
            "POST",
            f"{objects}/merge",
            lambda request: Response(200, merge(self.records, self._type(request), request.json())),
        )
        route("GET", objects, self._list_objects)
        route("POST", objects, self._create_object)
        route("GET", f"{objects}/{{objectId}}", self._get_object)
        route("PATCH", f"{objects}/{{objectId}}", self._update_object)
        route("DELETE", f"{objects}/{{objectId}}", self._archive_object)
        for method, pattern, handler in association_routes(lambda: self.records.associations):
            route(method, pattern, handler)

    def _type(self, request: Request, key: str = "objectType") -> str:
        return object_type(request.params[key])

    def _list_owners(self, request: Request) -> Response:
        email = request.arg("email")
        owners = [owner for owner in self.owners if email is None or owner["email"] == email.lower()]
        return Response(200, _page(owners, request, default_limit=100, max_limit=500))

    def _get_owner(self, request: Request) -> Response:
        for owner in self.owners:
            if owner["id"] == request.params["ownerId"]:
                return Response(200, owner)
        raise ApiError(404, OBJECT_NOT_FOUND, "resource not found", context={"ids": [request.params["ownerId"]]})

    def _list_groups(self, request: Request) -> Response:
        groups = self.records.catalogue.groups[self._type(request)].values()
        return Response(200, {"results": [group.to_json() for group in groups]})

    def _create_group(self, request: Request) -> Response:
        group = self.records.catalogue.create_group(self._type(request), _body(request))
        return Response(201, group.to_json())

    def _get_group(self, request: Request) -> Response:
        return Response(200, self.records.catalogue.group(self._type(request), request.params["groupName"]).to_json())

    def _list_properties(self, request: Request) -> Response:
        props = self.records.catalogue.properties[self._type(request)].values()
        return Response(200, {"results": [prop.to_json() for prop in props]})

    def _create_property(self, request: Request) -> Response:
        prop = self.records.catalogue.create_property(self._type(request), _body(request))
        return Response(201, prop.to_json())

    def _get_property(self, request: Request) -> Response:
        prop = self.records.catalogue.require(self._type(request), request.params["propertyName"])
        return Response(200, prop.to_json())

    def _update_property(self, request: Request) -> Response:
        name = request.params["propertyName"]
        prop = self.records.catalogue.update_property(self._type(request), name, _body(request))
        return Response(200, prop.to_json())

    def _batch(self, operation: Any, ok_status: int) -> Any:
        def handle(request: Request) -> Response:
            status, body = operation(self.records)(self._type(request), request.json())
            return Response(status, body)

        return handle

    def _batch_archive(self, request: Request) -> Response:
        self.records.batch_archive(self._type(request), request.json())
        return Response(204)

    def _search(self, request: Request) -> Response:
        return Response(200, search(self.records, self._type(request), request.json()))

    def _list_objects(self, request: Request) -> Response:
        kind = self._type(request)
        names = self.records.property_names(kind, _names(request, "properties"))
        live = [record.to_json(names) for record in self.records.by_type[kind].values() if not record.archived]
        page = _page(live, request, default_limit=10, max_limit=100)
        wanted = _names(request, "associations")
        page["results"] = [expand(self.records, kind, body, wanted) for body in page["results"]]
        return Response(200, page)

    def _create_object(self, request: Request) -> Response:
        return Response(201, self.records.create(self._type(request), request.json()))

    def _get_object(self, request: Request) -> Response:
        kind = self._type(request)
        id_property = request.arg("idProperty")
        record = self.records.require(kind, request.params["objectId"], id_property, follow_merges=True)
        body = record.to_json(self.records.property_names(kind, _names(request, "properties")))
        return Response(200, expand(self.records, kind, body, _names(request, "associations")))

    def _update_object(self, request: Request) -> Response:
        kind, object_id = self._type(request), request.params["objectId"]
        return Response(200, self.records.update(kind, object_id, request.arg("idProperty"), request.json()))

    def _archive_object(self, request: Request) -> Response:
        self.records.archive(self._type(request), request.params["objectId"])
        return Response(204)


def _body(request: Request) -> JSON:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError.validation("Invalid input JSON: expected an object")
    return body


def _names(request: Request, key: str) -> list[str]:
    return [name for value in request.query.get(key, []) for name in value.split(",") if name]


def _page(items: list[JSON], request: Request, default_limit: int, max_limit: int) -> JSON:
    limit = min(int(request.arg("limit") or default_limit), max_limit)
    start = int(request.arg("after") or 0)
    body: JSON = {"results": items[start : start + limit]}
    if start + limit < len(items):
        body["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
    return body


def _stored(record: JSON) -> JSON:
    return {key: record[key] for key in ("id", "properties", "createdAt", "updatedAt", "archived")}
