"""HubSpot CRM records (companies, contacts, tasks) and the batch endpoints' semantics.

Batches take at most 100 inputs. When every input carries an ``objectWriteTraceId``, invalid inputs are reported
per input in a 207 Multi-Status response and the valid ones are committed; otherwise one invalid input fails the
whole batch and nothing is written. Records not found (read, update) are always reported per input.
Every write becomes visible to search only after ``index_lag`` seconds (:meth:`Records.indexed`).
Reads of a merged record's id (``GET`` and batch read by id) answer with the survivor (see hubspot_merge.py);
writes to a merged id are refused as not found (a guess, in its most conservative form).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from healthsync.sandbox.hubspot_associations import Associations, Link
from healthsync.sandbox.hubspot_errors import CONFLICT, JSON, OBJECT_NOT_FOUND, ApiError, Problem, iso
from healthsync.sandbox.hubspot_properties import OBJECT_TYPE_IDS, SINGULAR, Catalogue
from healthsync.sandbox.hubspot_properties import object_type as canonical_type

MAX_BATCH = 100
DEFAULT_PROPERTIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        "tasks": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    }
)
_CREATED: Mapping[str, str] = MappingProxyType(
    {"companies": "createdate", "contacts": "createdate", "tasks": "hs_createdate"}
)
_MODIFIED: Mapping[str, str] = MappingProxyType(
    {"companies": "hs_lastmodifieddate", "contacts": "lastmodifieddate", "tasks": "hs_lastmodifieddate"}
)
_REQUIRED: Mapping[str, tuple[str, ...]] = MappingProxyType({"tasks": ("hs_timestamp",)})


@dataclass
class Record:
    id: str
    object_type: str
    properties: dict[str, str]
    created_at: float
    updated_at: float
    archived: bool = False
    versions: list[tuple[float, dict[str, str]]] = field(default_factory=list)

    def to_json(self, names: list[str] | None = None, trace_id: str | None = None) -> JSON:
        shown: dict[str, str | None] = dict(self.properties)
        if names is not None:
            shown = {name: self.properties.get(name) for name in names}
        body: JSON = {
            "id": self.id,
            "properties": shown,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "archived": self.archived,
        }
        if trace_id is not None:
            body["objectWriteTraceId"] = trace_id
        return body


@dataclass
class _Plan:
    """One validated input, ready to commit."""

    record: Record | None
    values: dict[str, str]
    trace_id: str | None
    links: list[tuple[str, str, int]] = field(default_factory=list)
    upsert: bool = False


class Records:
    # A batch update/upsert naming a missing record: HubSpot does not document whether that input alone fails
    # (207) or the whole request (404); per input by default, `PUT /_sandbox/limits {"missing_fails_batch": true}`
    # makes it the whole request, so both readings are tested.
    missing_fails_batch = False
    # The portal's required-property rules (`PUT /_sandbox/required_properties`), enforced on creates and updates
    # of the date-versioned API only ("CRM API write validation enforcement starting with the 2026-09 API
    # version"); set per request by the server. An update is refused when the record would still lack a
    # required property after it (the most conservative reading: HubSpot does not say how partial updates count).
    enforce_required = False

    def required_by_portal(self, object_type: str) -> tuple[str, ...]:
        rules: dict[str, tuple[str, ...]] = getattr(self, "portal_required", {})
        return rules.get(object_type, ()) if self.enforce_required else ()

    def required_on_create(self, object_type: str) -> tuple[str, ...]:
        """Every property a create of `object_type` must carry: the built-in ones and the portal's rules."""
        rules: dict[str, tuple[str, ...]] = getattr(self, "portal_required", {})
        return tuple(dict.fromkeys((*_REQUIRED.get(object_type, ()), *rules.get(object_type, ()))))

    def require_properties(self, body: Any) -> JSON:
        if not isinstance(body, dict) or not isinstance(body.get("properties"), list):
            raise ApiError.validation('expected {"object_type": "companies", "properties": ["industry"]}')
        kind = canonical_type(str(body.get("object_type")))
        rules = dict(getattr(self, "portal_required", {}))
        rules[kind] = tuple(str(name) for name in body["properties"])
        self.portal_required = rules
        return {"object_type": kind, "properties": list(rules[kind])}

    def __init__(
        self,
        catalogue: Catalogue,
        wall_clock: Callable[[], float],
        monotonic: Callable[[], float],
        index_lag: float,
    ) -> None:
        self.catalogue = catalogue
        self.index_lag = index_lag
        self._wall = wall_clock
        self._monotonic = monotonic
        self._next_id = 10_000_000_001
        self.by_type: dict[str, dict[str, Record]] = {name: {} for name in OBJECT_TYPE_IDS}
        self.associations = Associations(self.exists)
        self.merged_into: dict[tuple[str, str], str] = {}  # (type, merged id) -> surviving id
        # (type, property) -> value -> the first live record holding it, built on the first lookup after a write
        # (a batch read by email at 50k contacts scanned every record per input: 1.65 s; issue 25, item 8)
        self._lookups: dict[tuple[str, str], dict[str, Record]] = {}

    # -- lookups -----------------------------------------------------------------------------------------
    def exists(self, object_type: str, object_id: str) -> bool:
        return self.get(object_type, object_id) is not None

    def get(self, object_type: str, object_id: str) -> Record | None:
        record = self.by_type[object_type].get(object_id)
        return None if record is None or record.archived else record

    def survivor(self, object_type: str, object_id: str) -> Record | None:
        """The live record `object_id` is now: itself, or the record it was merged into."""
        seen = {object_id}
        while (object_type, object_id) in self.merged_into:
            object_id = self.merged_into[(object_type, object_id)]
            if object_id in seen:
                return None
            seen.add(object_id)
        return self.get(object_type, object_id)

    def find(self, object_type: str, name: str, value: str, *, follow_merges: bool = False) -> Record | None:
        """The live record whose `name` equals `value` (hs_object_id is the record id; a read follows merges)."""
        if name == "hs_object_id":
            return self.survivor(object_type, value) if follow_merges else self.get(object_type, value)
        lookup = self._lookups.get((object_type, name))
        if lookup is None:
            lookup = self._lookups[(object_type, name)] = self._lookup(object_type, name)
        return lookup.get(value.lower() if name == "email" else value)

    def _lookup(self, object_type: str, name: str) -> dict[str, Record]:
        """Value of `name` (emails lower-cased: HubSpot matches them case-insensitively) -> the first live record
        holding it, in creation order: what a scan of every record for each lookup found."""
        found: dict[str, Record] = {}
        for record in self.by_type[object_type].values():
            stored = record.properties.get(name)
            if stored is not None and not record.archived:
                found.setdefault(stored.lower() if name == "email" else stored, record)
        return found

    def changed(self) -> None:
        """A record was created, changed, archived or merged: the lookups and searches are redone when next used."""
        self._lookups.clear()
        self.__dict__["_searches"] = {}

    def _relooked(self, object_type: str, record: Record, before: dict[str, str | None], names: list[str]) -> None:
        """Keep the lookups of `object_type` current after a commit to `record`: a value no live record held is
        now held by it. A value taken away from a record, or one another record holds too, drops that lookup
        (rebuilt when next used). Clearing every lookup per commit rebuilt them per batch: seeding
        100,000 contacts scanned 5 billion records (issue 25, item 8)."""
        for name in names:
            table = self._lookups[(object_type, name)]
            old, now = before.get(name), record.properties.get(name)
            if old == now:
                continue
            if old is not None or now is None:
                del self._lookups[(object_type, name)]
                continue
            key = now.lower() if name == "email" else now
            holder = table.get(key)
            if holder is None:
                table[key] = record  # no live record held the value: this one is the first that does
            elif holder is not record:
                del self._lookups[(object_type, name)]  # which of the two came first: rebuilt when next used

    def versioned(self, record: Record) -> None:
        """Keep the record's current properties as a version the search index sees after the index lag."""
        visible_at = self._monotonic() + self.index_lag
        record.versions.append((visible_at, dict(record.properties)))
        self.__dict__["latest_visible"] = max(self.__dict__.get("latest_visible", float("-inf")), visible_at)

    def searched(self, key: str, search: Callable[[], list[tuple[Record, dict[str, str]]]]) -> list[Any]:
        """The matches of a search (`key`: its filters and sorts), kept for its next pages until the next write, once
        every version is visible to the index. A page of 200 of a 100,000-record search filtered and sorted every
        record again (issue 25, item 8: the sandbox must keep up with a scale run)."""
        searches: dict[str, list[Any]] = self.__dict__.setdefault("_searches", {})
        if key in searches:
            return searches[key]
        found = search()
        if self._monotonic() >= self.__dict__.get("latest_visible", float("-inf")):
            searches[key] = found
        return found

    def require(
        self, object_type: str, object_id: str, id_property: str | None = None, *, follow_merges: bool = False
    ) -> Record:
        name = id_property or "hs_object_id"
        record = self.find(object_type, name, object_id, follow_merges=follow_merges)
        if record is None:
            raise ApiError(404, OBJECT_NOT_FOUND, "resource not found", context={"ids": [object_id]})
        return record

    def indexed(self, object_type: str) -> list[tuple[Record, dict[str, str]]]:
        """Records as the search index sees them now: the newest version older than the index lag."""
        now = self._monotonic()
        seen = []
        for record in self.by_type[object_type].values():
            visible = [values for visible_at, values in record.versions if visible_at <= now]
            if visible and not record.archived:
                seen.append((record, visible[-1]))
        return seen

    # -- batch endpoints ----------------------------------------------------------------------------------
    def batch_create(self, object_type: str, body: Any) -> tuple[int, JSON]:
        return self._batch(object_type, body, self._plan_create, ok_status=201)

    def batch_update(self, object_type: str, body: Any) -> tuple[int, JSON]:
        inputs = _inputs(body)
        ids = [str(item.get("id")) for item in inputs]
        duplicates = sorted({value for value in ids if ids.count(value) > 1})
        if duplicates:
            raise ApiError.validation(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")
        return self._batch(object_type, body, self._plan_update, ok_status=200)

    def batch_upsert(self, object_type: str, body: Any) -> tuple[int, JSON]:
        for item in _inputs(body):
            id_property = item.get("idProperty")
            if not id_property:
                raise ApiError.validation("idProperty is required for upsert")
            if not self.catalogue.is_unique(object_type, str(id_property)):
                raise ApiError.validation(
                    f"Unable to perform update/upsert by non-unique {OBJECT_TYPE_IDS[object_type]} "
                    f"property {id_property}"
                )
        return self._batch(object_type, body, self._plan_upsert, ok_status=200)

    def batch_read(self, object_type: str, body: Any) -> tuple[int, JSON]:
        inputs = _inputs(body)
        id_property = body.get("idProperty") or None
        if id_property is not None and not self.catalogue.is_unique(object_type, id_property):
            raise ApiError.validation(
                f"Unable to perform read by non-unique {OBJECT_TYPE_IDS[object_type]} property {id_property}"
            )
        names = self.property_names(object_type, body.get("properties"), extra=id_property)
        results, missing = [], []
        for item in inputs:
            record = self.find(object_type, id_property or "hs_object_id", str(item.get("id")), follow_merges=True)
            if record is None:
                missing.append(str(item.get("id")))
            else:
                results.append(record.to_json(names))
        errors = []
        if missing:
            message = f"Could not get some {SINGULAR[object_type]} objects, they may be deleted or not exist."
            errors.append(ApiError(404, OBJECT_NOT_FOUND, message, context={"ids": missing}).standard_error())
        return _batch_response(results, errors, ok_status=200, clock=self._wall)

    def batch_archive(self, object_type: str, body: Any) -> None:
        for item in _inputs(body):
            self.archive(object_type, str(item.get("id")))

    def archive(self, object_type: str, object_id: str) -> None:
        record = self.get(object_type, object_id)
        if record is not None:
            record.archived = True
            self.changed()
            self.associations.forget(object_type, object_id)

    def _batch(
        self, object_type: str, body: Any, plan: Callable[[str, JSON, set[tuple[str, str]]], _Plan], ok_status: int
    ) -> tuple[int, JSON]:
        inputs = _inputs(body)
        multi = bool(inputs) and all(item.get("objectWriteTraceId") for item in inputs)
        claimed: set[tuple[str, str]] = set()
        plans, errors = [], []
        for item in inputs:
            try:
                plans.append(plan(object_type, item, claimed))
            except ApiError as error:
                if not multi and (error.category != OBJECT_NOT_FOUND or self.missing_fails_batch):
                    raise
                errors.append(error.standard_error(item.get("objectWriteTraceId")))
        results = [self._commit(object_type, planned) for planned in plans]
        return _batch_response(results, errors, ok_status=ok_status, clock=self._wall)

    # -- single-object endpoints ----------------------------------------------------------------------------
    def create(self, object_type: str, body: Any) -> JSON:
        return self._commit(object_type, self._plan_create(object_type, _object(body), set()))

    def update(self, object_type: str, object_id: str, id_property: str | None, body: Any) -> JSON:
        item = {**_object(body), "id": object_id, "idProperty": id_property}
        return self._commit(object_type, self._plan_update(object_type, item, set()))

    def property_names(self, object_type: str, requested: Any, extra: str | None = None) -> list[str]:
        """The properties a read returns: the requested existing ones, else the object type's defaults."""
        if isinstance(requested, str):
            requested = [name for name in requested.split(",") if name]
        if not requested:
            names = list(DEFAULT_PROPERTIES[object_type])
        else:
            names = [str(name) for name in requested if self.catalogue.get(object_type, str(name)) is not None]
        if extra and extra not in names:
            names.append(extra)
        return names

    # -- planning and committing ------------------------------------------------------------------------------
    def _plan_create(self, object_type: str, item: JSON, claimed: set[tuple[str, str]]) -> _Plan:
        values = self._clean(object_type, item.get("properties"))
        required = (*_REQUIRED.get(object_type, ()), *self.required_by_portal(object_type))
        missing = [name for name in dict.fromkeys(required) if not values.get(name)]
        if missing:
            problems = [Problem("REQUIRED_PROPERTY", name, f'Property "{name}" is required') for name in missing]
            raise ApiError.invalid_values(problems)
        self._claim_unique(object_type, None, values, claimed)
        links = self._plan_links(object_type, item.get("associations") or [])
        return _Plan(None, values, item.get("objectWriteTraceId"), links)

    def _plan_update(self, object_type: str, item: JSON, claimed: set[tuple[str, str]]) -> _Plan:
        id_property = item.get("idProperty") or None
        object_id = str(item.get("id"))
        if id_property is not None and not self.catalogue.is_unique(object_type, id_property):
            raise ApiError.validation(
                f"Unable to perform update/upsert by non-unique {OBJECT_TYPE_IDS[object_type]} property {id_property}"
            )
        record = self.require(object_type, object_id, id_property)
        values = self._clean(object_type, item.get("properties"))
        after = {**record.properties, **values}
        missing = [name for name in self.required_by_portal(object_type) if not after.get(name)]
        if missing:
            problems = [Problem("REQUIRED_PROPERTY", name, f'Property "{name}" is required') for name in missing]
            raise ApiError.invalid_values(problems)
        self._claim_unique(object_type, record, values, claimed)
        return _Plan(record, values, item.get("objectWriteTraceId"))

    def _plan_upsert(self, object_type: str, item: JSON, claimed: set[tuple[str, str]]) -> _Plan:
        id_property, object_id = str(item["idProperty"]), str(item.get("id"))
        if self.find(object_type, id_property, object_id) is not None:
            planned = self._plan_update(object_type, item, claimed)
        else:
            properties = {**_object(item.get("properties") or {}), id_property: object_id}
            planned = self._plan_create(object_type, {**item, "properties": properties}, claimed)
        planned.upsert = True
        return planned

    def _clean(self, object_type: str, raw: Any) -> dict[str, str]:
        problems, values = [], {}
        for name, value in _object(raw).items():
            prop = self.catalogue.get(object_type, name)
            if prop is None:
                problems.append(Problem("PROPERTY_DOESNT_EXIST", name, f'Property "{name}" does not exist'))
            elif prop.read_only_value:
                problems.append(Problem("READ_ONLY_VALUE", name, f'Property "{name}" is read-only'))
            else:
                result = prop.normalize(value)
                if isinstance(result, Problem):
                    problems.append(result)
                else:
                    values[name] = result
        if problems:
            raise ApiError.invalid_values(problems)
        return values

    def _claim_unique(
        self, object_type: str, record: Record | None, values: dict[str, str], claimed: set[tuple[str, str]]
    ) -> None:
        unique = [*self.catalogue.unique_names(object_type), *(["email"] if object_type == "contacts" else [])]
        for name in unique:
            value = values.get(name)
            if not value:
                continue
            holder = self.find(object_type, name, value)
            key = (name, value.lower() if name == "email" else value)
            if (holder is not None and holder is not record) or key in claimed:
                existing = f" Existing ID: {holder.id}" if holder is not None else ""
                raise ApiError(
                    409,
                    CONFLICT,
                    f"A {SINGULAR[object_type]} with {name} '{value}' already exists; {name} must be unique.{existing}",
                    context={"propertyName": [name]},
                )
            claimed.add(key)

    def _plan_links(self, object_type: str, associations: list[JSON]) -> list[tuple[str, str, int]]:
        links = []
        for association in associations:
            to_id = str((association.get("to") or {}).get("id"))
            for spec in association.get("types") or []:
                to_type, type_id = self.associations.check(object_type, None, spec)
                if not self.exists(to_type, to_id):
                    raise ApiError.validation(
                        f"One or more associations are invalid: {SINGULAR[to_type]} {to_id} does not exist",
                        ids=[to_id],
                    )
                links.append((to_type, to_id, type_id))
        return links

    def _commit(self, object_type: str, plan: _Plan) -> JSON:
        self.__dict__["_searches"] = {}
        indexed = [name for kind, name in self._lookups if kind == object_type]
        before = {} if plan.record is None else {name: plan.record.properties.get(name) for name in indexed}
        now = self._wall()
        record, new = plan.record, plan.record is None
        if record is None:
            record_id = str(self._next_id)
            self._next_id += 1
            record = Record(record_id, object_type, {}, created_at=now, updated_at=now)
            record.properties.update({"hs_object_id": record_id, _CREATED[object_type]: iso(now)})
            if object_type == "tasks":
                record.properties.setdefault("hs_task_status", "NOT_STARTED")
            self.by_type[object_type][record_id] = record
        for name, value in plan.values.items():
            if value == "":
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        if object_type == "tasks" and plan.values.get("hs_task_status") == "COMPLETED":
            record.properties.setdefault("hs_task_completion_date", iso(now))
        record.properties[_MODIFIED[object_type]] = iso(now)
        record.updated_at = now
        self._relooked(object_type, record, before, indexed)
        self.versioned(record)
        for to_type, to_id, type_id in plan.links:
            self.associations.add(Link(object_type, record.id, to_type, to_id, type_id))
        body = record.to_json(trace_id=plan.trace_id)
        if plan.upsert:
            body["new"] = new
        return body


def _object(raw: Any) -> JSON:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ApiError.validation("Invalid input JSON: expected an object")
    return raw


def _inputs(body: Any) -> list[JSON]:
    inputs = _object(body).get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
        raise ApiError.validation("Invalid input JSON: 'inputs' must be a list of objects")
    if len(inputs) > MAX_BATCH:
        raise ApiError.validation(
            f"Batch input size {len(inputs)} exceeds the limit of {MAX_BATCH} inputs per batch",
            inputs=[str(len(inputs))],
        )
    return inputs


def _batch_response(
    results: list[JSON], errors: list[JSON], ok_status: int, clock: Callable[[], float]
) -> tuple[int, JSON]:
    now = iso(clock())
    body: JSON = {"status": "COMPLETE", "results": results, "requestedAt": now, "startedAt": now, "completedAt": now}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return 207, body
    return ok_status, body
