"""Executors: where independent work units (datasets, estimator fits) run.

A worker is set up once per process (`setup(*setup_args)` returns the function that does one
task: load the model once, then generate many datasets) and hands each task's result back to
the driver, which alone writes files. A run therefore resumes the same way, and writes the same
bytes, whatever executed its tasks. :class:`LocalProcesses` runs tasks in worker processes on this
machine, with an optional hard time limit per task (a stuck task's process is killed and
replaced). An executor for a cluster (Ray actors, one loaded model per actor) implements the same
:meth:`~LocalProcesses.run`.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from sdscm.errors import SDSCMError

OnResult = Callable[[Any, Any], None]
"""Called in the driver with (task, result) as each task finishes, in the order they finish."""

OnLost = Callable[[Any, str, str, float], None]
"""Called in the driver with (task, status, message, seconds it ran) when a task's process was
killed (status `timeout`) or died (status `error`); without it, a lost task stops the run."""


class WorkerLost(SDSCMError):
    """A worker process died (or was killed) while running a task, and the caller did not handle it."""


def _serve(conn: Connection, setup: Callable[..., Callable[[Any], Any]], setup_args: tuple) -> None:
    """A worker process: set up once, then run tasks until told to stop (None) or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
    try:
        work = setup(*setup_args)
        failed: BaseException | None = None
    except BaseException as exc:  # report it with the first task, like any task's error
        work, failed = None, exc
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        task_id, task = msg
        try:
            if failed is not None:
                raise failed
            reply: tuple[str, Any] = ("ok", work(task))  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - the driver re-raises it
            reply = ("raised", exc)
        try:
            conn.send((task_id, reply))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an unpicklable result or error
            conn.send((task_id, ("raised", RuntimeError(f"{type(exc).__name__}: {exc}"))))


class LocalProcesses:
    """Run tasks in `jobs` worker processes on this machine.

    `start_method`: "spawn" (a fresh interpreter: required once torch is loaded) or "fork" (workers
    share what the driver has loaded, e.g. datasets and estimators registered at run time).
    `hard_limit`: seconds after which a task's process is killed and replaced (None: no limit).
    """

    def __init__(self, jobs: int, *, start_method: str = "spawn", hard_limit: float | None = None):
        self.jobs = int(jobs)
        self.start_method = start_method if start_method in mp.get_all_start_methods() else "spawn"
        self.hard_limit = hard_limit

    def run(self, tasks: Sequence[Any], setup: Callable[..., Callable[[Any], Any]], setup_args: tuple,
            on_result: OnResult, on_lost: OnLost | None = None, on_tick: Callable[[], None] | None = None) -> None:
        """Run every task; `setup` must be importable by the workers (a module-level function).

        An exception raised by a task (or by `setup`) is raised here once the workers are stopped;
        so is one raised by `on_result`. `on_tick` is called about twice a second while tasks run.
        """
        ctx = mp.get_context(self.start_method)
        queue = list(reversed(list(enumerate(tasks))))
        workers: list[dict[str, Any]] = []

        def spawn() -> dict[str, Any]:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, setup, setup_args), daemon=True)
            proc.start()
            child.close()
            return {"proc": proc, "conn": parent, "task": None, "start": 0.0}

        def dispatch(w: dict[str, Any]) -> None:
            if queue:
                task_id, task = queue.pop()
                w["task"], w["start"] = (task_id, task), time.monotonic()
                w["conn"].send((task_id, task))
            else:
                w["task"] = None

        def lose(w: dict[str, Any], status: str, message: str) -> None:
            _, task = w["task"]
            if on_lost is None:
                raise WorkerLost(message)
            on_lost(task, status, message, time.monotonic() - w["start"])

        try:
            for _ in range(min(self.jobs, len(tasks))):
                w = spawn()
                workers.append(w)
                dispatch(w)
            while any(w["task"] is not None for w in workers):
                busy = [w for w in workers if w["task"] is not None]
                ready = wait([w["conn"] for w in busy], timeout=0.5)
                now = time.monotonic()
                for w in busy:
                    if w["conn"] in ready:
                        try:
                            _, (kind, value) = w["conn"].recv()
                        except (EOFError, OSError):
                            code = w["proc"].exitcode if not w["proc"].is_alive() else None
                            w["proc"].join(timeout=1)
                            code = w["proc"].exitcode if code is None else code
                            lose(w, "error", f"worker process died (exit code {code}); "
                                             "out of memory or a crash in native code")
                            w.update(spawn())
                            dispatch(w)
                            continue
                        if kind == "raised":
                            raise value
                        on_result(w["task"][1], value)
                        dispatch(w)
                    elif self.hard_limit is not None and now - w["start"] > self.hard_limit:
                        w["proc"].kill()
                        w["proc"].join(timeout=5)
                        w["conn"].close()
                        lose(w, "timeout", f"killed after the hard time limit of {self.hard_limit:g} s")
                        w.update(spawn())
                        dispatch(w)
                if on_tick is not None:
                    on_tick()
        finally:
            for w in workers:
                try:
                    w["conn"].send(None)
                except (OSError, ValueError):
                    pass
            for w in workers:
                w["proc"].join(timeout=2)
                if w["proc"].is_alive():
                    w["proc"].kill()
                    w["proc"].join(timeout=2)
