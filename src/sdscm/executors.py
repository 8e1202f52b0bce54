"""Executors: where independent work units (datasets, estimator fits) run.

A worker is set up once per process (`setup(*setup_args)` returns the function that does one
task: load the model once, then generate many datasets) and hands each task's result back to
the driver, which alone writes files. A run therefore resumes the same way, and writes the same
bytes, whatever executed its tasks. :class:`LocalProcesses` runs tasks in worker processes on this
machine, with an optional hard time limit per task (a stuck task's process is killed and
replaced). :class:`RayActors` runs them on a Ray cluster (a local one started on demand, or an
existing one by address), one actor per worker, each set up once; a task whose actor dies is
retried on another. Both implement :class:`Executor`; :func:`make_executor` picks one by name.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from sdscm.errors import SDSCMError

OnResult = Callable[[Any, Any], None]
"""Called in the driver with (task, result) as each task finishes, in the order they finish."""

OnLost = Callable[[Any, str, str, float], None]
"""Called in the driver with (task, status, message, seconds it ran) when a task's process was
killed (status `timeout`) or died (status `error`); without it, a lost task stops the run."""


class WorkerLost(SDSCMError):
    """A worker process died (or was killed) while running a task, and the caller did not handle it."""


EXECUTORS = ("local", "ray")
"""Names accepted by :func:`make_executor` (and the CLI's `--executor`)."""


class Executor(Protocol):
    """Where independent tasks run: set each worker up once, run tasks, hand results to the driver."""

    def run(self, tasks: Sequence[Any], setup: Callable[..., Callable[[Any], Any]], setup_args: tuple,
            on_result: OnResult, on_lost: OnLost | None = None,
            on_tick: Callable[[], None] | None = None) -> None:
        """Run every task; call `on_result(task, result)` in the driver as each finishes."""


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



def _lose(worker: dict[str, Any], on_lost: OnLost | None, status: str, message: str) -> None:
    """A worker's task is lost (`status` error or timeout): hand it to `on_lost(task, status, message,
    seconds)`, or raise WorkerLost when the caller gave none. Shared by every executor."""
    _, task = worker["task"]
    if on_lost is None:
        raise WorkerLost(message)
    on_lost(task, status, message, time.monotonic() - worker["start"])

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
                            _lose(w, on_lost, "error", f"worker process died (exit code {code}); "
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
                        _lose(w, on_lost, "timeout", f"killed after the hard time limit of {self.hard_limit:g} s")
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


# --------------------------------------------------------------------------------------------- Ray

RAY_EXTRA_HINT = "install it with `pip install 'sdscm[ray]'` (or `pip install ray`)"


def _import_ray() -> Any:
    """Import ray (lazily: it is an optional extra); usage statistics are never sent."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    # Ray lowers its workers' priority (nice 15) by default; here they do the run's work, at the
    # priority of `--jobs` processes (applies to a local cluster this process starts).
    os.environ.setdefault("RAY_worker_niceness", "0")
    try:
        import ray
    except ImportError:
        raise SDSCMError(f"the Ray executor needs the `ray` package; {RAY_EXTRA_HINT}") from None
    return ray


_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _cluster_mode(ray: Any, enabled: bool | None) -> tuple[str | None, Any]:
    """Set whether Ray's node uses the machine's address (True) or 127.0.0.1 (False), for this
    process (Ray reads the flag at import, so its module constant is set too) and the cluster
    processes it starts (they inherit the environment). None restores nothing and returns the
    current state, which a later call can pass back to restore it."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    previous = (os.environ.get(_CLUSTER_ENV), getattr(constants, "ENABLE_RAY_CLUSTER", None))
    if enabled is not None:
        os.environ[_CLUSTER_ENV] = "1" if enabled else "0"
        if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
            constants.ENABLE_RAY_CLUSTER = enabled
    return previous


def _restore_cluster_mode(ray: Any, previous: tuple[str | None, Any]) -> None:
    env, constant = previous
    if env is None:
        os.environ.pop(_CLUSTER_ENV, None)
    else:
        os.environ[_CLUSTER_ENV] = env
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and constant is not None:
        constants.ENABLE_RAY_CLUSTER = constant


def start_local_cluster(ray: Any, num_cpus: int) -> tuple[str | None, Any]:
    """Start a local Ray cluster of `num_cpus` CPUs, dashboard off, every port on 127.0.0.1: its
    node address is the loopback one (Ray's own switch for single-machine use), whatever this
    process imported before. Returns the state to give to :func:`stop_local_cluster`."""
    previous = _cluster_mode(ray, False)
    try:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except BaseException:
        _restore_cluster_mode(ray, previous)
        raise
    return previous


def stop_local_cluster(ray: Any, previous: tuple[str | None, Any]) -> None:
    """Shut down the cluster :func:`start_local_cluster` started and restore Ray's address mode
    (a later connection to a real cluster must advertise this machine's address)."""
    try:
        ray.shutdown()
    finally:
        _restore_cluster_mode(ray, previous)


class _RayWorker:
    """One Ray actor: set up once (e.g. load the model), then run tasks. A setup error is reported
    with the first task, like :func:`_serve`, so only a dead process surfaces as an actor error."""

    def __init__(self, setup: Callable[..., Callable[[Any], Any]], setup_args: tuple):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
        self.failed: BaseException | None = None
        try:
            self.work = setup(*setup_args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the driver with the first task
            self.work, self.failed = None, exc

    def run(self, task: Any) -> tuple[str, Any]:
        try:
            if self.failed is not None:
                raise self.failed
            return "ok", self.work(task)  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - the driver re-raises it
            try:
                pickle.dumps(exc)
            except Exception:  # noqa: BLE001 - an unpicklable error: send its text
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            return "raised", exc


class RayActors:
    """Run tasks on `workers` Ray actors, each set up once (one loaded model per actor).

    `address`: an existing cluster (`ray start --head` prints it; "auto" finds a local one); None
    starts a local cluster of `workers * cpus_per_worker` CPUs for the run (dashboard off, bound
    to 127.0.0.1) and stops it afterwards. If this process is already connected to Ray (e.g.
    `ray.init` was called), that cluster is used and left running.
    `cpus_per_worker`: CPUs each actor reserves (its BLAS/torch threads). `hard_limit`: seconds
    after which a task's actor is killed and replaced (reported to `on_lost` as `timeout`).
    `attempts`: runs of a task whose actor died (killed, out of memory, crashed) before it is
    reported to `on_lost` as `error` (or raised as :class:`WorkerLost`); until then it is retried
    on another actor. Results come back to the driver, so workers need no shared filesystem.
    """

    def __init__(self, workers: int, *, address: str | None = None, cpus_per_worker: float = 1,
                 hard_limit: float | None = None, attempts: int = 3):
        if int(workers) < 1:
            raise SDSCMError(f"the Ray executor needs at least 1 worker (--jobs), got {workers}")
        if attempts < 1:
            raise SDSCMError(f"attempts must be at least 1, got {attempts}")
        self.workers = int(workers)
        self.address = address
        self.cpus_per_worker = cpus_per_worker
        self.hard_limit = hard_limit
        self.attempts = int(attempts)

    def _connect(self, ray: Any) -> tuple[str, Any] | None:
        """Connect to (or start) a cluster; returns how to disconnect, or None when this process
        was connected already (that connection is left alone)."""
        if ray.is_initialized():
            return None
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
                return ("connected", None)
            cpus = max(1, int(round(self.workers * self.cpus_per_worker)))
            return ("started", start_local_cluster(ray, cpus))
        except Exception as exc:  # ConnectionError, ValueError, RuntimeError from ray.init
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray cluster"
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            fix = ("check the address that `ray start --head` printed (host:port of its GCS) and that this "
                   "machine can reach it, or drop --ray-address to start a local cluster"
                   if self.address else "check that no other Ray instance is misconfigured (`ray status`), "
                   "or use --executor local")
            raise SDSCMError(f"cannot connect to {where}: {reason}; {fix}") from None

    def run(self, tasks: Sequence[Any], setup: Callable[..., Callable[[Any], Any]], setup_args: tuple,
            on_result: OnResult, on_lost: OnLost | None = None, on_tick: Callable[[], None] | None = None) -> None:
        """Run every task (same contract as :meth:`LocalProcesses.run`); `setup` and the tasks must be
        importable and picklable on the workers."""
        if not tasks:
            return
        ray = _import_ray()
        connection = self._connect(ray)
        from ray.exceptions import NodeDiedError, ObjectLostError, OutOfMemoryError, RayActorError, WorkerCrashedError

        # The actor's process or node is gone (killed, out of memory, crashed): retry its task elsewhere.
        died = (RayActorError, WorkerCrashedError, OutOfMemoryError, NodeDiedError, ObjectLostError)
        actor_cls = ray.remote(num_cpus=self.cpus_per_worker, max_restarts=0, max_task_retries=0)(_RayWorker)
        args_ref = ray.put(setup_args)  # one copy in the object store, shared by every actor
        queue: deque[tuple[int, Any]] = deque(enumerate(tasks))
        tries: Counter[int] = Counter()
        slots: list[dict[str, Any]] = []

        def spawn() -> Any:
            return actor_cls.remote(setup, args_ref)

        def dispatch(slot: dict[str, Any]) -> None:
            if queue:
                task_id, task = queue.popleft()
                tries[task_id] += 1
                slot.update(task=(task_id, task), ref=slot["actor"].run.remote(task), start=time.monotonic())
            else:
                slot.update(task=None, ref=None)

        def replace(slot: dict[str, Any]) -> None:
            try:
                ray.kill(slot["actor"], no_restart=True)
            except Exception:  # noqa: BLE001 - already dead
                pass
            slot["actor"] = spawn()

        try:
            for _ in range(min(self.workers, len(tasks))):
                slot: dict[str, Any] = {"actor": spawn(), "task": None, "ref": None, "start": 0.0}
                slots.append(slot)
                dispatch(slot)
            while any(s["task"] is not None for s in slots):
                busy = [s for s in slots if s["task"] is not None]
                # Returns as soon as one task is done (then the next loop picks up any others).
                ready, _ = ray.wait([s["ref"] for s in busy], num_returns=1, timeout=0.5)
                ready_set = set(ready)
                now = time.monotonic()
                for slot in busy:
                    if slot["ref"] in ready_set:
                        try:
                            kind, value = ray.get(slot["ref"])
                        except died as exc:
                            task_id, task = slot["task"]
                            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                            if tries[task_id] < self.attempts:
                                queue.appendleft((task_id, task))  # retried first, on the next free actor
                            else:
                                _lose(slot, on_lost, "error", f"worker process died {tries[task_id]} time(s) running this "
                                                    f"task (out of memory, killed, or a crash in native code): {reason}")
                            replace(slot)
                            dispatch(slot)
                            continue
                        if kind == "raised":
                            raise value
                        on_result(slot["task"][1], value)
                        dispatch(slot)
                    elif self.hard_limit is not None and now - slot["start"] > self.hard_limit:
                        replace(slot)
                        _lose(slot, on_lost, "timeout", f"killed after the hard time limit of {self.hard_limit:g} s")
                        dispatch(slot)
                if on_tick is not None:
                    on_tick()
        finally:
            for slot in slots:
                try:
                    ray.kill(slot["actor"], no_restart=True)
                except Exception:  # noqa: BLE001 - already dead
                    pass
            if connection is not None and connection[0] == "started":
                stop_local_cluster(ray, connection[1])
            elif connection is not None:
                ray.shutdown()


def check_executor(kind: str, ray_address: str | None = None) -> None:
    """A clear error for an unknown executor name, or a cluster address given without Ray."""
    if kind not in EXECUTORS:
        raise SDSCMError(f"executor (--executor) must be one of {list(EXECUTORS)}, got {kind!r}")
    if ray_address and kind != "ray":
        raise SDSCMError("--ray-address is used only with --executor ray; add --executor ray or drop the address")


def make_executor(kind: str, jobs: int, *, start_method: str = "spawn", hard_limit: float | None = None,
                  ray_address: str | None = None, cpus_per_worker: float = 1) -> Executor:
    """The executor named `kind` ("local": worker processes here; "ray": Ray actors) with `jobs` workers."""
    check_executor(kind, ray_address)
    if kind == "ray":
        return RayActors(jobs, address=ray_address, cpus_per_worker=cpus_per_worker, hard_limit=hard_limit)
    return LocalProcesses(jobs, start_method=start_method, hard_limit=hard_limit)
