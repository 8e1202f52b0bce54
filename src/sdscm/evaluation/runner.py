"""Evaluate estimators on benchmark datasets: datasets x views x estimators -> one row each.

- **Isolation.** An estimator that raises (or runs past its time limit) on a dataset is recorded
  as a row with ``status`` ``error``/``timeout`` and its message; the run goes on.
- **Time limit.** A soft limit interrupts the fit with a signal; with worker processes
  (``jobs >= 1``) a fit that ignores it is killed after a grace period and its worker replaced.
- **Parallel.** ``jobs`` worker processes (forked, so they share the loaded datasets and any
  estimator registered in this process), each limited to one BLAS/OpenMP thread when jobs > 1.
  ``jobs=0`` runs in this process (no hard kill; handy for debugging and tests).
- **Resumable.** Each finished row is appended to a journal beside the output and the Parquet
  file is rewritten atomically from time to time; a rerun skips (dataset, view, estimator,
  configuration) keys already present, and retries failures only with ``retry_failed``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
import traceback
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from sdscm.effects import naive_difference, sample_ate
from sdscm.errors import SDSCMError
from sdscm.estimators.base import EstimatorConfig, encode_covariates
from sdscm.evaluation.metrics import dataset_metrics, sd
from sdscm.executors import check_executor, make_executor
from sdscm.progress import progress_bar
from sdscm.results.io import write_frame

VIEW_COLUMN = "setting"
"""The results column holding each dataset's view (`all` / `hidden`); named `setting` in results
files since the first release, and kept so that existing results resume."""

KEY = ("dataset", VIEW_COLUMN, "estimator", "config")
"""Columns that identify one unit of work (and one results row)."""

HARD_KILL_GRACE = 10.0
FLUSH_EVERY_S = 30.0


class EstimatorTimeout(Exception):
    """Raised inside a fit when it exceeds its time limit."""


@contextlib.contextmanager
def soft_time_limit(seconds: float | None) -> Iterator[None]:
    """Raise EstimatorTimeout in the main thread after ``seconds`` (no-op elsewhere or if None)."""
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise EstimatorTimeout(f"exceeded the time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, float(seconds))
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay > 0:  # give back a timer someone else had set (e.g. pytest-timeout)
            remaining = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, outer_interval)


def default_group(dataset: Any) -> str:
    """Across-dataset metrics are computed per group: the dataset's ``metadata['group']`` (or
    ``model``/``family`` when they are plain strings), else one group for all."""
    meta = getattr(dataset, "metadata", None) or {}
    for key in ("group", "model", "family"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return "all"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda v: v.item() if hasattr(v, "item") else repr(v))


def _base_row(dataset: Any, config: EstimatorConfig, seed: int, group: str | None) -> dict[str, Any]:
    """The identifying and descriptive columns of a results row (no estimate yet)."""
    y = np.asarray(dataset.y, dtype=float)
    ite = np.asarray(dataset.mu1, dtype=float) - np.asarray(dataset.mu0, dtype=float)
    t = np.asarray(dataset.t).astype(int)
    e = getattr(dataset, "e", None)
    naive = naive_difference(t, y)
    return {
        "dataset": dataset.name, VIEW_COLUMN: dataset.view,
        "group": group if group is not None else default_group(dataset),
        "estimator": config.display, "estimator_name": config.name, "config": config.key,
        "encoding": config.encoding, "params": _json(dict(config.params)), "seed": seed,
        "n": int(len(y)), "p": int(dataset.X.shape[1]), "treated_share": float(np.mean(t)),
        "sate": sample_ate(dataset.mu0, dataset.mu1),
        "naive_difference": math.nan if naive is None else naive,
        "sd_y": sd(y), "sd_ite": sd(ite),
        "true_min_propensity": float(np.min(np.minimum(e, 1 - e))) if e is not None else math.nan,
        "scope": config.scope, "n_scored": int(len(y)),
        "status": "ok", "error": "", "seconds": math.nan, "cpu_seconds": math.nan, "outputs": "", "info": "{}",
    }


def split_units(t: np.ndarray, test_fraction: float, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Train and test unit indices: a random `test_fraction` of each treatment arm is held out
    (stratified, so both parts see both arms), reproducible from the seed and the dataset name."""
    rng = np.random.default_rng([seed, zlib.crc32(str(name).encode())])
    test = np.zeros(len(t), dtype=bool)
    for arm in (0, 1):
        idx = np.flatnonzero(t == arm)
        k = int(round(test_fraction * len(idx)))
        test[rng.permutation(idx)[:k]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def run_one(dataset: Any, config: EstimatorConfig, *, seed: int = 0, time_limit: float | None = None,
            group: str | None = None) -> dict[str, Any]:
    """Fit one configured estimator on one dataset and score it: a results row (never raises for a
    failing fit; the row's ``status`` and ``error`` say what happened)."""
    row = _base_row(dataset, config, seed, group)
    y = np.asarray(dataset.y, dtype=float)
    ite = np.asarray(dataset.mu1, dtype=float) - np.asarray(dataset.mu0, dtype=float)
    t = np.asarray(dataset.t).astype(int)
    start, start_cpu = time.perf_counter(), time.process_time()

    def clocks() -> dict[str, float]:
        # wall time depends on machine load; CPU time (this process, all its threads) much less
        return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - start_cpu}

    try:
        X = encode_covariates(dataset.X, list(dataset.categories), config.encoding)
        estimator = config.build(seed)
        if config.test_fraction is None:  # the paper's protocol: fit and score on the same units
            with soft_time_limit(time_limit):
                result = estimator.estimate(X, t, y)
        else:
            train, test = split_units(t, config.test_fraction, seed, dataset.name)
            with soft_time_limit(time_limit):
                estimator.fit(X[train], t[train], y[train])
                result = estimator.predict(X[test], t[test], y[test])
            ite, y = ite[test], y[test]
            row.update(sate=float(np.mean(ite)), n_scored=int(len(y)))
        row.update(clocks())
        result.checked(len(y), config.display)
        row.update(dataset_metrics(ite, y, result))
        row["outputs"] = ",".join(sorted(result.outputs()))
        row["info"] = _json(result.info)
    except EstimatorTimeout as exc:
        row.update(status="timeout", error=str(exc), **clocks())
    except Exception as exc:  # isolation: any failure of a fit becomes a recorded row
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        site = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        row.update(status="error", error=f"{type(exc).__name__}: {exc}"[:2000] + site, **clocks())
    return row


