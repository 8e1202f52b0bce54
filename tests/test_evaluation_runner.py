"""The evaluation runner: failure isolation, time limits, worker processes, resuming."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

from sdscm.errors import SDSCMError
from sdscm.estimators import EffectEstimate, EstimatorConfig, register_estimator, unregister_estimator
from sdscm.evaluation import ResultStore, evaluate
from sdscm.evaluation import runner
from test_estimators_data import confounded_dataset

CALLS: list[str] = []


def _datasets(k: int = 3, n: int = 150) -> list:
    return [confounded_dataset(n, seed=s, name=f"d{s}") for s in range(k)]


@pytest.fixture(autouse=True)
def test_estimators():
    """Register small estimators that count calls, fail on one dataset, sleep, or kill their process."""

    @register_estimator("TestCounting", outputs={"ate", "cate"})
    def counting(X, t, y, *, seed, tag=""):
        CALLS.append(f"{len(y)}:{tag}:{y.sum():.3f}")
        return EffectEstimate.constant(float(y[t == 1].mean() - y[t == 0].mean()), len(y))

    @register_estimator("TestFailsOnD1", outputs={"ate"})
    def fails(X, t, y, *, seed):
        if abs(y.sum() - _datasets()[1].y.sum()) < 1e-9:
            raise ValueError("singular matrix on purpose")
        return EffectEstimate(ate=0.0)

    @register_estimator("TestSleeps", outputs={"ate"})
    def sleeps(X, t, y, *, seed, seconds=30.0, block_signals=False):
        if block_signals:  # a fit stuck in native code that the soft limit cannot interrupt
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(seconds)
        return EffectEstimate(ate=0.0)

    @register_estimator("TestDies", outputs={"ate"})
    def dies(X, t, y, *, seed):
        os._exit(3)

    CALLS.clear()
    yield
    for name in ("TestCounting", "TestFailsOnD1", "TestSleeps", "TestDies"):
        unregister_estimator(name)


def test_failing_estimator_is_isolated() -> None:
    """An estimator raising on one dataset gives one `error` row with its message; every other
    fit, including the same estimator on other datasets, completes."""
    res = evaluate(_datasets(), [EstimatorConfig("LinReg"), EstimatorConfig("TestFailsOnD1")],
                   jobs=0, progress=False)
    assert len(res) == 6
    bad = res[res["status"] != "ok"]
    assert list(bad["dataset"]) == ["d1"] and list(bad["estimator"]) == ["TestFailsOnD1"]
    assert "ValueError: singular matrix on purpose" in bad["error"].iloc[0]
    ok = res[res["status"] == "ok"]
    assert len(ok) == 5 and ok["ate"].notna().all()


def test_results_carry_ground_truth_and_metrics() -> None:
    """Each row has the dataset's SATE and SD(y), the estimate, and its error against the SATE."""
    ds = _datasets(1, n=400)
    res = evaluate(ds, [EstimatorConfig("LinReg", encoding="onehot")], jobs=0, progress=False)
    row = res.iloc[0]
    assert row["sate"] == pytest.approx(ds[0].sate)
    assert row["sd_y"] == pytest.approx(np.std(ds[0].y))
    assert row["ate_abs_error"] == pytest.approx(abs(row["ate"] - ds[0].sate))
    assert row["group"] == "planted" and row["setting"] == "all" and row["encoding"] == "onehot"
    assert row["true_min_propensity"] == pytest.approx(0.2)


def test_resume_skips_finished_work(tmp_path) -> None:
    """A rerun with the same output fits nothing again; a new estimator or new parameters (a new
    configuration key) run only the missing fits; failures are retried only when asked."""
    out = tmp_path / "res.parquet"
    data = _datasets()
    counting = EstimatorConfig("TestCounting", {"tag": "a"})
    evaluate(data, [counting, EstimatorConfig("TestFailsOnD1")], out=out, jobs=0, progress=False)
    assert len(CALLS) == 3 and out.exists()
    CALLS.clear()
    res = evaluate(data, [counting, EstimatorConfig("TestFailsOnD1")], out=out, jobs=0, progress=False)
    assert CALLS == [] and len(res) == 6
    res = evaluate(data, [counting, EstimatorConfig("TestCounting", {"tag": "b"}, label="Counting-b")],
                   out=out, jobs=0, progress=False)
    assert len(CALLS) == 3 and all(":b:" in c for c in CALLS)
    assert len(res) == 9
    res = evaluate(data, [EstimatorConfig("TestFailsOnD1")], out=out, jobs=0, progress=False, retry_failed=True)
    assert (res["status"] != "ok").sum() == 1  # retried, failed again, still one row for that key


