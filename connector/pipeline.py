"""From configuration to score tables: read the source (aggregation pushed down), then score."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from healthsync.connector.scores import ScoreResult
from healthsync.connector.settings import Settings
from healthsync.connector.sources.load import SourceData, load_source
from healthsync.scoring import score_accounts, score_users
from healthsync.scoring.config import ScoringConfig

log = logging.getLogger("healthsync")

__all__ = ["ScoreResult", "compute_scores", "score_data"]


def compute_scores(settings: Settings, *, with_users: bool = False, now: datetime | None = None) -> ScoreResult:
    """Score every account (and every user when `with_users`) as of `scoring.as_of` (default: now).

    The per-user activity is read for `with_users` and whenever the account table needs role-level activity
    (`mean_of_users`, personas, the plays' admin-only signal: see :meth:`ScoringConfig.needs_user_activity`); the
    statements of the read are those of its plan (`sources/plan.py`, `ScoreResult.plan`).
    """
    now = now or datetime.now(UTC)
    as_of = settings.scoring.resolved_as_of(now)
    need_users = with_users or settings.scoring.needs_user_activity()
    started = time.perf_counter()
    data = load_source(settings, as_of, now, with_users=need_users)
    read = time.perf_counter()
    log.info("source read in %.2f s", read - started, extra={"phase": "reading", "seconds": round(read - started, 3)})
    result = score_data(data, settings.scoring, as_of, with_users=with_users)
    done = time.perf_counter()
    log.info(
        "scored %d accounts in %.2f s",
        len(result.accounts),
        done - read,
        extra={"phase": "scoring", "seconds": round(done - read, 3)},
    )
    return result


def score_data(
    data: SourceData, config: ScoringConfig, as_of: datetime, *, with_users: bool, texts: bool = True
) -> ScoreResult:
    """The score tables of data already read as of `as_of` (the per-user table only `with_users`; the sentences
    only with `texts`: see :func:`scoring.table.score_accounts`)."""
    accounts = score_accounts(
        data.accounts, data.users, data.account_activity, data.user_activity, config, as_of, texts=texts
    )
    users = None
    if with_users and data.user_activity is not None:
        users = score_users(data.users, data.user_activity, config, as_of)
    return ScoreResult(accounts=accounts, users=users, reports=data.reports, as_of=as_of, plan=data.plan)
