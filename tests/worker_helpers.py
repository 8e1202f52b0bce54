"""Worker functions for the executor tests (local processes and Ray actors): importable by name, so
spawned workers and Ray actors can unpickle them."""

from __future__ import annotations

import os

from sdscm.errors import BenchmarkError


def squarer(offset: int):
    """A worker set up once per process: squares tasks (plus `offset`), refuses -1, dies on -2,
    and reports its process id so tests can tell workers apart."""
    pid = os.getpid()

    def work(task: int) -> tuple[int, int]:
        if task == -1:
            raise BenchmarkError("task -1 is refused")
        if task == -2:
            os._exit(3)
        return task * task + offset, pid

    return work


def broken_setup(offset: int):
    """A worker whose set-up fails."""
    raise BenchmarkError(f"cannot set up with {offset}")
