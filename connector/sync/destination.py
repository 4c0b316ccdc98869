"""The destination interface (check, plan, apply) and what a sync hands to it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from healthsync.connector.scores import ScoreResult
from healthsync.connector.settings import DEFAULT_SLICE_USERS
from healthsync.connector.sync.check import Finding
from healthsync.connector.sync.plan import DestinationPlan, SyncCounts
from healthsync.connector.sync.rescore import Scoring
from healthsync.state import StateStore

T = TypeVar("T")


def _no_progress(label: str, total: int, done: int) -> None:
    """Progress callback that shows nothing."""


def _no_fence() -> None:
    """A fence that holds no lease: plan and check make no write call."""


@dataclass
class SyncContext:
    """The state store, the current run and the callbacks a destination reports through."""

    store: StateStore
    run_id: int | None = None
    full: bool = False
    alert_baseline: bool = False  # Slack: alert on the first run too, instead of recording a baseline
    progress: Callable[[str, int, int], None] = field(default=_no_progress)
    heartbeat: Callable[[], None] = field(default=_no_fence)  # the lease fence (Fence.check): raises when lost
    scoring: Scoring | None = None  # this run's scoring configuration
    rescore: Callable[[Scoring], Any] | None = None  # this run's data scored with another configuration (Rescorer)
    slice_users: int = DEFAULT_SLICE_USERS  # users planned at a time (`destinations.slice_users()`)


class Destination(Protocol):
    name: str

    def check(self) -> list[Finding]:
        """Read-only preflight: token, scopes for the enabled features, name clashes, owners. No write call."""

    def plan(self, scores: ScoreResult, ctx: SyncContext) -> DestinationPlan:
        """Read-only: provisioning needed, matches, field-level changes, tags. Makes no write call."""

    def apply(self, plan: DestinationPlan, ctx: SyncContext) -> SyncCounts:
        """Write the plan, checkpointing the state store after every acknowledged call."""

    def close(self) -> None:
        """Release the client's connections."""


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def columns_of(frame: Any, columns: Iterable[str]) -> dict[str, list[Any]]:
    """Score table columns as plain Python lists (the values `records.rows_by_key` would hold), only those the frame
    has: a plan over a million users reads them a column at a time instead of building one dictionary per user."""
    from healthsync.connector.records import plain_column

    return {name: plain_column(frame[name]) for name in dict.fromkeys(columns) if name in frame.columns}


def key_order(frame: Any, column: str, *, email: bool = False) -> tuple[list[str], Any]:
    """(keys, rows): the distinct non-empty texts of `column` (with `email`: stripped and lowercased) in code-point
    order, as `sorted` and the state store's key ranges order them, and the row of each in `frame` (the last one
    when a key repeats). A plan in slices takes the rows of one slice at a time (`frame.iloc[rows[a:b]]`) instead
    of holding every user's values as Python objects."""
    import pandas as pd

    if column not in frame.columns:
        return [], []
    texts = frame[column].astype("string")
    if email:
        texts = texts.str.strip().str.lower()
    texts = pd.Series(texts.to_numpy(dtype=object, na_value=None), dtype=object)  # sorted as Python sorts text
    texts = texts[texts.notna() & (texts != "")]
    texts = texts[~texts.duplicated(keep="last")].sort_values(kind="stable")
    return texts.tolist(), texts.index.to_numpy()


def slices(
    frame: Any, keys: list[str], rows: Any, size: int, columns: Iterable[str]
) -> Iterator[tuple[list[str], dict[str, list[Any]]]]:
    """`keys` and their `rows` (from :func:`key_order`) `size` at a time, each slice with its rows' `columns` of
    `frame` (:func:`columns_of`); the heap's free memory is handed back after each slice."""
    wanted = list(columns)
    for start in range(0, len(keys), size):
        yield keys[start : start + size], columns_of(frame.iloc[rows[start : start + size]], wanted)
        give_back_memory()


def give_back_memory() -> None:
    """Hand the heap's free memory back to the system (glibc's `malloc_trim`; nothing elsewhere). glibc keeps
    what a phase freed for reuse: after scoring 100,000 accounts and 1,000,000 users, 886 MiB resident of which
    malloc_trim returns 250 MiB, which the plans would otherwise stack on top of. Called after scoring and after
    each slice of a plan (a few milliseconds each)."""
    trim = _trimmer()
    if trim is not None:
        trim(0)


@functools.cache
def _trimmer() -> Any:
    """glibc's malloc_trim, or None where there is none (macOS, musl)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
