"""Score history in the state store: one row per account per run, newest first, pruned to the newest runs."""

from __future__ import annotations

from healthsync.state import ScorePoint, StateStore


def _run(store: StateStore, scores: dict[str, int], keep: int = 3) -> int:
    run_id = store.start_run("run")
    points = [
        ScorePoint(
            key,
            score,
            "healthy" if score >= 70 else "neutral",
            ("churn_risk",) if score < 50 else (),
            {"raw_score": score * 1.5, "score_change": None},
        )
        for key, score in scores.items()
    ]
    assert store.record_scores(run_id, points, keep_runs=keep) == len(points)
    store.finish_run(run_id, status="ok", exit_code=0, counts={})
    return run_id


def test_history_per_account_newest_first_and_the_last_run(store: StateStore) -> None:
    first = _run(store, {"acme": 80, "globex": 40})
    second = _run(store, {"acme": 45, "globex": 41})
    history = store.score_history("acme")
    assert [(p.run_id, p.health_score, p.health_tier, p.plays) for p in history] == [
        (second, 45, "neutral", ("churn_risk",)),
        (first, 80, "healthy", ()),
    ]
    assert history[0].values == {"raw_score": 67.5, "score_change": None}
    assert history[0].recorded_at is not None
    assert store.last_scores()["globex"].health_score == 41
    assert store.last_scores(before_run=second)["globex"].health_score == 40
    assert store.score_history("nobody") == []


def test_history_keeps_only_the_newest_runs(store: StateStore) -> None:
    runs = [_run(store, {"acme": 50 + index}, keep=2) for index in range(4)]
    assert [p.run_id for p in store.score_history("acme")] == [runs[3], runs[2]]
