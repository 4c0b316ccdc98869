"""The backtest's forked work (`replay.each_snapshot`, `replay.beside`): results come back in order from other
processes, an error in a fork is raised in the caller, and `HEALTHSYNC_BACKTEST_PROCESSES=1` keeps it all here."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

replay_module = importlib.import_module("healthsync.connector.backtest.replay")  # the package exports replay()
linux = pytest.mark.skipif(sys.platform != "linux", reason="the backtest forks only on Linux")


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value


@linux
def test_beside_runs_the_work_in_another_process_while_the_body_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "2")
    here = []
    with replay_module.beside(lambda: _pid_and(41 + 1)) as result:
        here.append(_pid_and(7))  # the body runs in this process meanwhile
        pid, value = result()
    assert value == 42
    assert pid != os.getpid()
    assert here == [(os.getpid(), 7)]


@linux
def test_an_error_in_the_fork_is_raised_by_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "2")

    def fails() -> None:
        raise ValueError("no suggestion today")

    with pytest.raises(ValueError, match="no suggestion today"), replay_module.beside(fails) as result:
        result()


def test_one_process_keeps_the_work_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "1")
    with replay_module.beside(lambda: _pid_and(1)) as result:
        assert result() == (os.getpid(), 1)
    rows = replay_module.each_snapshot(_pid_and, 3, parallel=True)
    assert rows == [(os.getpid(), 0), (os.getpid(), 1), (os.getpid(), 2)]


@linux
def test_each_snapshot_returns_the_forks_results_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "2")
    rows = replay_module.each_snapshot(_pid_and, 5, parallel=True)
    assert [value for _, value in rows] == [0, 1, 2, 3, 4]
    assert os.getpid() not in {pid for pid, _ in rows}


@linux
def test_a_worker_that_dies_is_noticed_and_the_work_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked child can die (a crash, a signal): the backtest neither waits for it forever nor loses a snapshot,
    it scores them in this process instead; the same for the suggestion's fork."""
    monkeypatch.setenv("HEALTHSYNC_BACKTEST_PROCESSES", "2")
    parent = os.getpid()

    def dies_in_a_fork(index: int) -> tuple[int, int]:
        if os.getpid() != parent and index == 1:
            os._exit(3)
        return os.getpid(), index

    rows = replay_module.each_snapshot(dies_in_a_fork, 4, parallel=True)
    assert [value for _, value in rows] == [0, 1, 2, 3]
    assert {pid for pid, _ in rows} == {parent}
    with replay_module.beside(lambda: dies_in_a_fork(1)) as result:
        assert result() == (parent, 1)
