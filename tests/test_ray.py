"""The Ray executor on a local cluster of 2 CPUs (one per module, dashboard off, loopback only):
results come back to the driver from actors set up once, outputs are byte-identical to a local run,
a killed worker's task is retried on another, and a killed driver leaves a folder that resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import weather_spec
from fake_backend import HashBackend

from sdscm.benchmark import generate
from sdscm.errors import BenchmarkError, SDSCMError
from sdscm.evaluation import evaluate
from sdscm.executors import (
    RayActors,
    WorkerLost,
    _import_ray,
    make_executor,
    start_local_cluster,
    stop_local_cluster,
)

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster (2 CPUs) for this module; its workers import sdscm and the test helpers."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), str(TESTS)] + ([saved] if saved else []))
    ray = _import_ray()
    state = start_local_cluster(ray, 2)
    try:
        yield ray
    finally:
        stop_local_cluster(ray, state)
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


# ------------------------------------------------------------------ helpers that run on the workers

from worker_helpers import broken_setup, squarer  # noqa: E402 - workers import them by name


def slow_marker(folder: str, seconds: float):
    """A worker whose tasks sleep and leave `folder`/<pid>-<task> behind while they run."""
    pid = os.getpid()

    def work(task: int) -> tuple[int, int]:
        Path(folder, f"{pid}-{task}").write_text("")
        time.sleep(seconds)
        return task, pid

    return work


class PidBackend(HashBackend):
    """HashBackend that writes the scoring process's id into `folder` and is slow enough to be caught."""

    def __init__(self, folder: str, delay: float = 0.05):
        super().__init__()
        self.folder, self.delay = folder, delay

    def score(self, requests):
        Path(self.folder, str(os.getpid())).write_text("")
        time.sleep(self.delay)
        return super().score(requests)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".sdscm.lock" and not p.name.endswith(".tmp")}


def _generate(out: Path, **kw):
    args = dict(variants=2, datasets_per_variant=3, n=30, seed=5, backend=HashBackend())
    args.update(kw)
    return generate(weather_spec(), out, **args)


# ------------------------------------------------------------------------------- the executor itself