class ResultStore:
    """Rows keyed by ``KEY`` in a Parquet file plus an append-only journal of rows not yet in it.

    A crash loses at most the fits in flight: every finished row is in the journal (flushed and
    synced), and loading merges file and journal.
    """

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self.rows: dict[tuple, dict[str, Any]] = {}
        if self.path is None:
            return
        if self.path.suffix.lower() not in (".parquet", ".pq"):
            raise SDSCMError(f"{self.path}: results are written as Parquet; use a .parquet file name")
        self.journal = self.path.with_name(self.path.name + ".journal.jsonl")
        if self.path.exists():
            try:
                frame = pd.read_parquet(self.path)
            except Exception as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise SDSCMError(f"{self.path}: cannot be read as an evaluation results Parquet file ({reason}); "
                                 "give the --out file of `sdscm benchmark evaluate`, or move the damaged file "
                                 "away (or choose another --out) and evaluate again") from None
            missing = [k for k in KEY if k not in frame.columns]
            if missing:
                raise SDSCMError(
                    f"{self.path}: not an evaluation results file (missing columns {missing}; it has "
                    f"{[str(c) for c in frame.columns][:8]}{' ...' if len(frame.columns) > 8 else ''}); give the "
                    "--out file of `sdscm benchmark evaluate`, or choose another --out"
                )
            for rec in frame.to_dict("records"):
                self.rows[tuple(rec[k] for k in KEY)] = rec
        if self.journal.exists():
            for line in self.journal.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash
                    continue
                if not isinstance(rec, dict) or any(k not in rec for k in KEY):
                    continue  # not a results row (a damaged line)
                self.rows[tuple(rec[k] for k in KEY)] = rec
        self._journal_handle = None

    def is_done(self, key: tuple, retry_failed: bool = False) -> bool:
        row = self.rows.get(key)
        return row is not None and (row.get("status") == "ok" or not retry_failed)

    def add(self, row: dict[str, Any]) -> None:
        self.rows[tuple(row[k] for k in KEY)] = row
        if self.path is None:
            return
        if self._journal_handle is None:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            self._journal_handle = open(self.journal, "a", encoding="utf-8")
        self._journal_handle.write(json.dumps(row, default=str) + "\n")
        self._journal_handle.flush()
        os.fsync(self._journal_handle.fileno())

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows.values()))

    def flush(self) -> None:
        """Rewrite the Parquet file atomically with every row, then drop the journal."""
        if self.path is None:
            return
        write_frame(self.frame(), self.path)
        if self._journal_handle is not None:
            self._journal_handle.close()
            self._journal_handle = None
        if self.journal.exists():
            self.journal.unlink()

    def close(self) -> None:
        if getattr(self, "_journal_handle", None) is not None:
            self._journal_handle.close()
            self._journal_handle = None


