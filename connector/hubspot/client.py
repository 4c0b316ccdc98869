"""The boundary to HubSpot: every call is rate-limited, retried by our one retry layer, and its errors are
translated into the healthsync error tree.

Every CRM call goes to HubSpot's date-versioned paths (`/crm/objects/{version}/...`, default 2026-09; the paths
and shapes are HubSpot's descriptions in HubSpot/HubSpot-public-api-spec-collection,
`PublicApiSpecs/CRM/{Objects,Companies,Tasks}/Rollouts/424/2026-09/*.json`,
`CRM/Associations/Rollouts/130902/2026-09/associations.json`, `CRM/Properties/Rollouts/145899/2026-09/properties.json`,
`CRM/Crm Owners/Rollouts/146888/2026-09/crmOwners.json`). They are sent through `hubspot-api-client`'s generic
request call (`ApiClient.call_api`: its connection pool and error type, the SDK's own urllib3 retries off with
`retry=False`), raw JSON in and out: the bodies are checked against our own models
(connector/hubspot/models.py) in the tests, not deserialised by the SDK's v3 models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import urllib3
from hubspot import HubSpot

from healthsync.connector.hubspot.paths import Paths
from healthsync.connector.sync.ratelimit import RateLimiter
from healthsync.connector.sync.retry import RetryPolicy
from healthsync.connector.sync.status import status_error
from healthsync.errors import AuthError, FatalDestinationError, RejectedRecordError, RetriableError

JSON = dict[str, Any]
BATCH_SIZE = 100
ASSOCIATION_BATCH = 1000  # batch association reads take at most 1,000 inputs per call
API_VERSION = "2026-09"
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


def describe(error: JSON) -> str:
    """One refused input's reason, naming each property HubSpot names (`errors[].context.propertyName`), e.g. a
    required property the portal's rules demand: `Property "industry" is required (REQUIRED_PROPERTY: industry)`."""
    parts = []
    for detail in error.get("errors") or []:
        names = (detail.get("context") or {}).get("propertyName") or [] if isinstance(detail, dict) else []
        if names:
            parts.append(f"{detail.get('message')} ({detail.get('code')}: {', '.join(map(str, names))})")
    return "; ".join(parts) or str(error.get("message") or error.get("category") or "rejected")


