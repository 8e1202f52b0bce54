"""Generation speed: sdscm's engine vs the naive per-candidate method, on the breast-cancer family.

Workload (issue 5): the breast-cancer family, variant 0, the packaged SmolLM2-135M, n units
observational plus the counterfactual outcome under both treatment values (shared noise).

Baseline, measured in the same run on the same model: per unit, per variable, one forward pass
over the context (keeping its key/value cache), then one forward pass per candidate from that
cache; batch size 1; nothing reused across units. It scores correctly (same tokenisation and
sums as sdscm), so its sampled values and probabilities must equal sdscm's.

Every configuration runs in its own subprocess (peak RSS is per process). Usage:

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_generate.py            # full table
    python benchmarks/bench_generate.py --quick                              # small n, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
FAMILY = REPO / "examples" / "breast_cancer.yaml"
SEED = 0
VARIANT = 0


# ----------------------------------------------------------------------------- workers


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _model(dtype: str, cache: str | bool = False, **section):
    """The family and its backend, built by sdscm's backend factory like every entry point's;
    `section` overrides fields of the model section (prefix_cache, max_batch_tokens)."""
    from sdscm.backends.factory import build_backend
    from sdscm.spec import load_spec, with_model_overrides

    model = os.environ.get("SDSCM_BENCH_MODEL") or None  # default: the packaged SmolLM2
    device = os.environ.get("SDSCM_BENCH_DEVICE", "cpu")
    spec = with_model_overrides(load_spec(FAMILY), name=model, dtype=dtype, **section)
    # device goes to the backend as is (the section admits auto/cpu/cuda only; a bench may name cuda:1)
    backend = build_backend(spec.model, cache, device=device, track_tokens=True)
    return spec, backend


def run_sdscm(n: int, dtype: str, mode: str, cache_dir: str | None) -> dict:
    """sdscm's engine. mode: dedup (memo only, batch of one), batched, prefix (default), cached."""
    import numpy as np

    from sdscm.model import SDSCM

    section: dict = {}
    if mode == "dedup":
        section = {"prefix_cache": False, "max_batch_tokens": 1}
    elif mode == "batched":
        section = {"prefix_cache": False}
    spec, backend = _model(dtype, cache_dir or False, **section)
    model = SDSCM(spec, variant=VARIANT, backend=backend)
    bench = spec.benchmark
    t0, c0 = time.perf_counter(), time.process_time()
    factual, arms = model.potential_outcome_worlds(
        np.arange(n), np.full(n, SEED), [{bench.treatment: bench.control}, {bench.treatment: bench.treated}]
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = model.variable(bench.outcome).index
    stats = getattr(backend, "prefix_stats", None)
    forward = backend.forward_tokens
    return {
        "n": n, "dtype": dtype, "mode": mode, "wall_s": wall, "cpu_s": cpu,
        "forward_tokens": forward,
        "minimum_tokens": backend.minimum_tokens(),
        "peak_rss_mb": _peak_rss_mb(),
        "values": factual.values.tolist(),
        "outcome_values": [a.values[:, out].tolist() for a in arms],
        "outcome_probs": [np.exp(a.log_probs[out]).tolist() for a in arms],
        "factual_probs": [np.exp(lp).tolist() for lp in factual.log_probs],
        "parents": [list(v.parent_index) for v in model.variables],
        "prefix_stats": None if stats is None else vars(stats),
    }


def run_naive(n: int, dtype: str) -> dict:
    """The naive method: batch size 1, one pass per context, one pass per candidate, no reuse."""
    import numpy as np
    import torch

    from sdscm.backends.base import ScoreRequest
    from sdscm.backends.tokenization import encode_request
    from sdscm.engine.compiled import choose_phrasings, compile_spec
    from sdscm.graph.dag import build_graph, descendants_of
    from sdscm.semantics.noise import gumbel
    from sdscm.semantics.text import context_text, render

    spec, backend = _model(dtype, prefix_cache=False)
    from sdscm.backends.prefix_scoring import cache_argument

    lm, tok, start = backend.model, backend.tokenizer, backend.start_id
    dev = backend.device
    cache_arg = cache_argument(lm)
    phrasings = choose_phrasings(spec, VARIANT)
    variables = compile_spec(spec, phrasings)
    bench = spec.benchmark
    t_var = next(v for v in variables if v.name == bench.treatment)
    y_var = next(v for v in variables if v.name == bench.outcome)
    changed = descendants_of(build_graph(spec), [bench.treatment])
    tokens = 0

    def mechanism(var, values: dict[int, int]) -> np.ndarray:
        nonlocal tokens
        sentences = [render(phrasings[p], variables[i].values[values[i]]) for p, i in zip(var.parents, var.parent_index)]
        ctx, conts = encode_request(tok, start, ScoreRequest(context_text(phrasings[var.name], sentences), var.values))
        with torch.inference_mode():
            out = lm(input_ids=torch.tensor([ctx], device=dev), use_cache=True)
            tokens += len(ctx)
            cache = getattr(out, "cache", None) or out.past_key_values
            first = torch.log_softmax(out.logits[0, -1].float(), -1)
            scores = []
            for cont in conts:
                total = float(first[cont[0]])
                step = lm(input_ids=torch.tensor([cont], device=dev), use_cache=True, **{cache_arg: cache})
                tokens += len(cont)
                lp = torch.log_softmax(step.logits[0].float(), -1)
                total += sum(float(lp[i, cont[i + 1]]) for i in range(len(cont) - 1))
                cache.crop(-len(cont))  # drop the candidate again: back to the context
                scores.append(total)
        s = np.array(scores)
        return s - np.logaddexp.reduce(s)

    t0, c0 = time.perf_counter(), time.process_time()
    values_all, outcome_vals, outcome_probs, factual_probs = [], [[], []], [[], []], []
    for unit in range(n):
        values: dict[int, int] = {}
        probs = []
        for var in variables:
            lp = mechanism(var, values)
            g = gumbel(SEED, np.array([unit]), var.name, var.size)[0]
            values[var.index] = int(np.argmax(lp + g))
            probs.append(np.exp(lp).tolist())
        values_all.append([values[v.index] for v in variables])
        factual_probs.append(probs)
        for arm, t_value in enumerate((bench.control, bench.treated)):
            world = dict(values)
            world[t_var.index] = t_var.values.index(t_value)
            for var in variables:
                if var.name in changed:
                    lp = mechanism(var, world)
                    g = gumbel(SEED, np.array([unit]), var.name, var.size)[0]
                    world[var.index] = int(np.argmax(lp + g))
                    if var.index == y_var.index:
                        outcome_probs[arm].append(np.exp(lp).tolist())
            outcome_vals[arm].append(world[y_var.index])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "n": n, "dtype": dtype, "mode": "naive", "wall_s": wall, "cpu_s": cpu, "forward_tokens": tokens,
        "peak_rss_mb": _peak_rss_mb(), "values": values_all, "outcome_values": outcome_vals,
        "outcome_probs": outcome_probs,
        "factual_probs": [[factual_probs[u][i] for u in range(n)] for i in range(len(variables))],
    }