def test_a_crash_loses_only_fits_in_flight(tmp_path) -> None:
    """Rows added but never flushed to Parquet (a killed run) are recovered from the journal."""
    out = tmp_path / "res.parquet"
    data = _datasets(2)
    store = ResultStore(out)
    row = runner.run_one(data[0], EstimatorConfig("TestCounting"))
    store.add(row)
    store.close()  # no flush: as if the process were killed here
    assert not out.exists()
    CALLS.clear()
    res = evaluate(data, [EstimatorConfig("TestCounting")], out=out, jobs=0, progress=False)
    assert len(CALLS) == 1 and len(res) == 2
    assert not out.with_name(out.name + ".journal.jsonl").exists()
    assert len(pd.read_parquet(out)) == 2


def test_soft_time_limit_records_a_timeout() -> None:
    """A fit running past the limit is stopped and recorded as `timeout`; the run goes on."""
    start = time.monotonic()
    res = evaluate(_datasets(1), [EstimatorConfig("TestSleeps"), EstimatorConfig("LinReg")], jobs=0,
                   time_limit=0.5, progress=False)
    assert time.monotonic() - start < 10
    assert list(res["status"]) == ["timeout", "ok"]
    assert "time limit" in res["error"].iloc[0]


def test_workers_kill_stuck_fits_and_survive_crashes(monkeypatch) -> None:
    """With worker processes, a fit that ignores the soft limit is killed after the grace period
    and a worker that dies is replaced; both are recorded and the other fits complete."""
    monkeypatch.setattr(runner, "HARD_KILL_GRACE", 0.5)
    configs = [EstimatorConfig("TestSleeps", {"block_signals": True}), EstimatorConfig("TestDies"),
               EstimatorConfig("LinReg")]
    start = time.monotonic()
    res = evaluate(_datasets(2), configs, jobs=2, time_limit=0.5, progress=False)
    assert time.monotonic() - start < 30
    status = dict(zip(zip(res["dataset"], res["estimator"]), res["status"]))
    assert status[("d0", "TestSleeps")] == "timeout" and status[("d1", "TestSleeps")] == "timeout"
    assert status[("d0", "TestDies")] == "error" and status[("d0", "LinReg")] == "ok"
    assert status[("d1", "LinReg")] == "ok"
    assert "worker process died" in res[res["estimator"] == "TestDies"]["error"].iloc[0]


def test_parallel_and_in_process_runs_agree() -> None:
    """Worker processes give the same numbers as an in-process run (fixed seeds)."""
    data = _datasets(3)
    configs = [EstimatorConfig("LinReg"), EstimatorConfig("ForestT", {"n_estimators": 5})]
    a = evaluate(data, configs, jobs=0, progress=False)
    b = evaluate(data, configs, jobs=2, progress=False)
    np.testing.assert_allclose(a["ate"].to_numpy(float), b["ate"].to_numpy(float))
    assert list(a["dataset"]) == list(b["dataset"])


def test_bad_inputs_are_clear_errors(tmp_path) -> None:
    """Duplicate dataset names, duplicate labels and non-Parquet outputs are user errors."""
    data = _datasets(1)
    with pytest.raises(SDSCMError, match="share the name"):
        evaluate(data + data, [EstimatorConfig("LinReg")], jobs=0, progress=False)
    with pytest.raises(SDSCMError, match="unique"):
        evaluate(data, [EstimatorConfig("LinReg"), EstimatorConfig("LinReg")], jobs=0, progress=False)
    with pytest.raises(SDSCMError, match="Parquet"):
        evaluate(data, [EstimatorConfig("LinReg")], out=tmp_path / "r.csv", jobs=0, progress=False)
