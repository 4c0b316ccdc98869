"""Slack alerts: plan (which rules fired since the last run) and apply (post them, at most once each).

The guarantee, since an incoming webhook is neither idempotent nor readable:

- at most once per (account, rule, period): the alert's intent is recorded in the state store BEFORE its post
  and never posted again, whatever happened to the answer. A lost answer, a reset, a timeout or a 5xx leaves the
  alert `unconfirmed` (reported in the run counts), not retried; a run that finds an intent left by a killed run
  marks it `unconfirmed` too. Retried are only the failures that prove nothing was posted (429, connection
  refused); a refusal (4xx) withdraws the intent so the next run tries again.
- exactly once when the webhook answers: with the answer lost after Slack accepted the message, the message is
  in the channel once and the alert is never resent.
- quiet: alerts come from changes against the values the last run saw (stored per account). No stored values
  (a first run, or a lost state store) is a baseline run: it records the values and posts nothing, so losing
  the state costs one round of alerts, never a duplicate.

Every post passes the lease fence (`ctx.heartbeat`) first: a run that lost its lease posts nothing more.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from healthsync.connector.scores import ScoreResult
from healthsync.connector.slack import config_change
from healthsync.connector.slack.alerts import AlertPlan, detect, watched
from healthsync.connector.slack.client import SlackClient, UnconfirmedPost
from healthsync.connector.slack.message import Message, digest, single
from healthsync.connector.sync.check import Finding, error, ok
from healthsync.connector.sync.destination import SyncContext
from healthsync.connector.sync.plan import DestinationPlan, SyncCounts
from healthsync.connector.sync.rescore import Scoring
from healthsync.errors import DestinationError, LockHeldError, RejectedRecordError
from healthsync.mappings.models import SlackMapping
from healthsync.state import Ack

log = logging.getLogger("healthsync.slack")
DESTINATION = "slack"
OBJECT_TYPE = "accounts"


@dataclass
class SlackPlan(DestinationPlan):
    """The alerts to post (in `tasks`), the watched values to remember, and whether this is a baseline run.

    After a scoring-configuration change: `held` (the one summary and the accounts whose alerts it replaces),
    `post_summary` (False once its identity is on record) and `remember` (the configuration to record).
    """

    baseline: bool = False
    watched: dict[str, dict[str, Any]] = field(default_factory=dict)
    held: config_change.Held | None = None
    post_summary: bool = False
    remember: Scoring | None = None

    def counts(self) -> dict[str, int]:
        counts = {"alerts.post": len(self.tasks), "accounts.watched": len(self.watched)}
        if self.held is not None:
            counts |= {"alerts.held": self.held.alerts, "summary.post": int(self.post_summary)}
        return counts

    def render(self) -> list[str]:
        head = f"{self.destination}: " + ", ".join(f"{k} {v}" for k, v in self.counts().items() if v)
        lines = [head]
        if self.baseline:
            lines.append("  baseline run: values recorded, nothing posted (alerts start with the next change)")
        if self.held is not None:
            done = "" if self.post_summary else " (already posted)"
            lines.append(f"  summary {self.held.summary.identity}: {self.held.summary.subject.splitlines()[0]}{done}")
        lines += [f"  alert {alert.identity}: {alert.subject.splitlines()[0]}" for alert in self.tasks]
        return lines


class SlackDestination:
    """Alerts through an incoming webhook; `client` None plans only (no webhook URL configured)."""

    name = DESTINATION

    def __init__(self, client: SlackClient | None, mapping: SlackMapping) -> None:
        self.client = client
        self.mapping = mapping

    def check(self) -> list[Finding]:
        """Read-only preflight: the webhook URL's shape only. Any call to a webhook posts a message."""
        if self.client is None:
            return [error(self.name, "no webhook URL; set SLACK_WEBHOOK_URL", "auth")]
        if not self.client.looks_valid:
            return [
                error(self.name, "SLACK_WEBHOOK_URL is not an incoming-webhook URL (.../services/T/B/secret)", "config")
            ]
        return [ok(self.name, "webhook URL set (not called: a webhook cannot be called without posting)")]

    def plan(self, scores: ScoreResult, ctx: SyncContext) -> SlackPlan:
        rows = scores.account_rows()
        known = {key: state.values for key, state in ctx.store.records(DESTINATION, OBJECT_TYPE).items()}
        baseline = not known and not ctx.alert_baseline
        now = {key: watched(row) for key, row in rows.items()}
        changed = {key: values for key, values in now.items() if known.get(key) != values}
        record = config_change.remembered(ctx)
        plan = SlackPlan(
            DESTINATION, baseline=baseline, watched=changed, remember=config_change.to_remember(ctx, record)
        )
        if baseline:
            return plan
        alerts = detect(self.mapping.rules, rows, known, scores.as_of, new_accounts=ctx.alert_baseline)
        alerts, plan.held = config_change.hold(
            alerts, record, scores.accounts, known, self.mapping.rules, scores.as_of, ctx
        )
        recorded = {task.identity for task in ctx.store.tasks(DESTINATION)}
        plan.tasks = [alert for alert in alerts if alert.identity not in recorded]
        plan.post_summary = plan.held is not None and plan.held.summary.identity not in recorded
        return plan

    def apply(self, plan: DestinationPlan, ctx: SyncContext) -> SyncCounts:
        assert isinstance(plan, SlackPlan)
        counts = SyncCounts()
        for stale in ctx.store.tasks(DESTINATION, status="intent"):  # left by a killed run: outcome unknown
            ctx.store.alert_unconfirmed(DESTINATION, stale.identity)
            counts.alerts_unconfirmed += 1
        done: set[str] = set()  # identities posted or unconfirmed: never posted again
        summary = plan.held.summary if plan.held is not None and plan.post_summary else None
        try:
            for message in self._messages(plan.tasks, summary):
                done |= self._post(message, ctx, counts)
        finally:  # an account with an alert still to post keeps its old values: the next run sees the change again
            waiting = {alert.account for alert in plan.tasks if alert.identity not in done}
            summarised = summary is None or summary.identity in done
            if not summarised and plan.held is not None:
                waiting |= plan.held.accounts
            acks = [Ack(key, None, values) for key, values in plan.watched.items() if key not in waiting]
            ctx.store.acknowledge(DESTINATION, OBJECT_TYPE, acks)
            if summarised and plan.remember is not None:
                config_change.remember(ctx, plan.remember)
            if self.client is not None:
                counts.calls, counts.retried = self.client.calls, self.client.retries
        return counts

    def _messages(self, alerts: list[AlertPlan], summary: AlertPlan | None = None) -> list[Message]:
        """The configuration-change summary (its own message, first), then the alerts: a digest or one each."""
        first = [single(uuid.uuid4().hex, summary)] if summary is not None else []
        if not alerts:
            return first
        if self.mapping.delivery == "each":
            return first + [single(uuid.uuid4().hex, alert) for alert in alerts]
        return [*first, digest(uuid.uuid4().hex, alerts, self.mapping.title, self.mapping.digest_limit)]

    def _post(self, message: Message, ctx: SyncContext, counts: SyncCounts) -> set[str]:
        """Post one message; returns the identities that are done (posted, or unknown and never posted again)."""
        if self.client is None:
            raise RuntimeError("the Slack destination has no webhook client (plan only)")
        identities = {alert.identity for alert in message.alerts}
        for alert in message.alerts:  # the intent is on record before the post
            ctx.store.task_intent(
                DESTINATION, alert.identity, message.message_id, alert.account, alert.rule, alert.period
            )
        try:
            self.client.post(message.body, before=ctx.heartbeat)
        except UnconfirmedPost as exc:
            log.warning("slack alert outcome unknown; not posted again", extra={"error": str(exc)})
            for identity in identities:
                ctx.store.alert_unconfirmed(DESTINATION, identity)
            counts.alerts_unconfirmed += len(identities)
            return identities
        except RejectedRecordError as exc:
            self._withdraw(identities, ctx)
            log.warning("slack alert refused", extra={"error": str(exc)})
            counts.rejected += len(identities)
            for identity in sorted(identities) if ctx.run_id is not None else []:
                ctx.store.reject(ctx.run_id or 0, DESTINATION, "alerts", identity, str(exc), exc.status)
            return set()
        except (DestinationError, LockHeldError):  # refused, rate limited to the end, or fenced: nothing posted
            self._withdraw(identities, ctx)
            raise
        for identity in identities:
            ctx.store.alert_sent(DESTINATION, identity, message.message_id)
        counts.alerts_sent += len(identities)
        return identities

    @staticmethod
    def _withdraw(identities: set[str], ctx: SyncContext) -> None:
        for identity in identities:
            ctx.store.alert_withdrawn(DESTINATION, identity)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