# ----------------------------------------------------------------------------- driver


def _subprocess(kind: str, n: int, dtype: str, mode: str = "prefix", cache_dir: str | None = None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, __file__, "--worker", kind, "--n", str(n), "--dtype", dtype, "--mode", mode,
           "--json", out] + (["--cache-dir", cache_dir] if cache_dir else [])
    subprocess.run(cmd, check=True)
    data = json.loads(Path(out).read_text())
    os.unlink(out)
    return data


def compare(fast: dict, naive: dict) -> tuple[bool, float]:
    """Same sampled values (first units) and the largest probability difference."""
    import numpy as np

    k = naive["n"]
    same = fast["values"][:k] == naive["values"] and all(
        fast["outcome_values"][a][:k] == naive["outcome_values"][a] for a in range(2)
    )
    diffs = [np.max(np.abs(np.array(fast["outcome_probs"][a][:k]) - np.array(naive["outcome_probs"][a])))
             for a in range(2)]
    for i in range(len(naive["factual_probs"])):
        diffs.append(np.max(np.abs(np.array(fast["factual_probs"][i][:k]) - np.array(naive["factual_probs"][i]))))
    return same, float(max(diffs))


def deviation_from(run: dict, reference: dict) -> dict:
    """How far a run (bf16) is from a reference run (fp32) of the same units: probabilities and values.

    The `same_context` numbers compare a variable's probabilities only for units whose parents took
    the same values in both runs (same context text), i.e. the pure scoring error; the other
    numbers also include units whose contexts diverged after an earlier value was sampled differently.
    """
    import numpy as np

    diffs = [np.abs(np.array(a) - np.array(b)) for a, b in zip(run["factual_probs"], reference["factual_probs"])]
    values = np.array(run["values"]) == np.array(reference["values"])
    outcome = [np.array(run["outcome_values"][a]) == np.array(reference["outcome_values"][a]) for a in range(2)]
    same_context = [d[values[:, parents].all(axis=1)] for d, parents in zip(diffs, reference["parents"])]
    same_context = np.concatenate([d.ravel() for d in same_context])
    return {
        "fp32_max_prob_diff": float(max(d.max() for d in diffs)),
        "fp32_mean_prob_diff": float(np.mean(np.concatenate([d.ravel() for d in diffs]))),
        "fp32_same_context_max_prob_diff": float(same_context.max()),
        "fp32_same_context_mean_prob_diff": float(same_context.mean()),
        "fp32_same_context_p99_prob_diff": float(np.quantile(same_context, 0.99)),
        "fp32_same_unit_share": float(values.all(axis=1).mean()),
        "fp32_same_value_share": float(values.mean()),
        "fp32_same_arm_outcome_share": float(np.mean(np.concatenate(outcome))),
    }


