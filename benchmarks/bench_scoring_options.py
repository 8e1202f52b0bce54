"""What each scoring option does to a family's effect sizes and health verdict, measured.

Generates the same datasets (same variants, seeds and units) of a family under each scoring
configuration and reports, per configuration, the health numbers of `sdscm benchmark describe`:
|SATE|, ITE SD, outcome SD, confounding bias, treated share, numerical floor and verdict.

Configurations:
- `default`: summed token log-probs of the value, outcome quantity P(outcome value);
- `length_normalize`: mean instead of sum (what the reference code did);
- `score_suffix`: the value plus the phrasing's text after the slot (the paper's formal definition);
- `log_score`: default scoring, outcome quantity = the raw score of the outcome value (the
  quantity of the paper's released CSVs).

    python benchmarks/bench_scoring_options.py                       # breast cancer, 2 variants x 300 units
    python benchmarks/bench_scoring_options.py --family examples/statin_heart.yaml --n 200

Results go to benchmarks/results/scoring_options_<family>.json and a markdown table is printed.
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
CONFIGS = {
    "default": ({}, None),
    "length_normalize": ({"length_normalize": True}, None),
    "score_suffix": ({"score_suffix": True}, None),
    "log_score": ({}, "log_score"),
}


def run(family: Path, config: str, variants: int, n: int, seed: int, out: Path) -> dict:
    from sdscm.benchmark import generate
    from sdscm.spec import load_spec

    model_options, quantity = CONFIGS[config]
    spec = load_spec(family)
    spec = spec.model_copy(update={"model": spec.model.model_copy(update=model_options)})
    started, cpu = time.perf_counter(), time.process_time()
    result = generate(spec, out, variants=variants, datasets_per_variant=1, n=n, seed=seed, quantity=quantity,
                      cache=True)
    health = [d["health"] for d in result.datasets]
    return {
        "config": config, "model_options": model_options, "quantity": quantity or "probability",
        "datasets": [{"name": d["name"], **d["health"]} for d in result.datasets],
        "family_verdict": result.manifest["health"]["verdict"],
        "max_abs_sate": max(abs(h["sate"]) for h in health),
        "median_ite_sd": sorted(h["ite_sd"] for h in health)[len(health) // 2],
        "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
    }


def table(rows: list[dict]) -> str:
    lines = ["| scoring | dataset | SATE | ITE SD | outcome SD | naive - SATE | treated share | numerical floor "
             "| verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for d in r["datasets"]:
            bias = "n/a" if d["confounding_bias"] is None else f"{d['confounding_bias']:+.3g}"
            floor = "n/a" if d["numerical_floor"] is None else f"{d['numerical_floor']:.2g}"
            lines.append(f"| {r['config']} | {d['name']} | {d['sate']:+.3g} | {d['ite_sd']:.3g} | "
                         f"{d['outcome_sd']:.3g} | {bias} | {d['treated_share']:.3f} | {floor} | {d['verdict']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", type=Path, default=REPO / "examples" / "breast_cancer.yaml")
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default: benchmarks/results/...)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            row = run(args.family, config, args.variants, args.n, args.seed, Path(tmp) / config)
            rows.append(row)
            print(f"{config}: {row['family_verdict']} (max |SATE| {row['max_abs_sate']:.3g}, "
                  f"median ITE SD {row['median_ite_sd']:.3g}; {row['wall_s']:.0f} s wall, "
                  f"{row['cpu_s']:.0f} s CPU)", file=sys.stderr, flush=True)
    out = args.out or REPO / "benchmarks" / "results" / f"scoring_options_{args.family.stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"family": str(args.family.relative_to(REPO) if args.family.is_relative_to(REPO) else args.family),
               "variants": args.variants, "n": args.n, "seed": args.seed,
               "machine": {"python": platform.python_version(), "processor": platform.processor(),
                           "cpus": os.cpu_count(), "load_average": os.getloadavg()},
               "results": rows}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
