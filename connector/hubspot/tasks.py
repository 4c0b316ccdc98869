"""HubSpot tasks from plays: exactly one task per (account, play, period), owned by the company owner.

HubSpot task creates are not idempotent and search lags writes, so a naive search-then-create duplicates.
Instead: the intent (identity and trace id) is recorded in the state store BEFORE the create call (a batch's
intents in one transaction, and its creates' ids in one more: `StateStore.task_intents`, `tasks_created`), and every
task body carries a marker `[healthsync:<identity>]` (percent-encoded, so account ids with `]`, `[`, spaces or
any length round-trip). Before a task is created (also with an empty or lost state store) the tasks associated
with the company are read through the associations API (every page; not search: no index lag) and the marker
tells whether the task exists.

A create whose outcome is unknown (a timeout, a reset, a 5xx: HubSpot may have received it, or may still receive
it from a proxy that holds it) is ambiguous. Its tasks are looked up by marker at once (what HubSpot committed is
recorded) and the rest become `unconfirmed`: never sent again in that run. A later run looks them up again; one
still not found is created only once the earlier request can no longer arrive, `delivery_bound` seconds after its
ambiguous answer (or after the intent of an interrupted run): the lease TTL plus the client timeout unless
configured (README: Tasks). A 429 is not ambiguous (HubSpot refused it unread) and is retried. A task intent
another run already advanced is skipped; a task deleted in HubSpot is forgotten (marked done) instead of failing
the run.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from healthsync.connector.hubspot.client import BATCH_SIZE, HubSpotClient, describe
from healthsync.connector.sync.destination import SyncContext, chunks
from healthsync.connector.sync.plan import SyncCounts
from healthsync.errors import RejectedRecordError, RetriableError
from healthsync.mappings.models import TaskRule
from healthsync.mappings.template import render
from healthsync.state import TaskIntent

log = logging.getLogger("healthsync.hubspot")
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
TASK_TO_COMPANY = 192  # HUBSPOT_DEFINED association type task -> company
DESTINATION = "hubspot"


def period_key(rule: TaskRule, as_of: datetime) -> str:
    """`2025-W33`, `2025-08` or `2025-Q3`: a new period opens a new task."""
    if rule.period == "week":
        year, week, _ = as_of.isocalendar()
        return f"{year}-W{week:02d}"
    if rule.period == "month":
        return f"{as_of.year}-{as_of.month:02d}"
    return f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}"


MARKER = "[healthsync:"
# The properties every task create carries (hubspot_owner_id only when the company has an owner); a rule's
# `properties` add to them.
WRITTEN = ("hs_task_subject", "hs_task_body", "hs_task_status", "hs_task_priority", "hs_task_type", "hs_timestamp")


def priority_of(rule: TaskRule, row: dict[str, Any]) -> str:
    """The rule's priority, raised by its escalation when the account's column (mrr) is at or above the threshold."""
    escalation = rule.escalate
    if escalation is None:
        return rule.priority
    value = row.get(escalation.column)
    try:
        above = value is not None and float(value) >= escalation.at_least
    except (TypeError, ValueError):
        above = False
    return escalation.priority if above else rule.priority


def marker(identity: str) -> str:
    """`[healthsync:acc%5D1:churn_risk:2025-08]`: no `]`, `[` or space inside, whatever the account id."""
    return f"{MARKER}{quote(identity, safe=':')}]"


@dataclass
class TaskPlan:
    identity: str
    account: str
    play: str
    action: str  # create | recover | adopt (found by its marker: no write) | complete
    company_id: str | None = None
    subject: str = ""
    body: str = ""
    priority: str = "MEDIUM"
    due: datetime | None = None
    remote_id: str | None = None
    period: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # the rule's `properties`, rendered
    sent_at: datetime | None = None  # recover: when an earlier request for it may have been sent (intent / answer)

    @property
    def target(self) -> str:
        """The company, for `healthsync plan`."""
        return f"company {self.company_id}" if self.company_id else "the company this run creates"


def _fired(row: dict[str, Any]) -> set[str]:
    plays = row.get("plays") or []
    return {str(play) for play in plays}


def plan_tasks(
    rules: list[TaskRule],
    rows: dict[str, dict[str, Any]],
    companies: dict[str, str | None],
    ctx: SyncContext,
    as_of: datetime,
    complete_cleared: bool,
) -> list[TaskPlan]:
    """Tasks to create for plays that fire, and open tasks to complete for plays that cleared.

    `companies` maps account -> company id, or None for a company this run creates (its tasks come in the
    same run, once the create has given the id).
    """
    known = {task.identity: task for task in ctx.store.tasks(DESTINATION)}
    plans: list[TaskPlan] = []
    for rule in rules:
        identity_of = {key: f"{key}:{rule.play}:{period_key(rule, as_of)}" for key in rows}
        for key, row in sorted(rows.items()):
            if rule.play not in _fired(row) or key not in companies:
                continue
            identity = identity_of[key]
            state = known.get(identity)
            if state is not None and state.status not in ("intent", "unconfirmed"):
                continue
            reasons = (row.get("play_reasons") or {}).get(rule.play) or []
            values = {**row, "play": rule.play, "reasons": "; ".join(reasons), "period": period_key(rule, as_of)}
            body = render(rule.body, values).strip() + "\n\n" + marker(identity)
            plans.append(
                TaskPlan(
                    identity,
                    key,
                    rule.play,
                    "recover" if state is not None else "create",
                    companies[key],
                    render(rule.subject, values),
                    body,
                    priority_of(rule, row),
                    as_of + timedelta(days=rule.due_in_days),
                    period=period_key(rule, as_of),
                    extra={name: render(value, values) for name, value in rule.properties.items()},
                    sent_at=None if state is None else state.created_at or state.intended_at,
                )
            )
    if complete_cleared:
        plans += _to_complete(known, rows)
    return plans


def _to_complete(known: dict[str, Any], rows: dict[str, dict[str, Any]]) -> list[TaskPlan]:
    plans = []
    for task in known.values():
        if task.status == "open" and task.play not in _fired(rows.get(task.account_key, {})):
            plans.append(TaskPlan(task.identity, task.account_key, task.play, "complete", remote_id=task.remote_id))
    return plans


class TaskWriter:
    """Applies task plans with the exactly-once protocol described in the module docstring."""

    def __init__(self, client: HubSpotClient, delivery_bound: float = 0.0) -> None:
        self.client = client
        self.delivery_bound = delivery_bound  # seconds after which a request sent earlier can no longer arrive

    def adopt(self, plans: list[TaskPlan]) -> None:
        """Plans whose task already exists in HubSpot (found by marker) become `adopt`: recorded, not created."""
        creating = [plan for plan in plans if plan.action == "create" and plan.company_id]
        found = self._lookup(creating) if creating else {}
        for plan in creating:
            if plan.identity in found:
                plan.action, plan.remote_id = "adopt", found[plan.identity]

    def apply(self, plans: list[TaskPlan], ctx: SyncContext, counts: SyncCounts) -> None:
        adopted = {plan.identity: plan for plan in plans if plan.action == "adopt" and plan.remote_id}
        if adopted:
            ctx.store.task_intents(DESTINATION, [_intent(plan) for plan in adopted.values()])
            ctx.store.tasks_created(DESTINATION, {key: str(plan.remote_id) for key, plan in adopted.items()})
        waiting = [plan for plan in plans if plan.action == "create" and plan.company_id is None]
        if waiting:  # companies created in this run: their ids are known now (read only then: 100,000 records)
            stored = ctx.store.records(DESTINATION, "companies")
            for plan in waiting:
                state = stored.get(plan.account)
                plan.company_id = state.remote_id if state is not None else None
        opening = [plan for plan in plans if plan.action in ("create", "recover") and plan.company_id]
        owners = self._owners(sorted({plan.company_id for plan in opening if plan.company_id}))
        for chunk in chunks(opening, BATCH_SIZE):
            self._open(list(chunk), owners, ctx, counts)
            ctx.progress("hubspot tasks", len(opening), len(chunk))
        closing = [plan for plan in plans if plan.action == "complete" and plan.remote_id]
        for chunk in chunks(closing, BATCH_SIZE):
            self._complete(list(chunk), ctx, counts)
            ctx.progress("hubspot tasks completed", len(closing), len(chunk))

    def _complete(self, plans: list[TaskPlan], ctx: SyncContext, counts: SyncCounts) -> None:
        """Complete open tasks; a whole-batch 4xx is narrowed down task by task, so one task refused (or
        deleted: 404) never keeps the others open."""
        inputs = [{"id": p.remote_id, "properties": {"hs_task_status": "COMPLETED"}} for p in plans]
        try:
            results, errors = self.client.batch_write("update", "tasks", inputs)
        except RejectedRecordError as exc:
            if len(plans) > 1:
                for plan in plans:
                    self._complete([plan], ctx, counts)
                return
            gone = exc.status == 404
            results, errors = [], [] if gone else [{"message": str(exc), "context": {"ids": [plans[0].remote_id]}}]
            if gone:
                self._forget(plans[0], ctx)
        done = {str(result["id"]) for result in results}
        gone_ids = {str(i) for e in errors if e.get("category") == OBJECT_NOT_FOUND for i in _ids(e)}
        refused = {
            str(i): str(e.get("message")) for e in errors if e.get("category") != OBJECT_NOT_FOUND for i in _ids(e)
        }
        for plan in plans:
            if plan.remote_id in done:
                ctx.store.task_completed(DESTINATION, plan.identity)
                counts.tasks_completed += 1
            elif plan.remote_id in gone_ids:
                self._forget(plan, ctx)
            elif plan.remote_id in refused:
                log.warning(
                    "task completion refused", extra={"task": plan.remote_id, "reason": refused[plan.remote_id]}
                )
                counts.rejected += 1

    @staticmethod
    def _forget(plan: TaskPlan, ctx: SyncContext) -> None:
        log.info("task deleted in HubSpot; forgotten", extra={"task": plan.remote_id, "identity": plan.identity})
        ctx.store.task_completed(DESTINATION, plan.identity)

    def _owners(self, company_ids: list[str]) -> dict[str, str]:
        owners: dict[str, str] = {}
        for chunk in chunks(company_ids, BATCH_SIZE):
            for record in self.client.batch_read("companies", list(chunk), None, ["hubspot_owner_id"]):
                owner = (record.get("properties") or {}).get("hubspot_owner_id")
                if owner:
                    owners[str(record["id"])] = str(owner)
        return owners

    def _open(self, plans: list[TaskPlan], owners: dict[str, str], ctx: SyncContext, counts: SyncCounts) -> None:
        pending = {plan.identity: plan for plan in plans}
        ctx.store.task_intents(DESTINATION, [_intent(plan) for plan in plans])  # on record before any create call
        recover = [plan for plan in plans if plan.action == "recover"]
        if recover:
            self._found(self._lookup(recover), pending, ctx, counts)
            self._hold_in_flight(pending, counts)
        self._drop_advanced(pending, ctx)
        attempt = 0
        while pending:
            attempt += 1
            try:
                results, errors = self.client.batch_write("create", "tasks", self._inputs(pending, owners), retry=False)
            except RetriableError as exc:
                if exc.status == 429 and attempt < self.client.max_attempts:  # refused unread: nothing created
                    self.client.wait(exc.retry_after or min(2.0**attempt * 0.25, 10.0))
                    continue
                self._unconfirmed(pending, ctx, counts, exc)
                return
            created = {}
            for result in results:
                identity = _identity_in(str((result.get("properties") or {}).get("hs_task_body") or ""))
                if identity:
                    created[identity] = str(result["id"])
            self._found(created, pending, ctx, counts)
            self._rejected(errors, pending, ctx, counts)
            return

    def _hold_in_flight(self, pending: dict[str, TaskPlan], counts: SyncCounts) -> None:
        """Recovered tasks not found whose earlier request may still reach HubSpot stay unconfirmed (not sent)."""
        now = datetime.now(UTC)
        for identity, plan in list(pending.items()):
            if plan.action != "recover" or plan.sent_at is None:
                continue
            settles = plan.sent_at + timedelta(seconds=self.delivery_bound)
            if now < settles:
                log.warning(
                    "task create still unconfirmed; its earlier request may yet arrive, so it is not sent again",
                    extra={"identity": identity, "settles_at": settles.isoformat()},
                )
                counts.tasks_unconfirmed += 1
                del pending[identity]

    def _unconfirmed(self, pending: dict[str, TaskPlan], ctx: SyncContext, counts: SyncCounts, exc: Exception) -> None:
        """An ambiguous create: every task in it is unconfirmed first; those HubSpot already committed are found by
        marker at once; the rest wait for a later run (never re-sent in this one)."""
        for identity in pending:
            ctx.store.task_unconfirmed(DESTINATION, identity)
        log.warning("task create failed ambiguously; not sent again in this run", extra={"error": str(exc)})
        self._found(self._lookup(list(pending.values())), pending, ctx, counts)
        counts.tasks_unconfirmed += len(pending)

    @staticmethod
    def _rejected(
        errors: list[dict[str, Any]], pending: dict[str, TaskPlan], ctx: SyncContext, counts: SyncCounts
    ) -> None:
        """Each refused task create, by its identity (the trace id) and reason; it is retried on the next run.
        HubSpot created nothing for it, so its intent is withdrawn: the next run creates it afresh, no wait."""
        for error in errors:
            identities = [str(i) for i in (error.get("context") or {}).get("objectWriteTraceId") or []] or ["?"]
            for identity in identities:
                log.warning("task rejected", extra={"identity": identity, "reason": describe(error)})
                if ctx.run_id is not None:
                    ctx.store.reject(ctx.run_id, DESTINATION, "tasks", identity, describe(error))
                if identity in pending:
                    ctx.store.task_withdrawn(DESTINATION, identity)
                counts.rejected += 1

    @staticmethod
    def _drop_advanced(pending: dict[str, TaskPlan], ctx: SyncContext) -> None:
        """Intents another run already advanced (created or completed) are skipped, not created again."""
        states = ctx.store.task_intents(DESTINATION, [_intent(plan) for plan in pending.values()])
        for identity in list(pending):
            if states[identity].status not in ("intent", "unconfirmed"):
                log.info("task already advanced by another run; skipped", extra={"identity": identity})
                del pending[identity]

    def _inputs(self, pending: dict[str, TaskPlan], owners: dict[str, str]) -> list[dict[str, Any]]:
        inputs = []
        for plan in pending.values():
            properties = {
                **plan.extra,
                "hs_task_subject": plan.subject,
                "hs_task_body": plan.body,
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": plan.priority,
                "hs_task_type": "TODO",
                "hs_timestamp": plan.due.isoformat(timespec="milliseconds").replace("+00:00", "Z") if plan.due else "",
            }
            if plan.company_id in owners:
                properties["hubspot_owner_id"] = owners[plan.company_id]
            association = {
                "to": {"id": plan.company_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_COMPANY}],
            }
            inputs.append(
                {"properties": properties, "associations": [association], "objectWriteTraceId": plan.identity}
            )
        return inputs

    def _lookup(self, plans: list[TaskPlan]) -> dict[str, str]:
        """identity -> task id for tasks already committed, found by their marker through associations."""
        companies = sorted({plan.company_id for plan in plans if plan.company_id})
        task_ids: set[str] = set()
        for ids in self.client.associated("companies", "tasks", companies).values():  # 1,000 companies a call
            task_ids.update(ids)
        found: dict[str, str] = {}
        for chunk in chunks(sorted(task_ids), BATCH_SIZE):
            for task in self.client.batch_read("tasks", list(chunk), None, ["hs_task_body"]):
                identity = _identity_in(str((task.get("properties") or {}).get("hs_task_body") or ""))
                if identity:
                    found[identity] = str(task["id"])
        return found

    @staticmethod
    def _found(found: dict[str, str], pending: dict[str, TaskPlan], ctx: SyncContext, counts: SyncCounts) -> None:
        created = {identity: remote_id for identity, remote_id in found.items() if identity in pending}
        ctx.store.tasks_created(DESTINATION, created)  # one transaction for the batch
        for identity in created:
            counts.tasks_created += 1
            del pending[identity]


def _intent(plan: TaskPlan) -> TaskIntent:
    """The intent recorded before `plan`'s create call (a fresh trace id; a known identity keeps its own)."""
    return TaskIntent(plan.identity, uuid.uuid4().hex, plan.account, plan.play, plan.period)


def _ids(error: dict[str, Any]) -> list[str]:
    return [str(i) for i in (error.get("context") or {}).get("ids") or []]


def _identity_in(body: str) -> str | None:
    start = body.rfind(MARKER)
    if start < 0:
        return None
    end = body.find("]", start)
    return unquote(body[start + len(MARKER) : end]) if end > 0 else None