def _limit_threads(threads: int | None) -> Any:
    if threads is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=threads)
    except ImportError:
        return contextlib.nullcontext()


def _fit_worker(datasets: Sequence[Any], configs: Sequence[EstimatorConfig], groups: Sequence[str], seed: int,
                time_limit: float | None, threads: int | None) -> Callable[[tuple[int, int]], dict[str, Any]]:
    """Set up a worker process (BLAS/OpenMP threads limited for its lifetime): a task is (dataset
    index, estimator index), its result the row."""
    limits = _limit_threads(threads)
    limits.__enter__()  # kept for the process's lifetime

    def fit(task: tuple[int, int]) -> dict[str, Any]:
        i, j = task
        return run_one(datasets[i], configs[j], seed=seed, time_limit=time_limit, group=groups[i])

    return fit


def _failure_row(dataset: Any, config: EstimatorConfig, seed: int, group: str, status: str,
                 error: str, seconds: float) -> dict[str, Any]:
    """The row of a fit whose worker had to be killed or died."""
    row = _base_row(dataset, config, seed, group)
    row.update(status=status, error=error, seconds=seconds)
    return row


def evaluate(datasets: Sequence[Any], estimators: Sequence[EstimatorConfig], *,
             out: str | Path | None = None, jobs: int = 1, time_limit: float | None = 600.0,
             seed: int = 0, retry_failed: bool = False, progress: bool = True, test_fraction: float | None = None,
             group: Callable[[Any], str] = default_group,
             on_row: Callable[[dict[str, Any]], None] | None = None,
             executor: str = "local", ray_address: str | None = None) -> pd.DataFrame:
    """Evaluate every estimator on every dataset (each dataset object is one dataset in one view).

    Returns all rows (including those of earlier runs found in ``out``). ``jobs=0`` runs in this
    process; ``jobs>=1`` uses that many worker processes with a hard time limit, or that many Ray
    actors with ``executor="ray"`` (a local cluster, or the one at ``ray_address``; estimators
    must then be importable there: registered in a module, not only in this process).
    ``test_fraction`` scores out of sample: each dataset's units are split (stratified by arm,
    seeded by `seed` and the dataset's name), the estimator is fitted on the training part, and
    every output (CATE, ITE intervals, and the ATE over the held-out units against their SATE) is
    scored on the held-out units; such rows have their own configuration key and ``scope``.
    """
    check_executor(executor, ray_address)
    if executor == "ray" and jobs < 1:
        raise SDSCMError("the ray executor needs --jobs 1 or more (actors); --jobs 0 runs in this process")
    datasets = list(datasets)
    estimators = list(estimators)
    if test_fraction is not None:  # score out of sample (see EstimatorConfig.test_fraction)
        estimators = [replace(c, test_fraction=test_fraction) for c in estimators]
    names = [(d.name, d.view) for d in datasets]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SDSCMError(f"two datasets share the name {dup[0]!r} in view {dup[1]!r}; names must be unique")
    labels = [c.display for c in estimators]
    if len(set(labels)) != len(labels):
        raise SDSCMError(f"estimator labels must be unique, got {labels}")
    groups = [group(d) for d in datasets]
    store = ResultStore(out)
    tasks = [(i, j) for i in interleaved(datasets, groups) for j, c in enumerate(estimators)
             if not store.is_done((datasets[i].name, datasets[i].view, c.display, c.key), retry_failed)]

    bar = progress_bar(progress and bool(tasks), len(tasks), "fit", dynamic_ncols=True)
    failures = 0

    def record(row: dict[str, Any]) -> None:
        nonlocal failures
        store.add(row)
        failures += row["status"] != "ok"
        if on_row is not None:
            on_row(row)
        bar.set_postfix_str(f"failed {failures}", refresh=False)
        bar.update(1)

    try:
        if jobs <= 0:
            for i, j in tasks:
                record(run_one(datasets[i], estimators[j], seed=seed, time_limit=time_limit, group=groups[i]))
        elif tasks:
            _run_pool(datasets, estimators, groups, tasks, seed, time_limit, jobs, record, store,
                      executor, ray_address)
    finally:
        bar.close()
        if store.rows:  # write rows in dataset/estimator order, whatever order workers finished in
            ordered = _ordered(store.frame(), datasets, estimators)
            store.rows = {tuple(r[k] for k in KEY): r for r in ordered.to_dict("records")}
        store.flush()
        store.close()
    return _ordered(store.frame(), datasets, estimators)


