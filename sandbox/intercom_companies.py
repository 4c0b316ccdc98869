"""Companies: create-or-update by ``company_id``, update and delete by id, retrieve, list, attaching contacts.

The scroll lives in ``intercom_scroll``. Paged listings (``GET /companies`` without ``company_id``/``name``, and
``POST /companies/list``) return at most the first 10,000 companies (2.16 OpenAPI, ``listAllCompanies``: "there is a
limit of 10,000 Companies that can be returned ... please use the Scroll API"). Guesses, in their most conservative
form: past that limit the pages come back empty while ``total_count`` still counts every company (a client that
does not compare is silently short), and the unfiltered ``GET /companies`` lists companies in creation order.
"""

from __future__ import annotations

import zlib
from typing import Any

from healthsync.sandbox.intercom_attributes import check_custom_attributes
from healthsync.sandbox.intercom_store import JSON, IntercomError, IntercomStore, company_not_found, now

_UPSERT_FIELDS = frozenset(
    {
        "name",
        "company_id",
        "plan",
        "size",
        "website",
        "industry",
        "custom_attributes",
        "remote_created_at",
        "update_last_request_at",
        "monthly_spend",
    }
)
LIST_PAGE_DEFAULT = 15
LIST_LIMIT = 10_000  # "there is a limit of 10,000 Companies that can be returned" by the paged listing


def upsert(store: IntercomStore, body: Any) -> JSON:
    """POST /companies: look the company up by ``company_id``; update it when found, else create it."""
    if not isinstance(body, dict) or not ({"company_id", "name"} & set(body)):
        raise IntercomError(400, "parameter_not_found", "company_id or name must be specified")
    unknown = sorted(set(body) - _UPSERT_FIELDS)
    if unknown:
        raise IntercomError(400, "bad_request", f"bad '{unknown[0]}' parameter")
    custom = check_custom_attributes(store, "company", body.get("custom_attributes"))
    fields = _fields(body)
    company_id = body.get("company_id")
    company = store.company_by_company_id(str(company_id)) if company_id is not None else None
    stamp = now()
    if company is None:
        company = {
            "type": "company",
            "id": store.object_id(),
            "app_id": store.workspace_id,
            "company_id": None if company_id is None else str(company_id),
            "name": None,
            "created_at": stamp,
            "monthly_spend": 0,
            "session_count": 0,
            "plan": {},
            "custom_attributes": {},
            "tag_ids": [],
        }
        store.companies[company["id"]] = company
        store.index_company(company)
    company.update(fields)
    company["custom_attributes"].update(custom)
    company["updated_at"] = stamp
    if body.get("update_last_request_at"):
        company["last_request_at"] = stamp
    return store.render_company(company)


def _fields(body: JSON) -> JSON:
    fields: JSON = {}
    for key in ("name", "website", "industry"):
        if body.get(key) is not None:
            fields[key] = str(body[key])
    for key in ("size", "remote_created_at", "monthly_spend"):
        if body.get(key) is not None:
            fields[key] = _integer(key, body[key])
    if body.get("plan") is not None:
        fields["plan"] = {
            "type": "plan",
            "id": str(zlib.crc32(str(body["plan"]).encode()) % 10**6),
            "name": str(body["plan"]),
        }
    return fields


def _integer(key: str, value: Any) -> int:
    """Intercom truncates floats (monthly_spend 155.98 -> 155) and accepts digit strings ("100")."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise IntercomError(400, "parameter_invalid", f"{key} must be a number") from None


def retrieve(store: IntercomStore, query: dict[str, str]) -> JSON:
    """GET /companies: one company for ``company_id`` or ``name`` (the live API's shape), else a filtered list."""
    if "company_id" in query or "name" in query:
        key = "company_id" if "company_id" in query else "name"
        company = next((c for c in store.companies.values() if c.get(key) == query[key]), None)
        if company is None:
            raise company_not_found()
        return store.render_company(company)
    companies = list(store.companies.values())
    filtered = "tag_id" in query or "segment_id" in query
    if "tag_id" in query:
        companies = [c for c in companies if query["tag_id"] in c["tag_ids"]]
    if "segment_id" in query:
        companies = []
    return _page(store, companies, query, capped=not filtered)


_UPDATE_FIELDS = frozenset({"name", "plan", "size", "website", "industry", "custom_attributes", "monthly_spend"})


def update(store: IntercomStore, company_id: str, body: Any) -> JSON:
    """PUT /companies/{id}: update by Intercom id (``company_id`` cannot change); 404 for a missing company."""
    company = store.companies.get(company_id)
    if company is None:
        raise company_not_found()
    body = body if isinstance(body, dict) else {}
    unknown = sorted(set(body) - _UPDATE_FIELDS)
    if unknown:
        raise IntercomError(400, "bad_request", f"bad '{unknown[0]}' parameter")
    custom = check_custom_attributes(store, "company", body.get("custom_attributes"))
    company.update(_fields(body))
    company["custom_attributes"].update(custom)
    company["updated_at"] = now()
    return store.render_company(company)


def delete(store: IntercomStore, company_id: str) -> JSON:
    """DELETE /companies/{id}: the company is archived (gone from every read) and its contacts detached."""
    company = store.companies.pop(company_id, None)
    if company is not None:
        store.index_company(company, removed=True)
    if company is None:
        raise company_not_found()
    for contact in store.contacts.values():
        if company_id in contact["company_ids"]:
            contact["company_ids"].remove(company_id)
            store.attachments_changed()
    return {"id": company_id, "object": "company", "deleted": True}


def find(store: IntercomStore, company_id: str) -> JSON:
    company = store.companies.get(company_id)
    if company is None:
        raise company_not_found()
    return store.render_company(company)


def list_companies(store: IntercomStore, query: dict[str, str]) -> JSON:
    """POST /companies/list. As documented, companies without any associated user are not listed."""
    companies = [c for c in store.companies.values() if store.render_company(c)["user_count"] > 0]
    companies.sort(key=lambda c: c["created_at"], reverse=query.get("order", "desc") != "asc")
    return _page(store, companies, query)


def _page(store: IntercomStore, companies: list[JSON], query: dict[str, str], *, capped: bool = True) -> JSON:
    """One page; beyond the first LIST_LIMIT companies the pages are empty while `total_count` stays true."""
    page = max(_query_int(query, "page", 1), 1)
    per_page = min(max(_query_int(query, "per_page", LIST_PAGE_DEFAULT), 1), 60)
    total_pages = max((len(companies) + per_page - 1) // per_page, 1)
    reachable = companies[:LIST_LIMIT] if capped else companies
    chunk = reachable[(page - 1) * per_page : page * per_page]
    return {
        "type": "list",
        "data": [store.render_company(c) for c in chunk],
        "pages": {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages},
        "total_count": len(companies),
    }


def _query_int(query: dict[str, str], key: str, default: int) -> int:
    try:
        return int(query.get(key, default))
    except ValueError:
        raise IntercomError(400, "parameter_invalid", f"{key} must be an integer") from None


def attach_contact(store: IntercomStore, contact_id: str, body: Any) -> JSON:
    """POST /contacts/{id}/companies with ``{"id": <company id>}``."""
    contact = store.contact(contact_id)
    if not isinstance(body, dict) or not body.get("id"):
        raise IntercomError(400, "parameter_not_found", "company not specified")
    company = store.companies.get(str(body["id"]))
    if company is None:
        raise company_not_found()
    if company["id"] not in contact["company_ids"]:
        contact["company_ids"].append(company["id"])
        contact["updated_at"] = now()
        store.attachments_changed()
    return store.render_company(company)
