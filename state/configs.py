"""The scoring configuration of each run (revision 0005): its fingerprint and the configuration as JSON.

record(engine, run_id, "3f9a0c1b2d4e", {...})   # on the run's row
previous(engine, before_run=7)                  # the newest earlier run that recorded one, or None
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from healthsync.state.models import ScoringRecord
from healthsync.state.schema import runs as table


def record(engine: Engine, run_id: int, fingerprint: str, config: dict[str, Any]) -> None:
    statement = sa.update(table).where(table.c.id == run_id)
    with engine.begin() as conn:
        result = conn.execute(statement.values(scoring_fingerprint=fingerprint, scoring_config=config))
        if result.rowcount != 1:
            raise KeyError(f"no run with id {run_id}")


def previous(engine: Engine, before_run: int | None = None) -> ScoringRecord | None:
    """The newest run (before `before_run` when given) with a recorded configuration; None without one."""
    query = sa.select(table.c.id, table.c.scoring_fingerprint, table.c.scoring_config)
    query = query.where(table.c.scoring_fingerprint.is_not(None)).order_by(table.c.id.desc()).limit(1)
    if before_run is not None:
        query = query.where(table.c.id < before_run)
    with engine.connect() as conn:
        row = conn.execute(query).one_or_none()
    return None if row is None else ScoringRecord(row.id, row.scoring_fingerprint, dict(row.scoring_config or {}))
