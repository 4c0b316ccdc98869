"""The Intercom sandbox's stored objects, their ids and how the API renders them.

Handlers in ``intercom_companies``, ``intercom_contacts``, ``intercom_tags`` and ``intercom_attributes`` read and
change an :class:`IntercomStore`; they refuse a request by raising :class:`IntercomError`, which the sandbox turns
into an ``error.list`` body. Ids are deterministic: they come from a ``random.Random`` seeded with the sandbox seed.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

SUPPORTED_VERSIONS = ("2.14", "2.16")
DEFAULT_VERSION = "2.16"  # the spec's default for the Intercom-Version header (the app package's version)


class IntercomError(Exception):
    """A refused request: HTTP status plus the code and message of its single error.list entry."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def not_found(message: str = "Resource Not Found") -> IntercomError:
    return IntercomError(404, "not_found", message)


def company_not_found() -> IntercomError:
    return IntercomError(404, "company_not_found", "Company Not Found")


def now() -> int:
    return int(time.time())


@dataclass
class IntercomStore:
    """Everything one sandbox workspace holds. Companies and contacts are keyed by their Intercom id."""

    seed: int
    companies: dict[str, JSON] = field(default_factory=dict)
    contacts: dict[str, JSON] = field(default_factory=dict)
    tags: dict[str, JSON] = field(default_factory=dict)
    attributes: list[JSON] = field(default_factory=list)
    scroll: Any = None  # the one open company scroll (intercom_scroll.OpenScroll)
    _ids: random.Random = field(init=False)
    _request_ids: random.Random = field(init=False)
    _counter: int = 0

    def __post_init__(self) -> None:
        self._ids = random.Random(f"intercom-ids-{self.seed}")
        self._request_ids = random.Random(f"intercom-requests-{self.seed}")

    @property
    def workspace_id(self) -> str:
        return f"sandbox{self.seed:04d}"

    def object_id(self) -> str:
        """A 24-hex-digit id like Intercom's company and contact ids."""
        return f"{self._ids.getrandbits(96):024x}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def request_id(self) -> str:
        return str(uuid.UUID(int=self._request_ids.getrandbits(128), version=4))

    def changed(self) -> None:
        """Something was written: the contact lookups are rebuilt when next used."""
        self._bump("generation")

    def attachments_changed(self) -> None:
        """A contact was attached to or detached from a company: the user counts are counted again."""
        self._bump("attachments")

    def lookup(self, field: str) -> dict[str, list[JSON]]:
        """Contacts by the value of `field` (a string), built once per write (or change in the number of contacts).

        A contact search scanned every contact and compared each with every value of an ``IN`` list: at 100,000
        contacts the sandbox, not healthsync, was the bottleneck (issue 25, item 8).
        """
        tables: dict[str, dict[str, list[JSON]]] = self._cached("_lookups", "generation", dict)
        if field not in tables:
            table: dict[str, list[JSON]] = {}
            for contact in self.contacts.values():
                value = contact.get(field)
                if isinstance(value, str):
                    table.setdefault(value, []).append(contact)
            tables[field] = table
        return tables[field]

    def user_counts(self) -> dict[str, int]:
        """Company id -> contacts attached, built again when a contact is attached to or detached from a company, or
        the number of contacts changes: a company rendered counted every contact (a scroll page of 50 at 100,000
        contacts: 5 million checks; issue 25, item 8), and a company update renders the company too."""

        def count() -> dict[str, int]:
            counts: dict[str, int] = {}
            for contact in self.contacts.values():
                for company_id in contact["company_ids"]:
                    counts[company_id] = counts.get(company_id, 0) + 1
            return counts

        counted: dict[str, int] = self._cached("_user_counts", "attachments", count)
        return counted

    # The caches below are kept in __dict__, not as dataclass fields: stores pickled by earlier releases load.
    def _bump(self, counter: str) -> None:
        self.__dict__[counter] = self.__dict__.get(counter, 0) + 1

    def _cached(self, name: str, counter: str, build: Callable[[], Any], sized: Sized | None = None) -> Any:
        """The value cached under `name`, built again by `build` when `counter` moved or the number of contacts (or
        of `sized`) changed since it was built."""
        key = (self.__dict__.get(counter, 0), len(self.contacts if sized is None else sized))
        cached = self.__dict__.get(name)
        if cached is None or cached[0] != key:
            cached = (key, build())
            self.__dict__[name] = cached
        return cached[1]

    def next_number(self) -> int:
        """Sequential numbers for tag and data-attribute ids (Intercom's are small integers too)."""
        self._counter += 1
        return 100 + self._counter

    # -- look-ups ------------------------------------------------------------------------------------------
    def company_by_company_id(self, company_id: str) -> JSON | None:
        """From an index kept up to date as companies are added and deleted (built again when the number of
        companies no longer matches it): a scan per call made seeding 100,000 companies quadratic (issue 25,
        item 8). A company's company_id does not change once set."""
        cached = self.__dict__.get("_by_company_id")
        if cached is None or cached[0] != len(self.companies):
            table = {str(c["company_id"]): c for c in self.companies.values() if c.get("company_id") is not None}
            cached = (len(self.companies), table)
            self.__dict__["_by_company_id"] = cached
        found: JSON | None = cached[1].get(company_id)
        return found

    def companies_in_order(self) -> list[JSON]:
        """Every company, oldest first (the scroll's order), sorted again only after a company was added or deleted:
        sorted per scroll page, a scroll of 100,000 companies cost the sandbox minutes (issue 25, item 8)."""
        ordered: list[JSON] = self._cached(
            "_in_order",
            "companies_generation",
            lambda: sorted(self.companies.values(), key=lambda c: (c["created_at"], c["id"])),
            self.companies,
        )
        return ordered

    def index_company(self, company: JSON, *, removed: bool = False) -> None:
        """Keep the company_id index in step with a company just added to (or removed from) `companies`."""
        self._bump("companies_generation")
        cached = self.__dict__.get("_by_company_id")
        if cached is None or cached[0] != len(self.companies) + (1 if removed else -1):
            return  # not built, or out of step: built again when next used
        table: dict[str, JSON] = cached[1]
        company_id = company.get("company_id")
        if company_id is not None:
            if removed:
                table.pop(str(company_id), None)
            else:
                table[str(company_id)] = company
        self.__dict__["_by_company_id"] = (len(self.companies), table)

    def company(self, reference: JSON) -> JSON | None:
        """The company a ``{"id": ...}`` or ``{"company_id": ...}`` reference points at."""
        if "id" in reference:
            return self.companies.get(str(reference["id"]))
        if "company_id" in reference:
            return self.company_by_company_id(str(reference["company_id"]))
        return None

    def contact(self, contact_id: str) -> JSON:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise not_found("User Not Found")
        return contact

    def tag(self, tag_id: str) -> JSON:
        tag = self.tags.get(str(tag_id))
        if tag is None:
            raise not_found()
        return tag

    def tag_by_name(self, name: str) -> JSON | None:
        return next((t for t in self.tags.values() if t["name"].lower() == name.lower()), None)

    # -- rendering -----------------------------------------------------------------------------------------
    def render_tag(self, tag_id: str) -> JSON:
        tag = self.tags[tag_id]
        return {"type": "tag", "id": tag["id"], "name": tag["name"]}

    def render_company(self, company: JSON) -> JSON:
        out = {key: value for key, value in company.items() if key != "tag_ids" and value is not None}
        out["custom_attributes"] = dict(company["custom_attributes"])
        out["tags"] = {"type": "tag.list", "tags": [self.render_tag(t) for t in company["tag_ids"]]}
        out["segments"] = {"type": "segment.list", "segments": []}
        out["user_count"] = self.user_counts().get(company["id"], 0)
        return out

    def render_contact(self, contact: JSON) -> JSON:
        out = {key: value for key, value in contact.items() if key not in ("tag_ids", "company_ids")}
        out["custom_attributes"] = dict(contact["custom_attributes"])
        base = f"/contacts/{contact['id']}"
        tags = [{"type": "tag", "id": t, "url": f"/tags/{t}"} for t in contact["tag_ids"]]
        companies = [{"type": "company", "id": c, "url": f"/companies/{c}"} for c in contact["company_ids"]]
        out["tags"] = _addressable(tags, f"{base}/tags")
        out["notes"] = _addressable([], f"{base}/notes")
        out["companies"] = _addressable(companies, f"{base}/companies")
        return out

    def snapshot(self) -> JSON:
        return {
            "companies": [self.render_company(c) for c in self.companies.values()],
            "contacts": [self.render_contact(c) for c in self.contacts.values()],
            "tags": [self.render_tag(t) for t in self.tags],
            "data_attributes": [dict(a) for a in self.attributes],
        }


def _addressable(data: list[JSON], url: str) -> JSON:
    return {"type": "list", "data": data[:10], "url": url, "total_count": len(data), "has_more": len(data) > 10}


def error_list(request_id: str, code: str, message: str) -> JSON:
    return {"type": "error.list", "request_id": request_id, "errors": [{"code": code, "message": message}]}
