"""`healthsync backtest`: the score replayed as of past snapshots against the outcomes that followed.

`replay.py` computes the score table at each snapshot (no look-ahead) and joins the outcomes; the metrics are pure
functions in `healthsync.scoring.backtest`; `suggest.py` fits suggested weights and tiers (extra `backtest`);
`report.py` renders the self-contained HTML report (extra `backtest`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from healthsync.connector.backtest.replay import BacktestRequest, Replay, beside, describe, pair_rows, replay
from healthsync.connector.settings import Settings

__all__ = ["BacktestRequest", "Replay", "pairs_table", "run_backtest"]


def run_backtest(
    settings: Settings, request: BacktestRequest, now: datetime | None = None
) -> tuple[dict[str, Any], Replay]:
    """The backtest result (the JSON `healthsync backtest --format json` prints; README "Backtest") and the
    replay it was computed from (score tables and pairs)."""
    from healthsync.connector.backtest.suggest import suggest
    from healthsync.scoring.backtest import outcome_metrics

    replayed = replay(settings, request, now)

    def suggestions() -> dict[str, tuple[dict[str, Any] | None, str | None]]:
        found = replayed.pairs.items()
        return {name: suggest(pairs, replayed.counts, replayed.tables, settings.scoring, name) for name, pairs in found}

    with beside(suggestions) as suggested:  # fitted in a forked process while this one explains and measures
        replayed.explain_positives()
        result = describe(replayed, request)
        metrics = {outcome: outcome_metrics(pairs, outcome) for outcome, pairs in replayed.pairs.items()}
        fitted = suggested()
    result["outcomes"] = {
        outcome: {**metrics[outcome], "suggested": fitted[outcome][0], "suggestion_note": fitted[outcome][1]}
        for outcome in replayed.pairs
    }
    return result, replayed


def pairs_table(replayed: Replay) -> Any:
    """One row per (snapshot, account) pair of any outcome: the score columns and, per outcome, whether it
    followed (`churn`, `expansion`; empty where the pair does not count for that outcome)."""
    keys = ["snapshot", "account_id"]
    columns = [*keys, "name", "health_score", "raw_score", "health_tier", "total_users", "plays"]
    columns += ["score_reasons", "score_movers", "days_to_activation"]
    replayed.explain(pair_rows(len(replayed.tables), replayed.pairs, positive_only=False))
    frame = replayed.tables.loc[:, columns]
    for outcome, pairs in replayed.pairs.items():
        flags = pairs.loc[:, [*keys, "positive"]].rename(columns={"positive": outcome})
        frame = frame.merge(flags, on=keys, how="left")
    counted = frame[list(replayed.pairs)].notna().any(axis=1)
    table = frame[counted].sort_values(keys).reset_index(drop=True)
    return table.assign(
        snapshot=table["snapshot"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        plays=table["plays"].map(lambda plays: ";".join(plays) if isinstance(plays, list | tuple) else ""),
        **{outcome: table[outcome].astype("boolean") for outcome in replayed.pairs},
    )
