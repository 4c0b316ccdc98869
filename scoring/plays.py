"""Play flags (SPEC section 3): per account, the plays that fire and, for each, the plain-English reasons.

Each rule reads the signals of every account at once (a frame: the score table's columns, the activity counts, the
persona counts and the account's extra columns, read through :class:`scoring.columns.Columns`) and returns where
it fires and its reasons as columns of optional texts, in the order they are reported. Plays are reported in config
order; where two definitions overlap both fire. Accounts whose status is in `plays.skip_statuses` fire none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from healthsync.scoring.columns import BoolArray, Columns, TextArray, constant, somewhere, texts
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
from healthsync.scoring.summary import summaries
from healthsync.scoring.words import count_of, decimal, number

PERSONA_PCT_COLUMNS = ("key_personas_active_pct", "workflows_in_use_pct")
Fired = tuple[BoolArray, list[TextArray]]  # where the play fires, and its reasons (None where a reason is absent)


def play_columns(signals: pd.DataFrame, config: ScoringConfig, *, texts: bool = True) -> dict[str, pd.Series]:
    """The `plays`, `play_reasons` and `summary` columns for a frame of account signals (same index); without
    `texts` the summaries are None (what the backtest, which reads only the plays, skips)."""
    columns = Columns(signals)
    if not texts:  # the names only: no per-account dict of reasons
        none = pd.Series([None] * columns.size, index=signals.index, dtype="object")
        return {
            "plays": pd.Series(play_names(columns, config), index=signals.index),
            "play_reasons": none,
            "summary": none,
        }
    fired = account_plays(columns, config)
    return {
        "plays": pd.Series([list(plays) for plays in fired], index=signals.index, dtype="object"),
        "play_reasons": pd.Series(fired, index=signals.index, dtype="object"),
        "summary": pd.Series(summaries(columns, config), index=signals.index, dtype="object"),
    }


def _firing(columns: Columns, config: ScoringConfig) -> Iterator[tuple[str, BoolArray, list[TextArray]]]:
    """Each enabled play in config order: its name, the accounts (rows) it fires for (a skipped status never
    fires), and its reasons per row."""
    considered = ~columns.label_in("status", config.plays.skip_statuses)
    for name, rule in RULES.items():
        play = getattr(config.plays, name)
        if play.enabled:
            where, parts = rule(columns, play, config)
            yield name, np.asarray(where, dtype=bool) & considered, parts


def play_names(columns: Columns, config: ScoringConfig) -> list[list[str]]:
    """Per account (row), the names of the plays that fire, in config order (:func:`account_plays` without the
    reasons): one list per distinct combination of plays, copied per account."""
    names: list[str] = []
    pattern = np.zeros(columns.size, dtype=np.int64)
    for name, fires, _ in _firing(columns, config):
        pattern |= fires.astype(np.int64) << len(names)
        names.append(name)
    lists = {code: [name for bit, name in enumerate(names) if code >> bit & 1] for code in np.unique(pattern).tolist()}
    return [list(lists[code]) for code in pattern.tolist()]


def account_plays(columns: Columns, config: ScoringConfig) -> list[dict[str, list[str]]]:
    """Per account (row), the plays that fire, in config order, each with its reasons."""
    fired: list[dict[str, list[str]]] = [{} for _ in range(columns.size)]
    for name, fires, parts in _firing(columns, config):
        rows = np.flatnonzero(fires)
        cells = [part[rows].tolist() for part in parts]
        for position, reasons in zip(rows.tolist(), zip(*cells, strict=True), strict=True):
            fired[position][name] = [reason for reason in reasons if reason is not None]
    return fired


def _users_active(active: int, total: int) -> str:
    if active >= total:
        return f"only {count_of(active, 'user', 'users')} active"
    return f"only {active} of {total} users active"


def _step_label(event: str, done: int, needed: int) -> str:
    return event if needed == 1 else f"{event} ({done} of {needed})"


def _setup_gaps(columns: Columns, play: MultiUserActivation, config: ScoringConfig) -> list[TextArray]:
    """Activation below target and incomplete key steps (nothing when no activation steps are configured)."""
    if not config.activation_steps:
        return []
    activation = columns.ints("activation_pct")
    below = f"% < {number(play.activation_below)}%"
    low = texts(activation < play.activation_below, lambda value: f"activation {value}{below}", activation)
    missing: list[TextArray] = []
    for index in config.key_step_indexes():
        step = config.activation_steps[index]
        done = columns.ints(f"step__{index}")
        label = texts(done < step.min_count, lambda n, s=step: _step_label(s.event, n, s.min_count), done)
        missing.append(label)
    incomplete = texts(
        somewhere(missing, columns.size),
        lambda *labels: "setup steps incomplete: " + ", ".join(label for label in labels if label is not None),
        *missing,
    )
    return [low, incomplete]


def _trial_signal(columns: Columns, play: MultiUserActivation, config: ScoringConfig) -> TextArray:
    """The trial (first trial_days) averaged more events per day than the current window."""
    tenure, known = columns.ints("tenure_days"), columns.present("tenure_days")
    trial = columns.ints("trial_events")
    if play.trial_days <= 0:
        return constant(np.zeros(columns.size, dtype=bool), "")
    trial_rate = trial / play.trial_days
    now_rate = columns.ints("events") / np.maximum(1, np.minimum(config.window_days, tenure))
    more = known & (tenure >= play.trial_days) & (trial > 0) & (trial_rate > now_rate)

    def phrase(then: float, now: float) -> str:
        return f"trial was more active than now ({decimal(then)} events/day vs {decimal(now)})"

    return texts(more, phrase, trial_rate, now_rate)


def _extra_signals(columns: Columns, play: MultiUserActivation, config: ScoringConfig) -> list[TextArray]:
    plan = columns.labels("plan")
    team = texts(np.isin(plan, play.team_plans), lambda name: f"plan is {name}", plan)
    admins, active = columns.ints("active_admins"), columns.ints("active_users")
    only_admins = columns.present("active_admins") & (active > 0) & (admins >= active)
    return [team, constant(only_admins, "only admins active"), _trial_signal(columns, play, config)]


def multi_user_activation(columns: Columns, play: MultiUserActivation, config: ScoringConfig) -> Fired:
    """Paying, in onboarding, engagement limited to a few users, and activation low or key steps incomplete."""
    tenure, active = columns.ints("tenure_days"), columns.ints("active_users")
    onboarding = columns.present("tenure_days") & (tenure <= play.max_tenure_days)
    few = (play.min_active_users <= active) & (active <= play.max_active_users)
    gate = columns.label_in("status", play.statuses) & onboarding & few
    gaps = _setup_gaps(columns, play, config)
    where = gate & somewhere(gaps, columns.size)
    limit = play.max_tenure_days
    first = texts(where, lambda days: f"in onboarding (tenure {days} days <= {limit})", tenure)
    users = texts(where, _users_active, active, columns.ints("total_users"))
    return where, [first, users, *gaps, *_extra_signals(columns, play, config)]


def non_activation_day_14(columns: Columns, play: NonActivation, config: ScoringConfig) -> Fired:
    """Tenure at least min_tenure_days and activation below target: CS follow-up."""
    tenure, activation = columns.ints("tenure_days"), columns.ints("activation_pct")
    where = columns.present("tenure_days") & (tenure >= play.min_tenure_days) & (activation < play.activation_below)
    if not config.activation_steps:
        where = np.zeros(columns.size, dtype=bool)
    least, below = play.min_tenure_days, number(play.activation_below)
    return where, [
        texts(where, lambda days: f"tenure {days} days >= {least}", tenure),
        texts(where, lambda value: f"activation {value}% < {below}%", activation),
    ]


def _limit_reasons(columns: Columns, limit: UsageLimit, at_least: float) -> TextArray:
    used, cap = columns.numbers(limit.used), columns.numbers(limit.limit)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        usable = ~np.isnan(used) & ~np.isnan(cap) & (cap > 0) & np.isfinite(used * 100 / cap)  # not a subnormal cap
        hit = usable & ~(used * 100 < at_least * cap)

    def phrase(value: float, whole: float) -> str:
        share = f"{decimal(value * 100 / whole, digits=0)}% >= {number(at_least)}%"
        if limit.label:
            return f"{number(value)} of {number(whole)} {limit.label} used ({share})"
        return f"{limit.used} {number(value)} of {limit.limit} {number(whole)} ({share})"

    return texts(hit, phrase, used, cap)


def expansion_milestone(columns: Columns, play: ExpansionMilestone, config: ScoringConfig) -> Fired:
    """Active paying account using at least usage_at_least_pct of a limit, with healthy or neutral health."""
    tier = columns.labels("health_tier")
    gate = columns.label_in("status", play.statuses) & (columns.ints("active_users") > 0) & np.isin(tier, play.tiers)
    hits = [_limit_reasons(columns, limit, play.usage_at_least_pct) for limit in play.limits]
    where = gate & somewhere(hits, columns.size)
    health = texts(where, lambda name, score: f"health {name} (score {score})", tier, columns.ints("health_score"))
    return where, [*hits, health]


def _inactivity(columns: Columns, play: ChurnRisk, lookback_days: int) -> TextArray:
    days, seen = columns.ints("days_since_active"), columns.present("days_since_active")
    tenure, known = columns.ints("tenure_days"), columns.present("tenure_days")
    never = ~seen & (~known | (tenure >= play.days_since_active))
    idle = seen & (days >= play.days_since_active)
    least = play.days_since_active
    reasons = texts(idle, lambda value: f"no activity for {value} days (>= {least})", days)
    reasons[never] = "never active"
    # older than the lookback: events before it are not read (scoring.lookback_days), so "never" is not known
    reasons[never & known & (tenure > lookback_days)] = f"no activity in the last {lookback_days} days"
    return reasons


def churn_risk(columns: Columns, play: ChurnRisk, config: ScoringConfig) -> Fired:
    """Inactive for days_since_active, or falling, or at risk after onboarding, or few active users of many."""
    change = columns.ints("score_change")
    falling = play.on_falling_trend & (columns.labels("trend") == FALLING) & columns.present("score_change")
    score, tenure = columns.ints("health_score"), columns.ints("tenure_days")
    at_risk = play.on_at_risk_tier & (columns.labels("health_tier") == AT_RISK) & (tenure > play.onboarding_days)
    total, active, percent = columns.ints("total_users"), columns.ints("active_users"), columns.ints("active_user_pct")
    few = (total >= play.min_users) & (percent < play.active_user_pct_below)
    below = number(play.active_user_pct_below)
    parts = [
        _inactivity(columns, play, config.lookback_days),
        texts(falling, lambda value: f"score falling ({value:+d})", change),
        texts(at_risk, lambda value: f"health at risk (score {value}) after onboarding", score),
        texts(few, lambda a, t, p: f"only {a} of {t} users active ({p}% < {below}%)", active, total, percent),
    ]
    return somewhere(parts, columns.size), parts


def workflow_adoption(columns: Columns, play: WorkflowAdoption, config: ScoringConfig) -> Fired:
    """Key personas or key workflows below target, or adoption shrinking (needs personas)."""
    tenure = columns.ints("tenure_days")
    gate = ~(columns.present("tenure_days") & (tenure < play.min_tenure_days)) & bool(config.personas)
    people, flows = columns.ints("key_personas_active_pct"), columns.ints("workflows_in_use_pct")
    few_people = columns.present("key_personas_active_pct") & (people < play.key_personas_active_below_pct)
    few_flows = columns.present("workflows_in_use_pct") & (flows < play.workflows_in_use_below_pct)
    change = columns.ints("adoption_change")
    shrinking = play.on_shrinking & (change <= -play.shrinking_by)
    people_below, flows_below = number(play.key_personas_active_below_pct), number(play.workflows_in_use_below_pct)

    def personas(pct: int, active: int, head: int) -> str:
        return f"key personas active {pct}% < {people_below}% ({active} of {count_of(head, 'person', 'people')})"

    def workflows(pct: int, used: int, total: int) -> str:
        return f"key workflows in use {pct}% < {flows_below}% ({used} of {total})"

    parts = [
        texts(gate & few_people, personas, people, columns.ints("key_people_active"), columns.ints("key_people")),
        texts(gate & few_flows, workflows, flows, columns.ints("workflows_used"), columns.ints("workflows_total")),
        texts(gate & shrinking, lambda value: f"adoption shrinking ({value:+d} active users vs last period)", change),
    ]
    return somewhere(parts, columns.size), parts


RULES: dict[str, Callable[[Columns, Any, ScoringConfig], Fired]] = {
    "multi_user_activation": multi_user_activation,
    "non_activation_day_14": non_activation_day_14,
    "expansion_milestone": expansion_milestone,
    "churn_risk": churn_risk,
    "workflow_adoption": workflow_adoption,
}
