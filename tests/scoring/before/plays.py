"""Play flags (SPEC section 3): per account, the plays that fire and, for each, the plain-English reasons.

Each rule reads one account's signals (a mapping: the score table's columns, the activity counts, the persona
counts and the account's extra columns) and returns the reasons it fired, or nothing. Plays are reported in config
order; where two definitions overlap both fire. Accounts whose status is in `plays.skip_statuses` fire none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from healthsync.scoring.config import (
    ChurnRisk,
    ExpansionMilestone,
    MultiUserActivation,
    NonActivation,
    ScoringConfig,
    UsageLimit,
    WorkflowAdoption,
)
from healthsync.scoring.metrics import AT_RISK, FALLING
from healthsync.scoring.words import count_of, decimal, number, optional_int, optional_number, text
from tests.scoring.before.summary import account_summary

Row = Mapping[str, Any]
PERSONA_PCT_COLUMNS = ("key_personas_active_pct", "workflows_in_use_pct")


def play_columns(signals: pd.DataFrame, config: ScoringConfig) -> dict[str, pd.Series]:
    """The `plays`, `play_reasons` and `summary` columns for a frame of account signals (same index)."""
    records = [{str(key): value for key, value in row.items()} for row in signals.to_dict("records")]
    fired = [account_plays(row, config) for row in records]
    summaries = [account_summary(row, config) for row in records]
    return {
        "plays": pd.Series([list(plays) for plays in fired], index=signals.index, dtype="object"),
        "play_reasons": pd.Series(fired, index=signals.index, dtype="object"),
        "summary": pd.Series(summaries, index=signals.index, dtype="object"),
    }


def account_plays(row: Row, config: ScoringConfig) -> dict[str, list[str]]:
    """The plays that fire for one account, in config order, each with its reasons."""
    if text(row.get("status")) in config.plays.skip_statuses:
        return {}
    fired: dict[str, list[str]] = {}
    for name, rule in RULES.items():
        play = getattr(config.plays, name)
        if play.enabled:
            reasons = rule(row, play, config)
            if reasons:
                fired[name] = reasons
    return fired


def _int(row: Row, key: str) -> int:
    return optional_int(row.get(key)) or 0


def _users_active(active: int, total: int) -> str:
    if active >= total:
        return f"only {count_of(active, 'user', 'users')} active"
    return f"only {active} of {total} users active"


def _step_label(event: str, done: int, needed: int) -> str:
    return event if needed == 1 else f"{event} ({done} of {needed})"


def _setup_gaps(row: Row, play: MultiUserActivation, config: ScoringConfig) -> list[str]:
    """Activation below target and incomplete key steps (nothing when no activation steps are configured)."""
    if not config.activation_steps:
        return []
    gaps = []
    activation = _int(row, "activation_pct")
    if activation < play.activation_below:
        gaps.append(f"activation {activation}% < {number(play.activation_below)}%")
    missing = []
    for index in config.key_step_indexes():
        step = config.activation_steps[index]
        done = _int(row, f"step__{index}")
        if done < step.min_count:
            missing.append(_step_label(step.event, done, step.min_count))
    if missing:
        gaps.append("setup steps incomplete: " + ", ".join(missing))
    return gaps


def _trial_signal(row: Row, play: MultiUserActivation, config: ScoringConfig) -> list[str]:
    """The trial (first trial_days) averaged more events per day than the current window."""
    tenure = optional_int(row.get("tenure_days"))
    trial = _int(row, "trial_events")
    if play.trial_days <= 0 or tenure is None or tenure < play.trial_days or trial <= 0:
        return []
    trial_rate = trial / play.trial_days
    now_rate = _int(row, "events") / max(1, min(config.window_days, tenure))
    if trial_rate <= now_rate:
        return []
    return [f"trial was more active than now ({decimal(trial_rate)} events/day vs {decimal(now_rate)})"]


def _extra_signals(row: Row, play: MultiUserActivation, config: ScoringConfig) -> list[str]:
    signals = []
    plan = text(row.get("plan"))
    if plan in play.team_plans:
        signals.append(f"plan is {plan}")
    admins = optional_int(row.get("active_admins"))
    active = _int(row, "active_users")
    if admins is not None and active > 0 and admins >= active:
        signals.append("only admins active")
    return signals + _trial_signal(row, play, config)


def multi_user_activation(row: Row, play: MultiUserActivation, config: ScoringConfig) -> list[str]:
    """Paying, in onboarding, engagement limited to a few users, and activation low or key steps incomplete."""
    tenure = optional_int(row.get("tenure_days"))
    active = _int(row, "active_users")
    if text(row.get("status")) not in play.statuses or tenure is None or tenure > play.max_tenure_days:
        return []
    if not play.min_active_users <= active <= play.max_active_users:
        return []
    gaps = _setup_gaps(row, play, config)
    if not gaps:
        return []
    onboarding = f"in onboarding (tenure {tenure} days <= {play.max_tenure_days})"
    return [onboarding, _users_active(active, _int(row, "total_users")), *gaps, *_extra_signals(row, play, config)]


def non_activation_day_14(row: Row, play: NonActivation, config: ScoringConfig) -> list[str]:
    """Tenure at least min_tenure_days and activation below target: CS follow-up."""
    tenure = optional_int(row.get("tenure_days"))
    activation = _int(row, "activation_pct")
    if not config.activation_steps or tenure is None or tenure < play.min_tenure_days:
        return []
    if activation >= play.activation_below:
        return []
    below = f"activation {activation}% < {number(play.activation_below)}%"
    return [f"tenure {tenure} days >= {play.min_tenure_days}", below]


def _limit_reason(row: Row, limit: UsageLimit, at_least: float) -> str | None:
    used = optional_number(row.get(limit.used))
    cap = optional_number(row.get(limit.limit))
    if used is None or cap is None or cap <= 0 or used * 100 < at_least * cap:
        return None
    share = f"{decimal(used * 100 / cap, digits=0)}% >= {number(at_least)}%"
    if limit.label:
        return f"{number(used)} of {number(cap)} {limit.label} used ({share})"
    return f"{limit.used} {number(used)} of {limit.limit} {number(cap)} ({share})"


def expansion_milestone(row: Row, play: ExpansionMilestone, config: ScoringConfig) -> list[str]:
    """Active paying account using at least usage_at_least_pct of a limit, with healthy or neutral health."""
    tier = text(row.get("health_tier"))
    if text(row.get("status")) not in play.statuses or _int(row, "active_users") <= 0 or tier not in play.tiers:
        return []
    hits = [reason for limit in play.limits if (reason := _limit_reason(row, limit, play.usage_at_least_pct))]
    if not hits:
        return []
    return [*hits, f"health {tier} (score {_int(row, 'health_score')})"]


def _inactivity(row: Row, play: ChurnRisk) -> list[str]:
    days = optional_int(row.get("days_since_active"))
    tenure = optional_int(row.get("tenure_days"))
    if days is None:
        return ["never active"] if tenure is None or tenure >= play.days_since_active else []
    return [f"no activity for {days} days (>= {play.days_since_active})"] if days >= play.days_since_active else []


def churn_risk(row: Row, play: ChurnRisk, config: ScoringConfig) -> list[str]:
    """Inactive for days_since_active, or falling, or at risk after onboarding, or few active users of many."""
    reasons = _inactivity(row, play)
    change = optional_int(row.get("score_change"))
    if play.on_falling_trend and text(row.get("trend")) == FALLING and change is not None:
        reasons.append(f"score falling ({change:+d})")
    tenure = optional_int(row.get("tenure_days"))
    if play.on_at_risk_tier and text(row.get("health_tier")) == AT_RISK and (tenure or 0) > play.onboarding_days:
        reasons.append(f"health at risk (score {_int(row, 'health_score')}) after onboarding")
    total, active, percent = _int(row, "total_users"), _int(row, "active_users"), _int(row, "active_user_pct")
    if total >= play.min_users and percent < play.active_user_pct_below:
        reasons.append(f"only {active} of {total} users active ({percent}% < {number(play.active_user_pct_below)}%)")
    return reasons


def workflow_adoption(row: Row, play: WorkflowAdoption, config: ScoringConfig) -> list[str]:
    """Key personas or key workflows below target, or adoption shrinking (needs personas)."""
    tenure = optional_int(row.get("tenure_days"))
    if not config.personas or (tenure is not None and tenure < play.min_tenure_days):
        return []
    reasons = []
    people = optional_int(row.get("key_personas_active_pct"))
    if people is not None and people < play.key_personas_active_below_pct:
        counts = f"{_int(row, 'key_people_active')} of {count_of(_int(row, 'key_people'), 'person', 'people')}"
        reasons.append(f"key personas active {people}% < {number(play.key_personas_active_below_pct)}% ({counts})")
    flows = optional_int(row.get("workflows_in_use_pct"))
    if flows is not None and flows < play.workflows_in_use_below_pct:
        counts = f"{_int(row, 'workflows_used')} of {_int(row, 'workflows_total')}"
        reasons.append(f"key workflows in use {flows}% < {number(play.workflows_in_use_below_pct)}% ({counts})")
    change = _int(row, "adoption_change")
    if play.on_shrinking and change <= -play.shrinking_by:
        reasons.append(f"adoption shrinking ({change:+d} active users vs last period)")
    return reasons


RULES: dict[str, Callable[[Row, Any, ScoringConfig], list[str]]] = {
    "multi_user_activation": multi_user_activation,
    "non_activation_day_14": non_activation_day_14,
    "expansion_milestone": expansion_milestone,
    "churn_risk": churn_risk,
    "workflow_adoption": workflow_adoption,
}
