"""Tags: POST /tags (create, rename, tag and untag companies, tag users) and tagging contacts."""

from __future__ import annotations

from typing import Any

from healthsync.sandbox.intercom_store import JSON, IntercomError, IntercomStore, company_not_found, not_found, now

ADMIN = {"type": "admin", "id": "991200001"}


def create_or_tag(store: IntercomStore, body: Any, version: str) -> JSON:
    """POST /tags. Under 2.16 a missing company is reported as ``tagged: false``; under 2.14 it is a 404."""
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
        raise IntercomError(400, "parameter_invalid", "invalid tag parameters")
    if "companies" in body:
        return _tag_companies(store, body, version)
    if "users" in body:
        return _tag_users(store, body, version)
    if body.get("id") is not None:
        tag = store.tag(str(body["id"]))
        tag["name"] = body["name"]
        return store.render_tag(tag["id"])
    return store.render_tag(_tag_named(store, body["name"])["id"])


def _tag_named(store: IntercomStore, name: str) -> JSON:
    tag = store.tag_by_name(name)
    if tag is None:
        tag = {"id": str(store.next_number()), "name": name}
        store.tags[tag["id"]] = tag
    return tag


def _tag_companies(store: IntercomStore, body: JSON, version: str) -> JSON:
    references = body["companies"]
    if not isinstance(references, list) or not all(isinstance(r, dict) for r in references):
        raise IntercomError(400, "parameter_invalid", "invalid tag parameters")
    found = [(r, store.company(r)) for r in references]
    if version == "2.14" and any(company is None for _, company in found):
        raise company_not_found()
    untag = any(r.get("untag") in (True, "true") for r in references)
    tag = store.tag_by_name(body["name"]) if untag else _tag_named(store, body["name"])
    if tag is None:
        raise not_found()
    results: list[JSON] = []
    for reference, company in found:
        if company is None:
            results.append({"id": str(reference.get("id") or reference.get("company_id")), "tagged": False})
            continue
        if untag and tag["id"] in company["tag_ids"]:
            company["tag_ids"].remove(tag["id"])
        elif not untag and tag["id"] not in company["tag_ids"]:
            company["tag_ids"].append(tag["id"])
        company["updated_at"] = now()
        results.append({"id": company["id"], "tagged": not untag})
    return _tagging_response(store, tag, version, companies=results)


def _tag_users(store: IntercomStore, body: JSON, version: str) -> JSON:
    references = body["users"]
    if not isinstance(references, list) or not all(isinstance(r, dict) and "id" in r for r in references):
        raise IntercomError(400, "parameter_invalid", "invalid tag parameters")
    contacts = [store.contact(str(r["id"])) for r in references]
    tag = _tag_named(store, body["name"])
    for contact in contacts:
        if tag["id"] not in contact["tag_ids"]:
            contact["tag_ids"].append(tag["id"])
    return _tagging_response(store, tag, version, users=[{"id": c["id"], "tagged": True} for c in contacts])


def _tagging_response(store: IntercomStore, tag: JSON, version: str, **entities: list[JSON]) -> JSON:
    out = store.render_tag(tag["id"])
    if version != "2.14":
        out.update({"users": [], "companies": [], **entities})
    return out


def list_tags(store: IntercomStore) -> JSON:
    return {"type": "list", "data": [store.render_tag(t) for t in store.tags]}


def find_tag(store: IntercomStore, tag_id: str) -> JSON:
    return store.render_tag(store.tag(tag_id)["id"])


def contact_tags(store: IntercomStore, contact_id: str) -> JSON:
    """GET /contacts/{id}/tags: every tag of one contact, with names."""
    contact = store.contact(contact_id)
    return {"type": "list", "data": [store.render_tag(t) for t in contact["tag_ids"]]}


def tag_contact(store: IntercomStore, contact_id: str, body: Any) -> JSON:
    """POST /contacts/{id}/tags with ``{"id": <tag id>}``."""
    contact = store.contact(contact_id)
    if not isinstance(body, dict) or body.get("id") is None:
        raise IntercomError(400, "parameter_not_found", "tag not specified")
    tag = store.tag(str(body["id"]))
    if tag["id"] not in contact["tag_ids"]:
        contact["tag_ids"].append(tag["id"])
        contact["updated_at"] = now()
    return _applied(store, tag)


def untag_contact(store: IntercomStore, contact_id: str, tag_id: str) -> JSON:
    """DELETE /contacts/{id}/tags/{tag_id}."""
    contact = store.contact(contact_id)
    tag = store.tag(tag_id)
    if tag["id"] in contact["tag_ids"]:
        contact["tag_ids"].remove(tag["id"])
        contact["updated_at"] = now()
    return _applied(store, tag)


def _applied(store: IntercomStore, tag: JSON) -> JSON:
    return {**store.render_tag(tag["id"]), "applied_at": now(), "applied_by": dict(ADMIN)}
