"""HubSpot destination: company (and contact) properties in the "Customer health" group.

Matching (SPEC section 4): the remote id remembered in state, then the unique account-id property, then the
domain (primary and additional domains). Ambiguous matches are not written; unmatched accounts are reported
(or created with `create_companies`, through an idempotent upsert by the account-id property).

The CRM is the truth, read within bounds (connector/hubspot/reads.py): records changed in HubSpot since the last
run are found by one search and diffed against HubSpot's values; remembered ids are re-verified in rotation (a
company deleted or merged in HubSpot is matched again through the normal order; reads of a merged id answer
with the survivor); a record whose state holds no acknowledged value is diffed against HubSpot's current values
(sync/baseline.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from healthsync.connector.hubspot import preflight
from healthsync.connector.hubspot.client import BATCH_SIZE, HubSpotClient
from healthsync.connector.hubspot.reads import SEARCH_CAP, Reading, Reads, Remote, search_all, wire
from healthsync.connector.hubspot.tasks import TaskWriter, plan_tasks
from healthsync.connector.scores import ScoreResult
from healthsync.connector.settings import HubSpotConfig
from healthsync.connector.sync.baseline import baseline
from healthsync.connector.sync.check import Finding
from healthsync.connector.sync.destination import SyncContext, chunks, give_back_memory, key_order, slices
from healthsync.connector.sync.plan import DestinationPlan, Provision, RecordPlan, SyncCounts, diff
from healthsync.connector.sync.values import hubspot_values, normalize_domain
from healthsync.errors import ConfigError, RejectedRecordError
from healthsync.mappings.models import HubSpotField, HubSpotMapping
from healthsync.mappings.template import render
from healthsync.state import Ack, RecordState

log = logging.getLogger("healthsync.hubspot")


class HubSpotDestination:
    name = "hubspot"

    def __init__(
        self, client: HubSpotClient, mapping: HubSpotMapping, config: HubSpotConfig, delivery_bound: float = 0.0
    ) -> None:
        self.tasks = TaskWriter(client, delivery_bound)
        self.client = client
        self.mapping = mapping
        self.config = config
        self._id_property_exists = False
        overlap = timedelta(minutes=config.changed_overlap_minutes)
        rates = (1 / config.searches_per_second, 10 / config.requests_per_10s)
        self.reads = Reads(client, self.name, config.verify_every_runs, overlap, rates)

    def close(self) -> None:
        self.client.close()

    def check(self) -> list[Finding]:
        """Read-only preflight (connector/hubspot/preflight.py)."""
        return preflight.findings(self.client, self.mapping, self.config, self._wanted())

    # -- provisioning ----------------------------------------------------------------------------------------
    def _id_field(self) -> HubSpotField:
        prop = self.mapping.companies.account_id_property
        return HubSpotField(column="account_id", property=prop.name, label=prop.label, type="string")

    def _wanted(self) -> dict[str, list[HubSpotField]]:
        wanted = {"companies": [self._id_field(), *self.mapping.companies.fields]}
        if self.mapping.contacts.enabled and self.mapping.contacts.fields:
            wanted["contacts"] = list(self.mapping.contacts.fields)
        return wanted

    def _property_body(self, field: HubSpotField) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": field.property,
            "label": field.label,
            "type": field.type,
            "fieldType": field.field_type,
            "groupName": self.mapping.group.name,
            "description": field.description or f"Set by healthsync from the {field.column} score column.",
        }
        if field.options:
            body["options"] = [_option(value, order) for order, value in enumerate(field.options)]
        if field.property == self.mapping.companies.account_id_property.name:
            body["hasUniqueValue"] = True
        return body

    def provisioning(self) -> list[Provision]:
        """The steps still needed; an existing property of another type is an error."""
        needed: list[Provision] = []
        for object_type, fields in self._wanted().items():
            if self.mapping.group.name not in {g["name"] for g in self.client.groups(object_type)}:
                body = {"name": self.mapping.group.name, "label": self.mapping.group.label}
                needed.append(Provision(object_type, "create group", self.mapping.group.name, body))
            existing = {prop["name"]: prop for prop in self.client.properties(object_type)}
            if object_type == "companies" and (problem := preflight.unique_id_problem(existing, fields[0].property)):
                raise ConfigError(problem)
            for field in fields:
                needed += self._property_needs(object_type, field, existing.get(field.property))
        self._id_property_exists = not any(
            step.name == self.mapping.companies.account_id_property.name for step in needed
        )
        return needed

    def _property_needs(self, object_type: str, field: HubSpotField, current: dict[str, Any] | None) -> list[Provision]:
        body = self._property_body(field)
        if current is None:
            return [Provision(object_type, "create property", field.property, body)]
        if current.get("type") != field.type:
            raise ConfigError(
                f"HubSpot {object_type} property {field.property!r} exists with type {current.get('type')!r}, "
                f"the mapping expects {field.type!r}; rename it in the mapping or change it in HubSpot"
            )
        existing = [_camel(option) for option in current.get("options") or []]
        have = {option["value"] for option in existing}
        if field.options and not set(field.options) <= have:
            added = [o for o in body["options"] if o["value"] not in have]
            for order, option in enumerate(added, start=len(existing)):
                option["displayOrder"] = order
            return [Provision(object_type, "add options to", field.property, {"options": existing + added})]
        return []

    def _provision(self, needed: list[Provision]) -> None:
        for step in needed:
            try:
                if step.action == "create group":
                    self.client.create_group(step.object_type, step.name, step.body["label"])
                elif step.action == "create property":
                    self.client.create_property(step.object_type, step.body)
                else:
                    self.client.update_property(step.object_type, step.name, step.body)
            except RejectedRecordError as exc:
                if exc.status != 409:  # 409: created meanwhile by someone else, which is what we wanted
                    raise
        self._id_property_exists = True

    # -- matching --------------------------------------------------------------------------------------------
    def _remote(
        self,
        ctx: SyncContext,
        object_type: str,
        known: dict[str, RecordState],
        remembered: dict[str, str],
        fields: list[HubSpotField],
        changing: set[str],
        reading: Reading | None = None,
    ) -> Remote:
        """The bounded reads of `object_type` (connector/hubspot/reads.py), logged: of the whole book, or of one
        slice of it (`reading`: the run's reads begun over the whole book). The remembered records about to be
        written (`changing`: keys whose desired values differ from what the store holds, `_changing`) are
        verified too: a write never goes to a record deleted or merged since the rotation last read it."""
        ids = {remembered[key] for key in changing}
        if reading is None:
            remote = self.reads.remote(ctx, object_type, known, remembered, fields, ids)
        else:
            remote = self.reads.slice(reading, known, remembered, fields, ids)
        extra = {"destination": self.name, "object_type": object_type, "reads": remote.mode}
        for key, rid in remote.dead.items():
            log.info(
                "remembered record gone (deleted or merged); matching it again",
                extra=extra | {"key": key, "remote_id": rid},
            )
        if remote.drifted:
            log.info(
                "records changed in HubSpot since the last run; ours are written back",
                extra=extra | {"records": len(remote.drifted)},
            )
        return remote

    def _current(self, object_type: str, read_already: dict[str, dict[str, Any]] | None = None) -> Any:
        """The baseline reader: HubSpot's current values in our wire format ("" for a value not set). Records in
        `read_already` (id -> values, read moments ago by a lookup that asked for the same fields) are not read
        again: a first sync read every contact twice, by email and then by id (issue 25, item 2)."""
        known = read_already or {}

        def read(ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
            found = {i: known[i] for i in ids if i in known and all(name in known[i] for name in fields)}
            return found | self.reads.read(object_type, [i for i in ids if i not in found], fields)

        return read

    def _by_id_property(self, keys: list[str], names: list[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        """(account id -> company id, company id -> its current `names`) of the companies holding those ids: the
        values come with the lookup, so a lost state store reads each company once, not twice."""
        prop = self.mapping.companies.account_id_property.name
        found: dict[str, str] = {}
        values: dict[str, dict[str, str]] = {}
        for chunk in chunks(keys, BATCH_SIZE):
            for record in self.client.batch_read("companies", list(chunk), prop, sorted({prop, *names})):
                found[str(record["properties"][prop])] = str(record["id"])
                values[str(record["id"])] = wire(record, names)
        return found, values

    def _domain_candidates(self, domains: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """domain -> {company id -> company}: by primary domain, then by additional domains for the rest.

        A primary-domain match wins; additional domains are looked at only for domains no company holds as
        its primary domain (HubSpot search is limited to a few requests per second).
        """
        props = ["domain", "hs_additional_domains", self.mapping.companies.account_id_property.name, "name"]
        found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for chunk in chunks(domains, BATCH_SIZE):
            body = {
                "filterGroups": [{"filters": [{"propertyName": "domain", "operator": "IN", "values": list(chunk)}]}]
            }
            for company in search_all(self.client, "companies", {**body, "properties": props}):
                domain = normalize_domain(company["properties"].get("domain"))
                if domain:
                    found[domain][str(company["id"])] = company
        rest = {domain for domain in domains if domain not in found}
        if rest:
            for company in self._with_additional_domains(props):
                extra = str(company["properties"].get("hs_additional_domains") or "").split(";")
                for domain in {normalize_domain(d) for d in extra} & rest:
                    if domain:
                        found[domain][str(company["id"])] = company
        return found

    def _with_additional_domains(self, props: list[str]) -> list[dict[str, Any]]:
        """Every company with additional domains (HAS_PROPERTY, paged), matched client-side by splitting on `;`.

        HubSpot documents no tokenizer for CONTAINS_TOKEN on the multi-valued `hs_additional_domains` (`b.com`
        inside `a.com;b.com`), so the match is not left to it. Search returns at most 10,000 results per query:
        a portal with more companies with additional domains is warned about (the rest may stay unmatched).
        """
        body = {"filterGroups": [{"filters": [{"propertyName": "hs_additional_domains", "operator": "HAS_PROPERTY"}]}]}
        companies = search_all(self.client, "companies", {**body, "properties": props})
        if len(companies) >= SEARCH_CAP:
            log.warning(
                "more companies with additional domains than one search returns; some may stay unmatched",
                extra={"destination": self.name, "cap": SEARCH_CAP},
            )
        return companies

    def _match(
        self, accounts: dict[str, dict[str, Any]], remembered: dict[str, str], names: list[str], read: dict[str, Any]
    ) -> dict[str, RecordPlan]:
        """Every account's plan: update (matched), ambiguous, create or unmatched. Values read on the way (by the
        account-id property) are added to `read` (company id -> values)."""
        matched = {key: RecordPlan("companies", key, "update", remote) for key, remote in remembered.items()}
        pending = [key for key in accounts if key not in matched]
        if pending and self._id_property_exists:
            by_id, values = self._by_id_property(pending, names)
            read.update(values)
            for key, remote in by_id.items():
                matched[key] = RecordPlan("companies", key, "update", remote)
        pending = [key for key in pending if key not in matched]
        domains = {key: normalize_domain(accounts[key].get("domain")) for key in pending}
        candidates: dict[str, dict[str, dict[str, Any]]] = {}
        if self.mapping.companies.match_by_domain:
            candidates = self._domain_candidates(sorted({d for d in domains.values() if d}))
        id_prop = self.mapping.companies.account_id_property.name
        for key in pending:
            found = {
                cid: company
                for cid, company in candidates.get(domains[key] or "", {}).items()
                if company["properties"].get(id_prop) in (None, "", key)
            }
            if len(found) == 1:
                matched[key] = RecordPlan("companies", key, "update", next(iter(found)))
            elif len(found) > 1:
                note = f"domain {domains[key]} matches companies {', '.join(sorted(found))}"
                matched[key] = RecordPlan("companies", key, "ambiguous", note=note)
            elif self.config.create_companies:
                matched[key] = RecordPlan("companies", key, "create")
            else:
                why = f"no company with domain {domains[key]}" if domains[key] else "no remembered id and no domain"
                matched[key] = RecordPlan("companies", key, "unmatched", note=why)
        return matched

    # -- plan ------------------------------------------------------------------------------------------------
    @staticmethod
    def _all_desired(
        fields: list[HubSpotField], keys: Iterable[str], column: Callable[[str], Iterable[Any]]
    ) -> dict[str, dict[str, str]]:
        """key -> desired values of each of `keys`, rendered a field at a time (`column(name)`: that column's values,
        in the order of `keys`)."""
        if not fields:
            return {key: {} for key in keys}
        columns = [hubspot_values(field, column(field.column)) for field in fields]
        names = [field.property for field in fields]
        return {
            key: dict(zip(names, values, strict=True))
            for key, values in zip(keys, zip(*columns, strict=True), strict=True)
        }

    def plan(self, scores: ScoreResult, ctx: SyncContext) -> DestinationPlan:
        plan = DestinationPlan(self.name)
        plan.provisioning = self.provisioning()
        accounts = scores.account_rows()
        self._plan_companies(plan, accounts, ctx)
        if scores.users is not None and self.mapping.contacts.enabled and self.mapping.contacts.fields:
            give_back_memory()  # what the companies' plan freed, before the contacts' slices
            self._plan_contacts(scores, ctx, plan)
        if self.mapping.tasks:
            companies: dict[str, str | None] = {
                r.key: r.remote_id
                for r in plan.records
                if r.object_type == "companies"
                and ((r.remote_id and r.action in ("update", "unchanged")) or r.action == "create")
            }
            complete = self.config.complete_cleared_tasks
            plan.tasks = plan_tasks(self.mapping.tasks, accounts, companies, ctx, scores.as_of, complete)
            self.tasks.adopt(plan.tasks)
        return plan

    def _plan_companies(self, plan: DestinationPlan, accounts: dict[str, dict[str, Any]], ctx: SyncContext) -> None:
        """The companies' records: matched, diffed (what this holds is freed before the contacts' slices start)."""
        known = ctx.store.records(self.name, "companies")
        remembered = {key: state.remote_id for key, state in known.items() if state.remote_id and key in accounts}
        fields = [self._id_field(), *self.mapping.companies.fields]
        wanted = self._all_desired(fields, accounts, lambda name: (row.get(name) for row in accounts.values()))
        changing = _changing(known, remembered, wanted, ctx.full)
        remote = self._remote(ctx, "companies", known, remembered, fields, changing)
        dead = remote.dead
        names = [field.property for field in fields]
        read = dict(remote.current)
        matched = self._match(accounts, remote.alive, names, read)
        targets = {k: r.remote_id for k, r in matched.items() if r.action == "update" and r.remote_id is not None}
        current = self._current("companies", read)
        against = baseline(
            ctx, self.name, "companies", targets, names, current, stale=set(dead) | remote.drifted, known=known
        )
        for key, record in sorted(matched.items()):
            if key in dead and record.action in ("unmatched", "create"):
                record.note = f"company {dead[key]} was deleted or merged in HubSpot; {record.note}".rstrip("; ")
            if record.action in ("update", "create"):
                desired = wanted[key]
                if record.action == "create":
                    on_create = self.mapping.companies.on_create.items()
                    extra = {name: render(value, accounts[key]) for name, value in on_create}
                    desired = {"name": str(accounts[key].get("name") or key), **extra, **desired}
                    desired["domain"] = normalize_domain(accounts[key].get("domain")) or ""
                record.changes = diff(against.get(key, {}), desired, full=ctx.full)
                if not record.changes:
                    record.action = "unchanged"
            plan.records.append(record)

    def _plan_contacts(self, scores: ScoreResult, ctx: SyncContext, plan: DestinationPlan) -> None:
        """The contacts' plans, in slices of `ctx.slice_users` users in email order (issue 25, item 3): the score
        table's rows, the store, the desired values, the reads and the diffs of one slice at a time; the search for
        changes and the rotation look at the whole book once. Unchanged contacts are counted, not listed."""
        assert scores.users is not None
        fields = self.mapping.contacts.fields
        names = [field.property for field in fields]
        emails, rows = key_order(scores.users, "email", email=True)  # the last row of an email two users share
        reading = self.reads.begin(ctx, "contacts", ctx.store.remembered(self.name, "contacts"), names)
        wanted_columns = ["email", *(field.column for field in fields)]
        for part, columns in slices(scores.users, emails, rows, ctx.slice_users, wanted_columns):
            users = {email: position for position, email in enumerate(part)}
            self._plan_contact_slice(users, columns, ctx, reading, plan)
        self.reads.finish(ctx, reading)

    def _plan_contact_slice(
        self,
        users: dict[str, int],
        columns: dict[str, list[Any]],
        ctx: SyncContext,
        reading: Reading,
        plan: DestinationPlan,
    ) -> None:
        """The plans of one slice of contacts (`users`: email -> its row in `columns`, the slice's score-table
        columns; in email order)."""
        fields = self.mapping.contacts.fields
        known = ctx.store.records(self.name, "contacts", first=next(iter(users)), last=next(reversed(users)))
        remembered = {key: state.remote_id for key, state in known.items() if state.remote_id and key in users}

        def column(name: str) -> Iterable[Any]:
            values = columns.get(name)
            return [None] * len(users) if values is None else (values[position] for position in users.values())

        wanted = self._all_desired(fields, users, column)
        changing = _changing(known, remembered, wanted, ctx.full)
        found = self._remote(ctx, "contacts", known, remembered, fields, changing, reading)
        remote = dict(found.alive)
        pending = [email for email in users if email not in remote]
        names = reading.names
        looked_up = dict(found.current)  # values read this run, with the lookup too: no second read
        for chunk in chunks(pending, BATCH_SIZE):
            for contact in self.client.batch_read("contacts", list(chunk), "email", ["email", *names]):
                remote[str(contact["properties"]["email"]).lower()] = str(contact["id"])
                looked_up[str(contact["id"])] = wire(contact, names)
        current = self._current("contacts", looked_up)
        stale = set(found.dead) | found.drifted
        against = baseline(ctx, self.name, "contacts", remote, names, current, stale=stale, known=known)
        for email in users:
            if email not in remote:
                plan.records.append(RecordPlan("contacts", email, "unmatched", note="no contact with this email"))
                continue
            against_it = against.get(email, {})
            stored = email in remembered and against_it is known[email].values
            if stored and not ctx.full and email not in changing:  # diffed against these very values: `_changing`
                plan.unchanged["contacts"] += 1
                continue
            changes = diff(against_it, wanted[email], full=ctx.full)
            if changes:
                plan.records.append(RecordPlan("contacts", email, "update", remote[email], changes))
            else:
                plan.unchanged["contacts"] += 1

    # -- apply -----------------------------------------------------------------------------------------------
    def apply(self, plan: DestinationPlan, ctx: SyncContext) -> SyncCounts:
        counts = SyncCounts.of_unwritten(plan)
        self._provision(plan.provisioning)
        for object_type in ("companies", "contacts"):
            for kind in ("update", "create"):
                todo = [r for r in plan.records if r.object_type == object_type and r.action == kind]
                for chunk in chunks(todo, BATCH_SIZE):
                    self._write(kind, object_type, list(chunk), ctx, counts)
                    ctx.progress(f"hubspot {object_type}", len(todo), len(chunk))
        self.tasks.apply(plan.tasks, ctx, counts)
        counts.calls = self.client.calls
        counts.retried = self.client.retries
        return counts

    def _inputs(self, kind: str, records: list[RecordPlan]) -> list[dict[str, Any]]:
        if kind == "update":
            return [{"id": r.remote_id, "properties": r.desired, "objectWriteTraceId": r.key} for r in records]
        prop = self.mapping.companies.account_id_property.name
        return [
            {"id": r.key, "idProperty": prop, "properties": r.desired, "objectWriteTraceId": r.key} for r in records
        ]

    def _write(
        self, kind: str, object_type: str, records: list[RecordPlan], ctx: SyncContext, counts: SyncCounts
    ) -> None:
        method = "upsert" if kind == "create" else "update"
        try:
            results, errors = self.client.batch_write(method, object_type, self._inputs(kind, records))
        except RejectedRecordError as exc:
            if len(records) > 1:  # the whole batch was refused: isolate the record(s) at fault
                for single in records:
                    self._write(kind, object_type, [single], ctx, counts)
                return
            results, errors = [], [{"message": str(exc), "status": exc.status, "context": {}}]
            errors[0]["context"]["objectWriteTraceId"] = [records[0].key]
        by_key = {r.key: r for r in records}
        by_remote = {r.remote_id: r for r in records if r.remote_id}
        failed = self._reject(errors, records, ctx, object_type)
        acks: list[Ack] = []
        for result in results:
            record = by_remote.get(str(result.get("id"))) or by_key.get(str(result.get("objectWriteTraceId")))
            if record is None and kind == "create":
                prop = self.mapping.companies.account_id_property.name
                record = by_key.get(str((result.get("properties") or {}).get(prop)))
            if record is None or record.key in failed:
                continue
            acks.append(Ack(record.key, str(result["id"]), record.desired))
            if kind == "create":
                counts.created += 1
            else:
                counts.updated += 1
        ctx.store.acknowledge(self.name, object_type, acks)
        ctx.store.resolve_rejections(self.name, object_type, [ack.key for ack in acks])
        counts.rejected += len(failed)
        ctx.heartbeat()

    def _reject(
        self, errors: list[dict[str, Any]], records: list[RecordPlan], ctx: SyncContext, object_type: str
    ) -> set[str]:
        """Store every per-record error of a partial failure; the keys that failed."""
        by_remote = {r.remote_id: r.key for r in records if r.remote_id}
        failed: set[str] = set()
        for error in errors:
            context = error.get("context") or {}
            keys = [str(k) for k in context.get("objectWriteTraceId") or context.get("object_write_trace_id") or []]
            keys += [by_remote[str(i)] for i in context.get("ids") or [] if str(i) in by_remote]
            if not keys and len(records) == 1:
                keys = [records[0].key]
            reason = str(error.get("message") or error.get("category") or "rejected")
            for key in keys:
                if key in failed:
                    continue
                failed.add(key)
                log.warning("record rejected", extra={"destination": self.name, "key": key, "reason": reason})
                if ctx.run_id is not None:
                    status = error.get("status")  # per-record errors say "error"; only HTTP codes are kept
                    code = status if isinstance(status, int) else None
                    ctx.store.reject(ctx.run_id, self.name, object_type, key, reason, code)
        return failed


def _changing(
    known: dict[str, RecordState], remembered: dict[str, str], wanted: dict[str, dict[str, str]], full: bool
) -> set[str]:
    """The remembered keys whose desired values differ from what the store holds (all of them with `full`)."""
    if full:
        return set(remembered)
    return {key for key in remembered if diff(known[key].values, wanted[key], full=False)}


def _option(value: str, order: int) -> dict[str, Any]:
    """An enumeration option as HubSpot's OptionInput wants it: label, value, displayOrder, hidden."""
    return {"label": value.replace("_", " ").capitalize(), "value": value, "displayOrder": order, "hidden": False}


def _camel(option: dict[str, Any]) -> dict[str, Any]:
    """An existing option (the SDK's `to_dict()` has snake_case keys) as an OptionInput with camelCase keys."""
    order = option.get("display_order", option.get("displayOrder"))
    sent = {"label": option["label"], "value": option["value"], "hidden": bool(option.get("hidden"))}
    sent["displayOrder"] = int(order) if order is not None else -1
    if option.get("description"):
        sent["description"] = str(option["description"])
    return sent
