"""In-sample vs held-out CATE R^2 of a few estimators on one generated family.

The paper scores CATE on the units each estimator was fitted on. This fits every dataset twice:
on all units (in-sample, the paper's protocol) and on a stratified 70% with CATE scored on the
held-out 30% (``evaluate(..., test_fraction=0.3)``), and writes per-estimator mean and median
CATE R^2 of both to a JSON file (with the load average, wall and CPU time).

    python benchmarks/bench_oos_cate.py                         # examples/benchmark_family, view all
    python benchmarks/bench_oos_cate.py --estimators ForestT,BART,ForestDML --test-fraction 0.3
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT / "examples" / "benchmark_family")
    parser.add_argument("--view", default="all", choices=["all", "hidden"])
    parser.add_argument("--preset", default="recommended")
    parser.add_argument("--estimators", default="ForestT,BART,ForestDML")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--max-datasets", type=int, default=None)
    parser.add_argument("--work", type=Path, default=Path("bench-oos.parquet"), help="results file (resumable)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "bench_oos_cate.json")
    args = parser.parse_args(argv)

    import numpy as np

    from sdscm.benchmark import load_benchmark
    from sdscm.estimators import preset, select
    from sdscm.evaluation import evaluate
    from sdscm.results.io import write_text

    data = load_benchmark(args.source, (args.view,), args.max_datasets)
    configs = select(preset(args.preset), args.estimators.split(","))
    wall, cpu = time.perf_counter(), time.process_time()
    inside = evaluate(data, configs, out=args.work, jobs=0, progress=False)
    held = evaluate(data, configs, out=args.work, jobs=0, progress=False, test_fraction=args.test_fraction)
    rows = held[held["dataset"].isin({d.name for d in data})]
    summary = {}
    for est in [c.display for c in configs]:
        entry = {}
        for scope, sub in rows[rows["estimator"] == est].groupby("scope"):
            r2 = sub.loc[sub["status"] == "ok", "cate_r2"].astype(float).to_numpy()
            entry[scope] = {"datasets": int(np.isfinite(r2).sum()), "failed": int((sub["status"] != "ok").sum()),
                            "mean_cate_r2": float(np.nanmean(r2)), "median_cate_r2": float(np.nanmedian(r2)),
                            "mean_wall_s": float(sub["seconds"].mean()), "mean_cpu_s": float(sub["cpu_seconds"].mean())}
        summary[est] = entry
    result = {
        "source": str(args.source), "view": args.view, "preset": args.preset, "test_fraction": args.test_fraction,
        "datasets": len(data), "n_per_dataset": int(np.mean([d.n for d in data])),
        "estimators": summary, "wall_s_this_call": time.perf_counter() - wall,
        "cpu_s_this_process": time.process_time() - cpu, "load_average": os.getloadavg(),
        "in_sample_rows_this_call": int(len(inside)),
    }
    write_text(args.json, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
