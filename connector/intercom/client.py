"""The boundary to `python-intercom`: the `Intercom-Version` header pinned, the SDK's retries off
(`max_retries: 0` on every call), every call rate-limited and retried by our one layer, errors translated.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from intercom import Intercom
from intercom.core.api_error import ApiError

from healthsync.connector.errors import AuthError, RejectedRecordError, RetriableError
from healthsync.connector.sync.ratelimit import RateLimiter
from healthsync.connector.sync.retry import RetryPolicy

T = TypeVar("T")
JSON = dict[str, Any]
NO_SDK_RETRIES: Any = {"max_retries": 0}


def _message(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            return f"{errors[0].get('code', '')}: {errors[0].get('message', '')}".strip(": ")
        return str(body.get("message") or "")
    return str(body or "")


def translate(exc: Exception, what: str) -> Exception:
    """An SDK or network exception -> a healthsync error whose message carries no header or token."""
    if isinstance(exc, ApiError) and exc.status_code is not None:
        status = exc.status_code
        detail = f"Intercom {what}: {status} {_message(exc.body)}".strip()
        if status == 429:
            reset = (exc.headers or {}).get("x-ratelimit-reset") or (exc.headers or {}).get("X-RateLimit-Reset")
            wait = max(float(reset) - time.time(), 0.0) if reset else None
            return RetriableError(detail, status=status, retry_after=wait)
        if status >= 500:
            return RetriableError(detail, status=status)
        if status in (401, 403):
            return AuthError(detail)
        return RejectedRecordError(detail, status=status)
    if isinstance(exc, httpx.TransportError):
        return RetriableError(f"Intercom {what}: network error ({type(exc).__name__})")
    return exc


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
        fence: Callable[[], None] | None = None,
    ) -> None:
        self._limiter = limiter
        self._policy = policy
        self._fence = fence
        hooks: dict[str, list[Callable[..., Any]]] = {"request": [self._guard], "response": [self._observe]}
        self._http = httpx.Client(timeout=timeout, event_hooks=hooks)
        headers = {"Intercom-Version": api_version}
        options: dict[str, Any] = {"token": token, "headers": headers, "httpx_client": self._http}
        if base_url:
            options["base_url"] = base_url.rstrip("/")
        self._sdk = Intercom(**options)
        self.calls = 0

    @property
    def retries(self) -> int:
        return self._policy.retries

    def _guard(self, request: httpx.Request) -> None:
        """The lease fence, right before every write request leaves (each attempt): LeaseLostError stops it."""
        if self._fence is not None and request.method != "GET":
            self._fence()

    def _observe(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is not None and reset is not None:
            self._limiter.observe(int(remaining), float(reset) - time.time())

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            self._limiter.acquire()
            self.calls += 1
            try:
                return fn()
            except Exception as exc:
                raise translate(exc, what) from exc

        return self._policy.call(attempt)

    def data_attributes(self) -> list[JSON]:
        api = self._sdk.data_attributes
        page = self._call("list data attributes", lambda: api.list(model="company", request_options=NO_SDK_RETRIES))
        return [item.model_dump() for item in page.data or []]

    def create_data_attribute(self, name: str, data_type: str, description: str) -> None:
        body = {"name": name, "model": "company", "data_type": data_type, "description": description}
        api = self._sdk.data_attributes
        self._call("create data attribute", lambda: api.create(request=body, request_options=NO_SDK_RETRIES))

    def companies(self) -> list[JSON]:
        """Every company, through the scroll API (the list API leaves out companies without contacts)."""
        found: list[JSON] = []
        scroll_param: str | None = None
        api = self._sdk.companies
        while True:
            page = self._call("scroll companies", functools.partial(self._scroll, api, scroll_param))
            items = page.items or []
            found += [item.model_dump() for item in items]
            scroll_param = getattr(page.response, "scroll_param", None)
            if not items or not scroll_param:
                return found

    @staticmethod
    def _scroll(api: Any, scroll_param: str | None) -> Any:
        return api.scroll(scroll_param=scroll_param, request_options=NO_SDK_RETRIES)

    def close(self) -> None:
        self._http.close()

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

    def upsert_company(self, company_id: str, custom_attributes: JSON) -> JSON:
        body = {"company_id": company_id, "custom_attributes": custom_attributes}
        api = self._sdk.companies
        result = self._call(
            "update company",
            lambda: api.create_or_update(request=body, request_options=NO_SDK_RETRIES),
        )
        return dict(result.model_dump())

    def tag_companies(self, tag: str, company_ids: list[str], *, untag: bool = False) -> JSON:
        items: list[JSON] = [{"id": cid, **({"untag": True} if untag else {})} for cid in company_ids]
        body = {"name": tag, "companies": items}
        api = self._sdk.tags
        result = self._call(
            "untag companies" if untag else "tag companies",
            lambda: api.create(request=body, request_options=NO_SDK_RETRIES),
        )
        return dict(result.model_dump())
