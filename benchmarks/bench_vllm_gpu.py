"""vLLM on a GPU: the served backend's agreement with the in-process backend, and its throughput.

On a machine with an NVIDIA GPU this script

1. makes a virtual environment for vLLM (`.venv-vllm-gpu`, `pip install vllm==0.32.0`; vLLM brings
   its own CUDA torch, so it cannot share sdscm's CPU venv), unless `--vllm-python` names a Python
   that already imports vllm;
2. starts vLLM's OpenAI-compatible server on 127.0.0.1 with a small model (default: the packaged
   SmolLM2-135M folder sdscm converts, fp32) and waits until it answers;
3. records every score request the engine makes for the toy and breast-cancer families, scores them
   on the server and in process (transformers, CPU, fp32) and reports mean / max |difference| in nats
   (the acceptance bound is 0.02);
4. samples units of the breast-cancer family through the server and reports throughput (units/s,
   prompt tokens/s) next to the in-process backend on the same units;
5. stops the server and writes benchmarks/results/vllm_gpu.json.

    python benchmarks/bench_vllm_gpu.py                    # defaults: 200 breast-cancer units
    python benchmarks/bench_vllm_gpu.py --units 1000 --vllm-python /opt/vllm/bin/python

Nothing in the default test suite needs a GPU; `make test-served` runs the CPU equivalent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
VLLM_VERSION = "0.32.0"
SERVED_NAME = "bench"


def vllm_python(given: str | None) -> str:
    """A Python that imports vllm: the one given, else a venv made for it (once)."""
    if given:
        return given
    venv = REPO / ".venv-vllm-gpu"
    python = venv / "bin" / "python"
    if not (venv / ".vllm-installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"vllm=={VLLM_VERSION}"], check=True)
        (venv / ".vllm-installed").touch()
    return str(python)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(python: str, model: str, port: int, log: Path, gpu_memory: float) -> tuple[subprocess.Popen, float]:
    import requests

    cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name",
           SERVED_NAME, "--dtype", "float32", "--host", "127.0.0.1", "--port", str(port),
           "--max-model-len", "2048", "--gpu-memory-utilization", str(gpu_memory)]
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"})
    while time.monotonic() - started < 1200:
        if proc.poll() is not None:
            raise SystemExit(f"vLLM exited with {proc.returncode}; see {log}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200:
                return proc, time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(2)
    stop_server(proc)
    raise SystemExit(f"vLLM did not answer within 20 minutes; see {log}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


class Recorder:
    """Delegates to a backend and keeps every request it scores."""

    def __init__(self, inner: Any):
        self.inner, self.capability, self.requests = inner, inner.capability, []

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def score(self, requests: Sequence[Any]) -> list[Any]:
        self.requests.extend(requests)
        return self.inner.score(requests)


def agreement(family: str, units: int, local: Any, served: Any) -> dict[str, Any]:
    import numpy as np

    from sdscm.model import SDSCM
    from sdscm.spec import load_spec

    recorder = Recorder(local)
    SDSCM(load_spec(REPO / "examples" / f"{family}.yaml"), variant=1, backend=recorder, cache=False).sample(units, seed=11)
    requests = list(dict.fromkeys(recorder.requests))
    got, want = served.score(requests), local.score(requests)
    diffs = np.concatenate([np.abs(g.logprob_sum - w.logprob_sum) for g, w in zip(got, want)])
    return {"family": family, "units": units, "contexts": len(requests), "candidates": int(diffs.size),
            "mean_abs_nats": float(diffs.mean()), "max_abs_nats": float(diffs.max()),
            "within_0.02": bool(diffs.max() <= 0.02)}


def throughput(spec: Any, units: int, backend: Any) -> dict[str, Any]:
    from sdscm.model import SDSCM

    started, cpu = time.perf_counter(), time.process_time()
    frame = SDSCM(spec, variant=1, backend=backend, cache=False).sample(units, seed=5)
    wall = time.perf_counter() - started
    return {"units": len(frame), "wall_s": wall, "cpu_s": time.process_time() - cpu, "units_per_s": len(frame) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder to serve (default: the packaged SmolLM2)")
    parser.add_argument("--units", type=int, default=200, help="breast-cancer units for the throughput run")
    parser.add_argument("--vllm-python", default=None, help="a Python that imports vllm")
    parser.add_argument("--gpu-memory", type=float, default=0.5, help="vLLM --gpu-memory-utilization")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "vllm_gpu.json")
    args = parser.parse_args()
    if shutil.which("nvidia-smi") is None:
        raise SystemExit("no NVIDIA GPU here (nvidia-smi not found); on a CPU run `make test-served` instead")

    from sdscm.backends.default_model import default_model_path
    from sdscm.backends.factory import build_backend
    from sdscm.spec import load_spec, with_model_overrides

    model = args.model or str(default_model_path())
    python = vllm_python(args.vllm_python)
    port = free_port()
    log = args.out.with_suffix(".server.log")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    proc, start_s = start_server(python, model, port, log, args.gpu_memory)
    try:
        family = load_spec(REPO / "examples" / "breast_cancer.yaml")
        local_spec = with_model_overrides(family, name=args.model)
        served_spec = with_model_overrides(local_spec, backend="served", base_url=f"http://127.0.0.1:{port}/v1",
                                           served_model=SERVED_NAME, max_concurrency=8, prompts_per_request=64)
        local = build_backend(local_spec.model, cache=False)
        served = build_backend(served_spec.model, cache=False)
        served.connect()
        result: dict[str, Any] = {
            "model": model, "vllm": VLLM_VERSION, "server_start_s": start_s,
            "gpu": subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                                  capture_output=True, text=True).stdout.strip(),
            "host": platform.node(), "cpus": os.cpu_count(), "probe": served.probe_result,
            "agreement": [agreement("toy_confounder", 200, local, served),
                          agreement("breast_cancer", 20, local, served)],
        }
        tokens_before = served.prompt_tokens_sent
        result["served"] = throughput(served_spec, args.units, served)
        result["served"]["prompt_tokens_per_s"] = (served.prompt_tokens_sent - tokens_before) / result["served"]["wall_s"]
        result["in_process_cpu"] = throughput(local_spec, args.units, local)
        result["speedup_wall"] = result["in_process_cpu"]["wall_s"] / result["served"]["wall_s"]
    finally:
        stop_server(proc)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
