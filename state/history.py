"""Score history: the per-account score, tier and plays of every run, pruned to the newest runs.

record(engine, run_id, points, keep_runs=50)    # one row per account of this run, in one transaction
for_account(engine, "acme", limit=10)           # that account's rows, newest run first
latest(engine)                                  # the newest recorded run's rows, by account (for trends)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from healthsync.state.models import ScorePoint
from healthsync.state.schema import runs as runs_table
from healthsync.state.schema import score_history as table

_INSERT_CHUNK = 1000


def record(engine: Engine, run_id: int, points: Iterable[ScorePoint], keep_runs: int) -> int:
    """Store this run's points and drop the rows of runs older than the newest `keep_runs`; returns rows stored."""
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": run_id,
            "account_key": point.account_key,
            "recorded_at": now,
            "health_score": point.health_score,
            "health_tier": point.health_tier,
            "plays": list(point.plays),
            "values": dict(point.values),
        }
        for point in points
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), _INSERT_CHUNK):
            conn.execute(sa.insert(table), rows[start : start + _INSERT_CHUNK])
        kept = sa.select(table.c.run_id).distinct().order_by(table.c.run_id.desc()).limit(keep_runs).subquery()
        conn.execute(sa.delete(table).where(table.c.run_id.not_in(sa.select(kept.c.run_id))))
    return len(rows)


def for_account(engine: Engine, account_key: str, limit: int) -> list[ScorePoint]:
    """The account's recorded runs, newest first."""
    query = (
        sa.select(table, runs_table.c.command, runs_table.c.scoring_fingerprint)
        .join(runs_table, runs_table.c.id == table.c.run_id)
        .where(table.c.account_key == account_key)
        .order_by(table.c.run_id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_point(row) for row in conn.execute(query)]


def latest(engine: Engine, before_run: int | None = None) -> dict[str, ScorePoint]:
    """The newest recorded run's points by account (only runs before `before_run` when given); {} without history."""
    newest = sa.select(sa.func.max(table.c.run_id))
    if before_run is not None:
        newest = newest.where(table.c.run_id < before_run)
    with engine.connect() as conn:
        run_id = conn.execute(newest).scalar_one_or_none()
        if run_id is None:
            return {}
        query = sa.select(table, runs_table.c.command, runs_table.c.scoring_fingerprint).join(
            runs_table, runs_table.c.id == table.c.run_id
        )
        return {row.account_key: _point(row) for row in conn.execute(query.where(table.c.run_id == run_id))}


def _point(row: Row[Any]) -> ScorePoint:
    return ScorePoint(
        account_key=row.account_key,
        health_score=row.health_score,
        health_tier=row.health_tier,
        plays=tuple(row.plays),
        values=dict(row.values),
        run_id=row.run_id,
        recorded_at=row.recorded_at,
        scoring_fingerprint=row.scoring_fingerprint,
    )
