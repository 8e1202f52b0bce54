"""Throughput of benchmark generation: datasets of n = 1000 units per hour, one job and two jobs.

Runs `sdscm.benchmark.generate` on the packaged breast-cancer family with the default model
(SmolLM2-135M-Instruct, CPU unless a GPU is present) into a temporary folder, once with
--jobs 1 and once with --jobs 2, and prints a table. The persistent score cache is off, so
every context is really scored.

Cost per dataset is dominated by the distinct contexts of the variables with many parents
(each unit's context is unique there), so it grows about linearly with n. With `--n` below 1000
the rate is extrapolated linearly to n = 1000 and the table says so; roots and few-parent
variables have few distinct contexts, so the extrapolation slightly over-estimates the cost.

    python benchmarks/bench_datasets.py                    # n=1000, 2 datasets per setting
    python benchmarks/bench_datasets.py --n 200 --datasets 2 --jobs 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TARGET_N = 1000


def family_path() -> Path:
    """The breast-cancer family: the packaged copy, else the repository's example."""
    try:
        from sdscm.demo import packaged_breast_cancer

        path = packaged_breast_cancer()
        if path.exists():
            return path
    except Exception:  # noqa: BLE001 - fall back to the example file
        pass
    return Path(__file__).resolve().parents[1] / "examples" / "breast_cancer.yaml"


def measure(jobs: int, n: int, datasets: int, family: Path, model: str | None, dtype: str | None,
            warmup: bool) -> dict:
    """Generate `datasets` datasets of n units with `jobs` processes; seconds per dataset."""
    from sdscm.benchmark import generate

    with tempfile.TemporaryDirectory(prefix="sdscm-bench-") as tmp:
        if warmup:  # convert/cache the packaged model once, outside the timing
            from sdscm.backends.factory import build_backend
            from sdscm.spec import load_spec, with_model_overrides

            spec = with_model_overrides(load_spec(family), name=model, dtype=dtype)
            _ = build_backend(spec.model, cache=False).fingerprint
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        result = generate(family, Path(tmp) / "run", variants=1, datasets_per_variant=datasets, n=n,
                          seed=1, jobs=jobs, model=model, dtype=dtype, progress=True,
                          cache=False)  # measure scoring, not the persistent score cache
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    per_dataset = seconds / datasets
    per_dataset_1000 = per_dataset * TARGET_N / n
    return {"jobs": jobs, "n": n, "datasets": datasets, "seconds": seconds, "cpu_seconds": cpu,
            "s_per_dataset": per_dataset, "cpu_s_per_dataset": cpu / datasets,
            "per_hour_n1000": 3600.0 / per_dataset_1000, "generated": result.generated,
            "load_average_after": os.getloadavg()}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the --jobs workers), user + system."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=TARGET_N, help="units per dataset (extrapolated to 1000)")
    parser.add_argument("--datasets", type=int, default=2, help="datasets per measurement")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="job counts to measure")
    parser.add_argument("--model", default=None, help="model override (default: packaged SmolLM2-135M)")
    parser.add_argument("--dtype", default=None, help="float32 or bfloat16")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_datasets.json"),
                        help="where to write the results as JSON")
    args = parser.parse_args(argv)
    family = family_path()
    load_before = os.getloadavg()
    rows = [measure(j, args.n, args.datasets, family, args.model, args.dtype, warmup=(i == 0))
            for i, j in enumerate(args.jobs)]
    import torch

    print(f"\nfamily: {family.name}; model: {args.model or 'SmolLM2-135M-Instruct (packaged)'}; "
          f"dtype: {args.dtype or 'float32'}; cuda: {torch.cuda.is_available()}; "
          f"cpus: {os.cpu_count()}; {platform.processor() or platform.machine()}")
    note = "" if args.n == TARGET_N else f" (extrapolated linearly from n={args.n})"
    print(f"load average before: {load_before}")
    print(f"{'jobs':>4} {'n':>6} {'datasets':>8} {'wall s':>9} {'CPU s':>9} {'s/dataset':>10} "
          f"{'datasets/hour at n=1000' + note}")
    for r in rows:
        print(f"{r['jobs']:>4} {r['n']:>6} {r['datasets']:>8} {r['seconds']:>9.1f} {r['cpu_seconds']:>9.1f} "
              f"{r['s_per_dataset']:>10.1f} {r['per_hour_n1000']:>10.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "family": family.name, "model": args.model or "SmolLM2-135M-Instruct (packaged)",
        "dtype": args.dtype or "float32", "cpus": os.cpu_count(), "cuda": torch.cuda.is_available(),
        "extrapolated_from_n": None if args.n == TARGET_N else args.n, "load_average_before": load_before,
        "rows": rows,
    }, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
