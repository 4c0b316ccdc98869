"""Private-app scopes in the HubSpot sandbox: which scopes a request needs, tokens limited to a scope set, and
HubSpot's 403 ``MISSING_SCOPES`` answer.

Sources:
- The 403 body (``category: MISSING_SCOPES``, ``errors[].context.requiredScopes``, ``links.scopes``) as users
  received it: HubSpot/hubspot-api-nodejs issue #268 ("Incorrect missing scope for Owners API") and #50.
- Scopes per endpoint: the "Scope requirements" of HubSpot's API reference. Tasks are engagements and need
  ``crm.objects.contacts.read`` / ``.write`` (developers.hubspot.com/docs/api-reference/latest/crm/activities/
  tasks/guide); properties need ``crm.schemas.<type>.read`` / ``.write``; owners ``crm.objects.owners.read``;
  associations need the read (or write) scope of both object types (a guess in its most conservative form:
  HubSpot documents the v4 association scopes per object type); the object schema read needs
  ``crm.schemas.custom.read`` (`CRM/Schemas/Rollouts/145900/2026-09/schemas.json`).
- Token kinds: a legacy private-app access token, or a Service Key (developers.hubspot.com/docs/apps/
  developer-platform/build-apps/authentication/account-service-keys: a Service Key is sent as a Bearer token and is
  "configured with object-specific scopes"; HubSpot changelog "Legacy Private App Creation Being Disabled":
  Service Keys replace legacy private apps for new system-to-system integrations). Both kinds get the same
  ``403 MISSING_SCOPES`` answers.
- Token introspection: ``POST /oauth/v2/private-apps/get/access-token-info`` with ``{"tokenKey": ...}`` answers
  ``{"userId", "hubId", "appId", "scopes"}`` for a private-app token (HubSpot's private-app access-token-info
  endpoint). It knows no Service Key. The 2026-09 token introspection (``POST /oauth/2026-09/token/introspect``,
  `PublicApiSpecs/Auth/Oauth/Rollouts/279897/2026-09/oauth.json`) takes an OAuth app's ``client_id`` and
  ``client_secret``, which a Service Key does not have, so it is not served here.
  Guess (undocumented): a token the access-token-info endpoint does not know (a Service Key) is answered
  ``404 OBJECT_NOT_FOUND``.

Control API: ``PUT /_sandbox/tokens`` with ``{"token": "...", "scopes": [...], "kind": "service_key" |
"private_app"}`` (kind optional, ``private_app`` by default) limits that token to those scopes; every other token
is a private-app token with every scope (``forbidden-token`` has none).
"""

from __future__ import annotations

from healthsync.sandbox.base import Request
from healthsync.sandbox.hubspot_errors import JSON, OBJECT_NOT_FOUND, ApiError
from healthsync.sandbox.hubspot_properties import object_type

OBJECT_SCOPE_TYPES = ("companies", "contacts", "owners")
ALL_SCOPES = tuple(
    sorted(
        [f"crm.objects.{kind}.{access}" for kind in OBJECT_SCOPE_TYPES for access in ("read", "write")]
        + [f"crm.schemas.{kind}.{access}" for kind in ("companies", "contacts") for access in ("read", "write")]
        + ["crm.schemas.custom.read"]
    )
)
MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. "
    "Read more about required scopes here: https://developers.hubspot.com/scopes."
)
TOKEN_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"
KINDS = ("private_app", "service_key")
_READS = ("/search", "/batch/read")


def _object_scope(kind: str, access: str) -> str:
    """The object scope; "" for an unknown object type (the route answers its own 400)."""
    try:
        name = object_type(kind)
    except ApiError:
        return ""
    return f"crm.objects.{'contacts' if name == 'tasks' else name}.{access}"


def required_scopes(request: Request) -> list[str]:
    """The scopes a request needs (all of them)."""
    return [scope for scope in _required(request) if scope and not scope.endswith(".")]


def _required(request: Request) -> list[str]:
    parts = request.path.strip("/").split("/")
    if len(parts) > 2 and parts[1] not in ("v3", "v4"):  # /crm/objects/2026-09/... as /crm/2026-09/objects/...
        parts[1], parts[2] = parts[2], parts[1]
    access = "read" if request.method == "GET" or request.path.endswith(_READS) else "write"
    if parts[0] == "crm-object-schemas":  # the object schema read (hubspot_schemas.py)
        return [f"crm.schemas.custom.{access}"]
    if len(parts) < 4 or parts[0] != "crm":
        return []
    if parts[2] == "owners":
        return ["crm.objects.owners.read"]
    if parts[2] == "properties":  # task properties: the contact schema scopes (a guess, as for task objects)
        scope = _object_scope(parts[3], access)
        return [scope.replace("crm.objects.", "crm.schemas.", 1)] if scope else []
    if parts[2] == "associations" and len(parts) > 4:  # /crm/v4/associations/{from}/{to}/batch/...
        return sorted({_object_scope(parts[3], access), _object_scope(parts[4], access)})
    if parts[2] == "objects" and len(parts) > 6 and parts[5] == "associations":  # /crm/v4/objects/{t}/{id}/assoc..
        return sorted({_object_scope(parts[3], access), _object_scope(parts[6], access)})
    return [_object_scope(parts[3], access)] if parts[2] == "objects" else []


class Tokens:
    """Tokens limited to a scope set; any other token has every scope."""

    def __init__(self, no_scopes: str) -> None:
        self.scopes: dict[str, frozenset[str]] = {no_scopes: frozenset()}
        self.service_keys: set[str] = set()

    def register(self, body: object) -> JSON:
        if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body["token"]:
            raise ValueError("expected {'token': '...', 'scopes': ['crm.objects.companies.read', ...]}")
        scopes = body.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
            raise ValueError("'scopes' must be a list of scope names")
        kind = body.get("kind", "private_app")
        if kind not in KINDS:
            raise ValueError(f"'kind' must be one of {', '.join(KINDS)}")
        self.scopes[body["token"]] = frozenset(scopes)
        if kind == "service_key":
            self.service_keys.add(body["token"])
        else:
            self.service_keys.discard(body["token"])
        return {"token": "(registered)", "kind": kind, "scopes": sorted(scopes)}

    def granted(self, token: str) -> frozenset[str]:
        return self.scopes.get(token, frozenset(ALL_SCOPES))

    def missing(self, token: str, request: Request) -> list[str]:
        granted = self.granted(token)
        return [scope for scope in required_scopes(request) if scope not in granted]

    def info(self, body: object) -> JSON:
        """The access-token-info answer for ``{"tokenKey": ...}``."""
        key = body.get("tokenKey") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key:
            raise ApiError.validation("Invalid input JSON: tokenKey is required", tokenKey=["missing"])
        if key in self.service_keys:  # the private-app endpoint knows no Service Key (a guess: module docstring)
            raise ApiError(404, OBJECT_NOT_FOUND, "No private app access token matches the tokenKey")
        return {"userId": 1_000_001, "hubId": 4_242_424, "appId": 2_000_002, "scopes": sorted(self.granted(key))}


def missing_scopes_error(missing: list[str]) -> ApiError:
    detail = {"message": "One or more of the following scopes are required.", "context": {"requiredScopes": missing}}
    return ApiError(403, "MISSING_SCOPES", MESSAGE, errors=[detail])
