"""The boundary to `hubspot-api-client`: every call is rate-limited, retried by our one retry layer, and its
errors are translated into the healthsync error tree. The SDK's own urllib3 retries are off (`retry=False`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import urllib3
from hubspot import HubSpot

from healthsync.connector.errors import AuthError, FatalDestinationError, RejectedRecordError, RetriableError
from healthsync.connector.sync.ratelimit import RateLimiter
from healthsync.connector.sync.retry import RetryPolicy

JSON = dict[str, Any]
BATCH_SIZE = 100
ASSOCIATION_BATCH = 1000  # v4 batch association reads take at most 1,000 inputs per call
TOKEN_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"
_SCOPES_IN_TEXT = re.compile(r"missingScopes=\[([^\]]*)\]")


def _body(exc: Exception) -> JSON:
    raw = getattr(exc, "body", None)
    try:
        parsed = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def missing_scopes(body: JSON) -> list[str]:
    """The scopes a 403 MISSING_SCOPES body names: `errors[].context.requiredScopes` (as HubSpot sends them;
    HubSpot/hubspot-api-nodejs#268), `requiredGranularScopes`, or the `{missingScopes=[a, b]}` text form."""
    found: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            for key in ("requiredScopes", "requiredGranularScopes", "missingScopes"):
                found += [str(scope) for scope in context.get(key) or []]
        elif isinstance(context, str) and (match := _SCOPES_IN_TEXT.search(context)):
            found += [part.strip() for part in match.group(1).split(",") if part.strip()]
    return list(dict.fromkeys(found))


def translate(exc: Exception, what: str) -> Exception:
    """An SDK or network exception -> a healthsync error whose message carries no header or token."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        body = _body(exc)
        message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
        detail = f"HubSpot {what}: {status} {body.get('category') or body.get('errorType') or ''} {message}".strip()
        if status == 429:
            if str(body.get("policyName", "")).upper() == "DAILY":
                return FatalDestinationError(f"{detail} (the daily limit is reached; the run stops)")
            retry_after = _header(getattr(exc, "headers", None), "Retry-After")
            return RetriableError(detail, status=status, retry_after=float(retry_after) if retry_after else None)
        if status >= 500:
            return RetriableError(detail, status=status)
        if status in (401, 403):
            scopes = missing_scopes(body)
            if scopes:
                detail = f"HubSpot {what}: 403 MISSING_SCOPES: the access token lacks scope {', '.join(scopes)}"
                detail += " (grant it to the private app; README: Scopes)"
            return AuthError(detail)
        return RejectedRecordError(detail, status=status)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return RetriableError(f"HubSpot {what}: network error ({type(exc).__name__})")
    return exc


class HubSpotClient:
    """A small facade over the SDK's generic CRM APIs, with the reliability policy applied to every call."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None,
        timeout: float,
        policy: RetryPolicy,
        limiter: RateLimiter,
        search_limiter: RateLimiter,
        fence: Callable[[], None] | None = None,
    ) -> None:
        options: dict[str, Any] = {"access_token": token, "retry": False}
        if base_url:
            options["host"] = base_url.rstrip("/")
        crm = HubSpot(**options).crm  # every attribute access builds a new API client: build each one once
        self._groups = crm.properties.groups_api
        self._properties = crm.properties.core_api
        self._batch = crm.objects.batch_api
        self._search = crm.objects.search_api
        self._owners = crm.owners.owners_api
        self._associations = crm.associations.v4.batch_api
        self._timeout = timeout
        self._policy = policy
        self._limiter = limiter
        self._search_limiter = search_limiter
        self._fence = fence
        self.calls = 0

    def close(self) -> None:
        """Close the connection pools of the API clients."""
        for api in (self._groups, self._properties, self._batch, self._search, self._owners, self._associations):
            api.api_client.rest_client.pool_manager.clear()

    @property
    def retries(self) -> int:
        return self._policy.retries

    def _call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        search: bool = False,
        retry: bool = True,
        write: bool = False,
    ) -> tuple[Any, int]:
        def attempt() -> tuple[Any, int]:
            (self._search_limiter if search else self._limiter).acquire()
            if write and self._fence is not None:
                self._fence()  # the lease fence, right before each attempt of a write leaves
            self.calls += 1
            try:
                data, status, headers = fn(*args, _request_timeout=self._timeout)
            except Exception as exc:
                raise translate(exc, what) from exc
            remaining = _header(headers, "X-HubSpot-RateLimit-Remaining")
            interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            if remaining is not None and interval is not None and not search:
                self._limiter.observe(int(remaining), int(interval) / 1000)
            return data, status

        return self._policy.call(attempt) if retry else attempt()

    # -- properties ----------------------------------------------------------------------------------------
    def groups(self, object_type: str) -> list[JSON]:
        data, _ = self._call("read property groups", self._groups.get_all_with_http_info, object_type)
        return [group.to_dict() for group in data.results]

    def create_group(self, object_type: str, name: str, label: str) -> None:
        body = {"name": name, "label": label, "displayOrder": -1}
        self._call("create property group", self._groups.create_with_http_info, object_type, body, write=True)

    def properties(self, object_type: str) -> list[JSON]:
        data, _ = self._call("read properties", self._properties.get_all_with_http_info, object_type)
        return [prop.to_dict() for prop in data.results]

    def create_property(self, object_type: str, body: JSON) -> None:
        self._call("create property", self._properties.create_with_http_info, object_type, body, write=True)

    def update_property(self, object_type: str, name: str, body: JSON) -> None:
        api = self._properties
        self._call("update property", api.update_with_http_info, object_type, name, body, write=True)

    # -- objects -------------------------------------------------------------------------------------------
    def batch_read(
        self, object_type: str, ids: list[str], id_property: str | None, properties: list[str]
    ) -> list[JSON]:
        """Records found among `ids` (by record id, or by a unique `id_property`); missing ones are skipped."""
        body: JSON = {"inputs": [{"id": value} for value in ids], "properties": properties}
        if id_property:
            body["idProperty"] = id_property
        data, _ = self._call("batch read", self._batch.read_with_http_info, object_type, body)
        return [record.to_dict() for record in data.results]

    def search(self, object_type: str, body: JSON) -> JSON:
        api = self._search
        data, _ = self._call("search", api.do_search_with_http_info, object_type, body, search=True)
        result: JSON = data.to_dict()
        return result

    def batch_write(
        self, kind: str, object_type: str, inputs: list[JSON], *, retry: bool = True
    ) -> tuple[list[JSON], list[JSON]]:
        """Batch `create`, `update` or `upsert`: (results, per-input errors of a 207 partial failure).

        `retry=False` makes one attempt: a create is not idempotent, so its caller recovers from an ambiguous
        failure itself (looking for what was committed) instead of blindly sending it again.
        """
        api = self._batch
        fn = {"create": api.create_with_http_info, "update": api.update_with_http_info}.get(kind)
        fn = fn or api.upsert_with_http_info
        data, _ = self._call(f"batch {kind}", fn, object_type, {"inputs": inputs}, retry=retry, write=True)
        payload = data.to_dict()
        return list(payload.get("results") or []), list(payload.get("errors") or [])

    def associated(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """Record id -> ids of every `to_type` record associated with it (v4 batch read, not search: no lag).

        Each input's results are paged (`paging.next.after`); inputs with more pages are read again with their
        `after` until every one is done. At most 1,000 inputs per call, HubSpot's limit.
        """
        found: dict[str, list[str]] = {value: [] for value in ids}
        pending: list[JSON] = [{"id": value} for value in ids]
        while pending:
            batch, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
            api = self._associations
            data, _ = self._call(
                "read associations", api.get_page_with_http_info, from_type, to_type, {"inputs": batch}
            )
            for result in data.to_dict().get("results") or []:
                source = str((result.get("_from") or result.get("from") or {}).get("id"))
                found.setdefault(source, []).extend(str(item.get("to_object_id")) for item in result.get("to") or [])
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    pending.append({"id": source, "after": str(after)})
        return found

    def token_scopes(self) -> list[str] | None:
        """The private-app token's scopes (HubSpot's access-token-info endpoint; the token goes in the body,
        never in a URL); None when the endpoint does not know the token (e.g. an OAuth token)."""
        client = self._owners.api_client
        token = client.configuration.access_token
        call = client.call_api

        def info(*_args: Any, _request_timeout: float) -> tuple[Any, int, Any]:
            result = call(
                TOKEN_INFO_PATH,
                "POST",
                header_params={"Content-Type": "application/json", "Accept": "application/json"},
                body={"tokenKey": token},
                response_types_map={200: "object"},
                auth_settings=[],
                _return_http_data_only=False,
                _request_timeout=_request_timeout,
            )
            return result[0], result[1], result[2]

        try:
            data, _ = self._call("read token info", info)
        except RejectedRecordError:
            return None
        scopes = data.get("scopes") if isinstance(data, dict) else None
        return [str(scope) for scope in scopes] if isinstance(scopes, list) else None

    def wait(self, seconds: float) -> None:
        """Sleep through the retry policy's (injectable) sleep."""
        self._policy.sleep(seconds)

    @property
    def max_attempts(self) -> int:
        return self._policy.max_attempts

    def owners(self) -> list[JSON]:
        data, _ = self._call("read owners", self._owners.get_page_with_http_info)
        return [owner.to_dict() for owner in data.results]
