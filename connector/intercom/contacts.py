"""Contact tags (SPEC section 4): each contact of an account carries the account's tier tag, exclusively.

Contacts are matched by `external_id` = user id, then by email (an email shared by several contacts is not
guessed at). Only changes are sent: tagging goes out in batches (`POST /tags` with `users`, 100 per call), untagging
has no batch form in the API (`DELETE /contacts/{id}/tags/{tag_id}`, one call per contact). Every call goes through
the client's rate limiter. What Intercom holds counts as acknowledged when the state store knows nothing (losing
the state costs reads; the shared baseline, sync/baseline.py, with the matched contacts' tags in hand). Off by
default: `contacts.tier_tags: true` in the Intercom mapping turns it on.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from healthsync.connector.intercom.client import JSON, IntercomClient
from healthsync.connector.intercom.tags import TAG_PREFIX, tag_fields, tagged
from healthsync.connector.scores import ScoreResult
from healthsync.connector.sync.baseline import baseline
from healthsync.connector.sync.destination import SyncContext, chunks, rows_by_key
from healthsync.connector.sync.plan import SyncCounts, TagPlan
from healthsync.errors import RejectedRecordError
from healthsync.mappings.models import IntercomMapping
from healthsync.state import Ack

log = logging.getLogger("healthsync.intercom")
OBJECT = "contacts"
TAG_BATCH = 100
MATCHED = ("id", "external_id", "email", "tags")  # what matching and the tag plan read of a found contact


class ContactTags:
    def __init__(self, client: IntercomClient, mapping: IntercomMapping) -> None:
        self.client = client
        self.mapping = mapping
        self._tag_ids: dict[str, str] = {}  # tag name -> id, read during plan

    # -- plan ------------------------------------------------------------------------------------------------
    def plan(self, scores: ScoreResult, accounts: dict[str, dict[str, Any]], ctx: SyncContext) -> list[TagPlan]:
        if scores.users is None:
            return []
        users = rows_by_key(scores.users, "user_id")
        names = self.client.tags()
        self._tag_ids = {name: tag_id for tag_id, name in names.items()}
        contacts = self._match(users)
        tier_tags = self.mapping.companies.tier_tags
        plans = {name: TagPlan(name, object_type=OBJECT) for name in tier_tags.values()}
        targets = {user_id: str(contact["id"]) for user_id, contact in contacts.items()}
        current = {str(contact["id"]): self._current(contact, names) for _, contact in sorted(contacts.items())}
        fields = [TAG_PREFIX + name for name in sorted(plans)]
        against = baseline(ctx, "intercom", OBJECT, targets, fields, current)
        for user_id, remote in sorted(targets.items()):
            tier = str(accounts.get(str(users[user_id].get("account_id")), {}).get("health_tier"))
            wanted = {tier_tags[tier]} if tier in tier_tags else set()
            present = tagged(against[user_id]) & set(plans)
            for name in wanted if ctx.full else wanted - present:
                plans[name].add[user_id] = remote
            for name in present - wanted:
                plans[name].remove[user_id] = remote
        return [tag for tag in plans.values() if tag.add or tag.remove]

    def _match(self, users: dict[str, dict[str, Any]]) -> dict[str, JSON]:
        """user id -> contact: by external_id first, then by a unique email."""
        search = functools.partial(self.client.search_contacts, keep=MATCHED)
        found = {str(c.get("external_id")): c for c in search("external_id", sorted(users))}
        by_email: dict[str, str] = {}
        for user_id, user in users.items():
            if user_id not in found and user.get("email"):
                by_email[str(user["email"]).lower()] = user_id
        if by_email:
            hits: dict[str, list[JSON]] = {}
            for contact in search("email", sorted(by_email)):
                hits.setdefault(str(contact.get("email") or "").lower(), []).append(contact)
            for email, user_id in by_email.items():
                if len(hits.get(email, [])) == 1:
                    found[user_id] = hits[email][0]
                elif hits.get(email):
                    log.warning("several contacts share an email; none tagged", extra={"user_id": user_id})
        return {user_id: contact for user_id, contact in found.items() if user_id in users}

    def _current(self, contact: JSON, names: dict[str, str]) -> dict[str, bool]:
        """The tags a contact carries now, as fields (all of them: past the first page they are read apart)."""
        listed = contact.get("tags") or {}
        ids = {str(t.get("id")) for t in listed.get("data") or []}
        if listed.get("has_more"):
            ids = self.client.contact_tag_ids(str(contact["id"]))
        return tag_fields(names[i] for i in ids if i in names)

    # -- apply -----------------------------------------------------------------------------------------------
    def apply(self, tags: list[TagPlan], ctx: SyncContext, counts: SyncCounts) -> None:
        for tag in tags:  # exclusive: off the old tag first
            self._untag(tag, ctx, counts)
        for tag in tags:
            for chunk in chunks(sorted(tag.add.items()), TAG_BATCH):
                done = self._tag_batch(tag.tag, list(chunk), counts)
                counts.tagged += len(done)
                ctx.store.acknowledge("intercom", OBJECT, [Ack(k, r, {TAG_PREFIX + tag.tag: True}) for k, r in done])
                ctx.progress("intercom contact tags", len(tag.add), len(chunk))

    def _untag(self, tag: TagPlan, ctx: SyncContext, counts: SyncCounts) -> None:
        tag_id = self._tag_ids.get(tag.tag)
        for user_id, remote in sorted(tag.remove.items()):
            if tag_id is not None:
                try:
                    self.client.untag_contact(remote, tag_id)
                except RejectedRecordError as exc:
                    if exc.status != 404:
                        raise
                    self._vanished(user_id, remote, counts)
                    continue
            counts.untagged += 1
            ctx.store.acknowledge("intercom", OBJECT, [Ack(user_id, remote, {TAG_PREFIX + tag.tag: None})])

    def _tag_batch(self, tag: str, chunk: list[tuple[str, str]], counts: SyncCounts) -> list[tuple[str, str]]:
        """One call for the batch; if one contact is gone (404), each contact once more on its own."""
        try:
            self.client.tag_contacts(tag, [remote for _, remote in chunk])
            return chunk
        except RejectedRecordError as exc:
            if exc.status != 404 or len(chunk) == 1:
                if exc.status == 404:
                    self._vanished(chunk[0][0], chunk[0][1], counts)
                    return []
                raise
        done: list[tuple[str, str]] = []
        for item in chunk:
            done += self._tag_batch(tag, [item], counts)
        return done

    @staticmethod
    def _vanished(user_id: str, remote: str, counts: SyncCounts) -> None:
        counts.gone += 1
        log.warning("contact deleted in Intercom during the run; skipped", extra={"user_id": user_id})
