"""Intercom destination: company data attributes and exclusive tier tags, matched by `company_id`.

Every plan reads the companies Intercom holds (`listing.py`), so remembered ids are re-checked on every run: a
company deleted in Intercom is reported and its remembered id no longer trusted. A field or tag the state store
holds no acknowledged value for is compared with what Intercom holds now, through the shared baseline
(sync/baseline.py, with the listed values in hand): losing the state costs reads, never writes. Missing values are
left out instead of being sent as `null`, which Intercom refuses.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from healthsync.connector.intercom import preflight, provisioning
from healthsync.connector.intercom.client import JSON, IntercomClient
from healthsync.connector.intercom.contacts import ContactTags
from healthsync.connector.intercom.listing import CompanyListing
from healthsync.connector.intercom.tags import TAG_PREFIX, tag_fields, tagged
from healthsync.connector.scores import ScoreResult
from healthsync.connector.sync.baseline import baseline
from healthsync.connector.sync.check import Finding
from healthsync.connector.sync.destination import SyncContext, chunks, give_back_memory
from healthsync.connector.sync.plan import Action, DestinationPlan, RecordPlan, SyncCounts, TagPlan, diff
from healthsync.connector.sync.values import cap_text, intercom_value
from healthsync.errors import RejectedRecordError
from healthsync.mappings.models import IntercomMapping
from healthsync.state import Ack, RecordState

log = logging.getLogger("healthsync.intercom")
TAG_BATCH = 100
CHECKPOINT = 50  # company updates between two heartbeats (the lease fence, a stop asked for) and state checkpoints
MAX_STRING = 255  # Intercom refuses a longer string attribute value (sandbox/intercom_attributes.py, sources)


def tag_names(record: JSON) -> set[str]:
    return {str(tag.get("name")) for tag in ((record.get("tags") or {}).get("tags") or [])}


class IntercomDestination:
    name = "intercom"

    def __init__(
        self,
        client: IntercomClient,
        mapping: IntercomMapping,
        mapping_reference: str = "intercom",
        region: str = "us",
        concurrent_requests: int = 1,
        verify_every_runs: int = 7,
    ) -> None:
        self.client = client
        self.concurrent_requests = concurrent_requests  # company updates in flight at once
        self.mapping = mapping
        self.reference = mapping_reference
        self.region = region
        self.contacts = ContactTags(client, mapping, verify_every_runs)
        self.scroll_waits = 0  # of the last plan's company listing (reported in the run's counts)

    def check(self, account_ids: list[str] | None = None) -> list[Finding]:
        """Read-only findings for `healthsync check`: token (`GET /me`), workspace and region, attribute clashes
        across models, and how many of `account_ids` exist as Intercom companies."""
        return preflight.findings(self.client, self.mapping, self.reference, self.region, account_ids)

    def close(self) -> None:
        self.client.close()

    # -- plan ------------------------------------------------------------------------------------------------
    def plan(self, scores: ScoreResult, ctx: SyncContext) -> DestinationPlan:
        plan = DestinationPlan(self.name)
        plan.provisioning = provisioning.missing(self.client, self.mapping, self.reference)
        accounts = scores.account_rows()
        self._plan_companies(plan, accounts, ctx)
        if self.mapping.contacts.tier_tags:
            give_back_memory()  # what the companies' plan freed (the scroll's pages), before the contacts' slices
            plan.tags += self.contacts.plan(scores, accounts, ctx)
        return plan

    def _plan_companies(self, plan: DestinationPlan, accounts: dict[str, dict[str, Any]], ctx: SyncContext) -> None:
        """The companies' records and tags (what this holds is freed before the contacts' slices start)."""
        known = ctx.store.records(self.name, "companies")
        listing = CompanyListing(self.client)
        listed = listing.by_company_id(sorted(accounts))
        self.scroll_waits = listing.stats.scroll_waits
        tags = {name: TagPlan(name) for name in self._managed_tags()}
        targets = {key: str(company["id"]) for key, company in listed.items()}
        current = {str(company["id"]): self._current(company, set(tags)) for company in listed.values()}
        fields = [f.name for f in self.mapping.companies.fields] + [TAG_PREFIX + name for name in sorted(tags)]
        against = baseline(ctx, self.name, "companies", targets, fields, current, known=known)
        for key in sorted(accounts):
            if key not in targets:
                plan.records.append(RecordPlan("companies", key, "unmatched", note=self._gone(known.get(key))))
                continue
            self._plan_company(plan, tags, key, accounts[key], targets[key], against[key], ctx.full)
        plan.tags = [tag for tag in tags.values() if tag.add or tag.remove]

    @staticmethod
    def _gone(state: RecordState | None) -> str:
        if state is not None and state.remote_id:
            return f"company {state.remote_id} was deleted in Intercom (remembered id forgotten)"
        return "no company with this company_id"

    @staticmethod
    def _current(company: JSON, managed: set[str]) -> dict[str, Any]:
        """A listed company's values as fields: its attributes, and the managed tags it carries."""
        return dict(company.get("custom_attributes") or {}) | tag_fields(tag_names(company) & managed)

    def _plan_company(
        self,
        plan: DestinationPlan,
        tags: dict[str, TagPlan],
        key: str,
        row: dict[str, Any],
        remote: str,
        acknowledged: dict[str, Any],
        full: bool,
    ) -> None:
        present = tagged(acknowledged) & set(tags)
        values = {k: v for k, v in acknowledged.items() if not k.startswith(TAG_PREFIX)}
        wire = self._wire(row)
        desired = {name: cap_text(v, MAX_STRING) if isinstance(v, str) else v for name, v in wire.items()}
        changes = diff(values, desired, full=full)
        cut = tuple(name for name, value in desired.items() if value != wire[name])
        action: Action = "update" if changes else "unchanged"
        plan.records.append(RecordPlan("companies", key, action, remote, changes, truncated=cut))
        wanted = self._wanted_tags(row)
        for name in wanted if full else wanted - present:
            tags[name].add[key] = remote
        for name in present - wanted:
            tags[name].remove[key] = remote

    def _wire(self, row: dict[str, Any]) -> dict[str, Any]:
        """The mapped attributes in Intercom's wire format; missing values are left out (never `null`). The plan
        then cuts strings longer than Intercom's 255 characters at a word boundary, with an ellipsis."""
        values = {f.name: intercom_value(f, row.get(f.column)) for f in self.mapping.companies.fields}
        return {name: value for name, value in values.items() if value is not None}

    def _managed_tags(self) -> set[str]:
        """Tags healthsync owns: the tier tags and the play tags of the mapping (others are left alone)."""
        return set(self.mapping.companies.tier_tags.values()) | set(self.mapping.companies.play_tags.values())

    def _wanted_tags(self, row: dict[str, Any]) -> set[str]:
        """Exactly one tier tag, plus one tag per play that fires (when the mapping names one)."""
        companies = self.mapping.companies
        wanted = {companies.tier_tags[tier]} if (tier := str(row.get("health_tier"))) in companies.tier_tags else set()
        return wanted | {companies.play_tags[str(p)] for p in row.get("plays") or [] if str(p) in companies.play_tags}

    # -- apply -----------------------------------------------------------------------------------------------
    def apply(self, plan: DestinationPlan, ctx: SyncContext) -> SyncCounts:
        counts = SyncCounts.of_unwritten(plan)
        self._provision(plan)
        updates = plan.writes()
        with ThreadPoolExecutor(self.concurrent_requests, thread_name_prefix="healthsync-intercom") as pool:
            for chunk in chunks(updates, CHECKPOINT):
                sent = list(pool.map(self._send, chunk))  # the first error (fence, fatal) is raised here
                self._record(sent, ctx, counts)
                ctx.progress("intercom companies", len(updates), len(chunk))
                ctx.heartbeat()
        company_tags = [tag for tag in plan.tags if tag.object_type == "companies"]
        for tag in company_tags:  # exclusive tags: remove the old ones first, then apply the new ones
            self._tags(tag, ctx, counts, untag=True)
        for tag in company_tags:
            self._tags(tag, ctx, counts, untag=False)
        self.contacts.apply([tag for tag in plan.tags if tag.object_type == "contacts"], ctx, counts)
        counts.calls = self.client.calls
        counts.retried = self.client.retries
        counts.scroll_waits = self.scroll_waits
        return counts

    def _provision(self, plan: DestinationPlan) -> None:
        for step in plan.provisioning:
            try:
                self.client.create_data_attribute(step.name, step.body["data_type"], step.body["description"])
            except RejectedRecordError:
                # e.g. a retried create whose first response was lost: fine if it exists now, as wanted
                remaining = provisioning.missing(self.client, self.mapping, self.reference)
                if any(missing.name == step.name for missing in remaining):
                    raise

    def _send(self, record: RecordPlan) -> tuple[RecordPlan, JSON | RejectedRecordError]:
        """One company update (in a worker thread): its answer, or the rejection of this record alone."""
        assert record.remote_id is not None
        try:
            return record, self.client.update_company(record.remote_id, record.desired)
        except RejectedRecordError as exc:
            return record, exc

    def _record(
        self, sent: list[tuple[RecordPlan, JSON | RejectedRecordError]], ctx: SyncContext, counts: SyncCounts
    ) -> None:
        """The answers of a checkpoint's updates, in this thread: acknowledged in one transaction, rejections and
        companies deleted meanwhile reported one by one."""
        acks: list[Ack] = []
        for record, outcome in sent:
            assert record.remote_id is not None
            if not isinstance(outcome, RejectedRecordError):
                acks.append(Ack(record.key, str(outcome.get("id")), record.desired))
                counts.updated += 1
                counts.truncated += len(set(record.truncated) & set(record.changes))
            elif outcome.status == 404:
                self._vanished(record.key, record.remote_id, counts)
            else:
                counts.rejected += 1
                reason = str(outcome)
                log.warning("record rejected", extra={"destination": self.name, "key": record.key, "reason": reason})
                if ctx.run_id is not None:
                    ctx.store.reject(ctx.run_id, self.name, "companies", record.key, reason, outcome.status)
        if acks:
            ctx.store.acknowledge(self.name, "companies", acks)
            ctx.store.resolve_rejections(self.name, "companies", [ack.key for ack in acks])

    def _vanished(self, key: str, remote_id: str, counts: SyncCounts) -> None:
        counts.gone += 1
        log.warning(
            "company deleted in Intercom during the run; skipped",
            extra={"destination": self.name, "key": key, "remote_id": remote_id},
        )

    def _tags(self, tag: TagPlan, ctx: SyncContext, counts: SyncCounts, *, untag: bool) -> None:
        items = sorted((tag.remove if untag else tag.add).items())
        for chunk in chunks(items, TAG_BATCH):
            done = self._tag_batch(tag.tag, list(chunk), counts, untag=untag)
            if untag:
                counts.untagged += len(done)
            else:
                counts.tagged += len(done)
            value = None if untag else True
            ctx.store.acknowledge(self.name, "companies", [Ack(k, r, {TAG_PREFIX + tag.tag: value}) for k, r in done])
            ctx.progress(f"intercom {'untag' if untag else 'tag'} {tag.tag}", len(items), len(chunk))
            ctx.heartbeat()  # between batches: a signal stops the run here, after the checkpoint

    def _tag_batch(
        self, tag: str, chunk: list[tuple[str, str]], counts: SyncCounts, *, untag: bool
    ) -> list[tuple[str, str]]:
        """Tag (or untag) one batch; under 2.14 one missing company makes the whole call 404: then the batch is
        re-checked company by company, the dead ones are reported and the others tagged in one more call."""
        try:
            result = self.client.tag_companies(tag, [remote for _, remote in chunk], untag=untag)
        except RejectedRecordError as exc:
            if exc.status != 404:
                raise
        else:  # 2.16 answers 200 and lists a missing company as not tagged
            missing = {str(c.get("id")) for c in result.get("companies") or [] if c.get("tagged") is False}
            for key, remote in chunk:
                if remote in missing and not untag:
                    self._vanished(key, remote, counts)
            return [(key, remote) for key, remote in chunk if untag or remote not in missing]
        alive = [(key, remote) for key, remote in chunk if self.client.company_exists(remote)]
        for key, remote in sorted(set(chunk) - set(alive)):
            self._vanished(key, remote, counts)
        if alive:
            self.client.tag_companies(tag, [remote for _, remote in alive], untag=untag)
        return alive
