"""Which alerts a run raises: each rule compares an account's values now with the ones of the last run
(what the state store remembers for Slack), filtered by the rule's `where`. Pure: rows in, alerts out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from healthsync.mappings.models import Range, SlackRule
from healthsync.mappings.template import render

DEFAULT_TEXT = {
    "tier_change": "*{{ name }}* moved {{ previous_tier }} -> {{ health_tier }} (score {{ previous_score }} -> "
    "{{ health_score }})",
    "play_fired": "*{{ name }}*: {{ play }} fired ({{ reasons }})",
    "score_drop": "*{{ name }}* dropped {{ drop }} points ({{ previous_score }} -> {{ health_score }})",
    "activation_completed": "*{{ name }}* completed activation (score {{ health_score }})",
}


@dataclass
class AlertPlan:
    """One alert: posted at most once per identity (account, rule, period)."""

    identity: str
    account: str
    rule: str
    period: str
    subject: str
    score: int
    action: str = "post"


def watched(row: dict[str, Any]) -> dict[str, Any]:
    """The values alerts compare between runs (stored per account after every run)."""
    activation = row.get("activation_pct")
    return {
        "health_tier": row.get("health_tier"),
        "health_score": _int(row.get("health_score")),
        "plays": sorted(str(play) for play in row.get("plays") or []),
        "activated": activation is not None and not _missing(activation) and float(activation) >= 100,
    }


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def period_key(period: str, as_of: datetime) -> str:
    """`run` (this as_of), `2025-08-13`, `2025-W33`, `2025-08` or `2025-Q3`."""
    if period == "run":
        return as_of.strftime("%Y%m%dT%H%M%S")
    if period == "day":
        return as_of.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = as_of.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{as_of.year}-{as_of.month:02d}"
    return f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}"


def matches(where: dict[str, Any], row: dict[str, Any]) -> bool:
    """Every condition holds: equal to a value, one of a list, or inside a {min, max} range."""
    for column, wanted in where.items():
        value = row.get(column)
        if isinstance(wanted, Range):
            if value is None or _missing(value):
                return False
            number = float(value)
            if (wanted.min is not None and number < wanted.min) or (wanted.max is not None and number > wanted.max):
                return False
        elif isinstance(wanted, list):
            if not any(_same(value, item) for item in wanted):
                return False
        elif not _same(value, wanted):
            return False
    return True


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return bool(value) == wanted if not _missing(value) else False
    if isinstance(wanted, int | float) and not _missing(value):
        try:
            return float(value) == float(wanted)
        except (TypeError, ValueError):
            return False
    return str(value) == str(wanted)


def _events(rule: SlackRule, now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    """What fired for this rule: a list of extra template values (one per play for play_fired)."""
    if rule.kind == "tier_change":
        moved = before.get("health_tier") != now["health_tier"]
        into = not rule.to_tiers or now["health_tier"] in rule.to_tiers
        out = not rule.from_tiers or before.get("health_tier") in rule.from_tiers
        return [{}] if moved and into and out else []
    if rule.kind == "play_fired":
        new = sorted(set(now["plays"]) - set(before.get("plays") or []))
        return [{"play": play} for play in new if not rule.plays or play in rule.plays]
    if rule.kind == "score_drop":
        previous = before.get("health_score")
        if previous is None or now["health_score"] is None:
            return []
        drop = previous - now["health_score"]
        return [{"drop": drop}] if drop >= rule.min_points else []
    return [{}] if now["activated"] and not before.get("activated") else []


def detect(
    rules: list[SlackRule],
    rows: dict[str, dict[str, Any]],
    previous: dict[str, dict[str, Any]],
    as_of: datetime,
    *,
    new_accounts: bool,
) -> list[AlertPlan]:
    """The alerts of this run, worst first (lowest score, then account id).

    `previous` holds each account's watched values of the last run; an account without them is new and raises
    nothing unless `new_accounts` (the first run with --alert-baseline compares with nothing).
    """
    alerts = []
    for key, row in rows.items():
        before = previous.get(key)
        if before is None and not new_accounts:
            continue
        now = watched(row)
        for rule in rules:
            if not matches(rule.where, row):
                continue
            for extra in _events(rule, now, before or {}):
                alerts.append(_alert(rule, key, row, before or {}, extra, as_of))
    return sorted(alerts, key=lambda alert: (alert.score, alert.account, alert.rule))


def _alert(
    rule: SlackRule, key: str, row: dict[str, Any], before: dict[str, Any], extra: dict[str, Any], as_of: datetime
) -> AlertPlan:
    period = period_key(rule.period, as_of)
    play = extra.get("play")
    reasons = "; ".join((row.get("play_reasons") or {}).get(play) or []) if play else ""
    values = {
        **row,
        "name": row.get("name") or key,
        "rule": rule.name,
        "previous_tier": before.get("health_tier") or "new",
        "previous_score": before.get("health_score") if before.get("health_score") is not None else "-",
        "reasons": reasons,
        **extra,
    }
    template = rule.text or DEFAULT_TEXT[rule.kind]
    if not rule.text and rule.kind == "tier_change" and not before:  # --alert-baseline: nothing to compare with
        template = "*{{ name }}* is {{ health_tier }} (score {{ health_score }})"
    line = render(template, values).strip()
    why = row.get("score_reasons")
    if why and not rule.text:
        line += f"\n_{why}_"
    identity = f"{key}:{rule.name}:{play}:{period}" if play else f"{key}:{rule.name}:{period}"
    return AlertPlan(identity, key, rule.name, period, line, _int(row.get("health_score")) or 0)
