"""`healthsync backtest`: the score replayed as of past snapshots against the outcomes that followed.

`replay.py` computes the score table at each snapshot (no look-ahead) and joins the outcomes; the metrics are pure
functions in `healthsync.scoring.backtest`; `suggest.py` fits suggested weights and tiers (extra `backtest`);
`report.py` renders the self-contained HTML report (extra `backtest`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from healthsync.connector.backtest.replay import BacktestRequest, Replay, describe, replay
from healthsync.connector.settings import Settings

__all__ = ["BacktestRequest", "Replay", "run_backtest"]


def run_backtest(settings: Settings, request: BacktestRequest, now: datetime | None = None) -> dict[str, Any]:
    """The backtest result (the JSON `healthsync backtest --format json` prints; README "Backtest")."""
    from healthsync.connector.backtest.suggest import suggest
    from healthsync.scoring.backtest import outcome_metrics

    replayed = replay(settings, request, now)
    result = describe(replayed, request)
    outcomes: dict[str, Any] = {}
    for outcome, pairs in replayed.pairs.items():
        metrics = outcome_metrics(pairs, outcome)
        suggestion, note = suggest(pairs, replayed.counts, replayed.tables, settings.scoring, outcome)
        outcomes[outcome] = {**metrics, "suggested": suggestion, "suggestion_note": note}
    result["outcomes"] = outcomes
    return result
