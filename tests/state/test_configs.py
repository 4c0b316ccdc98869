"""The scoring configuration of every run (revision 0005): recorded per run, read back, upgraded in place."""

from __future__ import annotations

import sqlalchemy as sa

from healthsync.state import StateStore, head_revision, migrate
from healthsync.state.engine import create_engine, parse_url
from tests.state.test_schema import _fill_at_0001

WEIGHTS = {"weights": {"call_logged": 5.0}}


def test_each_run_keeps_its_configuration_and_the_last_one_is_found(store: StateStore) -> None:
    assert store.last_scoring() is None
    first = store.start_run("run")
    store.record_scoring(first, "aaaaaaaaaaaa", WEIGHTS)
    unrecorded = store.start_run("run")  # a run killed before it scored
    second = store.start_run("run")
    store.record_scoring(second, "bbbbbbbbbbbb", {"weights": {"call_logged": 1.0}})

    last = store.last_scoring()
    assert last is not None
    assert (last.run_id, last.fingerprint, last.config) == (second, "bbbbbbbbbbbb", {"weights": {"call_logged": 1.0}})
    before = store.last_scoring(before_run=second)
    assert before is not None
    assert (before.run_id, before.fingerprint, before.config) == (first, "aaaaaaaaaaaa", WEIGHTS)
    assert store.last_scoring(before_run=first) is None
    assert unrecorded not in {first, second}


def test_the_score_history_carries_the_fingerprint_of_its_run(store: StateStore) -> None:
    from healthsync.state import ScorePoint

    run_id = store.start_run("run")
    store.record_scoring(run_id, "cccccccccccc", WEIGHTS)
    store.record_scores(run_id, [ScorePoint("acme", 80, "healthy")], keep_runs=5)
    assert [p.scoring_fingerprint for p in store.score_history("acme")] == ["cccccccccccc"]
    assert store.last_scores()["acme"].scoring_fingerprint == "cccccccccccc"


def test_upgrade_from_0004_keeps_the_runs_and_their_configuration_is_unknown(state_url: str) -> None:
    _fill_at_0001(state_url)
    engine = create_engine(parse_url(state_url))
    try:
        migrate.upgrade(engine, "0004")
    finally:
        engine.dispose()

    with StateStore.open(state_url) as store:
        assert store.schema_version == head_revision()
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("runs")}
        assert {"scoring_fingerprint", "scoring_config", "summary", "counts"} <= columns
        (run,) = store.runs()
        assert (run.command, run.status, run.exit_code, run.counts) == (
            "run",
            "rejected",
            4,
            {"hubspot": {"rejected": 1}},
        )
        assert store.records("hubspot", "company")["acme"].values == {"score": 71, "tier": None}
        assert store.last_scoring() is None  # an earlier release's run: unknown, not changed
        new_run = store.start_run("run")
        store.record_scoring(new_run, "dddddddddddd", WEIGHTS)
        assert store.last_scoring() is not None


def test_downgrade_to_0004_and_upgrade_again(state_url: str) -> None:
    with StateStore.open(state_url) as store:
        store.record_scoring(store.start_run("run"), "eeeeeeeeeeee", WEIGHTS)
    engine = create_engine(parse_url(state_url))
    try:
        migrate.downgrade(engine, "0004")
        assert "scoring_fingerprint" not in {c["name"] for c in sa.inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()
    with StateStore.open(state_url) as store:
        assert len(store.runs()) == 1
        assert store.last_scoring() is None
