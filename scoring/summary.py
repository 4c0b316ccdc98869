"""The one-sentence summary per account (SPEC section 3): who is active, what they are doing, how it moves.

Written from the numbers only, e.g. "5 of 7 reps and the manager were active every week; sequences in 80% of
outbound touches; all 4 key workflows in use; adoption is spreading (+2 active users vs last period)." Without
personas: "3 of 12 users were active on 9 of 30 days; 2 of 3 features in use; activity is falling (-14 score)."

Each clause is a column of texts computed for every account at once (see :mod:`scoring.columns`); the persona
clauses are written once per distinct combination of active members and head counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from healthsync.scoring.columns import BoolArray, Columns, TextArray, constant, texts
from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.metrics import NEW
from healthsync.scoring.personas import PersonaCount, active_column, frequency_phrase, head_column, key_personas
from healthsync.scoring.words import all_of, count_of, join_words


def summaries(columns: Columns, config: ScoringConfig) -> list[str]:
    """One plain sentence per account (row) of the signals (see :mod:`scoring.plays` for what they hold)."""
    size = columns.size
    roles = key_personas(config)
    heads = [columns.ints(head_column(role)) for role in roles]
    personas = np.zeros(size, dtype=bool)
    for head in heads:
        personas |= head > 0
    plain = ~personas
    shares = _share_clauses(columns, config)
    clauses = [
        np.where(personas, _persona_clauses(columns, config, personas), _users_clause(columns, config, plain)),
        *shares,
        np.where(personas, _workflow_clause(columns, personas), _feature_clause(columns, config, plain)),
        np.where(personas, _adoption_clause(columns, personas), _activity_clause(columns, plain)),
    ]
    return [_sentence(parts) for parts in zip(*(clause.tolist() for clause in clauses), strict=True)]


def _sentence(parts: Sequence[str | None]) -> str:
    sentence = "; ".join(part for part in parts if part)
    return sentence[:1].upper() + sentence[1:] + "."


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


def persona_sentence(counts: Sequence[PersonaCount], config: ScoringConfig) -> str:
    """The persona clauses of one account, joined: who met each frequency target ("5 of 7 reps and the manager
    were active every week")."""
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
    return "; ".join(clauses)


def _persona_clauses(columns: Columns, config: ScoringConfig, rows: BoolArray) -> TextArray:
    """The persona clauses per row of `rows`, written once per distinct (active, head) combination."""
    roles = key_personas(config)
    actives = [columns.ints(active_column(role))[rows].tolist() for role in roles]
    heads = [columns.ints(head_column(role))[rows].tolist() for role in roles]
    written: dict[tuple[int, ...], str] = {}
    out: TextArray = np.full(columns.size, None, dtype=object)
    values = []
    for key in zip(*actives, *heads, strict=True):
        if key not in written:
            counts = [
                PersonaCount(role, key[index], key[len(roles) + index])
                for index, role in enumerate(roles)
                if key[len(roles) + index] > 0
            ]
            written[key] = persona_sentence(counts, config)
        values.append(written[key])
    out[rows] = values
    return out


def _share_clauses(columns: Columns, config: ScoringConfig) -> list[TextArray]:
    """ "sequences in 80% of outbound touches", for each configured share with a denominator."""
    clauses = []
    for name, share in config.shares.items():
        part, whole = columns.ints(f"share_num__{name}"), columns.ints(f"share_den__{name}")

        def phrase(num: int, den: int, name: str = name, label: str = share.label) -> str:
            return f"{name} in {min((200 * num + den) // (2 * den), 100)}% of {label}"

        clauses.append(texts(whole > 0, phrase, part, whole))
    return clauses


def _workflow_clause(columns: Columns, rows: BoolArray) -> TextArray:
    used, total = columns.ints("workflows_used"), columns.ints("workflows_total")

    def phrase(done: int, whole: int) -> str:
        if done == whole:
            return f"{all_of(whole)} key workflows in use" if whole > 1 else "the key workflow is in use"
        return f"{done} of {whole} key workflows in use"

    return texts(rows & (total != 0), phrase, used, total)


def _adoption_clause(columns: Columns, rows: BoolArray) -> TextArray:
    def phrase(change: int) -> str:
        if change > 0:
            return f"adoption is spreading (+{count_of(change, 'active user', 'active users')} vs last period)"
        if change < 0:
            return f"adoption is shrinking (-{count_of(-change, 'active user', 'active users')} vs last period)"
        return "adoption is steady (as many active users as last period)"

    return texts(rows, phrase, columns.ints("adoption_change"))


def _users_clause(columns: Columns, config: ScoringConfig, rows: BoolArray) -> TextArray:
    active, total, days = columns.ints("active_users"), columns.ints("total_users"), columns.ints("active_days")
    last, seen = columns.ints("days_since_active"), columns.present("days_since_active")
    window = config.window_days
    period = count_of(window, "day", "days")

    def idle(ago: int) -> str:
        return f"no user was active in the last {window} days (last activity {count_of(ago, 'day', 'days')} ago)"

    def busy(users: int, whole: int, on: int) -> str:
        who = (
            "the only user"
            if whole == 1
            else f"{all_of(whole)} users"
            if users == whole
            else f"{users} of {whole} users"
        )
        return f"{who} {'was' if users == 1 else 'were'} active on {on} of {period}"

    out = texts(rows & (active != 0), busy, active, total, days)
    quiet = rows & (active == 0)
    out[quiet & ~seen] = "no user has been active yet"
    # an account older than the lookback: events before it are not read (scoring.lookback_days), "yet" is not known
    tenure, known = columns.ints("tenure_days"), columns.present("tenure_days")
    out[quiet & ~seen & known & (tenure > config.lookback_days)] = (
        f"no user has been active in the last {count_of(config.lookback_days, 'day', 'days')}"
    )
    never = texts(quiet & seen, idle, last)
    return np.where(quiet & seen, never, out)


def _feature_clause(columns: Columns, config: ScoringConfig, rows: BoolArray) -> TextArray:
    if not config.features:
        return constant(np.zeros(columns.size, dtype=bool), "")
    total = len(config.features)
    whole = f"{all_of(total)} features in use" if total > 1 else "the feature is in use"
    of_total = count_of(total, "feature", "features")
    return texts(
        rows, lambda used: whole if used == total else f"{used} of {of_total} in use", columns.ints("features_used")
    )


def _activity_clause(columns: Columns, rows: BoolArray) -> TextArray:
    trend, change = columns.labels("trend"), columns.ints("score_change")
    moving = rows & (trend != NEW) & columns.present("score_change")
    out = texts(moving, lambda name, value: f"activity is {name} ({value:+d} score)", trend, change)
    fresh = rows & ~moving & (columns.ints("events") > 0)
    out[fresh] = "no activity in the previous period"
    return out
