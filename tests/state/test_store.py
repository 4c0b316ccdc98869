"""The state store through its public API, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from healthsync.state import Ack, ReadMark, StateStore, TaskIntent


def _values(store: StateStore, destination: str = "hubspot", object_type: str = "company") -> dict[str, object]:
    return {key: (state.remote_id, state.values) for key, state in store.records(destination, object_type).items()}


def test_acknowledge_round_trip_and_field_merge(store: StateStore) -> None:
    store.acknowledge("hubspot", "company", [Ack("acme", "101", {"score": 71, "tier": "Healthy"})])
    store.acknowledge("hubspot", "company", [Ack("acme", None, {"tier": None, "plays": ["expansion"]})])

    assert _values(store) == {"acme": ("101", {"score": 71, "tier": None, "plays": ["expansion"]})}
    state = store.records("hubspot", "company")["acme"]
    assert state.updated_at.tzinfo is UTC
    assert abs((datetime.now(UTC) - state.updated_at).total_seconds()) < 60


def test_records_are_scoped_by_destination_and_object_type(store: StateStore) -> None:
    store.acknowledge("hubspot", "company", [Ack("acme", "1", {"score": 1})])
    store.acknowledge("hubspot", "contact", [Ack("acme", "2", {"score": 2})])
    store.acknowledge("intercom", "company", [Ack("acme", None, {"score": 3})])

    assert _values(store) == {"acme": ("1", {"score": 1})}
    assert _values(store, "hubspot", "contact") == {"acme": ("2", {"score": 2})}
    assert _values(store, "intercom", "company") == {"acme": (None, {"score": 3})}


def test_records_of_a_key_range_follow_python_order_on_every_backend(store: StateStore) -> None:
    keys = ["B@x.com", "a@x.com", "a.b@x.com", "a_b@x.com", "ab@x.com", "é@x.com", "z@x.com", "Z@x.com", "1@x.com"]
    store.acknowledge(
        "hubspot", "contacts", [Ack(key, str(n) if n % 3 else None, {"n": n}) for n, key in enumerate(keys)]
    )
    ordered = sorted(keys)  # what a plan in slices cuts the book by: code-point order, not the database's collation
    for start in range(0, len(ordered), 3):
        part = ordered[start : start + 3]
        assert sorted(store.records("hubspot", "contacts", first=part[0], last=part[-1])) == part
    assert sorted(store.records("hubspot", "contacts", first=ordered[4])) == ordered[4:]
    assert store.remembered("hubspot", "contacts") == sorted(str(n) for n in range(len(keys)) if n % 3)
    assert store.remembered("hubspot", "contacts", by="key") == sorted(key for n, key in enumerate(keys) if n % 3)


def test_acknowledge_merges_a_key_given_twice_in_one_batch(store: StateStore) -> None:
    store.acknowledge("hubspot", "company", [Ack("acme", "1", {"a": 1, "b": 1}), Ack("acme", None, {"b": 2})])

    assert _values(store) == {"acme": ("1", {"a": 1, "b": 2})}


@pytest.mark.parametrize("bad_key", ["acme", "globex"], ids=["bad-update", "bad-insert"])
def test_acknowledge_is_atomic(store: StateStore, bad_key: str) -> None:
    run_id = store.start_run("run")
    store.acknowledge("hubspot", "company", [Ack("acme", "1", {"score": 1})])
    store.reject(run_id, "hubspot", "company", "initech", "invalid email", 400)
    batch = [Ack("acme", "1", {"score": 2}), Ack("globex", "2", {"score": 3}), Ack("initech", "3", {"score": 4})]
    batch = [Ack(a.key, a.remote_id, {"score": datetime.now(UTC)}) if a.key == bad_key else a for a in batch]

    with pytest.raises((sa.exc.StatementError, TypeError)):  # a datetime is not JSON: the batch fails mid-way
        store.acknowledge("hubspot", "company", batch)

    assert _values(store) == {"acme": ("1", {"score": 1})}
    assert [r.key for r in store.rejections()] == ["initech"]


def test_large_batch_and_forget(store: StateStore) -> None:
    store.acknowledge("hubspot", "company", [Ack(f"acct-{i}", str(i), {"score": i}) for i in range(1200)])
    store.acknowledge("intercom", "company", [Ack("acme", None, {"score": 1})])
    store.acknowledge("hubspot", "company", [Ack(f"acct-{i}", None, {"tier": "x"}) for i in range(1200)])

    assert len(store.records("hubspot", "company")) == 1200
    assert store.records("hubspot", "company")["acct-7"].values == {"score": 7, "tier": "x"}
    assert store.forget("hubspot") == 1200
    assert store.records("hubspot", "company") == {}
    assert store.forget() == 1


def test_read_marks_are_kept_per_destination_and_go_with_forget(store: StateStore) -> None:
    assert store.read_mark("hubspot", "companies") == ReadMark()  # none kept: read everything
    moment = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    store.mark_read("hubspot", "companies", ReadMark(moment, 15))
    store.mark_read("hubspot", "contacts", ReadMark(moment, 3))
    store.mark_read("hubspot", "companies", ReadMark(moment, 30))  # replaces, no second row
    assert store.read_mark("hubspot", "companies") == ReadMark(moment, 30)
    assert store.read_mark("intercom", "companies") == ReadMark()
    store.acknowledge("hubspot", "companies", [Ack("acme", "1", {})])

    assert store.forget("hubspot") == 1  # records only are counted
    assert store.read_mark("hubspot", "companies") == ReadMark()
    assert store.read_mark("hubspot", "contacts") == ReadMark()


def test_forget_keeps_tasks_unless_asked(store: StateStore) -> None:
    store.acknowledge("hubspot", "company", [Ack("acme", "1", {})])
    store.task_intent("hubspot", "acme:churn:2025-W48", "t-1", "acme", "churn", "2025-W48")

    assert store.forget() == 1
    assert len(store.tasks("hubspot")) == 1
    assert store.forget(tasks=True) == 1
    assert store.tasks("hubspot") == []


def test_runs_history(store: StateStore) -> None:
    first = store.start_run("run")
    store.finish_run(first, status="ok", exit_code=0, counts={"hubspot": {"created": 2, "updated": 1}})
    second = store.start_run("plan")

    newest, older = store.runs()
    assert (newest.id, newest.command, newest.status, newest.finished_at, newest.exit_code) == (
        second,
        "plan",
        "running",
        None,
        None,
    )
    assert (older.status, older.exit_code, older.counts) == ("ok", 0, {"hubspot": {"created": 2, "updated": 1}})
    assert older.finished_at is not None
    assert older.started_at <= older.finished_at
    assert older.started_at.tzinfo is UTC
    assert [r.id for r in store.runs(limit=1)] == [second]


def test_finish_run_keeps_a_summary(store: StateStore) -> None:
    run_id = store.start_run("run")
    store.finish_run(run_id, status="rejected", exit_code=4, counts={}, summary={"tiers": {"Healthy": 3}})

    assert store.runs()[0].summary == {"tiers": {"Healthy": 3}}
    with pytest.raises(KeyError, match="no run with id 999"):
        store.finish_run(999, status="ok", exit_code=0, counts={})


def test_rejections_lifecycle(store: StateStore) -> None:
    first = store.start_run("run")
    store.reject(first, "hubspot", "company", "acme", "Property values were not valid", 400)
    store.reject(first, "intercom", "company", "globex", "company not found", 404)
    second = store.start_run("run")
    store.reject(second, "hubspot", "company", "acme", "still not valid", 400)

    acme, globex = store.rejections()
    assert (acme.key, acme.reason, acme.status, acme.attempts, acme.run_id) == (
        "acme",
        "still not valid",
        400,
        2,
        second,
    )
    assert acme.first_seen_at <= acme.last_seen_at
    assert (globex.destination, globex.attempts, globex.resolved_at) == ("intercom", 1, None)

    store.resolve_rejections("hubspot", "company", ["acme", "unknown"])
    store.acknowledge("intercom", "company", [Ack("globex", None, {"score": 1})])  # acknowledged later: resolved

    assert store.rejections() == []
    resolved = store.rejections(open_only=False)
    assert [r.key for r in resolved] == ["acme", "globex"]
    assert all(r.resolved_at is not None and r.resolved_at.tzinfo is UTC for r in resolved)

    store.reject(second, "hubspot", "company", "acme", "broken again", None)
    assert [(r.key, r.attempts, r.status) for r in store.rejections()] == [("acme", 1, None)]


def test_task_intent_created_completed(store: StateStore) -> None:
    identity = "acme:churn-risk:2025-W48"
    intent = store.task_intent("hubspot", identity, "trace-1", "acme", "churn-risk", "2025-W48")
    assert (intent.status, intent.remote_id, intent.trace_id, intent.created_at) == ("intent", None, "trace-1", None)
    assert store.tasks("hubspot", status="intent") == [intent]

    store.task_created("hubspot", identity, "9001")
    (task,) = store.tasks("hubspot", status="open")
    assert (task.status, task.remote_id, task.play, task.period, task.account_key) == (
        "open",
        "9001",
        "churn-risk",
        "2025-W48",
        "acme",
    )
    assert task.created_at is not None
    assert task.created_at.tzinfo is UTC

    store.task_completed("hubspot", identity)
    (done,) = store.tasks("hubspot")
    assert done.status == "completed"
    assert done.completed_at is not None
    assert store.tasks("hubspot", status="open") == []
    assert store.tasks("intercom") == []


def test_task_intent_is_idempotent_per_identity(store: StateStore) -> None:
    first = store.task_intent("hubspot", "acme:churn:2025-W48", "trace-1", "acme", "churn", "2025-W48")
    again = store.task_intent("hubspot", "acme:churn:2025-W48", "trace-2", "acme", "churn", "2025-W48")
    assert again == first  # the first trace id stays: it is the one written into the (maybe created) task

    store.task_created("hubspot", "acme:churn:2025-W48", "9001")
    after_create = store.task_intent("hubspot", "acme:churn:2025-W48", "trace-3", "acme", "churn", "2025-W48")
    assert (after_create.status, after_create.remote_id, after_create.trace_id) == ("open", "9001", "trace-1")
    assert len(store.tasks("hubspot")) == 1
    other = store.task_intent("intercom", "acme:churn:2025-W48", "trace-4", "acme", "churn", "2025-W48")
    assert other.trace_id == "trace-4"


def _commits(store: StateStore) -> list[int]:
    """A list that grows by one on every commit of `store`'s engine (the transactions a batch costs)."""
    seen: list[int] = []
    sa.event.listen(store.engine, "commit", lambda _conn: seen.append(1))
    return seen


