"""Does a generated dataset depend on the score cache, the batch budget or resumption? And what does
batch-invariant scoring cost?

For each scoring mode (the default shared-prefix path, and `batch_invariant: true`) the same
datasets are generated four ways: a cold score cache, the same cache warm, no cache with a small
batch budget (512 tokens), and a run interrupted after its first dataset and resumed with a fresh
cache (the later datasets deleted, as after a kill). Reports whether the Parquet files are byte-identical to the cold run and, if not, the largest
difference in each float column (the batch-budget run's files also differ in their metadata, which
records the budget, so its columns are compared); and the cold run's wall and CPU time per mode (the throughput cost).

    python benchmarks/bench_batch_invariance.py                     # statin family, 2 datasets x 200 units
    python benchmarks/bench_batch_invariance.py --n 100 --family examples/breast_cancer.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
FLOATS = ("y", "mu0", "mu1", "ite", "e")


def _generate(spec, out: Path, n: int, datasets: int, cache, budget: int | None = None) -> tuple[float, float]:
    from sdscm.benchmark import generate

    if budget is not None:
        spec = spec.model_copy(update={"model": spec.model.model_copy(update={"max_batch_tokens": budget})})
    wall, cpu = time.perf_counter(), time.process_time()
    generate(spec, out, variants=1, datasets_per_variant=datasets, n=n, seed=0, cache=cache)
    return time.perf_counter() - wall, time.process_time() - cpu


def _compare(reference: Path, other: Path) -> dict:
    import pandas as pd

    out = {"identical_bytes": True, "identical_columns": True, "max_abs_diff": {c: 0.0 for c in FLOATS}}
    for ref in sorted((reference / "data").glob("*.parquet")):
        got = other / "data" / ref.name
        if ref.read_bytes() != got.read_bytes():
            out["identical_bytes"] = False  # also when only the metadata differs (e.g. the batch budget)
        a, b = pd.read_parquet(ref), pd.read_parquet(got)
        if not a.equals(b):
            out["identical_columns"] = False
        for c in FLOATS:
            out["max_abs_diff"][c] = max(out["max_abs_diff"][c], float((a[c] - b[c]).abs().max()))
        out.setdefault("t_differs", 0)
        out["t_differs"] += int((a["t"] != b["t"]).sum())
    return out


def run_mode(family: Path, batch_invariant: bool, n: int, datasets: int, tmp: Path) -> dict:
    from sdscm.spec import load_spec

    spec = load_spec(family)
    spec = spec.model_copy(update={"model": spec.model.model_copy(update={"batch_invariant": batch_invariant})})
    mode = "batch_invariant" if batch_invariant else "default"
    root = tmp / mode
    cold_wall, cold_cpu = _generate(spec, root / "cold", n, datasets, root / "cache")
    _generate(spec, root / "warm", n, datasets, root / "cache")
    _generate(spec, root / "budget", n, datasets, False, budget=512)
    _generate(spec, root / "resumed", n, datasets, root / "cache2")
    for late in sorted((root / "resumed" / "data").glob("*.parquet"))[1:]:  # as if killed after the first
        late.unlink()
    _generate(spec, root / "resumed", n, datasets, root / "cache3")  # resumed with a fresh cache
    result = {"mode": mode, "cold_wall_s": cold_wall, "cold_cpu_s": cold_cpu}
    for other in ("warm", "budget", "resumed"):
        result[other] = _compare(root / "cold", root / other)
    print(f"{mode}: cold run {cold_wall:.1f} s wall, {cold_cpu:.1f} s CPU; "
          + "; ".join(f"{o}: bytes {'identical' if result[o]['identical_bytes'] else 'differ'}, columns "
                      f"{'identical' if result[o]['identical_columns'] else 'differ'} "
                      f"(max |dy| {result[o]['max_abs_diff']['y']:.2g}, |de| {result[o]['max_abs_diff']['e']:.2g})"
                      for o in ("warm", "budget", "resumed")), file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", type=Path, default=REPO / "examples" / "statin_heart.yaml")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--datasets", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_batch_invariance.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_mode(args.family, mode, args.n, args.datasets, Path(tmp)) for mode in (False, True)]
    cost = rows[1]["cold_wall_s"] / rows[0]["cold_wall_s"]
    cpu_cost = rows[1]["cold_cpu_s"] / rows[0]["cold_cpu_s"]
    payload = {"family": str(args.family.relative_to(REPO) if args.family.is_relative_to(REPO) else args.family),
               "n": args.n, "datasets": args.datasets,
               "batch_invariant_cost": {"wall_ratio": cost, "cpu_ratio": cpu_cost},
               "machine": {"python": platform.python_version(), "processor": platform.processor(),
                           "cpus": os.cpu_count(), "load_average": os.getloadavg()},
               "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"batch-invariant scoring costs {cost:.2f}x wall, {cpu_cost:.2f}x CPU time of the default path")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
