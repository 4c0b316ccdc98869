"""Intercom destination: company data attributes and exclusive tier tags, matched by `company_id`."""

from __future__ import annotations

import logging
from typing import Any

from healthsync.connector.errors import AuthError, ConfigError, RejectedRecordError
from healthsync.connector.intercom.client import IntercomClient
from healthsync.connector.pipeline import ScoreResult
from healthsync.connector.sync.check import Finding, error, ok
from healthsync.connector.sync.destination import SyncContext, chunks, rows_by_key
from healthsync.connector.sync.plan import DestinationPlan, Provision, RecordPlan, SyncCounts, TagPlan, diff
from healthsync.connector.sync.values import intercom_value
from healthsync.mappings.models import IntercomMapping
from healthsync.state import Ack

log = logging.getLogger("healthsync.intercom")
TAG_PREFIX = "_tag:"  # acknowledged tags live in the state store as fields `_tag:<name>` = True
TAG_BATCH = 100


class IntercomDestination:
    name = "intercom"

    def __init__(self, client: IntercomClient, mapping: IntercomMapping) -> None:
        self.client = client
        self.mapping = mapping
        self._remote_tags: dict[str, set[str]] = {}

    def close(self) -> None:
        self.client.close()

    def check(self) -> list[Finding]:
        """Read-only preflight: the token reads the company data attributes (Intercom's own checks: issue 11)."""
        try:
            count = len(self.client.data_attributes())
        except AuthError as exc:
            return [error(self.name, f"the access token was refused: {exc}", "auth")]
        return [ok(self.name, f"token valid; {count} company data attributes readable")]

    # -- provisioning ----------------------------------------------------------------------------------------
    def provisioning(self) -> list[Provision]:
        existing = {attr["name"]: attr for attr in self.client.data_attributes()}
        missing: list[Provision] = []
        for field in self.mapping.companies.fields:
            current = existing.get(field.name)
            if current is None:
                body = {"data_type": field.type, "description": field.description}
                missing.append(Provision("companies", "create attribute", field.name, body))
            elif current.get("data_type") != field.type:
                raise ConfigError(
                    f"Intercom company attribute {field.name!r} exists with type {current.get('data_type')!r}, "
                    f"the mapping expects {field.type!r}; rename it in the mapping"
                )
        return missing

    # -- matching --------------------------------------------------------------------------------------------
    def _match(self, keys: list[str], remembered: dict[str, str]) -> dict[str, str | None]:
        matched: dict[str, str | None] = dict(remembered)
        pending = [key for key in keys if key not in matched]
        if not pending:
            return matched
        listed = {str(c.get("company_id")): c for c in self.client.companies() if c.get("company_id") is not None}
        for key in pending:
            company = listed.get(key) or self.client.company_by_company_id(key)
            matched[key] = str(company["id"]) if company else None
            if company:
                tags = ((company.get("tags") or {}).get("tags")) or []
                self._remote_tags[key] = {str(tag.get("name")) for tag in tags}
        return matched

    # -- plan ------------------------------------------------------------------------------------------------
    def plan(self, scores: ScoreResult, ctx: SyncContext) -> DestinationPlan:
        plan = DestinationPlan(self.name)
        plan.provisioning = self.provisioning()
        accounts = rows_by_key(scores.accounts, "account_id")
        known = ctx.store.records(self.name, "companies")
        remembered = {key: s.remote_id for key, s in known.items() if s.remote_id and key in accounts}
        tags = {name: TagPlan(name) for name in self._managed_tags()}
        for key, remote in sorted(self._match(sorted(accounts), remembered).items()):
            if remote is None:
                plan.records.append(RecordPlan("companies", key, "unmatched", note="no company with this company_id"))
                continue
            row = accounts[key]
            desired = {f.name: intercom_value(f, row.get(f.column)) for f in self.mapping.companies.fields}
            acknowledged = dict(known[key].values) if key in known else {}
            present = {k.removeprefix(TAG_PREFIX) for k, v in acknowledged.items() if k.startswith(TAG_PREFIX) and v}
            present |= self._remote_tags.get(key, set()) & set(tags)
            acknowledged = {k: v for k, v in acknowledged.items() if not k.startswith(TAG_PREFIX)}
            changes = diff(acknowledged, desired, full=ctx.full)
            plan.records.append(RecordPlan("companies", key, "update" if changes else "unchanged", remote, changes))
            wanted = self._wanted_tags(row)
            for name in wanted if ctx.full else wanted - present:
                tags[name].add[key] = remote
            for name in present - wanted:
                tags[name].remove[key] = remote
        plan.tags = [tag for tag in tags.values() if tag.add or tag.remove]
        return plan

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
        for step in plan.provisioning:
            try:
                self.client.create_data_attribute(step.name, step.body["data_type"], step.body["description"])
            except RejectedRecordError:
                # e.g. a retried create whose first response was lost: fine if it exists now, as wanted
                if any(missing.name == step.name for missing in self.provisioning()):
                    raise
        updates = plan.writes()
        for done, record in enumerate(updates, start=1):
            self._write(record, ctx, counts)
            ctx.progress("intercom companies", len(updates), 1)
            if done % 50 == 0:
                ctx.heartbeat()
        for tag in plan.tags:  # exclusive tags: remove the old ones first, then apply the new ones
            self._untag(tag, ctx, counts)
        for tag in plan.tags:
            self._tag(tag, ctx, counts)
        counts.calls = self.client.calls
        counts.retried = self.client.retries
        return counts

    def _write(self, record: RecordPlan, ctx: SyncContext, counts: SyncCounts) -> None:
        try:
            result = self.client.upsert_company(record.key, record.desired)
        except RejectedRecordError as exc:
            counts.rejected += 1
            log.warning("record rejected", extra={"destination": self.name, "key": record.key, "reason": str(exc)})
            if ctx.run_id is not None:
                ctx.store.reject(ctx.run_id, self.name, "companies", record.key, str(exc), exc.status)
            return
        ctx.store.acknowledge(self.name, "companies", [Ack(record.key, str(result.get("id")), record.desired)])
        ctx.store.resolve_rejections(self.name, "companies", [record.key])
        counts.updated += 1

    def _untag(self, tag: TagPlan, ctx: SyncContext, counts: SyncCounts) -> None:
        items = sorted(tag.remove.items())
        for chunk in chunks(items, TAG_BATCH):
            self.client.tag_companies(tag.tag, [remote for _, remote in chunk], untag=True)
            counts.untagged += len(chunk)
            acks = [Ack(key, remote, {TAG_PREFIX + tag.tag: None}) for key, remote in chunk]
            ctx.store.acknowledge(self.name, "companies", acks)

    def _tag(self, tag: TagPlan, ctx: SyncContext, counts: SyncCounts) -> None:
        items = sorted(tag.add.items())
        for chunk in chunks(items, TAG_BATCH):
            self.client.tag_companies(tag.tag, [remote for _, remote in chunk])
            counts.tagged += len(chunk)
            acks = [Ack(key, remote, {TAG_PREFIX + tag.tag: True}) for key, remote in chunk]
            ctx.store.acknowledge(self.name, "companies", acks)
            ctx.progress("intercom tags", len(items), len(chunk))
