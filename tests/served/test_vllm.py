"""The served backend against a real vLLM server (CPU build) serving the packaged SmolLM2 in fp32.

Checks the issue's acceptance numbers: candidate scores within 0.02 nats of the in-process
transformers backend (toy and breast-cancer families), sampled values of 200 toy-confounder units
agreeing for at least 98% of variable values, a server restarted mid-run survived by retries, and
a server killed for good giving a clear error and a resumable benchmark run. Measured numbers are
appended to out/served-results.jsonl (SDSCM_SERVED_RESULTS).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pytest

from sdscm.backends.base import ScoreRequest, ScoreResult
from sdscm.backends.factory import build_backend
from sdscm.errors import BackendError
from sdscm.model import SDSCM
from sdscm.spec.load import load_spec, with_model_overrides
from sdscm.spec.schema import ModelFile

from served.vllm_server import ROOT, SERVED_NAME, VLLMServer

EXAMPLES = ROOT / "examples"


class Recorder:
    """Delegates to a backend and keeps every request it scores."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.capability = inner.capability
        self.requests: list[ScoreRequest] = []

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        self.requests.extend(requests)
        return self.inner.score(requests)


def served_spec(spec: ModelFile, server: VLLMServer, **fields: Any) -> ModelFile:
    return with_model_overrides(spec, backend="served", base_url=server.url, served_model=SERVED_NAME, **fields)


def record(results: Path, **data: Any) -> None:
    with results.open("a") as f:
        f.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **data}) + "\n")
    print(json.dumps(data))


@pytest.fixture(scope="module")
def local_backend():
    return build_backend(load_spec(EXAMPLES / "toy_confounder.yaml").model, cache=False)


def test_probe_passes_on_vllm(vllm_server, results_file) -> None:
    """vLLM's echoed prompt log-probs equal its generated ones (both log-prob modes)."""
    for mode in ("echo", "prompt_logprobs"):
        spec = served_spec(load_spec(EXAMPLES / "toy_confounder.yaml"), vllm_server, served_logprobs=mode)
        backend = build_backend(spec.model, cache=False)
        backend.connect()
        diffs = [abs(g - e) for g, e in backend.probe_result]
        assert max(diffs) < 1e-3
        record(results_file, check="probe", mode=mode, probe=backend.probe_result,
               server_start_s=vllm_server.start_seconds)


@pytest.mark.parametrize("family,n,variant", [("toy_confounder", 200, 1), ("toy_confounder", 50, 2),
                                              ("breast_cancer", 12, 1)])
def test_scores_agree_with_in_process(vllm_server, local_backend, results_file, family, n, variant) -> None:
    """Every candidate score the engine asks for, on the server and in process: within 0.02 nats."""
    spec = load_spec(EXAMPLES / f"{family}.yaml")
    recorder = Recorder(local_backend)
    SDSCM(spec, variant=variant, backend=recorder, cache=False).sample(n, seed=11)
    requests = list(dict.fromkeys(recorder.requests))
    served = build_backend(served_spec(spec, vllm_server).model, cache=False)
    started = time.perf_counter()
    got = served.score(requests)
    seconds = time.perf_counter() - started
    want = local_backend.score(requests)
    diffs = np.concatenate([np.abs(g.logprob_sum - w.logprob_sum) for g, w in zip(got, want)])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.num_tokens, w.num_tokens)
    record(results_file, check="score_agreement", family=family, variant=variant, units=n,
           contexts=len(requests), candidates=int(diffs.size), mean_abs_nats=float(diffs.mean()),
           max_abs_nats=float(diffs.max()), served_seconds=seconds, prompt_tokens=served.prompt_tokens_sent,
           http_requests=served.requests_sent)
    assert diffs.max() <= 0.02


def test_sampled_values_agree(vllm_server, local_backend, results_file) -> None:
    """200 units of the toy confounder: at least 98% of variable values equal to the in-process run."""
    spec = load_spec(EXAMPLES / "toy_confounder.yaml")
    local = SDSCM(spec, variant=1, backend=local_backend, cache=False).sample(200, seed=7)
    remote = SDSCM(served_spec(spec, vllm_server), variant=1, cache=False).sample(200, seed=7)
    names = [v.name for v in spec.variables]
    same = (local[names].to_numpy() == remote[names].to_numpy())
    record(results_file, check="value_agreement", family="toy_confounder", units=200,
           values=int(same.size), equal=int(same.sum()), fraction=float(same.mean()))
    assert same.mean() >= 0.98


def test_restart_mid_run_is_survived(vllm_server, local_backend, results_file) -> None:
    """The server is killed while a breast-cancer sample runs and started again: retries carry the run
    through, with the same values as the in-process run."""
    spec = load_spec(EXAMPLES / "breast_cancer.yaml")
    served = served_spec(spec, vllm_server, max_retries=40, prompts_per_request=4, max_concurrency=1)
    model = SDSCM(served, variant=1, cache=False)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["frame"] = model.sample(30, seed=21)
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    time.sleep(8.0)
    assert thread.is_alive(), "the run finished before the server could be killed; make it longer"
    vllm_server.kill()
    killed_at = time.monotonic() - started
    vllm_server.start()
    thread.join(1800)
    assert "error" not in result, result.get("error")
    local = SDSCM(spec, variant=1, backend=local_backend, cache=False).sample(30, seed=21)
    names = [v.name for v in spec.variables]
    same = float((local[names].to_numpy() == result["frame"][names].to_numpy()).mean())
    record(results_file, check="restart_mid_run", family="breast_cancer", units=30, killed_after_s=killed_at,
           restart_s=vllm_server.start_seconds[-1], run_s=time.monotonic() - started, value_agreement=same)
    assert same >= 0.98
    assert time.monotonic() - started > vllm_server.start_seconds[-1]  # the run spanned the restart


def test_server_killed_for_good_then_resumed(vllm_server, results_file, tmp_path) -> None:
    """A benchmark run whose server dies: a clear error naming the server; the finished datasets are
    whole, and a re-run once a server is back finishes the rest with the same data as a clean run."""
    from sdscm.benchmark import generate

    spec = served_spec(load_spec(EXAMPLES / "toy_confounder.yaml"), vllm_server, max_retries=2,
                       retry_backoff=0.2)
    kwargs = dict(variants=3, datasets_per_variant=1, n=150, seed=3, cache=False)
    clean = generate(spec, tmp_path / "clean", **kwargs)
    assert clean.generated == 3
    error: dict[str, Any] = {}

    def run() -> None:
        try:
            generate(spec, tmp_path / "cut", **kwargs)
        except BaseException as exc:  # noqa: BLE001
            error["exc"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 600
    while not list((tmp_path / "cut").rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.2)
    vllm_server.kill()
    thread.join(600)
    exc = error.get("exc")
    assert isinstance(exc, BackendError) and f"127.0.0.1:{vllm_server.port}" in str(exc), exc
    kept = sorted((tmp_path / "cut").rglob("*.parquet"))
    for f in kept:
        pd.read_parquet(f)
    vllm_server.start()
    resumed = generate(spec, tmp_path / "cut", **kwargs)
    record(results_file, check="killed_for_good", error=str(exc), datasets_kept=len(kept),
           resumed_generated=resumed.generated, resumed_skipped=resumed.skipped)
    assert resumed.skipped == len(kept) and resumed.generated + resumed.skipped == 3
    for a in sorted((tmp_path / "clean").rglob("*.parquet")):
        b = tmp_path / "cut" / a.relative_to(tmp_path / "clean")
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
