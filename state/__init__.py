"""The sync-state store: acknowledged values, checkpoints, the lease lock, run history, rejections, tasks."""

from __future__ import annotations

from healthsync.state.lease import Lease, default_holder
from healthsync.state.migrate import head_revision
from healthsync.state.models import (
    Ack,
    ReadMark,
    RecordState,
    Rejection,
    RunRecord,
    ScorePoint,
    ScoringRecord,
    TaskIntent,
    TaskState,
    TaskStatus,
)
from healthsync.state.store import StateStore

__all__ = [
    "Ack",
    "Lease",
    "ReadMark",
    "RecordState",
    "Rejection",
    "RunRecord",
    "ScorePoint",
    "ScoringRecord",
    "StateStore",
    "TaskIntent",
    "TaskState",
    "TaskStatus",
    "default_holder",
    "head_revision",
]
