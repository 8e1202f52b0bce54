"""Run time per dataset per estimator, and each estimator's ATE next to the true SATE.

Fits every estimator of a preset once on each dataset (n = 1000 in the paper's released data)
in this process, one at a time, and prints two markdown tables: seconds per fit, and the ATE
estimate with its interval next to the dataset's SATE.

    python benchmarks/bench_estimators.py                              # the shared reference CSVs
    python benchmarks/bench_estimators.py --source bench_dir --view hidden
    python benchmarks/bench_estimators.py --planted 1000               # no data files needed

``--planted N`` uses a categorical-mechanism SD-SCM with a planted confounder (no language
model). Timings depend on the machine's load; the script prints the load average with them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def planted(n: int) -> list:
    """One planted-confounder dataset (the test suite's categorical SD-SCM)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_estimators_data import confounded_dataset

    return [confounded_dataset(n, seed=0, name=f"planted-n{n}")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="benchmark folder or reference CSVs (default: shared/reference)")
    parser.add_argument("--planted", type=int, default=None, help="use a planted dataset of N units instead")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--view", "--setting", dest="view", default="all", choices=["all", "hidden"])
    parser.add_argument("--estimators", default=None, help="comma-separated subset")
    parser.add_argument("--csv", type=Path, default=None, help="also write the rows as CSV")
    args = parser.parse_args(argv)

    from sdscm.estimators import encode_covariates, preset, select
    from sdscm.benchmark import load_benchmark

    datasets = planted(args.planted) if args.planted else load_benchmark(args.source, (args.view,))
    configs = select(preset(args.preset), None if args.estimators is None else args.estimators.split(","))
    warnings.filterwarnings("ignore")
    rows = []
    for ds in datasets:
        for cfg in configs:
            X = encode_covariates(ds.X, ds.categories, cfg.encoding)
            start = time.perf_counter()
            try:
                est = cfg.build(0).estimate(X, ds.t, ds.y)
                ate, lo, hi, err = est.ate, est.ate_lower, est.ate_upper, ""
            except Exception as exc:  # report, keep going
                ate = lo = hi = float("nan")
                err = f"{type(exc).__name__}: {exc}"[:80]
            rows.append({"dataset": ds.name, "n": ds.n, "estimator": cfg.display, "seconds": time.perf_counter() - start,
                         "ate": ate, "ate_lower": lo, "ate_upper": hi, "sate": ds.sate, "error": err})
            print(f"{ds.name:28s} {cfg.display:16s} {rows[-1]['seconds']:7.2f} s  ATE {ate:+.6f}", flush=True)
    frame = pd.DataFrame(rows)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"\n## Seconds per fit ({args.preset} preset, view {args.view}; load average {load[0]:.2f}, "
          f"{os.cpu_count()} CPUs)\n")
    times = frame.pivot(index="estimator", columns="dataset", values="seconds").loc[[c.display for c in configs]]
    print("| estimator | " + " | ".join(times.columns) + " |")
    print("|---|" + "---|" * len(times.columns))
    for name, r in times.iterrows():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in r) + " |")
    print("\n## ATE estimate [95% interval] vs true SATE\n")
    names = list(dict.fromkeys(frame["dataset"]))
    print("| estimator | " + " | ".join(f"{d} (SATE {frame[frame.dataset == d].sate.iloc[0]:+.6f})" for d in names) + " |")
    print("|---|" + "---|" * len(names))
    for cfg in configs:
        cells = []
        for d in names:
            r = frame[(frame.dataset == d) & (frame.estimator == cfg.display)].iloc[0]
            if r["error"]:
                cells.append(f"error: {r['error']}")
            elif np.isnan(r["ate"]):
                cells.append("–")
            else:
                ci = "" if np.isnan(r["ate_lower"]) else f" [{r['ate_lower']:+.4f}, {r['ate_upper']:+.4f}]"
                cells.append(f"{r['ate']:+.6f}{ci}")
        print(f"| {cfg.display} | " + " | ".join(cells) + " |")
    if args.csv:
        frame.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
