"""Contact tags (SPEC section 4): each contact of an account carries the account's tier tag, exclusively.

Contacts are matched by `external_id` = user id, then by email (an email shared by several contacts is not
guessed at). What a run searches for (issue 25: every user searched on every run cost 10,000 searches at a million
users and most of a rerun's CPU):

- every user the store remembers no contact id for (new users, a first run, a lost store), and every user on
  every run when no read mark is kept (`healthsync state forget` drops it), under `--full`, or with
  `verify_every_runs: 1`;
- of the remembered users, 1/`verify_every_runs` in user-id order, rotating from where the last run stopped
  (default 7: each remembered contact is searched at least once every 7 runs), to find contacts deleted or merged
  in Intercom and tags changed by hand: a tag found differing from what the store holds is diffed against
  Intercom's tags, so the run puts ours back;
- every remembered user whose tag would change (the wanted tier tag differs from the acknowledged one), so no
  tag goes to a contact that is gone.

A remembered user outside these is planned against the store's acknowledged tags and costs nothing (and nothing is
written to it). Intercom's search does offer `updated_at`, but only by day, and Intercom does not document whether
tagging a contact changes it: healthsync does not rely on it. Searches per run, with U users not remembered, R
remembered and W remembered users to write: about ceil(U / 100) + ceil((ceil(R / verify_every_runs) + W) / 100),
plus one email search per 100 of them not found by external_id, rounded up per slice of users
(`destinations.memory_mib`: at most one more search per slice). Only `run` moves the rotation (not `plan`).

Only changes are sent: tagging goes out in batches (`POST /tags` with `users`, 100 per call), untagging
has no batch form in the API (`DELETE /contacts/{id}/tags/{tag_id}`, one call per contact). Every call goes through
the client's rate limiter. What Intercom holds counts as acknowledged when the state store knows nothing (losing
the state costs reads; the shared baseline, sync/baseline.py, with the matched contacts' tags in hand). Off by
default: `contacts.tier_tags: true` in the Intercom mapping turns it on.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any

from healthsync.connector.intercom.client import JSON, IntercomClient
from healthsync.connector.intercom.tags import TAG_PREFIX, tag_fields, tagged
from healthsync.connector.scores import ScoreResult
from healthsync.connector.sync.baseline import baseline, drifted, rotation
from healthsync.connector.sync.destination import SyncContext, chunks, key_order, slices
from healthsync.connector.sync.plan import SyncCounts, TagPlan
from healthsync.errors import RejectedRecordError
from healthsync.mappings.models import IntercomMapping
from healthsync.state import Ack, ReadMark

log = logging.getLogger("healthsync.intercom")
OBJECT = "contacts"
TAG_BATCH = 100
MATCHED = ("id", "external_id", "email", "tags")  # what matching and the tag plan read of a found contact


class ContactTags:
    def __init__(self, client: IntercomClient, mapping: IntercomMapping, verify_every_runs: int = 7) -> None:
        self.client = client
        self.mapping = mapping
        self.every = verify_every_runs
        self._tag_ids: dict[str, str] = {}  # tag name -> id, read during plan

    # -- plan ------------------------------------------------------------------------------------------------
    def plan(self, scores: ScoreResult, accounts: dict[str, dict[str, Any]], ctx: SyncContext) -> list[TagPlan]:
        """The tag changes of every user's contact, planned in slices of `ctx.slice_users` users in user-id order
        (issue 25, item 3: the score table's rows, the store, the searches and the diffs of one slice at a time);
        the rotation looks at the whole book once."""
        if scores.users is None:
            return []
        ids, rows = key_order(scores.users, "user_id")
        names = self.client.tags()
        self._tag_ids = {name: tag_id for tag_id, name in names.items()}
        plans = {name: TagPlan(name, object_type=OBJECT) for name in self.mapping.companies.tier_tags.values()}
        part = self._rotation(ctx, ctx.store.remembered("intercom", OBJECT, by="key"))
        for keys, columns in slices(scores.users, ids, rows, ctx.slice_users, ("account_id", "email")):
            emails = columns.get("email") or [None] * len(keys)
            wanted = self._wanted(keys, columns.get("account_id") or [None] * len(keys), accounts)
            users = dict(zip(keys, emails, strict=True))  # user id -> email
            self._plan_slice(users, wanted, part, names, plans, ctx)
        return [tag for tag in plans.values() if tag.add or tag.remove]

    def _plan_slice(
        self,
        users: dict[str, Any],
        wanted: dict[str, frozenset[str]],
        part: set[str] | None,
        names: dict[str, str],
        plans: dict[str, TagPlan],
        ctx: SyncContext,
    ) -> None:
        """The tag changes of one slice of users (`users`: user id -> email, in user-id order) added to `plans`."""
        fields = [TAG_PREFIX + name for name in sorted(plans)]
        managed = set(plans)
        known = ctx.store.records("intercom", OBJECT, first=next(iter(users)), last=next(reversed(users)))
        remembered = {key: str(known[key].remote_id) for key in users if key in known and known[key].remote_id}
        if part is None:
            window = set(users)
        else:
            writing = {key for key in remembered if wanted[key] != tagged(known[key].values) & managed}
            window = (set(users) - set(remembered)) | (part & remembered.keys()) | writing
        contacts = self._match({user_id: users[user_id] for user_id in window})
        targets = {key: remote for key, remote in remembered.items() if key not in window}
        targets |= {user_id: str(contact["id"]) for user_id, contact in contacts.items()}
        current = {str(contact["id"]): self._current(contact, names) for _, contact in sorted(contacts.items())}
        stale = drifted(known, targets, current, fields, lambda _name, ours, theirs: bool(ours) == bool(theirs))
        if stale:
            log.warning("contact tags changed in Intercom; putting ours back", extra={"contacts": len(stale)})
        against = baseline(ctx, "intercom", OBJECT, targets, fields, current, stale=stale, known=known)
        for user_id, remote in sorted(targets.items()):
            present, want = tagged(against[user_id]) & managed, wanted[user_id]
            if present == want and not ctx.full:  # most users of a rerun: nothing to add or remove
                continue
            for name in want if ctx.full else want - present:
                plans[name].add[user_id] = remote
            for name in present - want:
                plans[name].remove[user_id] = remote

    def _wanted(
        self, ids: list[str], account_ids: list[Any], accounts: dict[str, dict[str, Any]]
    ) -> dict[str, frozenset[str]]:
        """user id -> the tier tag of the user's account (none when the tier has no tag): one set per tier, shared
        by its users (a million of them)."""
        tier_tags = self.mapping.companies.tier_tags
        by_tier = {tier: frozenset({tag}) for tier, tag in tier_tags.items()}
        tags = {key: by_tier.get(str(row.get("health_tier")), frozenset()) for key, row in accounts.items()}
        return {user_id: tags.get(str(account), frozenset()) for user_id, account in zip(ids, account_ids, strict=True)}

    def _rotation(self, ctx: SyncContext, remembered: list[str]) -> set[str] | None:
        """The remembered users (`remembered`: sorted) this run searches for to verify them; None: every user is
        searched (see the module docstring). Only `run` keeps where the rotation is."""
        mark = ctx.store.read_mark("intercom", OBJECT)
        part: set[str] | None = None
        if mark.changed_since is None or self.every == 1 or ctx.full:
            cursor = 0
        else:
            window, cursor = rotation(remembered, mark.verify_cursor, self.every)
            part = set(window)
        if ctx.run_id is not None:
            ctx.store.mark_read("intercom", OBJECT, ReadMark(datetime.now(UTC), cursor))
        return part

    def _match(self, users: dict[str, Any]) -> dict[str, JSON]:
        """user id -> contact (`users`: user id -> email): by external_id first, then by a unique email."""
        search = functools.partial(self.client.search_contacts, keep=MATCHED)
        found = {str(c.get("external_id")): c for c in search("external_id", sorted(users))}
        by_email: dict[str, str] = {}
        for user_id, email in users.items():
            if user_id not in found and email:
                by_email[str(email).lower()] = user_id
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
