"""State loss costs reads, never writes: what a record's desired values are diffed against.

The state store is a cache of what each destination acknowledged. When it holds no acknowledged value for a
field of a matched record (an empty or reset store, a move from SQLite to PostgreSQL, a record matched again
under a new remote id), the destination's current values are read (the destination's batch read, passed in as
`read`) and used instead, so only fields that really differ are written. During a run the values read are
checkpointed as acknowledged, so the reads are paid once. `--full` reads nothing: it resends everything.

    against = baseline(ctx, "hubspot", "companies", {"acc_1": "101"}, ["healthsync_health_score"], read)
    changes = diff(against["acc_1"], desired, full=ctx.full)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from healthsync.connector.sync.destination import SyncContext
from healthsync.state import Ack

Reader = Callable[[list[str], list[str]], dict[str, dict[str, Any]]]  # (remote ids, fields) -> id -> values


def baseline(
    ctx: SyncContext,
    destination: str,
    object_type: str,
    targets: dict[str, str],
    fields: Sequence[str],
    read: Reader,
    *,
    stale: set[str] | frozenset[str] = frozenset(),
) -> dict[str, dict[str, Any]]:
    """key -> the values to diff against, for every key of `targets` (key -> remote id).

    Acknowledged values come from the state store; a key whose stored values lack any of `fields`, belong to
    another remote id, or are listed in `stale`, gets the destination's current values for the missing fields.
    """
    known = ctx.store.records(destination, object_type)
    against: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    for key, remote in targets.items():
        state = known.get(key)
        values = dict(state.values) if state is not None and key not in stale and state.remote_id == remote else {}
        against[key] = values
        if not ctx.full and any(name not in values for name in fields):
            missing[key] = remote
    if not missing:
        return against
    current = read(sorted(set(missing.values())), list(fields))
    acks = []
    for key, remote in missing.items():
        found = current.get(remote)
        if found is None:
            continue
        filled = {name: found.get(name) for name in fields if name not in against[key]}
        against[key] |= filled
        acks.append(Ack(key, remote, filled))
    if ctx.run_id is not None and acks:
        ctx.store.acknowledge(destination, object_type, acks, resolve=False)
    return against