def test_a_batch_of_task_intents_and_creates_is_one_transaction_each(store: StateStore) -> None:
    """A hundred task creates cost two commits, not two hundred (issue 25: one SQLite transaction per task held
    task creates at 3-5 batches a second); a known identity keeps its first trace id and status, as task_intent."""
    store.task_intent("hubspot", "t-000", "trace-old", "a0", "churn", "W1")
    store.task_created("hubspot", "t-000", "500")
    intents = [TaskIntent(f"t-{n:03}", f"trace-{n}", f"a{n}", "churn", "W1") for n in range(100)]
    intents.append(TaskIntent("t-001", "trace-dup", "a1", "churn", "W1"))  # named twice: recorded once
    commits = _commits(store)

    states = store.task_intents("hubspot", intents)
    store.tasks_created("hubspot", {f"t-{n:03}": str(9000 + n) for n in range(1, 100)})

    assert len(commits) == 2
    assert len(states) == 100
    assert (states["t-000"].status, states["t-000"].trace_id, states["t-000"].remote_id) == ("open", "trace-old", "500")
    assert (states["t-001"].status, states["t-001"].trace_id) == ("intent", "trace-1")
    tasks = {task.identity: task for task in store.tasks("hubspot")}
    assert len(tasks) == 100
    assert {task.status for task in tasks.values()} == {"open"}
    assert tasks["t-042"].remote_id == "9042"
    assert tasks["t-042"].created_at is not None
    with pytest.raises(KeyError, match="call task_intent first"):
        store.tasks_created("hubspot", {"t-050": "1", "nope": "2"})
    assert {task.remote_id for task in store.tasks("hubspot")} == {"500", *(str(9000 + n) for n in range(1, 100))}


