"""LocalProcesses: tasks run in worker processes set up once; results, errors and lost workers come back."""

from __future__ import annotations

import os

import pytest

from sdscm.errors import BenchmarkError
from sdscm.executors import LocalProcesses, WorkerLost
from worker_helpers import broken_setup as _broken_setup, squarer as _squarer


def test_results_come_back_to_the_driver_from_workers_set_up_once() -> None:
    got: dict[int, int] = {}
    pids: set[int] = set()

    def on_result(task: int, result: tuple[int, int]) -> None:
        got[task] = result[0]
        pids.add(result[1])

    LocalProcesses(2, start_method="fork").run(list(range(8)), _squarer, (1,), on_result)
    assert got == {t: t * t + 1 for t in range(8)}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids


def test_a_task_error_or_a_setup_error_is_raised_in_the_driver() -> None:
    with pytest.raises(BenchmarkError, match="task -1 is refused"):
        LocalProcesses(2, start_method="fork").run([1, -1, 2], _squarer, (0,), lambda t, r: None)
    with pytest.raises(BenchmarkError, match="cannot set up with 5"):
        LocalProcesses(1, start_method="fork").run([1], _broken_setup, (5,), lambda t, r: None)


def test_a_dead_worker_is_reported_or_stops_the_run() -> None:
    lost: list[tuple[int, str]] = []
    done: list[int] = []
    LocalProcesses(1, start_method="fork").run([2, -2, 3], _squarer, (0,), lambda t, r: done.append(t),
                                               on_lost=lambda t, status, msg, s: lost.append((t, status)))
    assert lost == [(-2, "error")] and sorted(done) == [2, 3]  # the worker was replaced
    with pytest.raises(WorkerLost, match="worker process died"):
        LocalProcesses(1, start_method="fork").run([-2], _squarer, (0,), lambda t, r: None)
