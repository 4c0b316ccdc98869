"""Contacts: create, and POST /contacts/search with nested AND/OR filters and ``starting_after`` pagination."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from healthsync.sandbox.intercom_attributes import check_custom_attributes
from healthsync.sandbox.intercom_store import JSON, IntercomError, IntercomStore, now

SEARCH_PAGE_DEFAULT = 50
SEARCH_PAGE_MAX = 150
_NULLABLE = (
    "external_id",
    "phone",
    "name",
    "avatar",
    "owner_id",
    "signed_up_at",
    "last_seen_at",
    "last_replied_at",
    "last_contacted_at",
    "last_email_opened_at",
    "last_email_clicked_at",
    "language_override",
    "browser",
    "browser_version",
    "browser_language",
    "os",
    "android_app_name",
    "android_app_version",
    "android_device",
    "android_os_version",
    "android_sdk_version",
    "android_last_seen_at",
    "ios_app_name",
    "ios_app_version",
    "ios_device",
    "ios_os_version",
    "ios_sdk_version",
    "ios_last_seen_at",
)
_WRITABLE = ("role", "external_id", "email", "phone", "name", "avatar", "signed_up_at", "last_seen_at", "owner_id")


def create(store: IntercomStore, body: Any) -> JSON:
    """POST /contacts. A second contact with the same email or external_id is a 409 conflict."""
    if not isinstance(body, dict) or not ({"email", "external_id", "role"} & {k for k, v in body.items() if v}):
        raise IntercomError(400, "parameter_not_found", "email, external_id or role must be specified")
    for key in ("external_id", "email"):
        clash = next((c for c in store.contacts.values() if body.get(key) and c.get(key) == body[key]), None)
        if clash is not None:
            raise IntercomError(
                409, "conflict", f"A contact matching those details already exists with id={clash['id']}"
            )
    custom = check_custom_attributes(store, "contact", body.get("custom_attributes"))
    stamp = now()
    contact: JSON = {"type": "contact", "id": store.object_id(), "workspace_id": store.workspace_id}
    contact.update(dict.fromkeys(_NULLABLE))
    contact.update({key: body[key] for key in _WRITABLE if body.get(key) is not None})
    contact.setdefault("role", "user")
    if contact.get("email"):
        contact["email_domain"] = str(contact["email"]).rpartition("@")[2]
    contact.update(
        {
            "has_hard_bounced": False,
            "marked_email_as_spam": False,
            "unsubscribed_from_emails": bool(body.get("unsubscribed_from_emails", False)),
            "created_at": stamp,
            "updated_at": stamp,
            "social_profiles": {"type": "list", "data": []},
            "location": {"type": "location", "country": None, "region": None, "city": None},
            "custom_attributes": custom,
            "tag_ids": [],
            "company_ids": [],
        }
    )
    store.contacts[contact["id"]] = contact
    return store.render_contact(contact)


def search(store: IntercomStore, body: Any) -> JSON:
    if not isinstance(body, dict) or not isinstance(body.get("query"), dict):
        raise IntercomError(400, "parameter_not_found", "query must be specified")
    matches = _compile(body["query"])
    found = _looked_up(store, body["query"])
    if found is None:
        found = [c for c in store.contacts.values() if matches(c)]
    sort = body.get("sort") or {}
    order = sort.get("order", "descending")
    if order not in ("ascending", "descending"):
        message = f"Invalid sort order '{order}'. Must be one of: ascending, descending"
        raise IntercomError(400, "invalid_sort_order", message)
    field = sort.get("field", "created_at")
    found.sort(key=lambda c: (c.get(field) is None, c.get(field) or 0, c["id"]), reverse=order == "descending")
    return _page(store, found, body.get("pagination") or {})


_INDEXED = frozenset({"email", "external_id"})


def _looked_up(store: IntercomStore, query: JSON) -> list[JSON] | None:
    """The contacts a top-level ``=`` or ``IN`` on email or external_id matches, from the store's lookup (the same
    contacts a scan finds; exact, case-sensitive comparison as the scan does); None for any other query (scanned)."""
    operator, field, want = query.get("operator"), query.get("field"), query.get("value")
    if field not in _INDEXED or operator not in ("=", "IN"):
        return None
    wanted = want if operator == "IN" else [want]
    if not isinstance(wanted, list) or not all(isinstance(value, str) for value in wanted):
        return None
    table = store.lookup(str(field))
    found = {contact["id"]: contact for value in wanted for contact in table.get(value, ())}
    return list(found.values())


def _page(store: IntercomStore, found: list[JSON], pagination: JSON) -> JSON:
    per_page = min(max(int(pagination.get("per_page") or SEARCH_PAGE_DEFAULT), 1), SEARCH_PAGE_MAX)
    offset = _decode(pagination.get("starting_after"))
    chunk = found[offset : offset + per_page]
    pages: JSON = {
        "type": "pages",
        "page": offset // per_page + 1,
        "per_page": per_page,
        "total_pages": (len(found) + per_page - 1) // per_page,
    }
    if offset + per_page < len(found):
        pages["next"] = {"page": pages["page"] + 1, "starting_after": _encode(offset + per_page)}
    data = [store.render_contact(c) for c in chunk]
    return {"type": "list", "data": data, "total_count": len(found), "pages": pages}


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(str(cursor)).decode().removeprefix("offset:"))
    except ValueError:
        raise IntercomError(400, "parameter_invalid", "starting_after is not a valid cursor") from None


Matcher = Callable[[JSON], bool]
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda have, want: have == want,
    "!=": lambda have, want: have != want,
    "IN": lambda have, want: isinstance(want, list) and have in want,
    "NIN": lambda have, want: isinstance(want, list) and have not in want,
    "<": lambda have, want: have is not None and have < want,
    ">": lambda have, want: have is not None and have > want,
    "<=": lambda have, want: have is not None and have <= want,
    ">=": lambda have, want: have is not None and have >= want,
    "~": lambda have, want: isinstance(have, str) and str(want) in have,
    "!~": lambda have, want: not (isinstance(have, str) and str(want) in have),
    "^": lambda have, want: isinstance(have, str) and have.startswith(str(want)),
    "$": lambda have, want: isinstance(have, str) and have.endswith(str(want)),
}


def _compile(query: JSON) -> Matcher:
    """A predicate for one filter ``{field, operator, value}`` or a group ``{operator: AND|OR, value: [...]}``."""
    operator = query.get("operator")
    if operator in ("AND", "OR"):
        parts = [_compile(q) for q in query.get("value") or [] if isinstance(q, dict)]
        combine = all if operator == "AND" else any
        return lambda contact: combine(part(contact) for part in parts)
    compare = _OPERATORS.get(str(operator))
    if compare is None or not isinstance(query.get("field"), str):
        raise IntercomError(400, "parameter_invalid", f"invalid search query: operator {operator!r}")
    field, want = query["field"], query.get("value")
    if field == "tag_id":
        return lambda contact: (str(want) in contact["tag_ids"]) == (operator == "=")
    return lambda contact: _safely(compare, _value(contact, field), want)


def _safely(compare: Callable[[Any, Any], bool], have: Any, want: Any) -> bool:
    try:
        return compare(have, want)
    except TypeError:  # e.g. a string attribute compared with '<' to a number: no match
        return False


def _value(contact: JSON, field: str) -> Any:
    if field.startswith("custom_attributes."):
        return contact["custom_attributes"].get(field.removeprefix("custom_attributes."))
    return contact.get(field)
