"""Intercom sandbox: the REST API 2.16 (and 2.14 where they differ) for the endpoints healthsync uses.

Every response is JSON and carries ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (epoch
seconds) and ``X-Request-Id``; a refused request answers an ``error.list`` body. Requests need
``Authorization: Bearer <any token>`` (none -> 401 ``unauthorized``; the token ``forbidden-token`` -> 403
``api_plan_restricted``). ``Intercom-Version`` may be 2.14 or 2.16 (absent: the workspace default, 2.16) and is
echoed back; any other value is a 400 ``intercom_version_invalid``.

Routes::

    GET  /me                             the admin and its app (workspace id, name, region)
    POST /companies                      create or update by company_id (custom_attributes checked)
    GET  /companies?company_id=|name=    one company (the live API's shape); else ?tag_id=|segment_id= -> list
    GET  /companies/{id}                 one company by Intercom id; PUT updates it, DELETE archives it
    POST /companies/list                 list (companies without users are left out, as documented)
    GET  /companies/scroll               scroll: one open scroll per app (see ``intercom_scroll``)
    POST /contacts/{id}/companies        attach a contact to a company
    GET  /data_attributes?model=         list; POST /data_attributes creates (names unique across models)
    GET  /tags, GET /tags/{id}, POST /tags (create, rename, tag/untag companies, tag users)
    GET|POST /contacts/{id}/tags, DELETE /contacts/{id}/tags/{tag_id}
    POST /contacts, POST /contacts/search

Control API beyond the common one: ``PUT /_sandbox/scroll`` with ``expiry_seconds`` (idle life of a scroll,
default 60), ``drop_last`` (true: drop the answer to the scroll's final, empty page once) and ``drop_page`` (N: drop
the answer to the N-th page of the next scroll once; the dropped answers have been committed, as with
``drop_after_commit_rate``) and ``fail_page`` (N: answer the N-th page of the next scroll 500 "Please restart the
scroll operation" once; that scroll stays open, answering ``scroll_exists``, until it has been idle for the expiry).

Sources: the 2.16 OpenAPI description in ``../shared/specs/intercom/`` and the 2.14 one in intercom/Intercom-OpenAPI
(``descriptions/2.14/api.intercom.io.yaml``); ``GET /me`` shows ``app.region`` ("US"); ``DELETE /companies/{id}``
answers ``{"id", "object": "company", "deleted": true}`` and archives the company; under 2.14 ``POST /tags`` answers
404 ``company_not_found`` / ``not_found`` "User Not Found" when one referenced company or user does not exist, and
intercom/Intercom-OpenAPI#481 confirms that only the unreleased preview answers 200 for missing entities. The
sandbox keeps its earlier, lenient 2.16 answer (``tagged: false`` per missing company) as a documented guess.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from healthsync.sandbox import intercom_attributes as attributes
from healthsync.sandbox import intercom_companies as companies
from healthsync.sandbox import intercom_contacts as contacts
from healthsync.sandbox import intercom_scroll as scrolls
from healthsync.sandbox import intercom_tags as tags
from healthsync.sandbox.base import JSON, BadJson, Request, Response, Sandbox
from healthsync.sandbox.intercom_store import (
    DEFAULT_VERSION,
    SUPPORTED_VERSIONS,
    IntercomError,
    IntercomStore,
    error_list,
)

FORBIDDEN_TOKEN = "forbidden-token"
_READS = frozenset({("POST", "/contacts/search"), ("POST", "/companies/list")})


class IntercomSandbox(Sandbox):
    name = "intercom"
    default_limit = 166
    default_window_seconds = 10

    def __init__(
        self,
        seed: int = 0,
        default_version: str = DEFAULT_VERSION,
        region: str = "US",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default_version = default_version
        self.region = region
        self.clock = clock  # a scroll's idle life is measured on it (tests inject a fake one)
        self.store = IntercomStore(seed)
        self.scroll_faults = ScrollFaults()
        super().__init__(seed)

    # -- Sandbox hooks -----------------------------------------------------------------------------------
    def register(self) -> None:
        json_routes: list[tuple[str, str, Callable[[Request], JSON]]] = [
            ("GET", "/me", lambda r: self._me()),
            ("GET", "/companies/scroll", self._scroll),
            ("POST", "/companies/list", lambda r: companies.list_companies(self.store, _query(r))),
            ("GET", "/companies", lambda r: companies.retrieve(self.store, _query(r))),
            ("POST", "/companies", lambda r: companies.upsert(self.store, _body(r))),
            ("GET", "/companies/{company_id}", lambda r: companies.find(self.store, r.params["company_id"])),
            ("PUT", "/companies/{company_id}", self._update_company),
            ("DELETE", "/companies/{company_id}", lambda r: companies.delete(self.store, r.params["company_id"])),
            ("POST", "/contacts/search", lambda r: contacts.search(self.store, _body(r))),
            ("POST", "/contacts", lambda r: contacts.create(self.store, _body(r))),
            ("POST", "/contacts/{contact_id}/companies", self._attach_company),
            ("POST", "/contacts/{contact_id}/tags", self._tag_contact),
            ("GET", "/contacts/{contact_id}/tags", lambda r: tags.contact_tags(self.store, r.params["contact_id"])),
            ("DELETE", "/contacts/{contact_id}/tags/{tag_id}", self._untag_contact),
            ("GET", "/data_attributes", self._list_attributes),
            ("POST", "/data_attributes", lambda r: attributes.create_attribute(self.store, _body(r))),
            ("GET", "/tags", lambda r: tags.list_tags(self.store)),
            ("POST", "/tags", lambda r: tags.create_or_tag(self.store, _body(r), self._version(r))),
            ("GET", "/tags/{tag_id}", lambda r: tags.find_tag(self.store, r.params["tag_id"])),
        ]
        for method, pattern, handler in json_routes:
            self.route(method, pattern, _ok(handler))

    persisted = ("store",)

    def reset_state(self) -> None:
        self.store = IntercomStore(self.seed)
        self.scroll_faults = ScrollFaults()

    def after_load(self) -> None:
        self.store.scroll = None  # its clock does not survive a restart

    def control(self, request: Request) -> Response:
        if request.method == "PUT" and request.path == "/_sandbox/scroll":
            body = request.json() or {}
            unknown = set(body) - {"expiry_seconds", "drop_last", "drop_page", "fail_page"}
            if unknown:
                return Response(400, {"message": f"unknown scroll settings: {sorted(unknown)}"})
            faults = self.scroll_faults
            faults.expiry_seconds = float(body.get("expiry_seconds", faults.expiry_seconds))
            faults.drop_last = bool(body.get("drop_last", faults.drop_last))
            faults.drop_page = int(body.get("drop_page") or 0) or None
            faults.fail_page = int(body.get("fail_page") or 0) or None
            return Response(200, faults.settings())
        return super().control(request)

    def answered(self, request: Request, response: Response, entry: JSON, drop: bool) -> bool:
        """The common faults, plus what a scroll does after an error or a dropped answer (under the lock, as the
        answer is made; the latency before it is not, so concurrent requests overlap as on Intercom's servers)."""
        if request.path == "/companies/scroll":
            param = request.arg("scroll_param")
            if response.status >= 500:
                scrolls.break_scroll(self.store, param)
            elif response.status == 200 and self.scroll_faults.drops(response.body, param is None):
                entry["fault"] = "dropped_after_commit"
                return True
        return drop

    def snapshot(self) -> JSON:
        return self.store.snapshot()

    def is_write(self, request: Request) -> bool:
        return request.method != "GET" and (request.method, request.path) not in _READS

    def dispatch(self, request: Request) -> Response:
        refused = self._authenticate(request) or self._check_version(request)
        if refused is not None:
            return refused
        try:
            return super().dispatch(request)
        except IntercomError as exc:
            return self._error(exc.status, exc.code, exc.message)
        finally:
            if self.is_write(request):
                self.store.changed()

    def too_many_requests(self, request: Request) -> Response:
        limit, seconds = self.window.limit, self.window.seconds
        return self._error(429, "rate_limit_exceeded", f"Exceeded rate limit of {limit} in {seconds:g} seconds")

    def server_error(self, request: Request) -> Response:
        if request.path == "/companies/scroll":
            return self._error(500, "server_error", scrolls.RESTART_MESSAGE)
        return self._error(500, "server_error", "Server Error")

    def not_found(self, request: Request) -> Response:
        return self._error(404, "not_found", "Resource Not Found")

    def bad_json(self, request: Request) -> Response:
        return self._error(400, "bad_request", "Request body is not valid JSON")

    def decorate(self, request: Request, response: Response) -> None:
        """Rate-limit headers on every response (a fault-burst 429 looks the same), request id, version echo."""
        refused = response.status == 429
        remaining = 0 if refused else self.window.remaining
        response.headers["X-RateLimit-Limit"] = str(self.window.limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        resets_in = self.refused_for() if refused else self.window.resets_in
        response.headers["X-RateLimit-Reset"] = str(math.ceil(time.time() + resets_in))
        body = response.body if isinstance(response.body, dict) else {}
        response.headers["X-Request-Id"] = str(body.get("request_id") or self.store.request_id())
        version = request.header("intercom-version") or self.default_version
        if version in SUPPORTED_VERSIONS:
            response.headers["Intercom-Version"] = version

    # -- helpers -----------------------------------------------------------------------------------------
    def _error(self, status: int, code: str, message: str) -> Response:
        return Response(status, error_list(self.store.request_id(), code, message))

    def _authenticate(self, request: Request) -> Response | None:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._error(401, "unauthorized", "Access Token Invalid")
        if token.strip() == FORBIDDEN_TOKEN:
            return self._error(403, "api_plan_restricted", "Active subscription needed.")
        return None

    def _check_version(self, request: Request) -> Response | None:
        version = request.header("intercom-version")
        if version is None or version in SUPPORTED_VERSIONS:
            return None
        return self._error(400, "intercom_version_invalid", f"Intercom-Version '{version}' is not a valid API version")

    def _version(self, request: Request) -> str:
        return request.header("intercom-version") or self.default_version

    def _update_company(self, request: Request) -> JSON:
        return companies.update(self.store, request.params["company_id"], _body(request))

    def _scroll(self, request: Request) -> JSON:
        expiry = self.scroll_faults.expiry_seconds
        param = request.arg("scroll_param")
        if self.scroll_faults.fails(param is None):  # `serve` breaks the scroll, as after any 5xx on a page
            raise IntercomError(500, "server_error", scrolls.RESTART_MESSAGE)
        return scrolls.page(self.store, param, self.clock(), expiry)

    def _me(self) -> JSON:
        app = {
            "type": "app",
            "id_code": self.store.workspace_id,
            "name": f"Sandbox workspace {self.seed}",
            "created_at": 1734537243,
            "secure": False,
            "identity_verification": False,
            "timezone": "Etc/UTC",
            "region": self.region,
        }
        return {
            "type": "admin",
            "id": tags.ADMIN["id"],
            "email": "admin@sandbox.example.com",
            "name": "Sandbox Admin",
            "email_verified": True,
            "app": app,
            "avatar": {"type": "avatar", "image_url": None},
            "has_inbox_seat": True,
        }

    def _attach_company(self, request: Request) -> JSON:
        return companies.attach_contact(self.store, request.params["contact_id"], _body(request))

    def _tag_contact(self, request: Request) -> JSON:
        return tags.tag_contact(self.store, request.params["contact_id"], _body(request))

    def _untag_contact(self, request: Request) -> JSON:
        return tags.untag_contact(self.store, request.params["contact_id"], request.params["tag_id"])

    def _list_attributes(self, request: Request) -> JSON:
        include_archived = (request.arg("include_archived") or "false").lower() == "true"
        return attributes.list_attributes(self.store, request.arg("model"), include_archived)


@dataclass
class ScrollFaults:
    """The scroll's idle life and the scroll answers to drop (each once)."""

    expiry_seconds: float = scrolls.SCROLL_EXPIRY_SECONDS
    drop_last: bool = False
    drop_page: int | None = None
    fail_page: int | None = None
    pages: int = 0  # answers served since the last scroll opened
    asked: int = 0  # pages asked for since the last scroll opened (for fail_page)

    def settings(self) -> JSON:
        return {
            "expiry_seconds": self.expiry_seconds,
            "drop_last": self.drop_last,
            "drop_page": self.drop_page,
            "fail_page": self.fail_page,
        }

    def fails(self, opening: bool) -> bool:
        """Whether to answer this scroll page 500 (disarming the fault): the `fail_page`-th page of a scroll."""
        self.asked = 1 if opening else self.asked + 1
        if self.fail_page is not None and self.asked == self.fail_page:
            self.fail_page = None
            return True
        return False

    def drops(self, body: Any, opened: bool) -> bool:
        """Whether to drop this scroll answer (disarming the fault that fires)."""
        self.pages = 1 if opened else self.pages + 1
        if self.drop_last and isinstance(body, dict) and not body.get("data"):
            self.drop_last = False
            return True
        if self.drop_page is not None and self.pages == self.drop_page:
            self.drop_page = None
            return True
        return False


def _ok(handler: Callable[[Request], JSON]) -> Callable[[Request], Response]:
    return lambda request: Response(200, handler(request))


def _body(request: Request) -> Any:
    try:
        return request.json()
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BadJson(str(exc)) from exc


def _query(request: Request) -> dict[str, str]:
    return {key: values[0] for key, values in request.query.items() if values}
