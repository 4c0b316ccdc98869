"""A scoring-configuration change in Slack: one summary line instead of one alert per account it moved.

Slack remembers the configuration its watched values were seen with (a record `scoring/config` next to the
accounts' values). When this run's configuration differs, the run's data is scored again with that one
(:class:`~healthsync.connector.sync.rescore.Rescorer`) and every alert is asked: would the old configuration on
this data have raised it too?

- yes: the data moved the account; it is alerted as usual.
- no: the configuration moved it; it is held back, and the change gets ONE summary line
  ("scoring configuration changed: 37 accounts moved tier"; the count is the `plan` count: accounts whose tier
  differs between the two configurations on this data).

The summary is an alert like the others: its identity (the two fingerprints and when Slack recorded the old one)
is on record before the post and never posted twice, so a killed run or a rerun does not repeat it. Slack moves on
to the new configuration only once the summary is done (posted, or its outcome unknown); until then the held
accounts keep their old values and the next run holds them again under the same summary. A lost state store is a
baseline run: nothing to compare with, the new configuration is recorded, nothing is posted (the summary of a change
made meanwhile is lost, never duplicated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from healthsync.connector.records import rows_by_key
from healthsync.connector.slack.alerts import AlertPlan, detect
from healthsync.connector.sync.destination import SyncContext
from healthsync.connector.sync.rescore import Scoring, tier_moves
from healthsync.mappings.models import SlackRule
from healthsync.state import Ack, RecordState

DESTINATION = "slack"
OBJECT_TYPE = "scoring"
KEY = "config"
RULE = "scoring_config"


@dataclass
class Held:
    """The summary of a configuration change and the accounts whose alerts it replaces."""

    summary: AlertPlan
    accounts: set[str] = field(default_factory=set)
    alerts: int = 0


def remembered(ctx: SyncContext) -> RecordState | None:
    """The configuration Slack's watched values were last seen with (None: none recorded yet)."""
    return ctx.store.records(DESTINATION, OBJECT_TYPE).get(KEY)


def to_remember(ctx: SyncContext, record: RecordState | None) -> Scoring | None:
    """This run's configuration when Slack's record of it is missing or another one."""
    if ctx.scoring is None or (record is not None and record.values.get("fingerprint") == ctx.scoring.fingerprint):
        return None
    return ctx.scoring


def remember(ctx: SyncContext, scoring: Scoring) -> None:
    values = {"fingerprint": scoring.fingerprint, "config": scoring.config}
    ctx.store.acknowledge(DESTINATION, OBJECT_TYPE, [Ack(KEY, None, values)])


def hold(
    alerts: list[AlertPlan],
    record: RecordState | None,
    accounts: Any,
    known: dict[str, dict[str, Any]],
    rules: list[SlackRule],
    as_of: datetime,
    ctx: SyncContext,
) -> tuple[list[AlertPlan], Held | None]:
    """The alerts the data raised (kept) and the summary replacing those only the new configuration raised."""
    if record is None or ctx.scoring is None or ctx.rescore is None:
        return alerts, None
    if record.values.get("fingerprint") == ctx.scoring.fingerprint:  # the configuration Slack saw last: no change
        return alerts, None
    previous = Scoring(str(record.values.get("fingerprint")), dict(record.values.get("config") or {}))
    old = ctx.rescore(previous)
    if old is None:  # this release refuses the old configuration: nothing to compare with, alert as usual
        return alerts, None
    before = rows_by_key(old, "account_id")
    raised = {alert.identity for alert in detect(rules, before, known, as_of, new_accounts=ctx.alert_baseline)}
    kept = [alert for alert in alerts if alert.identity in raised]
    held = [alert for alert in alerts if alert.identity not in raised]
    if not held:
        return kept, None
    summary = _summary(previous.fingerprint, ctx.scoring.fingerprint, record.updated_at, len(tier_moves(accounts, old)))
    return kept, Held(summary, {alert.account for alert in held}, len(held))


def _summary(previous: str, current: str, since: datetime, moved: int) -> AlertPlan:
    period = since.strftime("%Y%m%dT%H%M%S")
    noun = "account" if moved == 1 else "accounts"
    subject = f"scoring configuration changed: {moved} {noun} moved tier\n_fingerprint {previous} -> {current}_"
    return AlertPlan(f"{RULE}:{previous}:{current}:{period}", "*", RULE, period, subject, -1)