def test_the_local_cluster_listens_on_the_loopback_only(ray_cluster) -> None:
    """Every address the cluster registers is 127.0.0.1, and every socket its processes (GCS,
    raylet, agents, workers: this process's descendants) listen on is a loopback one."""
    import psutil  # a dependency of ray

    assert ray_cluster.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert {n["NodeManagerAddress"] for n in ray_cluster.nodes()} == {"127.0.0.1"}
    RayActors(2).run([1, 2], squarer, (0,), lambda t, r: None)  # workers exist
    listening = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            listening |= {c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, listening


def test_results_come_back_to_the_driver_from_actors_set_up_once(ray_cluster) -> None:
    got: dict[int, int] = {}
    pids: set[int] = set()

    def on_result(task: int, result: tuple[int, int]) -> None:
        assert task not in got
        got[task] = result[0]
        pids.add(result[1])

    RayActors(2).run(list(range(12)), squarer, (1,), on_result)
    assert got == {t: t * t + 1 for t in range(12)}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids  # 2 actors served 12 tasks


def test_a_task_error_or_a_setup_error_is_raised_in_the_driver(ray_cluster) -> None:
    with pytest.raises(BenchmarkError, match="task -1 is refused"):
        RayActors(2).run([1, -1, 2], squarer, (0,), lambda t, r: None)
    with pytest.raises(BenchmarkError, match="cannot set up with 5"):
        RayActors(1).run([1], broken_setup, (5,), lambda t, r: None)


def test_a_killed_worker_has_its_task_retried_on_another(ray_cluster, tmp_path: Path) -> None:
    """SIGKILL one actor's process mid-task: every task still finishes exactly once."""
    done: list[int] = []
    killed: list[int] = []

    def kill_one() -> None:
        marks = sorted(tmp_path.iterdir())
        if not killed and marks:
            pid = int(marks[0].name.split("-")[0])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    RayActors(2).run(list(range(8)), slow_marker, (str(tmp_path), 0.4), lambda t, r: done.append(t),
                     on_tick=kill_one)
    assert killed and sorted(done) == list(range(8))  # nothing lost, nothing twice
    workers = {p.name.split("-")[0] for p in tmp_path.iterdir()}
    assert len(workers) >= 3  # the killed actor was replaced by a new process


def test_a_task_that_keeps_killing_its_worker_is_reported_after_its_attempts(ray_cluster) -> None:
    lost: list[tuple[int, str]] = []
    done: list[int] = []
    RayActors(2, attempts=2).run([2, -2, 3], squarer, (0,), lambda t, r: done.append(t),
                                 on_lost=lambda t, status, msg, s: lost.append((t, status)))
    assert lost == [(-2, "error")] and sorted(done) == [2, 3]
    with pytest.raises(WorkerLost, match="died 1 time"):
        RayActors(1, attempts=1).run([-2], squarer, (0,), lambda t, r: None)


def test_a_task_past_the_hard_limit_is_killed_and_reported(ray_cluster, tmp_path: Path) -> None:
    lost: list[tuple[int, str]] = []
    RayActors(1, hard_limit=1.0).run([7], slow_marker, (str(tmp_path), 30.0), lambda t, r: None,
                                     on_lost=lambda t, status, msg, s: lost.append((t, status)))
    assert lost == [(7, "timeout")]


def test_executor_names_are_checked() -> None:
    with pytest.raises(SDSCMError, match=r"executor \(--executor\) must be one of"):
        make_executor("dask", 2)
    with pytest.raises(SDSCMError, match="only with --executor ray"):
        make_executor("local", 2, ray_address="127.0.0.1:6379")
    with pytest.raises(SDSCMError, match=r"executor \(--executor\) must be one of"):
        generate(weather_spec(), "unused", executor="dask", backend=HashBackend())
    with pytest.raises(SDSCMError, match="only with --executor ray"):
        evaluate([], [], executor="local", ray_address="auto")


def test_a_bad_cluster_address_is_a_clear_error(monkeypatch) -> None:
    """Without a connection, an unreachable address names itself and the fix."""
    ray = _import_ray()
    monkeypatch.setattr(ray, "is_initialized", lambda: False)

    def refuse(**kw):
        raise ConnectionError(f"Could not find any running Ray instance at {kw.get('address')}")

    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(SDSCMError, match=r"cannot connect to the Ray cluster at '10\.0\.0\.9:6379'.*ray start --head"):
        RayActors(1, address="10.0.0.9:6379").run([1], squarer, (0,), lambda t, r: None)


# -------------------------------------------------------------------------------- benchmark generate

def test_generation_on_ray_writes_the_same_bytes_as_one_job(ray_cluster, tmp_path: Path) -> None:
    """Datasets (Parquet, the paper's CSVs) and the manifest are byte-identical to --jobs 1."""
    _generate(tmp_path / "one", formats=["reference"])
    result = _generate(tmp_path / "ray", formats=["reference"], executor="ray", jobs=2)
    assert result.generated == 6
    assert _files(tmp_path / "ray") == _files(tmp_path / "one")


def test_generation_survives_a_killed_worker(ray_cluster, tmp_path: Path) -> None:
    """SIGKILL an actor mid-run: its dataset is redone elsewhere; nothing lost or duplicated."""
    _generate(tmp_path / "one")
    marks = tmp_path / "pids"
    marks.mkdir()
    killed: list[int] = []
    names: list[str] = []

    def kill_one(record: dict) -> None:
        names.append(record["name"])
        if not killed:
            pid = int(next(iter(marks.iterdir())).name)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    result = _generate(tmp_path / "ray", executor="ray", jobs=2, backend=PidBackend(str(marks)),
                       on_dataset=kill_one)
    assert killed and result.generated == 6
    assert sorted(names) == sorted(set(names)) and len(names) == 6  # each dataset written once
    assert len(list(marks.iterdir())) >= 3  # a replacement actor did work
    manifest_names = [r["name"] for r in result.manifest["datasets"]]
    assert len(manifest_names) == len(set(manifest_names)) == 6
    # the fingerprint differs (PidBackend): compare the datasets, not the manifest
    ours, theirs = _files(tmp_path / "ray"), _files(tmp_path / "one")
    data = [k for k in theirs if k.endswith(".parquet")]
    assert data and all(ours[k] == theirs[k] for k in data)


DRIVER = """
import sys
from conftest import weather_spec
from test_ray import PidBackend
from sdscm.benchmark import generate
generate(weather_spec(), sys.argv[1], variants=2, datasets_per_variant=3, n=30, seed=5,
         backend=PidBackend(sys.argv[2], delay=0.3), executor="ray", jobs=2, ray_address=sys.argv[3])
"""


def test_a_killed_driver_leaves_a_folder_that_resumes(ray_cluster, tmp_path: Path) -> None:
    """SIGKILL the driver (a separate process on this cluster) after its first dataset: re-running
    the same command completes the folder, and it matches an uninterrupted run."""
    marks = tmp_path / "pids"
    marks.mkdir()
    out = tmp_path / "ray"
    address = ray_cluster.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(out), str(marks), address], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(out.rglob("*.parquet")):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the driver wrote no dataset in 120 s"
            time.sleep(0.1)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    partial = len(list(out.rglob("*.parquet")))
    assert 1 <= partial < 6
    resumed = _generate(out, executor="ray", jobs=2, backend=PidBackend(str(marks)))
    assert resumed.skipped + resumed.generated == 6 and resumed.skipped >= 1
    reference = _generate(tmp_path / "whole", backend=PidBackend(str(marks)))
    assert _files(out) == _files(tmp_path / "whole")
    assert reference.manifest["complete"] and resumed.manifest["complete"]