def translate(exc: Exception, what: str) -> Exception:
    """An SDK or network exception -> a healthsync error whose message carries no header or token."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        body = _body(exc)
        message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
        detail = f"HubSpot {what}: {status} {body.get('category') or body.get('errorType') or ''} {message}".strip()
        if status == 429 and str(body.get("policyName", "")).upper() == "DAILY":
            return FatalDestinationError(f"{detail} (the daily limit is reached; the run stops)")
        scopes = missing_scopes(body) if status in (401, 403) else []
        if scopes:
            detail = f"HubSpot {what}: 403 MISSING_SCOPES: the access token lacks scope {', '.join(scopes)}"
            detail += " (grant it to the Service Key or private app; README: Scopes)"
        retry_after = _header(getattr(exc, "headers", None), "Retry-After")
        wait = float(retry_after) if retry_after else None
        return status_error(status, detail, retry_after=wait, missing_scopes=tuple(scopes))
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return RetriableError(f"HubSpot {what}: network error ({type(exc).__name__})")
    return exc


class HubSpotClient:
    """A small facade over HubSpot's date-versioned CRM API, with the reliability policy applied to every call."""

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
        api_version: str = API_VERSION,
    ) -> None:
        options: dict[str, Any] = {"access_token": token, "retry": False}
        if base_url:
            options["host"] = base_url.rstrip("/")
        self._api = HubSpot(**options).crm.owners.owners_api.api_client  # one pool, one configuration
        self._token = token
        self.paths = Paths(api_version)
        self._timeout = timeout
        self._policy = policy
        self._limiter = limiter
        self._search_limiter = search_limiter
        self._fence = fence
        self.calls = 0

    def close(self) -> None:
        """Close the connection pool."""
        self._api.rest_client.pool_manager.clear()

    @property
    def retries(self) -> int:
        return self._policy.retries

    def _send(self, method: str, path: str, body: Any, query: list[tuple[str, str]], auth: bool) -> tuple[Any, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        response = self._api.call_api(
            path,
            method,
            query_params=query,
            header_params=headers,
            body=body,
            auth_settings=[],
            _preload_content=False,
            _request_timeout=self._timeout,
        )
        try:
            raw = response.data
        finally:
            response.release_conn()
        return (json.loads(raw) if raw else None), response.headers

    def _call(
        self,
        what: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: list[tuple[str, str]] | None = None,
        search: bool = False,
        retry: bool = True,
        write: bool = False,
        auth: bool = True,
    ) -> Any:
        def attempt() -> Any:
            (self._search_limiter if search else self._limiter).acquire()
            if write and self._fence is not None:
                self._fence()  # the lease fence, right before each attempt of a write leaves
            self.calls += 1
            try:
                data, headers = self._send(method, path, body, query or [], auth)
            except Exception as exc:
                raise translate(exc, what) from exc
            remaining = _header(headers, "X-HubSpot-RateLimit-Remaining")
            interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            if remaining is not None and interval is not None and not search:
                self._limiter.observe_window(int(remaining), int(interval) / 1000)
            return data

        return self._policy.call(attempt) if retry else attempt()

    # -- properties ----------------------------------------------------------------------------------------
    def groups(self, object_type: str) -> list[JSON]:
        return list(self._call("read property groups", "GET", self.paths.groups(object_type))["results"])

    def create_group(self, object_type: str, name: str, label: str) -> None:
        body = {"name": name, "label": label, "displayOrder": -1}
        self._call("create property group", "POST", self.paths.groups(object_type), body, write=True)

    def properties(self, object_type: str) -> list[JSON]:
        return list(self._call("read properties", "GET", self.paths.properties(object_type))["results"])

    def create_property(self, object_type: str, body: JSON) -> None:
        self._call("create property", "POST", self.paths.properties(object_type), body, write=True)

    def update_property(self, object_type: str, name: str, body: JSON) -> None:
        self._call("update property", "PATCH", self.paths.property(object_type, name), body, write=True)

    # -- objects -------------------------------------------------------------------------------------------
    def batch_read(
        self, object_type: str, ids: list[str], id_property: str | None, properties: list[str]
    ) -> list[JSON]:
        """Records found among `ids` (by record id, or by a unique `id_property`); missing ones are skipped."""
        body: JSON = {"inputs": [{"id": value} for value in ids], "properties": properties, "propertiesWithHistory": []}
        if id_property:
            body["idProperty"] = id_property
        data = self._call("batch read", "POST", self.paths.batch(object_type, "read"), body)
        return list(data.get("results") or [])

    def search(self, object_type: str, body: JSON) -> JSON:
        """One page of a search; the 2026-09 request requires `after`, `limit`, `properties` and `sorts`."""
        sent = {"after": "0", "sorts": [], "properties": [], "limit": 100, **body}
        result: JSON = self._call("search", "POST", self.paths.search(object_type), sent, search=True)
        return result

    def batch_write(
        self, kind: str, object_type: str, inputs: list[JSON], *, retry: bool = True
    ) -> tuple[list[JSON], list[JSON]]:
        """Batch `create`, `update` or `upsert`: (results, per-input errors of a partial failure).

        `retry=False` makes one attempt: a create is not idempotent, so its caller recovers from an ambiguous
        failure itself (looking for what was committed) instead of blindly sending it again.
        """
        path = self.paths.batch(object_type, kind)
        data = self._call(f"batch {kind}", "POST", path, {"inputs": inputs}, retry=retry, write=True)
        return list(data.get("results") or []), list(data.get("errors") or [])

    def associated(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        """Record id -> ids of every `to_type` record associated with it (batch read, not search: no lag).

        Each input's results are paged (`paging.next.after`); inputs with more pages are read again with their
        `after` until every one is done. At most 1,000 inputs per call, HubSpot's limit.
        """
        found: dict[str, list[str]] = {value: [] for value in ids}
        pending: list[JSON] = [{"id": value} for value in ids]
        path = self.paths.association_read(from_type, to_type)
        while pending:
            batch, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
            data = self._call("read associations", "POST", path, {"inputs": batch})
            for result in data.get("results") or []:
                source = str(result["from"]["id"])
                found.setdefault(source, []).extend(str(item["toObjectId"]) for item in result.get("to") or [])
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    pending.append({"id": source, "after": str(after)})
        return found

    def lacks(
        self, scope: str, method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None
    ) -> list[str]:
        """The scopes a harmless request for `scope` shows missing: [] when HubSpot let it past its scope check
        (any answer but 401/403, a refusal of the record or property it names included); the scopes a 403 names
        (or `scope` when it names none). A token HubSpot refuses outright (401) raises AuthError."""
        try:
            self._call(f"check scope {scope}", method, path, body, query=query)
        except AuthError as exc:
            if exc.status != 403:
                raise
            return list(exc.missing_scopes) or [scope]
        except RejectedRecordError:
            return []
        return []

    def required_properties(self, object_type: str) -> list[str]:
        """The properties the portal requires on a create of `object_type` (the object schema's
        `requiredProperties`; HubSpot documents that read for custom objects, check also asks it of standard ones)."""
        query = [
            (f"include{part}", "false") for part in ("PropertyDefinitions", "AssociationDefinitions", "AuditMetadata")
        ]
        data = self._call("read object schema", "GET", self.paths.schema(object_type), query=query)
        return [str(name) for name in (data or {}).get("requiredProperties") or []]

    def wait(self, seconds: float) -> None:
        """Sleep through the retry policy's (injectable) sleep."""
        self._policy.sleep(seconds)

    @property
    def max_attempts(self) -> int:
        return self._policy.max_attempts

    def owners(self) -> list[JSON]:
        """Every owner, page by page (`paging.next.after`)."""
        owners: list[JSON] = []
        query = [("limit", "500")]
        while True:
            data = self._call("read owners", "GET", self.paths.owners(), query=query)
            owners += data.get("results") or []
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return owners
            query = [("limit", "500"), ("after", str(after))]