def machine_info() -> dict:
    """What the numbers were measured on (load average included: these machines are shared)."""
    import platform

    import torch

    from sdscm.backends.bf16_cpu import cpu_has_native_bf16

    return {
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": cpu_has_native_bf16(),
        "device": os.environ.get("SDSCM_BENCH_DEVICE", "cpu"),
        "model": os.environ.get("SDSCM_BENCH_MODEL") or "packaged SmolLM2-135M-Instruct",
        "platform": platform.platform(), "load_average": os.getloadavg(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=["sdscm", "naive"])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--mode", default="prefix")
    parser.add_argument("--json")
    parser.add_argument("--cache-dir")
    parser.add_argument("--quick", action="store_true", help="n = 20 and 50 only, baseline on 4 units")
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--naive-units", type=int, default=10)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_generate.json"))
    parser.add_argument("--skip-ablation", action="store_true")
    parser.add_argument("--bf16-sizes", default=None, help="sizes also run in bfloat16 (default: all)")
    parser.add_argument("--ablation-n", type=int, default=None, help="ablation size (default: smallest)")
    args = parser.parse_args()
    if args.worker:
        fn = run_naive if args.worker == "naive" else None
        result = run_naive(args.n, args.dtype) if fn else run_sdscm(args.n, args.dtype, args.mode, args.cache_dir)
        Path(args.json).write_text(json.dumps(result))
        return

    started_load = os.getloadavg()
    sizes = [20, 50] if args.quick else [int(s) for s in args.sizes.split(",")]
    naive_units = 4 if args.quick else args.naive_units
    rows = []
    print(f"baseline: naive method on {naive_units} units (fp32), extrapolated per unit", flush=True)
    naive = _subprocess("naive", naive_units, "float32")
    naive_per_unit = naive["wall_s"] / naive_units
    naive_tokens_per_unit = naive["forward_tokens"] / naive_units
    print(f"  {naive_per_unit:.2f} s/unit wall, {naive['cpu_s'] / naive_units:.2f} s/unit CPU, "
          f"{naive_tokens_per_unit:.0f} tokens/unit", flush=True)
    naive_cpu_per_unit = naive["cpu_s"] / naive_units
    for n in sizes:
        bf16 = sizes if args.bf16_sizes is None else [int(x) for x in args.bf16_sizes.split(",") if x]
        fp32_run = None
        for dtype in ("float32", "bfloat16") if n in bf16 else ("float32",):
            fast = _subprocess("sdscm", n, dtype)
            same, diff = compare(fast, naive) if dtype == "float32" else (None, None)
            if dtype == "float32":
                fp32_run = fast
            row = {
                "n": n, "dtype": dtype, "sdscm_s_per_unit": fast["wall_s"] / n,
                "sdscm_cpu_s_per_unit": fast["cpu_s"] / n, "naive_s_per_unit": naive_per_unit,
                "naive_cpu_s_per_unit": naive_cpu_per_unit,
                "speedup": naive_per_unit / (fast["wall_s"] / n),
                "speedup_cpu": naive_cpu_per_unit / (fast["cpu_s"] / n),
                "forward_tokens_per_unit": fast["forward_tokens"] / n,
                "naive_tokens_per_unit": naive_tokens_per_unit,
                "minimum_tokens_per_unit": fast["minimum_tokens"] / n,
                "forward_over_minimum": fast["forward_tokens"] / max(1, fast["minimum_tokens"]),
                "peak_rss_mb": fast["peak_rss_mb"], "same_values_as_naive": same, "max_prob_diff": diff,
            }
            if dtype == "bfloat16" and fp32_run is not None:
                row.update(deviation_from(fast, fp32_run))
            rows.append(row)
            print(json.dumps(row), flush=True)
    ablation = [] if args.skip_ablation else run_ablation(args.ablation_n or min(sizes))
    machine = machine_info()
    result = {"machine": machine, "started_load_average": started_load,
              "naive": {k: naive[k] for k in ("n", "wall_s", "cpu_s", "forward_tokens", "peak_rss_mb")},
              "rows": rows, "ablation": ablation}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print_table(result)


