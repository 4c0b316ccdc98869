"""Persona workflow adoption (SPEC section 3, `workflow_adoption`): who of each persona is active as often as
intended, and which key workflows are in use, per account.

A persona is a `role` of the users table. Its head count per account is `expected`, or else the account's listed
users with that role. A member is *active as intended* when active in at least `weekly_target` of the window's full
weeks (window_days // 7; in a window shorter than a week: any event). A key workflow is *in use* in an account when
at least one user of its persona did its event `min_count` times in the last `within_days` days. Users seen only in
the activity (not listed) have no role and count for no persona.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from healthsync.scoring.activity import USER_KEY, keyed, positions_in, with_activity
from healthsync.scoring.config import Persona, ScoringConfig
from healthsync.scoring.metrics import percentages
from healthsync.scoring.normalize import IntArray

_PEOPLE_COUNTS = ("events", "events_prev", "active_days", "active_days_7d")


@dataclass(frozen=True)
class PersonaCount:
    """One persona in one account: members active as intended, and the head count."""

    role: str
    active: int
    head: int


def required_weeks(persona: Persona, window_days: int) -> int:
    """Full weeks a member must be active in; 0 when the window is shorter than a week (any event counts)."""
    weeks = window_days // 7
    if weeks == 0:
        return 0
    return max(1, math.ceil(persona.weekly_target * weeks - 1e-9))


def frequency_phrase(persona: Persona, window_days: int) -> str:
    """How often the persona is meant to be active, in words ("every week", "in at least 3 of 4 weeks")."""
    weeks = window_days // 7
    needed = required_weeks(persona, window_days)
    if weeks == 0:
        return f"in the last {window_days} days"
    if needed >= weeks:
        return "every week"
    return f"in at least {needed} of {weeks} weeks"


def people_frame(users: pd.DataFrame, user_activity: pd.DataFrame | None, config: ScoringConfig) -> pd.DataFrame:
    """Listed users (account_id, user_id, `role` trimmed and lower-cased) with their activity; zero when none."""
    listed = keyed(users, USER_KEY, ("role",))
    listed["role"] = listed["role"].astype("str").str.strip().str.lower().where(listed["role"].notna(), "")
    return with_activity(listed, user_activity, USER_KEY, _PEOPLE_COUNTS, config)


def key_personas(config: ScoringConfig) -> list[str]:
    """The roles of the key personas, in config order."""
    return [role for role, persona in config.personas.items() if persona.key]


def active_column(role: str) -> str:
    """The signal column counting a key persona's members active as intended."""
    return f"persona_active__{role}"


def head_column(role: str) -> str:
    """The signal column with a key persona's head count."""
    return f"persona_head__{role}"


class PeopleByAccount:
    """Counts of people per account of `account_ids`: each person's account position is found once."""

    def __init__(self, people: pd.DataFrame, account_ids: pd.Series) -> None:
        positions = positions_in(people["account_id"], account_ids)
        self.known = positions >= 0
        self.positions = positions[self.known]
        self.size = len(account_ids)

    def count(self, mask: pd.Series | npt.NDArray[np.bool_]) -> IntArray:
        """How many people match `mask`, per account."""
        hits = np.asarray(mask, dtype=bool)[self.known]
        return np.bincount(self.positions[hits], minlength=self.size).astype(np.int64)


def active_in_roles(
    people: pd.DataFrame, account_ids: pd.Series, roles: list[str], *, by_account: PeopleByAccount | None = None
) -> pd.Series:
    """Listed users with one of `roles` and an event in the window, per account (`by_account`: the people's
    positions among `account_ids` when the caller has them)."""
    wanted = {role.strip().lower() for role in roles}
    mask = people["role"].isin(wanted) & (people["events"] > 0)
    accounts = by_account if by_account is not None else PeopleByAccount(people, account_ids)
    return pd.Series(accounts.count(mask), index=account_ids.index, dtype="int64")


def _meets_target(people: pd.DataFrame, persona: Persona, window_days: int) -> pd.Series:
    needed = required_weeks(persona, window_days)
    if needed == 0:
        return people["events"] > 0
    return people["active_weeks"] >= needed


def _head(members: pd.Series, accounts: PeopleByAccount, persona: Persona) -> IntArray:
    if persona.expected is not None:
        return np.full(accounts.size, persona.expected, dtype=np.int64)
    return accounts.count(members)


def persona_columns(
    people: pd.DataFrame, account_ids: pd.Series, config: ScoringConfig, *, by_account: PeopleByAccount | None = None
) -> dict[str, pd.Series]:
    """Per account of `account_ids` (same index): per key persona its members active as intended
    (:func:`active_column`) and its head count (:func:`head_column`), the sums `key_people`, `key_people_active`,
    `workflows_total`, `workflows_used` and the two percentages `key_personas_active_pct` and
    `workflows_in_use_pct` (NA without key persona members)."""
    accounts = by_account if by_account is not None else PeopleByAccount(people, account_ids)
    size = len(account_ids)
    key_people = np.zeros(size, dtype=np.int64)
    key_active = np.zeros(size, dtype=np.int64)
    flows_total = np.zeros(size, dtype=np.int64)
    flows_used = np.zeros(size, dtype=np.int64)
    per_persona: dict[str, IntArray] = {}
    flow_index = 0
    for role, persona in config.personas.items():
        members = people["role"] == role.strip().lower()
        head = _head(members, accounts, persona)
        active = accounts.count(members & _meets_target(people, persona, config.window_days))
        used = np.zeros(size, dtype=np.int64)
        for offset, flow in enumerate(persona.workflows):
            done = members & (people[f"workflow__{flow_index + offset}"] >= flow.min_count)
            used += accounts.count(done) > 0
        flow_index += len(persona.workflows)
        if not persona.key:
            continue
        present = head > 0
        key_people += head
        key_active += np.minimum(active, head)
        flows_total += np.where(present, len(persona.workflows), 0)
        flows_used += np.where(present, used, 0)
        per_persona[active_column(role)] = active
        per_persona[head_column(role)] = head
    sums = {"key_people": key_people, "key_people_active": key_active}
    sums |= {"workflows_total": flows_total, "workflows_used": flows_used}
    return _columns(account_ids.index, {**per_persona, **sums}, key_people, key_active, flows_total, flows_used)


def _columns(
    index: pd.Index,
    counts: dict[str, IntArray],
    key_people: IntArray,
    key_active: IntArray,
    flows_total: IntArray,
    flows_used: IntArray,
) -> dict[str, pd.Series]:
    def ints(values: IntArray) -> pd.Series:
        return pd.Series(values, index=index, dtype="int64")

    def share(part: IntArray, whole: IntArray) -> pd.Series:
        percent = percentages(ints(part), ints(whole)).astype("Int64")
        return percent.where(whole > 0, pd.NA)

    return {
        **{name: ints(values) for name, values in counts.items()},
        "key_personas_active_pct": share(key_active, key_people),
        "workflows_in_use_pct": share(flows_used, flows_total),
    }
