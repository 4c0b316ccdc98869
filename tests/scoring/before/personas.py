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
import pandas as pd

from healthsync.scoring.config import Persona, ScoringConfig
from healthsync.scoring.metrics import percentages
from healthsync.scoring.normalize import IntArray
from tests.scoring.before.activity import USER_KEY, keyed, with_activity

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


def _per_account(mask: pd.Series, people: pd.DataFrame, account_ids: pd.Series) -> IntArray:
    """How many rows of `people` match `mask`, per account of `account_ids`."""
    counts = mask.astype("int64").groupby(people["account_id"].to_numpy()).sum()
    return np.asarray(counts.reindex(account_ids.to_numpy(), fill_value=0), dtype=np.int64)


def active_in_roles(people: pd.DataFrame, account_ids: pd.Series, roles: list[str]) -> pd.Series:
    """Listed users with one of `roles` and an event in the window, per account."""
    wanted = {role.strip().lower() for role in roles}
    mask = people["role"].isin(wanted) & (people["events"] > 0)
    return pd.Series(_per_account(mask, people, account_ids), index=account_ids.index, dtype="int64")


def _meets_target(people: pd.DataFrame, persona: Persona, window_days: int) -> pd.Series:
    needed = required_weeks(persona, window_days)
    if needed == 0:
        return people["events"] > 0
    return people["active_weeks"] >= needed


def _head(members: pd.Series, people: pd.DataFrame, account_ids: pd.Series, persona: Persona) -> IntArray:
    if persona.expected is not None:
        return np.full(len(account_ids), persona.expected, dtype=np.int64)
    return _per_account(members, people, account_ids)


def persona_columns(people: pd.DataFrame, account_ids: pd.Series, config: ScoringConfig) -> dict[str, pd.Series]:
    """Per account of `account_ids` (same index): `persona_counts` (a tuple of :class:`PersonaCount` per key
    persona), `key_people`, `key_people_active`, `workflows_total`, `workflows_used` and the two percentages
    `key_personas_active_pct` and `workflows_in_use_pct` (NA without key persona members)."""
    size = len(account_ids)
    key_people = np.zeros(size, dtype=np.int64)
    key_active = np.zeros(size, dtype=np.int64)
    flows_total = np.zeros(size, dtype=np.int64)
    flows_used = np.zeros(size, dtype=np.int64)
    counts: list[list[PersonaCount]] = [[] for _ in range(size)]
    flow_index = 0
    for role, persona in config.personas.items():
        members = people["role"] == role.strip().lower()
        head = _head(members, people, account_ids, persona)
        active = _per_account(members & _meets_target(people, persona, config.window_days), people, account_ids)
        used = np.zeros(size, dtype=np.int64)
        for offset, flow in enumerate(persona.workflows):
            done = members & (people[f"workflow__{flow_index + offset}"] >= flow.min_count)
            used += _per_account(done, people, account_ids) > 0
        flow_index += len(persona.workflows)
        if not persona.key:
            continue
        present = head > 0
        key_people += head
        key_active += np.minimum(active, head)
        flows_total += np.where(present, len(persona.workflows), 0)
        flows_used += np.where(present, used, 0)
        for position in np.flatnonzero(present):
            counts[position].append(PersonaCount(role, int(active[position]), int(head[position])))
    return _columns(account_ids.index, counts, key_people, key_active, flows_total, flows_used)


def _columns(
    index: pd.Index,
    counts: list[list[PersonaCount]],
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
        "persona_counts": pd.Series([tuple(items) for items in counts], index=index, dtype="object"),
        "key_people": ints(key_people),
        "key_people_active": ints(key_active),
        "workflows_total": ints(flows_total),
        "workflows_used": ints(flows_used),
        "key_personas_active_pct": share(key_active, key_people),
        "workflows_in_use_pct": share(flows_used, flows_total),
    }
