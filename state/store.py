"""StateStore: what the sync engine remembers between runs (never any token).

    store = StateStore.open("sqlite:///healthsync-state.db")   # creates or upgrades the schema in place
    with store.acquire_lock(default_holder(), ttl_seconds=900) as lease:
        run_id = store.start_run("run")
        known = store.records("hubspot", "company")              # diff desired values against these
        store.acknowledge("hubspot", "company", acks)              # one transaction per acknowledged batch
        store.finish_run(run_id, status="ok", exit_code=0, counts={"hubspot": {"updated": 3}})

Exactly-once tasks: record `task_intent` (with a trace id the engine writes into the task) BEFORE the create
call; after the create call succeeds, `task_created`. A run that finds a task still at `intent` does not know
whether the create reached the destination, so it first searches the destination for the trace id.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from healthsync.state import configs, history, migrate
from healthsync.state.engine import create_engine, parse_url, translate_errors
from healthsync.state.lease import Lease, acquire
from healthsync.state.models import (
    TASK_STATUSES,
    Ack,
    ReadMark,
    RecordState,
    Rejection,
    RunRecord,
    ScorePoint,
    ScoringRecord,
    TaskIntent,
    TaskState,
)
from healthsync.state.schema import read_marks as marks_table
from healthsync.state.schema import records as records_table
from healthsync.state.schema import rejections as rejections_table
from healthsync.state.schema import runs as runs_table
from healthsync.state.schema import tasks as tasks_table

_CHUNK = 500  # keys per IN (...) list, well under every backend's bound-parameter limit
DECODE_BATCH = 10_000  # stored values decoded per call (`_record_states`)


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class StateStore:
    """The sync-state store on one SQLAlchemy Engine (SQLite file by default, PostgreSQL for production)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> StateStore:
        """Open the store at `url`, creating or upgrading its schema in place; ConfigError if it can't be opened."""
        parsed = parse_url(url)
        engine = create_engine(parsed)
        try:
            with translate_errors(parsed, "open"):
                migrate.upgrade(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def schema_version(self) -> str | None:
        """The Alembic revision the database is at (the head revision once opened)."""
        with self._engine.connect() as conn:
            return migrate.current_revision(conn)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # lease lock

    def acquire_lock(
        self,
        holder: str,
        ttl_seconds: float,
        *,
        wait: bool = False,
        timeout: float | None = None,
        poll_seconds: float = 1.0,
    ) -> Lease:
        """Take the one-run-at-a-time lease; LockHeldError naming the holder unless `wait` (then up to `timeout`)."""
        return acquire(self._engine, holder, ttl_seconds, wait=wait, timeout=timeout, poll_seconds=poll_seconds)

    # runs

    def mark_crashed(self) -> list[int]:
        """Runs still `running` although this process holds the lease: they died; mark them `crashed`."""
        with self._engine.begin() as conn:
            ids = [
                int(i)
                for i in conn.execute(sa.select(runs_table.c.id).where(runs_table.c.status == "running")).scalars()
            ]
            if ids:
                conn.execute(
                    sa.update(runs_table)
                    .where(runs_table.c.id.in_(ids), runs_table.c.status == "running")
                    .values(status="crashed", finished_at=_now())
                )
        return ids

    def start_run(self, command: str) -> int:
        with self._engine.begin() as conn:
            statement = sa.insert(runs_table).values(command=command, started_at=_now(), status="running", counts={})
            return int(conn.execute(statement.returning(runs_table.c.id)).scalar_one())

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        exit_code: int,
        counts: dict[str, dict[str, int]],
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Close a run with its status, exit code and counts per destination (created, updated, rejected, ...)."""
        values = {"finished_at": _now(), "status": status, "exit_code": exit_code, "counts": counts, "summary": summary}
        with self._engine.begin() as conn:
            result = conn.execute(sa.update(runs_table).where(runs_table.c.id == run_id).values(values))
            if result.rowcount != 1:
                raise KeyError(f"no run with id {run_id}")

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """The newest runs first."""
        query = sa.select(runs_table).order_by(runs_table.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [_run_record(row) for row in conn.execute(query)]

    # acknowledged remote values

    def records(
        self, destination: str, object_type: str, *, first: str | None = None, last: str | None = None
    ) -> dict[str, RecordState]:
        """What `destination` last acknowledged for every record of `object_type`, by key; with `first` and/or
        `last`, only the keys in that range (both ends included): a plan built in slices of users reads the store
        a slice at a time (issue 25, item 3).

        Read for every record on every run (two million a run at a million contacts): the values come as JSON
        text, decoded 10,000 records at a time (`_record_states`), and the timestamps are kept as the driver returns
        them, parsed only when asked for (`RecordState.updated_at`): 100,000 HubSpot contacts in 0.51 CPU-s.
        """
        query = _records_query(destination, object_type)
        key: sa.ColumnElement[str] = records_table.c.key
        if self._engine.dialect.name == "postgresql":  # the range in code-point order, as Python sorts the keys
            key = key.collate("C")
        if first is not None:
            query = query.where(key >= first)
        if last is not None:
            query = query.where(key <= last)
        with self._engine.connect() as conn:
            return _record_states(conn.execute(query.execution_options(yield_per=10_000)))

    def remembered(self, destination: str, object_type: str, *, by: str = "remote_id") -> list[str]:
        """The remote ids (`by="key"`: the keys) of every record of `object_type` that has a remote id, sorted as
        Python sorts text: what a plan built in slices needs of the whole book up front (the rotation of its
        re-verification), without the records' values or a dictionary of a million keys."""
        t = records_table
        column = t.c.key if by == "key" else t.c.remote_id
        query = sa.select(column).where(
            t.c.destination == destination, t.c.object_type == object_type, t.c.remote_id.is_not(None)
        )
        with self._engine.connect() as conn:
            found = conn.execute(query.execution_options(yield_per=10_000)).scalars()
            return sorted({str(value) for value in found})

    def acknowledge(self, destination: str, object_type: str, items: Iterable[Ack], *, resolve: bool = True) -> None:
        """Checkpoint one acknowledged batch in ONE transaction, and resolve open rejections of those keys.

        `resolve=False` records values read from the destination (not written): open rejections stay open.

        Values merge field by field into what is stored (a field set to None is stored as None, not removed);
        a remote id of None keeps the stored one. A key given twice merges in order.
        """
        with self._engine.begin() as conn:
            batch = _fold(items)
            if not batch:
                return
            stored = self._stored(conn, destination, object_type, list(batch))
            now = _now()
            rows = [_merged_row(ack, stored.get(key), now) for key, ack in batch.items()]
            updates = [row for row in rows if row["b_key"] in stored]
            inserts = [row for row in rows if row["b_key"] not in stored]
            where = (records_table.c.destination == destination, records_table.c.object_type == object_type)
            if updates:
                statement = sa.update(records_table).where(*where, records_table.c.key == sa.bindparam("b_key"))
                conn.execute(statement.values(_bound_columns()), updates)
            if inserts:
                fixed = {"destination": destination, "object_type": object_type, "key": sa.bindparam("b_key")}
                conn.execute(sa.insert(records_table).values(fixed | _bound_columns()), inserts)
            if resolve:
                _resolve(conn, destination, object_type, list(batch), now)

    def forget(self, destination: str | None = None, *, tasks: bool = False) -> int:
        """Drop acknowledged values (all, or of one destination) so the next run resends everything.

        The read marks go with the values (the next run reads every record again).
        Task rows are kept unless `tasks=True`: dropping them gives up the exactly-once guarantee for
        tasks whose create call may have reached the destination. Runs and rejections stay as history.
        """
        tables = [records_table, tasks_table] if tasks else [records_table]
        removed = 0
        with self._engine.begin() as conn:
            for table in [*tables, marks_table]:
                statement = sa.delete(table)
                if destination is not None:
                    statement = statement.where(table.c.destination == destination)
                count = conn.execute(statement).rowcount
                removed += count if table is not marks_table else 0
        return removed

    # how far the bounded reads got (issue 25, item 2)

    def read_mark(self, destination: str, object_type: str) -> ReadMark:
        """Where the next run's reads of `object_type` start; the default (read everything) when none is kept."""
        t = marks_table
        query = sa.select(t.c.changed_since, t.c.verify_cursor).where(
            t.c.destination == destination, t.c.object_type == object_type
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return ReadMark() if row is None else ReadMark(row.changed_since, int(row.verify_cursor))

    def mark_read(self, destination: str, object_type: str, mark: ReadMark) -> None:
        """Keep `mark` for the next run (one row per destination and object type)."""
        t = marks_table
        values = {"changed_since": mark.changed_since, "verify_cursor": mark.verify_cursor, "updated_at": _now()}
        where = (t.c.destination == destination, t.c.object_type == object_type)
        with self._engine.begin() as conn:
            if conn.execute(sa.update(t).where(*where).values(values)).rowcount == 0:
                conn.execute(sa.insert(t).values(values | {"destination": destination, "object_type": object_type}))

    @staticmethod
    def _stored(conn: Connection, destination: str, object_type: str, keys: list[str]) -> dict[str, RecordState]:
        found: dict[str, RecordState] = {}
        for chunk in _chunks(keys):
            query = _records_query(destination, object_type).where(records_table.c.key.in_(chunk))
            found |= _record_states(conn.execute(query))
        return found

    # rejected records

    def reject(
        self, run_id: int, destination: str, object_type: str, key: str, reason: str, status: int | None = None
    ) -> None:
        """Keep a refused record with its reason; a record already open gets the new reason and one more attempt."""
        t = rejections_table
        now = _now()
        with self._engine.begin() as conn:
            open_id = conn.execute(
                sa.select(t.c.id).where(*_open_rejection(destination, object_type, [key])).order_by(t.c.id).limit(1)
            ).scalar_one_or_none()
            values = {"run_id": run_id, "reason": reason, "status": status, "last_seen_at": now}
            if open_id is None:
                identity = {"destination": destination, "object_type": object_type, "key": key}
                conn.execute(sa.insert(t).values(values | identity | {"attempts": 1, "first_seen_at": now}))
            else:
                conn.execute(sa.update(t).where(t.c.id == open_id).values(values | {"attempts": t.c.attempts + 1}))

    def resolve_rejections(self, destination: str, object_type: str, keys: Iterable[str]) -> None:
        with self._engine.begin() as conn:
            _resolve(conn, destination, object_type, list(keys), _now())

    def rejections(self, *, open_only: bool = True) -> list[Rejection]:
        """Rejections in the order they were first seen; only the unresolved ones unless `open_only=False`."""
        query = sa.select(rejections_table).order_by(rejections_table.c.id)
        if open_only:
            query = query.where(rejections_table.c.resolved_at.is_(None))
        with self._engine.connect() as conn:
            return [Rejection(**row._asdict()) for row in conn.execute(query)]

    # exactly-once tasks

    def task_intent(
        self, destination: str, identity: str, trace_id: str, account_key: str, play: str, period: str
    ) -> TaskState:
        """Record the intent to create a task BEFORE the create call; returns the existing task for a known identity."""
        existing = self._task(destination, identity)
        if existing is not None:
            return existing
        values = _intent_row(destination, TaskIntent(identity, trace_id, account_key, play, period), _now())
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(tasks_table).values(values))
        except sa.exc.IntegrityError:  # another process recorded the same intent first
            pass
        task = self._task(destination, identity)
        assert task is not None  # inserted above, or by the process that won the race
        return task

    def task_intents(self, destination: str, intents: Sequence[TaskIntent]) -> dict[str, TaskState]:
        """:meth:`task_intent` for a batch in one transaction (one per task made SQLite commit, and wait for the
        disk, a hundred times per batch of task creates); identity -> the task as recorded. Should another process
        record one of the same intents meanwhile, the batch falls back to one transaction per task, as before."""
        t = tasks_table
        now = _now()
        identities = [intent.identity for intent in intents]
        try:
            with self._engine.begin() as conn:
                known = self._tasks_in(conn, destination, identities)
                missing = [
                    _intent_row(destination, intent, now)
                    for intent in _fold_intents(intents)
                    if intent.identity not in known
                ]
                if missing:
                    conn.execute(sa.insert(t), missing)
        except sa.exc.IntegrityError:  # another process recorded one of them first
            return {i.identity: self.task_intent(destination, *i) for i in intents}
        with self._engine.connect() as conn:
            return self._tasks_in(conn, destination, identities)

    def tasks_created(self, destination: str, created: dict[str, str]) -> None:
        """:meth:`task_created` for a batch (identity -> remote id) in one transaction."""
        if not created:
            return
        t = tasks_table
        statement = (
            sa.update(t)
            .where(t.c.destination == destination, t.c.identity == sa.bindparam("b_identity"))
            .values(status="open", remote_id=sa.bindparam("b_remote"), created_at=_now())
        )
        rows = [{"b_identity": identity, "b_remote": remote} for identity, remote in created.items()]
        with self._engine.begin() as conn:
            known = self._tasks_in(conn, destination, list(created))
            unknown = sorted(set(created) - set(known))
            if unknown:
                raise KeyError(f"no task intent {unknown[0]!r} for {destination}: call task_intent first")
            conn.execute(statement, rows)

    @staticmethod
    def _tasks_in(conn: Connection, destination: str, identities: Sequence[str]) -> dict[str, TaskState]:
        t = tasks_table
        found: dict[str, TaskState] = {}
        for chunk in _chunks(identities):
            query = sa.select(t).where(t.c.destination == destination, t.c.identity.in_(list(chunk)))
            found.update({row.identity: TaskState(**row._asdict()) for row in conn.execute(query)})
        return found

    def task_created(self, destination: str, identity: str, remote_id: str) -> None:
        """The create call succeeded (or the task was found by its trace id): the task is open at `remote_id`."""
        self._set_task(destination, identity, status="open", remote_id=remote_id, created_at=_now())

    def task_unconfirmed(self, destination: str, identity: str) -> None:
        """The create's outcome is unknown (timeout, reset, 5xx): HubSpot may still receive it. Kept with the time
        of that answer (`created_at`) until a marker lookup settles it; never sent again blindly."""
        self._set_task(destination, identity, status="unconfirmed", created_at=_now())

    def task_withdrawn(self, destination: str, identity: str) -> None:
        """The create was refused (nothing was created): forget the intent so a later run creates it afresh."""
        self.alert_withdrawn(destination, identity)

    def task_completed(self, destination: str, identity: str) -> None:
        self._set_task(destination, identity, status="completed", completed_at=_now())

    def tasks(self, destination: str, *, status: str | None = None) -> list[TaskState]:
        """Tasks of `destination` in intent order, optionally only those with `status` (intent | open | completed)."""
        query = sa.select(tasks_table).where(tasks_table.c.destination == destination)
        if status is not None:
            if status not in TASK_STATUSES:
                raise ValueError(f"task status {status!r} is not one of {', '.join(TASK_STATUSES)}")
            query = query.where(tasks_table.c.status == status)
        query = query.order_by(tasks_table.c.intended_at, tasks_table.c.identity)
        with self._engine.connect() as conn:
            return [TaskState(**row._asdict()) for row in conn.execute(query)]

    # Slack alerts (rows of the tasks table: intent -> sent | unconfirmed; withdrawn = deleted)

    def alert_sent(self, destination: str, identity: str, message_id: str) -> None:
        """The webhook answered ok: the alert was posted (in the message carrying `message_id`)."""
        self._set_task(destination, identity, status="sent", remote_id=message_id, created_at=_now())

    def alert_unconfirmed(self, destination: str, identity: str) -> None:
        """The post's outcome is unknown (lost answer, reset, 5xx): never posted again (at most once)."""
        self._set_task(destination, identity, status="unconfirmed", created_at=_now())

    def alert_withdrawn(self, destination: str, identity: str) -> None:
        """The webhook refused the post (nothing was posted): forget the intent so a later run may try again."""
        t = tasks_table
        with self._engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.destination == destination, t.c.identity == identity))

    # score history

    def record_scores(self, run_id: int, points: Iterable[ScorePoint], keep_runs: int) -> int:
        """Keep this run's score, tier and plays per account; older runs beyond the newest `keep_runs` are pruned."""
        return history.record(self._engine, run_id, points, keep_runs)

    def score_history(self, account_key: str, limit: int = 20) -> list[ScorePoint]:
        """One account's recorded runs, newest first."""
        return history.for_account(self._engine, account_key, limit)

    def last_scores(self, before_run: int | None = None) -> dict[str, ScorePoint]:
        """The newest recorded run's points by account (before run `before_run` when given)."""
        return history.latest(self._engine, before_run)

    def record_scoring(self, run_id: int, fingerprint: str, config: dict[str, Any]) -> None:
        """Keep the fingerprint and the values of the scoring configuration run `run_id` scored with."""
        configs.record(self._engine, run_id, fingerprint, config)

    def last_scoring(self, before_run: int | None = None) -> ScoringRecord | None:
        """The newest run's scoring configuration (of a run before `before_run` when given); None without one."""
        return configs.previous(self._engine, before_run)

    def _task(self, destination: str, identity: str) -> TaskState | None:
        with self._engine.connect() as conn:
            return self._tasks_in(conn, destination, [identity]).get(identity)

    def _set_task(self, destination: str, identity: str, **values: Any) -> None:
        t = tasks_table
        with self._engine.begin() as conn:
            result = conn.execute(
                sa.update(t).where(t.c.destination == destination, t.c.identity == identity).values(values)
            )
            if result.rowcount != 1:
                raise KeyError(f"no task intent {identity!r} for {destination}: call task_intent first")


