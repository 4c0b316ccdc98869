"""The one-sentence summary per account (SPEC section 3): who is active, what they are doing, how it moves.

Written from the numbers only, e.g. "5 of 7 reps and the manager were active every week; sequences in 80% of
outbound touches; all 4 key workflows in use; adoption is spreading (+2 active users vs last period)." Without
personas: "3 of 12 users were active on 9 of 30 days; 2 of 3 features in use; activity is falling (-14 score)."
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.metrics import NEW
from healthsync.scoring.words import all_of, count_of, join_words, optional_int, text
from tests.scoring.before.personas import PersonaCount, frequency_phrase

Row = Mapping[str, Any]


def account_summary(row: Row, config: ScoringConfig) -> str:
    """One plain sentence for one account's signals (see :mod:`scoring.plays` for what a row holds)."""
    counts: Sequence[PersonaCount] = row.get("persona_counts") or ()
    if config.personas and counts:
        clauses = [*_persona_clauses(counts, config), *_share_clauses(row, config), _workflow_clause(row)]
        clauses.append(_adoption_clause(_int(row, "adoption_change")))
    else:
        clauses = [_users_clause(row, config), *_share_clauses(row, config), _feature_clause(row, config)]
        clauses.append(_activity_clause(row))
    sentence = "; ".join(clause for clause in clauses if clause)
    return sentence[:1].upper() + sentence[1:] + "."


def _int(row: Row, key: str) -> int:
    return optional_int(row.get(key)) or 0


def _subject(count: PersonaCount, config: ScoringConfig) -> tuple[str, bool]:
    """The active members of a persona in words, and whether the verb is singular ("the manager", "5 of 7 reps")."""
    persona = config.personas[count.role]
    if count.head == 1:
        return f"the {persona.label}", True
    if count.active > count.head:
        return count_of(count.active, persona.label, persona.plural_label), count.active == 1
    if count.active == count.head:
        return f"{all_of(count.head)} {persona.plural_label}", False
    return f"{count.active} of {count.head} {persona.plural_label}", count.active == 1


def _everyone(count: PersonaCount, config: ScoringConfig) -> str:
    persona = config.personas[count.role]
    return f"the {persona.label}" if count.head == 1 else f"the {count.head} {persona.plural_label}"


def _nobody(members: Sequence[PersonaCount], phrase: str, config: ScoringConfig) -> str:
    """ "the manager was not active every week", "none of the 7 reps or the manager were active every week"."""
    if len(members) == 1 and members[0].head == 1:
        return f"{_everyone(members[0], config)} was not active {phrase}"
    if len(members) == 2 and members[0].head == members[1].head == 1:
        first, second = (_everyone(count, config) for count in members)
        return f"neither {first} nor {second} was active {phrase}"
    return f"none of {join_words([_everyone(count, config) for count in members], 'or')} were active {phrase}"


def _persona_clauses(counts: Sequence[PersonaCount], config: ScoringConfig) -> list[str]:
    """One clause per frequency target: who met it ("5 of 7 reps and the manager were active every week")."""
    groups: dict[str, list[PersonaCount]] = {}
    for count in counts:
        groups.setdefault(frequency_phrase(config.personas[count.role], config.window_days), []).append(count)
    clauses = []
    for phrase, members in groups.items():
        active = [_subject(count, config) for count in members if count.active > 0]
        idle = [_everyone(count, config) for count in members if count.active == 0]
        if not active:
            clauses.append(_nobody(members, phrase, config))
            continue
        singular = len(active) == 1 and active[0][1]
        clause = f"{join_words([name for name, _ in active])} {'was' if singular else 'were'} active {phrase}"
        clauses.append(clause + (f" but not {join_words(idle, 'or')}" if idle else ""))
    return clauses


def _share_clauses(row: Row, config: ScoringConfig) -> list[str]:
    """ "sequences in 80% of outbound touches", for each configured share with a denominator."""
    clauses = []
    for name, share in config.shares.items():
        part, whole = _int(row, f"share_num__{name}"), _int(row, f"share_den__{name}")
        if whole > 0:
            percent = min((200 * part + whole) // (2 * whole), 100)
            clauses.append(f"{name} in {percent}% of {share.label}")
    return clauses


def _workflow_clause(row: Row) -> str:
    used, total = _int(row, "workflows_used"), _int(row, "workflows_total")
    if total == 0:
        return ""
    if used == total:
        return f"{all_of(total)} key workflows in use" if total > 1 else "the key workflow is in use"
    return f"{used} of {total} key workflows in use"


def _adoption_clause(change: int) -> str:
    if change > 0:
        return f"adoption is spreading (+{count_of(change, 'active user', 'active users')} vs last period)"
    if change < 0:
        return f"adoption is shrinking (-{count_of(-change, 'active user', 'active users')} vs last period)"
    return "adoption is steady (as many active users as last period)"


def _users_clause(row: Row, config: ScoringConfig) -> str:
    active, total, days = _int(row, "active_users"), _int(row, "total_users"), _int(row, "active_days")
    window = config.window_days
    if active == 0:
        last = optional_int(row.get("days_since_active"))
        if last is None:
            return "no user has been active yet"
        return f"no user was active in the last {window} days (last activity {count_of(last, 'day', 'days')} ago)"
    who = (
        "the only user" if total == 1 else f"{all_of(total)} users" if active == total else f"{active} of {total} users"
    )
    verb = "was" if active == 1 else "were"
    return f"{who} {verb} active on {days} of {count_of(window, 'day', 'days')}"


def _feature_clause(row: Row, config: ScoringConfig) -> str:
    if not config.features:
        return ""
    used, total = _int(row, "features_used"), len(config.features)
    if used == total:
        return f"{all_of(total)} features in use" if total > 1 else "the feature is in use"
    return f"{used} of {count_of(total, 'feature', 'features')} in use"


def _activity_clause(row: Row) -> str:
    trend, change = text(row.get("trend")), optional_int(row.get("score_change"))
    if trend == NEW or change is None:
        return "no activity in the previous period" if _int(row, "events") > 0 else ""
    return f"activity is {trend} ({change:+d} score)"