def interleaved(datasets: Sequence[Any], groups: Sequence[str]) -> list[int]:
    """Dataset indices in round-robin order over the (group, view) cells: the first dataset of
    every cell, then the second of every cell, ... so that a run stopped part-way has scored every
    cell on (nearly) the same number of datasets."""
    rank: dict[tuple[str, str], int] = {}
    keyed = []
    cells = list(dict.fromkeys((g, d.view) for g, d in zip(groups, datasets)))
    for i, (g, d) in enumerate(zip(groups, datasets)):
        k = rank.get((g, d.view), 0)
        rank[(g, d.view)] = k + 1
        keyed.append((k, cells.index((g, d.view)), i))
    return [i for _, _, i in sorted(keyed)]


def _ordered(frame: pd.DataFrame, datasets: Sequence[Any], estimators: Sequence[EstimatorConfig]) -> pd.DataFrame:
    if frame.empty:
        return frame
    d_order = {(d.name, d.view): k for k, d in enumerate(datasets)}
    e_order = {c.display: k for k, c in enumerate(estimators)}
    big = len(d_order) + len(e_order) + 1
    frame = frame.assign(
        _d=[d_order.get((a, b), big) for a, b in zip(frame["dataset"], frame[VIEW_COLUMN])],
        _e=[e_order.get(x, big) for x in frame["estimator"]],
    )
    return frame.sort_values([VIEW_COLUMN, "_d", "_e"], kind="stable").drop(columns=["_d", "_e"]).reset_index(drop=True)


def _run_pool(datasets: Sequence[Any], estimators: Sequence[EstimatorConfig], groups: Sequence[str],
              tasks: list[tuple[int, int]], seed: int, time_limit: float | None, jobs: int,
              record: Callable[[dict[str, Any]], None], store: ResultStore, executor: str = "local",
              ray_address: str | None = None) -> None:
    """Fit in `jobs` worker processes (forked: they share the datasets and registered estimators),
    each fit killed after its time limit plus a grace period; killed or crashed fits become rows."""
    hard = None if time_limit is None else time_limit + max(HARD_KILL_GRACE, 0.25 * time_limit)
    last_flush = [time.monotonic()]

    def lost(task: tuple[int, int], status: str, message: str, seconds: float) -> None:
        i, j = task
        if status == "timeout":
            message = f"exceeded the time limit of {time_limit:g} s (killed)"
        record(_failure_row(datasets[i], estimators[j], seed, groups[i], status, message, seconds))

    def flush_now_and_then() -> None:
        if time.monotonic() - last_flush[0] > FLUSH_EVERY_S:
            store.flush()
            last_flush[0] = time.monotonic()

    pool = make_executor(executor, jobs, start_method="fork", hard_limit=hard, ray_address=ray_address)
    pool.run(tasks, _fit_worker, (datasets, estimators, groups, seed, time_limit, 1 if jobs > 1 else None),
                 on_result=lambda task, row: record(row), on_lost=lost, on_tick=flush_now_and_then)
