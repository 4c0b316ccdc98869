"""State loss costs reads, never writes: what a record's desired values are diffed against.

The state store is a cache of what each destination acknowledged. When it holds no acknowledged value for a
field of a matched record (an empty or reset store, a move from SQLite to PostgreSQL, a record matched again
under a new remote id), the destination's current values are used instead, so only fields that really differ
are written. Those current values come in one of two forms (`current`):

- a reader (the destination's batch read, HubSpot): called only for the records that lack a value, and only
  without `--full` (which resends everything, so reads nothing); during a run the values read are checkpointed
  as acknowledged, so the reads are paid once;
- the values already in hand (remote id -> values, Intercom: its plan lists every company and contact anyway):
  they cost nothing, so they fill the gaps under `--full` too (tags to remove are found even then), and they are
  not checkpointed (the next plan has them again).

    against = baseline(ctx, "hubspot", "companies", {"acc_1": "101"}, ["healthsync_health_score"], read)
    changes = diff(against["acc_1"], desired, full=ctx.full)

Slack does not use it: a webhook cannot be read back, so there is nothing to fill a gap with, and what Slack
stores is not a cache of the destination but the scores the last run saw; a run without them records them and
posts nothing (a baseline run, `connector/slack/destination.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from healthsync.connector.sync.destination import SyncContext
from healthsync.state import Ack, RecordState

T = TypeVar("T")
Reader = Callable[[list[str], list[str]], dict[str, dict[str, Any]]]  # (remote ids, fields) -> id -> values
Listed = Mapping[str, Mapping[str, Any]]  # remote id -> values, already read by the plan


def baseline(
    ctx: SyncContext,
    destination: str,
    object_type: str,
    targets: dict[str, str],
    fields: Sequence[str],
    current: Reader | Listed,
    *,
    stale: set[str] | frozenset[str] = frozenset(),
    known: Mapping[str, RecordState] | None = None,
) -> dict[str, dict[str, Any]]:
    """key -> the values to diff against, for every key of `targets` (key -> remote id).

    Acknowledged values come from the state store; a key whose stored values lack any of `fields`, belong to
    another remote id, or are listed in `stale`, gets the destination's current values for the missing fields
    (a field the destination does not hold counts as None). `known`: the store's records of `object_type` when the
    caller has just read them (read once: 0.2 s per 20,000 records, each run's plan needs them twice).
    """
    listed = isinstance(current, Mapping)
    if known is None:
        known = ctx.store.records(destination, object_type)
    against: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    needed = set(fields)
    fill = listed or not ctx.full
    for key, remote in targets.items():
        state = known.get(key)
        values = state.values if state is not None and key not in stale and state.remote_id == remote else {}
        against[key] = values  # the store's own dict, read only: copied below only when a gap is filled
        if fill and not needed <= values.keys():
            missing[key] = remote
    if not missing:
        return against
    found = current if isinstance(current, Mapping) else current(sorted(set(missing.values())), list(fields))
    acks = []
    for key, remote in missing.items():
        now = found.get(remote)
        if now is None:
            continue
        filled = {name: now.get(name) for name in fields if name not in against[key]}
        against[key] = {**against[key], **filled}
        acks.append(Ack(key, remote, filled))
    if ctx.run_id is not None and acks and not listed:
        ctx.store.acknowledge(destination, object_type, acks, resolve=False)
    return against


def rotation(ids: Sequence[T], cursor: int, every: int) -> tuple[list[T], int]:
    """The next 1/`every` of `ids` (sorted) from `cursor` on, and where the following run starts: every id is
    re-verified at least once every `every` runs (one run more when the book grew or shrank since the cursor was
    kept; a cursor past the end starts again from the beginning).

    >>> rotation(["a", "b", "c", "d", "e"], 4, 2)
    (['e'], 5)
    """
    start = cursor if cursor < len(ids) else 0
    window = list(ids[start : start + math.ceil(len(ids) / every)])
    return window, start + len(window)


def drifted(
    known: Mapping[str, RecordState],
    targets: Mapping[str, str],
    current: Listed,
    names: Sequence[str],
    same: Callable[[str, Any, Any], bool],
) -> set[str]:
    """Keys (of `targets`: key -> remote id) read this run (`current`: remote id -> values) whose stored values for
    that same remote id differ from the destination's: `same(name, stored, now)` says whether two values of field
    `name` mean the same. A field the store holds no value for is not drift (the baseline fills it)."""
    found = set()
    for key, remote in targets.items():
        if remote not in current:  # most records: not read this run
            continue
        now, state = current[remote], known.get(key)
        if state is None or state.remote_id != remote:
            continue
        stored = state.values
        if any(name in stored and not same(name, stored[name], now.get(name)) for name in names):
            found.add(key)
    return found
