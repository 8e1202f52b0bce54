"""Start-up time of a short CLI command, before and after the start-up work, in the same run.

    python benchmarks/bench_startup.py                      # 5 repeats, results JSON in benchmarks/results/
    python benchmarks/bench_startup.py --repeats 3 --before 9d9eed3

"before" is the source of a git commit (default 9d9eed3, the main branch before this work),
exported with `git archive` into a temporary folder; "after" is this checkout's src/. Both run the
same command in fresh processes with the same Python and the same user cache (converted model,
score cache): `sdscm sample examples/toy_confounder.yaml -n 2 --out ...`

- `warm`: the default command, run again (its scores are in the persistent score cache);
- `no-cache`: the same with `--no-cache` (every score computed: the model is loaded and run).

Runs alternate before/after, so drifting machine load hits both alike. Each run records wall time
and the CPU time (user + system) of the child process; the machine is shared, so CPU time is the
steadier measure. One warm-up run of each tree precedes the timed ones (it fills the score cache
and, after the change, the fingerprint and probe memos). A phase breakdown of one cold start in
this process's tree (imports, tokenizer, weights, probes, first score) shows where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE = ROOT / "examples" / "toy_confounder.yaml"
RESULTS = ROOT / "benchmarks" / "results"

PHASES = r"""
import json, time, os
t0 = time.perf_counter(); c0 = time.process_time(); out = {}
def mark(name):
    global t0, c0
    t, c = time.perf_counter(), time.process_time()
    out[name] = {"wall_s": round(t - t0, 3), "cpu_s": round(c - c0, 3)}
    t0, c0 = t, c
import sdscm, sdscm.cli.app; mark("import sdscm and its CLI (pandas, pyarrow, pydantic, typer)")
import torch; mark("import torch")
from transformers import AutoModelForCausalLM, AutoTokenizer
import transformers.models.llama.modeling_llama; mark("import transformers and the Llama modules")
from sdscm.backends.default_model import default_model_path
path = str(default_model_path())
tok = AutoTokenizer.from_pretrained(path); mark("tokenizer")
lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32); mark("model weights")
from sdscm.backends.transformers_backend import TransformersBackend
b = TransformersBackend(model_obj=lm, tokenizer_obj=tok)
b._probe_gather(); b._probe_prefix(); mark("scoring probes (gathered head, shared prefix)")
from sdscm.backends.base import ScoreRequest
b._gather = True
b.score([ScoreRequest("Alice is training for a marathon. The weather this month has been", (" sunny", " rainy"))])
mark("first score (one context, two candidates)")
b.score([ScoreRequest("Bob is training for a marathon. The weather this month has been", (" sunny", " rainy"))])
mark("second score")
print(json.dumps(out))
"""


def export_commit(commit: str, dest: Path) -> Path:
    """The `src/` tree of `commit`, written under `dest` (git archive: no worktree, nothing to clean up in .git)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def run_once(src: Path, extra: list[str], out: Path) -> dict[str, float]:
    """One CLI run in a fresh process: wall and child CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "sdscm.cli.app", "sample", str(MODEL_FILE), "-n", "2", "--out", str(out), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    walls = [r["wall_s"] for r in runs]
    cpus = [r["cpu_s"] for r in runs]
    return {"wall_median_s": round(statistics.median(walls), 3), "wall_min_s": round(min(walls), 3),
            "cpu_median_s": round(statistics.median(cpus), 3), "cpu_min_s": round(min(cpus), 3)}


def phases(src: Path) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-c", PHASES], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="9d9eed3", help="git commit of the 'before' source")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_startup.json")
    args = parser.parse_args()
    scenarios = {"warm": [], "no-cache": ["--no-cache"]}
    with tempfile.TemporaryDirectory(prefix="sdscm-startup-") as tmp:
        trees = {"before": export_commit(args.before, Path(tmp) / "before"), "after": ROOT / "src"}
        out = Path(tmp) / "units.parquet"
        runs: dict[str, dict[str, list[dict[str, float]]]] = {s: {t: [] for t in trees} for s in scenarios}
        for tree, src in trees.items():  # warm-up: fills the score cache and the memos
            run_once(src, [], out)
        for _ in range(args.repeats):
            for scenario, extra in scenarios.items():
                for tree, src in trees.items():
                    runs[scenario][tree].append(run_once(src, extra, out))
        breakdown = phases(trees["after"])
    results = {
        "command": f"sdscm sample {MODEL_FILE.relative_to(ROOT)} -n 2 --out units.parquet [--no-cache]",
        "before": args.before,
        "after": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() + " (working tree)",
        "repeats": args.repeats,
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset (torch default)"),
                        "OMP_WAIT_POLICY": "PASSIVE", "load_average_at_end": os.getloadavg()},
        "scenarios": {
            s: {t: {"summary": summary(r), "runs": r} for t, r in per.items()}
               | {"cpu_ratio_after_over_before": round(summary(per["after"])["cpu_median_s"]
                                                       / summary(per["before"])["cpu_median_s"], 3),
                  "wall_ratio_after_over_before": round(summary(per["after"])["wall_median_s"]
                                                        / summary(per["before"])["wall_median_s"], 3)}
            for s, per in runs.items()
        },
        "cold_start_phases_in_process": breakdown,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for s, per in results["scenarios"].items():
        b, a = per["before"]["summary"], per["after"]["summary"]
        print(f"{s:9s} before wall {b['wall_median_s']:.2f} s cpu {b['cpu_median_s']:.2f} s | after wall "
              f"{a['wall_median_s']:.2f} s cpu {a['cpu_median_s']:.2f} s | cpu ratio "
              f"{per['cpu_ratio_after_over_before']}")
    for name, t in breakdown.items():
        print(f"  {name:60s} wall {t['wall_s']:.2f} s cpu {t['cpu_s']:.2f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
