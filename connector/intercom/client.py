"""The boundary to `python-intercom`: the `Intercom-Version` header pinned, the SDK's retries off
(`max_retries: 0` on every call), every call rate-limited and retried by our one layer, errors translated.

Regional hosts (`region: us | eu | au`) are the SDK's own `IntercomEnvironment` values, which are the servers of the
OpenAPI description: https://api.intercom.io, https://api.eu.intercom.io, https://api.au.intercom.io.
Scroll pages are the exception to "every call retried": re-sending a `scroll_param` after a lost answer skips a
page, so they go out once (`once`); `listing.py` decides what to read instead.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from intercom import Intercom, IntercomEnvironment
from intercom.core.api_error import ApiError

from healthsync.connector.sync.ratelimit import RateLimiter
from healthsync.connector.sync.retry import RetryPolicy
from healthsync.connector.sync.status import status_error
from healthsync.errors import RejectedRecordError, RetriableError

T = TypeVar("T")
JSON = dict[str, Any]
NO_SDK_RETRIES: Any = {"max_retries": 0}
REGION_HOSTS = {
    "us": IntercomEnvironment.US_PRODUCTION,
    "eu": IntercomEnvironment.EU_PRODUCTION,
    "au": IntercomEnvironment.AU_PRODUCTION,
}
SEARCH_PAGE = 150  # the most contacts one search page holds
SEARCH_VALUES = 100  # values per IN filter (not documented; kept modest)


def error_code(body: Any) -> str:
    """The first error code of an Intercom `error.list` body ("" when there is none)."""
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            return str(errors[0].get("code") or "")
    return ""


def _message(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            return f"{errors[0].get('code', '')}: {errors[0].get('message', '')}".strip(": ")
        return str(body.get("message") or "")
    return str(body or "")


class ScrollBusyError(RetriableError):
    """Another company scroll is open in this app (400 `scroll_exists`); it expires after a minute idle."""


def translate(exc: Exception, what: str) -> Exception:
    """An SDK or network exception -> a healthsync error whose message carries no header or token."""
    if isinstance(exc, ApiError) and exc.status_code is not None:
        status = exc.status_code
        detail = f"Intercom {what}: {status} {_message(exc.body)}".strip()
        if status == 400 and error_code(exc.body) == "scroll_exists":
            return ScrollBusyError(detail, status=status)
        reset = (exc.headers or {}).get("x-ratelimit-reset") or (exc.headers or {}).get("X-RateLimit-Reset")
        wait = max(float(reset) - time.time(), 0.0) if reset and status == 429 else None
        return status_error(status, detail, retry_after=wait)
    if isinstance(exc, httpx.TransportError):
        return RetriableError(f"Intercom {what}: network error ({type(exc).__name__})")
    return exc


def _dump(value: Any) -> JSON:
    return dict(value.model_dump()) if value is not None else {}


class IntercomClient:
    def __init__(
        self,
        token: str,
        *,
        base_url: str | None,
        api_version: str,
        timeout: float,
        policy: RetryPolicy,
        limiter: RateLimiter,
        region: str = "us",
        fence: Callable[[], None] | None = None,
    ) -> None:
        self._limiter = limiter
        self.policy = policy
        self._fence = fence
        hooks: dict[str, list[Callable[..., Any]]] = {"request": [self._guard], "response": [self._observe]}
        self._http = httpx.Client(timeout=timeout, event_hooks=hooks)
        headers = {"Intercom-Version": api_version}
        options: dict[str, Any] = {"token": token, "headers": headers, "httpx_client": self._http}
        options["environment"] = REGION_HOSTS[region]
        if base_url:
            options["base_url"] = base_url.rstrip("/")
        self._sdk = Intercom(**options)
        self.calls = 0
        self._counting = threading.Lock()
        self._in_flight = 0  # calls sent and not yet answered (several with concurrent company updates)

    @property
    def base_url(self) -> str:
        """The host every call goes to (the regional host, or `base_url` when configured)."""
        return str(self._sdk._client_wrapper.get_base_url())

    @property
    def retries(self) -> int:
        return self.policy.retries

    def _guard(self, request: httpx.Request) -> None:
        """The lease fence, right before every write request leaves (each attempt): LeaseLostError stops it."""
        if self._fence is not None and request.method != "GET":
            self._fence()

    def _observe(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is not None and reset is not None:
            with self._counting:  # the other calls in flight may not be counted in this answer yet: count them
                others = self._in_flight - 1
            self._limiter.observe(int(remaining) - max(others, 0), float(reset) - time.time())

    def once(self, what: str, fn: Callable[[], T]) -> T:
        """One attempt, rate-limited and translated, never retried."""
        self._limiter.acquire()
        with self._counting:  # one client serves several threads (concurrent company updates)
            self.calls += 1
            self._in_flight += 1
        try:
            return fn()
        except Exception as exc:
            raise translate(exc, what) from exc
        finally:
            with self._counting:
                self._in_flight -= 1

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        return self.policy.call(lambda: self.once(what, fn))

    # -- workspace and data attributes -----------------------------------------------------------------------
    def me(self) -> JSON:
        api = self._sdk.admins
        return _dump(self._call("identify admin", lambda: api.identify(request_options=NO_SDK_RETRIES)))

    def data_attributes(self) -> list[JSON]:
        """The data attributes of every model, archived ones included (they count towards the workspace's limit;
        names are unique across the company and contact models)."""
        api = self._sdk.data_attributes
        page = self._call(
            "list data attributes", lambda: api.list(include_archived=True, request_options=NO_SDK_RETRIES)
        )
        return [item.model_dump() for item in page.data or []]

    def create_data_attribute(self, name: str, data_type: str, description: str) -> None:
        body = {"name": name, "model": "company", "data_type": data_type, "description": description}
        api = self._sdk.data_attributes
        self._call("create data attribute", lambda: api.create(request=body, request_options=NO_SDK_RETRIES))

    # -- companies -------------------------------------------------------------------------------------------
    def scroll_page(self, scroll_param: str | None) -> tuple[list[JSON], str | None]:
        """One scroll page, sent once: (companies, the scroll_param for the next page); read as JSON (:meth:`_json`:
        the SDK's models of a page cost about 10 ms of CPU, 6,667 pages at 100,000 companies on every run)."""
        params = {"scroll_param": scroll_param} if scroll_param else None
        page = self.once("scroll companies", functools.partial(self._json, "GET", "companies/scroll", None, params))
        items = [item for item in page.get("data") or [] if isinstance(item, dict)]
        following = page.get("scroll_param")
        return items, str(following) if following else None

    def companies_page(self, page: int, per_page: int) -> tuple[list[JSON], int, int]:
        """One page of `GET /companies` (every company, paged; each page retried): (companies, total_pages,
        total_count). Intercom returns at most the first 10,000 companies this way."""
        api = self._sdk.companies
        result = self._call(
            "list companies",
            lambda: api.retrieve(page=page, per_page=per_page, request_options=NO_SDK_RETRIES),
        )
        data = result.model_dump()
        pages = data.get("pages") or {}
        items = [dict(item) for item in data.get("data") or []]
        return items, int(pages.get("total_pages") or 1), int(data.get("total_count") or len(items))

    def company_by_company_id(self, company_id: str) -> JSON | None:
        api = self._sdk.companies
        try:
            result = self._call(
                "retrieve company", lambda: api.retrieve(company_id=company_id, request_options=NO_SDK_RETRIES)
            )
        except RejectedRecordError as exc:
            if exc.status == 404:
                return None
            raise
        data = result.model_dump()
        companies = data.get("data") or []
        if companies:
            return dict(companies[0])
        return data if data.get("company_id") == company_id else None

    def company_exists(self, remote_id: str) -> bool:
        api = self._sdk.companies
        try:
            self._call("retrieve company", lambda: api.find(remote_id, request_options=NO_SDK_RETRIES))
        except RejectedRecordError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def update_company(self, remote_id: str, custom_attributes: JSON) -> JSON:
        """PUT /companies/{id}: a company deleted in Intercom answers 404 instead of being created again."""
        api = self._sdk.companies
        body: Any = {"custom_attributes": custom_attributes}
        return _dump(
            self._call("update company", lambda: api.update(remote_id, request=body, request_options=NO_SDK_RETRIES))
        )

    # -- tags ------------------------------------------------------------------------------------------------
    def tags(self) -> dict[str, str]:
        """Every tag of the workspace: id -> name."""
        listed = self._call("list tags", lambda: self._sdk.tags.list(request_options=NO_SDK_RETRIES))
        return {str(tag.id): str(tag.name) for tag in listed.data or []}

    def tag_companies(self, tag: str, company_ids: list[str], *, untag: bool = False) -> JSON:
        items: list[JSON] = [{"id": cid, **({"untag": True} if untag else {})} for cid in company_ids]
        body = {"name": tag, "companies": items}
        api = self._sdk.tags
        result = self._call(
            "untag companies" if untag else "tag companies",
            lambda: api.create(request=body, request_options=NO_SDK_RETRIES),
        )
        return _dump(result)

    # -- contacts --------------------------------------------------------------------------------------------
    def search_contacts(self, field: str, values: list[str], keep: tuple[str, ...] | None = None) -> list[JSON]:
        """Contacts whose `field` (external_id, email) is one of `values`, every page; with `keep`, each contact
        reduced to those keys as its page arrives (a contact's JSON holds some 45 keys the matching never reads:
        held for every user of a large workspace, they were most of the run's memory; issue 25, item 7)."""
        found: list[JSON] = []
        for start in range(0, len(values), SEARCH_VALUES):
            query: Any = {"field": field, "operator": "IN", "value": values[start : start + SEARCH_VALUES]}
            page = self._search(query)
            found += page if keep is None else [{key: contact.get(key) for key in keep} for contact in page]
        return found

    def _search(self, query: Any) -> list[JSON]:
        """Every page of a contact search, read as JSON (:meth:`_json`): the SDK's model of a page of 100 contacts
        cost about 170 ms of CPU, its JSON about 7 ms (issue 25: at a million users, the whole night)."""
        found: list[JSON] = []
        cursor: str | None = None
        while True:
            paging: Any = {"per_page": SEARCH_PAGE, **({"starting_after": cursor} if cursor else {})}
            body = {"query": query, "pagination": paging}
            page = self._call("search contacts", functools.partial(self._json, "POST", "contacts/search", body))
            items = [item for item in page.get("data") or [] if isinstance(item, dict)]
            found += items
            following = (page.get("pages") or {}).get("next")
            cursor = following.get("starting_after") if isinstance(following, dict) else None
            if not cursor or not items:
                return found

    def _json(self, method: str, path: str, body: JSON | None, params: JSON | None = None) -> JSON:
        """One call through the SDK's own transport (its base URL, token and version headers, this client's hooks:
        the fence and the rate-limit headers), the answer read as JSON without building a model per record. A non-2xx
        answer raises the SDK's ApiError, as the SDK's own methods do, so :func:`translate` maps it the same way."""
        transport = self._sdk._client_wrapper.httpx_client
        response = transport.request(path, method=method, json=body, params=params, request_options=NO_SDK_RETRIES)
        status, headers = response.status_code, dict(response.headers)
        try:
            parsed = response.json()
        except ValueError:
            if 200 <= status < 300:  # a proxy's page, a truncated answer: not what Intercom sends
                raise RetriableError(f"Intercom {method} /{path}: answer {status} is not JSON") from None
            raise ApiError(status_code=status, headers=headers, body=response.text) from None
        if not 200 <= status < 300:
            raise ApiError(status_code=status, headers=headers, body=parsed)
        return dict(parsed) if isinstance(parsed, dict) else {}

    def contact_tag_ids(self, contact_id: str) -> set[str]:
        """Every tag of one contact (a search result lists at most ten)."""
        api = self._sdk.contacts
        listed = self._call(
            "list contact tags", lambda: api.list_attached_tags(contact_id, request_options=NO_SDK_RETRIES)
        )
        return {str(tag.id) for tag in listed.data or []}

    def tag_contacts(self, tag: str, contact_ids: list[str]) -> None:
        """One call tags many contacts (`POST /tags` with `users`); the tag is created if missing."""
        body: Any = {"name": tag, "users": [{"id": cid} for cid in contact_ids]}
        api = self._sdk.tags
        self._call("tag contacts", lambda: api.create(request=body, request_options=NO_SDK_RETRIES))

    def untag_contact(self, contact_id: str, tag_id: str) -> None:
        """Untagging has no batch form: `DELETE /contacts/{id}/tags/{tag_id}`, one contact per call."""
        api = self._sdk.tags
        self._call(
            "untag contact",
            lambda: api.untag_contact(contact_id=contact_id, tag_id=tag_id, request_options=NO_SDK_RETRIES),
        )

    def close(self) -> None:
        self._http.close()