def _intent_row(destination: str, intent: TaskIntent, now: datetime) -> dict[str, Any]:
    """The tasks-table row of a task intent recorded at `now` (status `intent`)."""
    return {"destination": destination, "status": "intent", "intended_at": now, **intent._asdict()}


def _fold_intents(intents: Sequence[TaskIntent]) -> list[TaskIntent]:
    """The first intent per identity (a batch that names one twice records it once, as one call per task did)."""
    first: dict[str, TaskIntent] = {}
    for intent in intents:
        first.setdefault(intent.identity, intent)
    return list(first.values())


def _fold(items: Iterable[Ack]) -> dict[str, Ack]:
    batch: dict[str, Ack] = {}
    for ack in items:
        earlier = batch.get(ack.key)
        batch[ack.key] = (
            ack if earlier is None else Ack(ack.key, ack.remote_id or earlier.remote_id, earlier.values | ack.values)
        )
    return batch


def _merged_row(ack: Ack, stored: RecordState | None, now: datetime) -> dict[str, Any]:
    values = dict(ack.values) if stored is None else stored.values | ack.values
    remote_id = ack.remote_id if ack.remote_id is not None or stored is None else stored.remote_id
    return {"b_key": ack.key, "b_remote_id": remote_id, "b_values": values, "b_updated_at": now}


