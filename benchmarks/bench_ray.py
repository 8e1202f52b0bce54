"""Ray fan-out vs local worker processes: the statin family generated with 2 Ray actors vs `--jobs 2`.

Workload: examples/statin_heart.yaml, the packaged SmolLM2-135M (fp32, CPU), `variants` x
`datasets_per_variant` datasets of `n` units, score cache off (every run scores every context).
Each configuration runs in its own subprocess (a fresh interpreter, a fresh output folder), in
the order local, ray, ray, local, local, ray, ... so a machine load that drifts during the run
hits both alike:

- local: `generate(..., jobs=2)`: 2 spawned worker processes, each loading the model once;
- ray: `generate(..., jobs=2, executor="ray")`: a local Ray cluster of 2 CPUs started on demand
  (dashboard off, 127.0.0.1), 2 actors, each loading the model once; the driver writes the files.

Wall time is the `generate` call, cluster start-up and model loading included. CPU time is that of
the subprocess and all its descendants (worker processes; Ray's GCS, raylet and actors), sampled.
Throughput ratio = local wall / Ray wall (1.0: no overhead). The two folders are compared byte for
byte. Usage:

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_ray.py                 # 2 x 3 datasets of 100 units, 2 rounds
    python benchmarks/bench_ray.py --quick                                  # 2 datasets of 20 units, 1 round
    python benchmarks/bench_ray.py --batch-invariant --variants 1 --per-variant 4 -n 20 --rounds 1 \
        --out benchmarks/results/bench_ray_identity_cpu.json                # byte identity, batch-invariant

With the default (fast) scoring path a score can move in its sixth significant digit with the
batch it was computed in (docs/performance.md#batch-invariance), and which worker simulates which
dataset (so what its memo of scores holds) depends on timing: two runs with 2 workers, local or
Ray, can then differ in the last digits of some float columns. The JSON lists which datasets
differ and by how much; with `--batch-invariant` they must not differ at all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
FAMILY = REPO / "examples" / "statin_heart.yaml"
RESULTS = REPO / "benchmarks" / "results" / "bench_ray_cpu.json"


class TreeCPU:
    """CPU seconds of this process and all its descendants, sampled every 0.2 s (Ray's actors are
    children of its raylet and are not reaped into this process's rusage, so rusage alone misses
    them; sampling measures both configurations the same way)."""

    def __init__(self) -> None:
        import psutil  # a dependency of ray

        self.psutil, self.seen, self.stop = psutil, {}, threading.Event()
        self.rss: dict[tuple[int, float], tuple[str, float]] = {}  # peak RSS (MiB) and name per process
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        me = self.psutil.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                t, key = proc.cpu_times(), (proc.pid, proc.create_time())
                self.seen[key] = t.user + t.system
                rss = proc.memory_info().rss / 2**20
                if rss > self.rss.get(key, ("", 0.0))[1]:
                    self.rss[key] = (" ".join(proc.cmdline()[:2])[-60:] or proc.name(), rss)
            except (self.psutil.NoSuchProcess, self.psutil.AccessDenied):
                pass

    def _loop(self) -> None:
        while not self.stop.wait(0.2):
            self._sample()

    def __enter__(self) -> "TreeCPU":
        self._sample()
        self.start = sum(self.seen.values())
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    def peak_rss(self) -> list[dict]:
        """Peak RSS of every process above 100 MiB (the driver, workers, actors)."""
        return [{"process": name, "peak_rss_mib": round(mib, 1)}
                for name, mib in sorted(self.rss.values(), key=lambda v: -v[1]) if mib > 100]

    @property
    def seconds(self) -> float:
        return sum(self.seen.values()) - self.start


def child(executor: str, out: str, variants: int, per_variant: int, n: int, jobs: int, invariant: bool) -> dict:
    """One configuration, in this (fresh) process: generate and time it."""
    from sdscm.benchmark import generate
    from sdscm.spec import load_spec, with_model_overrides

    family = with_model_overrides(load_spec(FAMILY), batch_invariant=True) if invariant else FAMILY
    with TreeCPU() as tree:
        t0, c0 = time.perf_counter(), time.process_time()
        result = generate(family, out, variants=variants, datasets_per_variant=per_variant, n=n, seed=0,
                          jobs=jobs, executor=executor, cache=False)
        wall, driver = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": wall, "driver_cpu_s": driver, "tree_cpu_s": tree.seconds, "generated": result.generated,
            "peak_rss": tree.peak_rss()}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".sdscm.lock"}


def _differences(a: Path, b: Path) -> dict:
    """Which dataset files differ between two folders, and by how much their float columns differ."""
    import numpy as np
    import pandas as pd

    names = sorted(p.name for p in (a / "data").glob("*.parquet"))
    differ = [name for name in names if (a / "data" / name).read_bytes() != (b / "data" / name).read_bytes()]
    worst = 0.0
    for name in differ:
        x, y = pd.read_parquet(a / "data" / name), pd.read_parquet(b / "data" / name)
        floats = [c for c in x.columns if x[c].dtype.kind == "f"]
        worst = max(worst, float(np.nanmax(np.abs(x[floats].to_numpy() - y[floats].to_numpy()))))
        same_other = all(x[c].equals(y[c]) for c in x.columns if c not in floats)
        if not same_other:
            worst = float("inf")  # a sampled value differs
    return {"datasets": len(names), "differing_datasets": differ, "max_abs_float_difference": worst}


def run(executor: str, out: Path, args: argparse.Namespace) -> dict:
    """Run one configuration in a subprocess (the CPU time of its process tree is sampled in it)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", executor, str(out), str(args.variants), str(args.per_variant),
         str(args.n), str(args.jobs), str(int(args.batch_invariant))], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    process_wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{executor} run failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row.update(executor=executor, process_wall_s=process_wall, load_average_after=list(os.getloadavg()))
    print(f"{executor:5s} wall {row['wall_s']:7.1f} s (process {process_wall:.1f} s), "
          f"cpu {row['tree_cpu_s']:7.1f} s, {row['generated']} datasets", file=sys.stderr, flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--per-variant", type=int, default=3)
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="2 datasets of 20 units, 1 round (smoke run)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--batch-invariant", action="store_true",
                    help="score with the model section's batch_invariant: true (bytes independent of batching)")
    ap.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        executor, out, variants, per_variant, n, jobs, invariant = args.child
        print(json.dumps(child(executor, out, int(variants), int(per_variant), int(n), int(jobs), invariant == "1")))
        return
    if args.quick:
        args.variants, args.per_variant, args.n, args.rounds = 1, 2, 20, 1
    started_load = list(os.getloadavg())
    rows: list[dict] = []
    identical: list[bool] = []
    differences: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            folders = {}
            for executor in (("local", "ray") if r % 2 == 0 else ("ray", "local")):
                folders[executor] = Path(tmp) / f"{executor}-{r}"
                rows.append({"round": r, **run(executor, folders[executor], args)})
            identical.append(_files(folders["local"]) == _files(folders["ray"]))
            differences.append({"round": r, **_differences(folders["local"], folders["ray"])})
    datasets = args.variants * args.per_variant

    def med(executor: str, key: str) -> float:
        return statistics.median(row[key] for row in rows if row["executor"] == executor)

    summary = {
        "local_wall_s": med("local", "wall_s"), "ray_wall_s": med("ray", "wall_s"),
        "local_cpu_s": med("local", "tree_cpu_s"), "ray_cpu_s": med("ray", "tree_cpu_s"),
    }
    summary.update(
        throughput_ratio=summary["local_wall_s"] / summary["ray_wall_s"],
        wall_overhead=summary["ray_wall_s"] / summary["local_wall_s"] - 1,
        cpu_overhead=summary["ray_cpu_s"] / summary["local_cpu_s"] - 1,
        local_datasets_per_hour=3600 * datasets / summary["local_wall_s"],
        ray_datasets_per_hour=3600 * datasets / summary["ray_wall_s"],
        files_identical_every_round=all(identical),
        differences=differences,
    )
    try:
        import ray

        ray_version = ray.__version__
    except ImportError:
        ray_version = None
    report = {
        "family": FAMILY.name, "model": "SmolLM2-135M-Instruct (packaged)", "dtype": "float32",
        "variants": args.variants, "datasets_per_variant": args.per_variant, "n": args.n, "jobs": args.jobs,
        "rounds": args.rounds, "score_cache": False, "batch_invariant": args.batch_invariant,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "ray": ray_version,
                    "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")},
        "load_average_before": started_load, "rows": rows, "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
