"""The values the state store hands out and takes in: plain frozen dataclasses, no ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

# Tasks: intent -> open -> completed (intent -> unconfirmed -> open when a create's outcome was unknown).
# Slack alerts: intent -> sent, or unconfirmed (the post's outcome is unknown).
TaskStatus = Literal["intent", "open", "completed", "sent", "unconfirmed"]
TASK_STATUSES: tuple[TaskStatus, ...] = ("intent", "open", "completed", "sent", "unconfirmed")


@dataclass(frozen=True)
class Ack:
    """One record a destination acknowledged: its key, its remote id if known, and the fields it now holds."""

    key: str
    remote_id: str | None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)  # slots: a store hands out one per record, a million at a time
class RecordState:
    """What a destination last acknowledged for one record."""

    key: str
    remote_id: str | None
    values: dict[str, Any]
    stamp: Any = field(repr=False)  # when, as the database driver returned it: read on demand (`updated_at`)

    @property
    def updated_at(self) -> datetime:
        """When the record was last acknowledged, as an aware UTC datetime (parsed on demand: a plan reads a
        million records and almost never asks)."""
        return instant(self.stamp)


def instant(value: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime: SQLite keeps naive UTC text, PostgreSQL hands out datetimes."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class RunRecord:
    """One `healthsync` run; `finished_at`, `exit_code` are None while it runs (or if it was killed)."""

    id: int
    command: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    exit_code: int | None
    counts: dict[str, dict[str, int]]
    summary: dict[str, Any] | None = None


@dataclass(frozen=True)
class Rejection:
    """A record a destination refused; open (`resolved_at` None) until the destination acknowledges it."""

    id: int
    run_id: int
    destination: str
    object_type: str
    key: str
    reason: str
    status: int | None
    attempts: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None


class TaskIntent(NamedTuple):
    """What :meth:`StateStore.task_intents` records per task before its create call (the columns of an intent)."""

    identity: str
    trace_id: str
    account_key: str
    play: str
    period: str


@dataclass(frozen=True)
class TaskState:
    """One task per identity (e.g. account, play, period): `intent` before the create call, then `open`, `completed`."""

    destination: str
    identity: str
    trace_id: str
    account_key: str
    play: str
    period: str
    status: TaskStatus
    remote_id: str | None
    intended_at: datetime
    created_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class ScorePoint:
    """One account in one run's score history: score, tier, plays, and a few more values (raw score, trend)."""

    account_key: str
    health_score: int
    health_tier: str
    plays: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    recorded_at: datetime | None = None
    scoring_fingerprint: str | None = None  # of the run's scoring configuration (None: recorded before 0005)


@dataclass(frozen=True)
class ScoringRecord:
    """The scoring configuration one run scored with: its fingerprint and every value (JSON)."""

    run_id: int
    fingerprint: str
    config: dict[str, Any]


@dataclass(frozen=True)
class ReadMark:
    """Where a destination's bounded reads of one object type go on (see `StateStore.read_mark`).

    `changed_since`: when the last run's search for records changed in the destination started (None: read
    every remembered record instead); `verify_cursor`: the position in the sorted remembered ids where the next
    rotating re-verification starts."""

    changed_since: datetime | None = None
    verify_cursor: int = 0