def run_ablation(n: int) -> list[dict]:
    """Cumulative techniques at one size: memo only, + batching, + shared prefixes, + disk cache."""
    ablation = []
    for mode in ("dedup", "batched", "prefix"):
        r = _subprocess("sdscm", n, "float32", mode)
        ablation.append({"technique": mode, "n": n, "s_per_unit": r["wall_s"] / n,
                         "cpu_s_per_unit": r["cpu_s"] / n, "forward_tokens_per_unit": r["forward_tokens"] / n})
        print(json.dumps(ablation[-1]), flush=True)
    with tempfile.TemporaryDirectory() as cache_dir:
        _subprocess("sdscm", n, "float32", "prefix", cache_dir)  # fills the cache
        r = _subprocess("sdscm", n, "float32", "prefix", cache_dir)  # re-run: every score is a hit
    ablation.append({"technique": "cache (re-run)", "n": n, "s_per_unit": r["wall_s"] / n,
                     "cpu_s_per_unit": r["cpu_s"] / n, "forward_tokens_per_unit": r["forward_tokens"] / n})
    print(json.dumps(ablation[-1]), flush=True)
    return ablation


def print_table(result: dict) -> None:
    print(f"\nmachine: {result['machine']}")
    print("\n| n | dtype | sdscm s/unit wall (CPU) | naive s/unit wall (CPU) | speed-up wall / CPU | fwd tok/unit | naive tok/unit | min tok/unit | fwd/min | peak RSS MiB | same values | max |dP| |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        diff = "" if r["max_prob_diff"] is None else f"{r['max_prob_diff']:.1e}"
        print(f"| {r['n']} | {r['dtype']} | {r['sdscm_s_per_unit']:.3f} ({r['sdscm_cpu_s_per_unit']:.3f}) | "
              f"{r['naive_s_per_unit']:.2f} ({r['naive_cpu_s_per_unit']:.2f}) | {r['speedup']:.1f}x / "
              f"{r['speedup_cpu']:.1f}x | {r['forward_tokens_per_unit']:.0f} | "
              f"{r['naive_tokens_per_unit']:.0f} | {r['minimum_tokens_per_unit']:.0f} | {r['forward_over_minimum']:.2f} | "
              f"{r['peak_rss_mb']:.0f} | {r['same_values_as_naive']} | {diff} |")
    for r in result["rows"]:
        if "fp32_max_prob_diff" in r:
            print(f"bf16 vs fp32 at n={r['n']}: max |dP| {r['fp32_max_prob_diff']:.3g}, mean |dP| "
                  f"{r['fp32_mean_prob_diff']:.2g}, units with every value equal {r['fp32_same_unit_share']:.3f}, "
                  f"values equal {r['fp32_same_value_share']:.4f}, arm outcomes equal "
                  f"{r['fp32_same_arm_outcome_share']:.4f}; same context: max |dP| "
                  f"{r['fp32_same_context_max_prob_diff']:.3g}, 99th percentile "
                  f"{r['fp32_same_context_p99_prob_diff']:.2g}, mean {r['fp32_same_context_mean_prob_diff']:.2g}")
    print("\n| technique (cumulative) | n | s/unit wall (CPU) | forward tokens/unit |")
    print("|---|---|---|---|")
    for a in result["ablation"]:
        print(f"| {a['technique']} | {a['n']} | {a['s_per_unit']:.3f} ({a.get('cpu_s_per_unit', float('nan')):.3f}) | "
              f"{a['forward_tokens_per_unit']:.0f} |")


if __name__ == "__main__":
    main()