def _bound_columns() -> dict[str, Any]:
    return {name: sa.bindparam(f"b_{name}") for name in ("remote_id", "values", "updated_at")}


def _open_rejection(destination: str, object_type: str, keys: Sequence[str]) -> tuple[sa.ColumnElement[bool], ...]:
    t = rejections_table
    return (
        t.c.destination == destination,
        t.c.object_type == object_type,
        t.c.key.in_(keys),
        t.c.resolved_at.is_(None),
    )


def _resolve(conn: Connection, destination: str, object_type: str, keys: list[str], now: datetime) -> None:
    for chunk in _chunks(keys):
        conn.execute(
            sa.update(rejections_table).where(*_open_rejection(destination, object_type, chunk)).values(resolved_at=now)
        )


def _records_query(destination: str, object_type: str) -> sa.Select[Any]:
    """The stored records of one destination and object type, values and timestamp as the driver returns them
    (no SQLAlchemy processors: `_record_states` decodes them)."""
    t = records_table
    raw = [sa.type_coerce(t.c["values"], sa.Text), sa.type_coerce(t.c.updated_at, sa.Text)]
    query = sa.select(t.c.key, t.c.remote_id, *raw)
    return query.where(t.c.destination == destination, t.c.object_type == object_type)


def _record_states(rows: Iterable[Any]) -> dict[str, RecordState]:
    """The rows of `_records_query` as RecordStates by key (a plan reads a million of them a run, in slices).

    The values of 10,000 rows at a time are decoded as one JSON array, so json's decoder keeps each field name once
    for all of them (a company holds about 17 fields: 100,000 of them in each destination's plan)."""
    found: dict[str, RecordState] = {}
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, DECODE_BATCH)):
        texts = [values for _, _, values, _ in batch]
        decoded = _decoded_all(texts) if all(isinstance(text, str) for text in texts) else None
        for position, (key, remote, values, at) in enumerate(batch):
            found[key] = RecordState(key, remote, _decoded(values) if decoded is None else decoded[position], at)
    return found


def _decoded_all(texts: list[str]) -> list[dict[str, Any]] | None:
    """Stored values columns (JSON objects) decoded in one call; None when any of them is not one object."""
    try:
        decoded = json.loads("[" + ",".join(texts) + "]")
    except ValueError:
        return None
    if len(decoded) != len(texts) or not all(isinstance(item, dict) for item in decoded):
        return None
    return list(decoded)


def _decoded(values: Any) -> dict[str, Any]:
    """One stored values column as a dictionary (when its batch could not be decoded in one call): JSON text on
    SQLite, already decoded by the driver on PostgreSQL."""
    return dict(json.loads(values)) if isinstance(values, str | bytes) else dict(values)


def _run_record(row: Row[Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        command=row.command,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        exit_code=row.exit_code,
        counts=row.counts,
        summary=row.summary,
    )
