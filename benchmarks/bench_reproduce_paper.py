"""Table 1 of the paper on its released CSVs: our ATE R^2/RMSE with bootstrap intervals beside
the published values, with wall and CPU time, written to a JSON file.

The same as ``sdscm benchmark reproduce-paper RELEASE --out WORK --datasets SEL`` (and resumable
through WORK); this script also records the time totals and the machine's load. Fits already in
WORK are not redone, so running it after the command (or after an interrupted run, with the
subset every cell finished) only summarises.

    python benchmarks/bench_reproduce_paper.py RELEASE --work WORK --datasets 0:100 --jobs 2
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
    parser.add_argument("release", nargs="+", help="folder with gpt2/ and llama-3-8b/, or LABEL=DIR each")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--datasets", default=None)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "reproduce_paper_table1.json")
    args = parser.parse_args(argv)

    from sdscm.benchmark import load_benchmark
    from sdscm.evaluation.paper import find_sources, reproduce
    from sdscm.results.io import write_text

    found = find_sources(args.release)
    data = load_benchmark([f"{k}={v}" for k, v in found.items()], ("all", "hidden"), datasets=args.datasets)
    wall, cpu = time.perf_counter(), time.process_time()
    got = reproduce(data, args.work, jobs=args.jobs, progress=False)
    fits = got["results"]
    result = {
        "command": f"sdscm benchmark reproduce-paper {' '.join(args.release)} --out {args.work}"
                   + (f" --datasets {args.datasets}" if args.datasets else "") + f" --jobs {args.jobs}",
        "datasets_per_model": {k: len({d.name for d in data if d.metadata['group'] == k}) for k in found},
        "fits": int(len(fits)), "failed": int((fits["status"] != "ok").sum()),
        "fit_wall_s_total": float(fits["seconds"].sum()), "fit_cpu_s_total": float(fits["cpu_seconds"].sum()),
        "wall_s_this_call": time.perf_counter() - wall, "load_average_at_end": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "table": json.loads(got["table"].to_json(orient="records")),
    }
    write_text(args.json, json.dumps(result, indent=2) + "\n")
    write_text(args.json.with_suffix(".md"), got["markdown"])
    print(got["markdown"])
    print(json.dumps({k: v for k, v in result.items() if k != "table"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