# ------------------------------------------------------------------------- evaluate, audit, the CLI

def test_evaluation_on_ray_gives_the_rows_of_a_local_run(ray_cluster, tmp_path: Path) -> None:
    """dataset x estimator fits on 2 actors: every row equals the local run's, except `seconds`
    (each fit's own wall time); rows come back in the same order."""
    from test_estimators_data import confounded_dataset

    from sdscm.estimators import EstimatorConfig

    data = [confounded_dataset(120, seed=s, name=f"d{s}") for s in range(3)]
    configs = [EstimatorConfig("T-only OLS"), EstimatorConfig("LinReg", encoding="onehot")]
    local = evaluate(data, configs, out=tmp_path / "local.parquet", jobs=1, progress=False)
    ray = evaluate(data, configs, out=tmp_path / "ray.parquet", jobs=2, progress=False, executor="ray")
    assert (ray["status"] == "ok").all() and len(ray) == 6
    on_disk = pd.read_parquet(tmp_path / "ray.parquet")
    pd.testing.assert_frame_equal(on_disk.drop(columns=["seconds", "cpu_seconds"]), ray.drop(columns=["seconds", "cpu_seconds"]))
    pd.testing.assert_frame_equal(ray.drop(columns=["seconds", "cpu_seconds"]), local.drop(columns=["seconds", "cpu_seconds"]))


def test_audit_on_ray_gives_the_units_and_contrasts_of_a_local_run(ray_cluster, tmp_path: Path) -> None:
    """Variants on 2 actors (the injected backend travels with them): per-unit results and every
    statistic equal the in-process audit; only run-time fields differ."""
    from sdscm.audit import audit

    kwargs = dict(cause="activity", values=("the gym", "a run"), outcome="time", variants=3, n=40,
                  n_boot=200, n_perm=500)
    local = audit(weather_spec(), backend=HashBackend(), **kwargs)
    ray = audit(weather_spec(), backend=HashBackend(), jobs=2, executor="ray", **kwargs)
    pd.testing.assert_frame_equal(ray.units, local.units)
    assert ray.to_dict()["contrasts"] == local.to_dict()["contrasts"]
    assert ray.runtime["backend"] == local.runtime["backend"] == HashBackend().fingerprint
    with pytest.raises(SDSCMError, match="--executor ray"):
        audit(weather_spec(), backend=HashBackend(), jobs=2, **kwargs)


def test_the_cli_runs_generate_evaluate_and_audit_on_ray(ray_cluster, tmp_path: Path) -> None:
    """--executor ray / --ray-address on the three commands: same datasets as --jobs 1, same
    evaluation rows (but `seconds`), the same audit units file."""
    import yaml
    from test_audit_models import planted_dict, write_yaml
    from test_benchmark_cli import MODEL
    from typer.testing import CliRunner

    from sdscm.cli.app import app

    runner = CliRunner()
    family = tmp_path / "family.yaml"
    family.write_text(yaml.safe_dump(MODEL, sort_keys=False))
    address = ray_cluster.get_runtime_context().gcs_address
    base = ["benchmark", "generate", str(family), "--variants", "2", "--datasets-per-variant", "2", "-n", "200"]
    one = runner.invoke(app, [*base, "--out", str(tmp_path / "one")])
    on_ray = runner.invoke(app, [*base, "--out", str(tmp_path / "ray"), "--jobs", "2", "--executor", "ray",
                                 "--ray-address", address])
    assert one.exit_code == 0 and on_ray.exit_code == 0, on_ray.output
    assert _files(tmp_path / "ray") == _files(tmp_path / "one")
    frames = {}
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--jobs", "2"])):
        out = tmp_path / f"{name}.parquet"
        res = runner.invoke(app, ["benchmark", "evaluate", str(tmp_path / "one"), "--estimators",
                                  "T-only OLS,LinReg", "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        frames[name] = pd.read_parquet(out).drop(columns=["seconds", "cpu_seconds"])
    pd.testing.assert_frame_equal(frames["ray"], frames["local"])
    model_file = write_yaml(planted_dict(), tmp_path / "planted.yaml")
    audits = {}
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--jobs", "2"])):
        res = runner.invoke(app, ["audit", str(model_file), "--cause", "race", "--values", "white,black",
                                  "--outcome", "pain", "--variants", "3", "-n", "50", "--n-boot", "100",
                                  "--n-perm", "100", "--out", str(tmp_path / f"audit-{name}"), *extra])
        assert res.exit_code == 0, res.output
        audits[name] = (tmp_path / f"audit-{name}" / "units.parquet").read_bytes()
    assert audits["ray"] == audits["local"]
    bad = runner.invoke(app, [*base, "--out", str(tmp_path / "bad"), "--ray-address", address])
    assert bad.exit_code != 0 and "only with --executor ray" in bad.output