def test_a_batch_that_races_another_process_falls_back_to_one_intent_at_a_time(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process records one of the batch's intents after this batch read what was known (the batch's read
    misses it: on PostgreSQL two sessions can interleave so): the batch's insert fails on the unique key, nothing of
    it stays, and each intent is recorded (or found) on its own, the first trace id kept."""
    store.task_intent("hubspot", "r-1", "theirs", "acme", "churn", "W1")
    intents = [TaskIntent(f"r-{n}", f"mine-{n}", "acme", "churn", "W1") for n in range(3)]
    real = store._tasks_in
    reads: list[int] = []

    def stale(conn: sa.Connection, destination: str, identities: list[str]) -> dict[str, object]:
        reads.append(1)
        return {} if len(reads) == 1 else real(conn, destination, identities)

    monkeypatch.setattr(store, "_tasks_in", stale)
    states = store.task_intents("hubspot", intents)

    assert {key: state.trace_id for key, state in states.items()} == {"r-0": "mine-0", "r-1": "theirs", "r-2": "mine-2"}
    assert len(store.tasks("hubspot")) == 3


def test_task_updates_need_an_intent_and_statuses_are_checked(store: StateStore) -> None:
    with pytest.raises(KeyError, match="call task_intent first"):
        store.task_created("hubspot", "nope", "1")
    with pytest.raises(ValueError, match="not one of intent, open, completed"):
        store.tasks("hubspot", status="done")
