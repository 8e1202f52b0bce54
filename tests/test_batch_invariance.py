"""Batch-invariant scoring (`model: {batch_invariant: true}`): a request's scores are the same bits
whatever else is in its batch, the batch budget, the thread count, the score cache's state and the
number of jobs; and the default fast path's agreement across batch compositions stays within the
tolerance the docs state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import weather_spec
from tiny_models import tiny_backend

from sdscm.backends.base import ScoreRequest
from sdscm.benchmark import generate
from sdscm.model import SDSCM

CONTEXTS = ["It is", "The day is sunny. They go to", "Meet Ann. The day is rainy. Today they chose",
            "Ann is training. It is snowy outside. They go to the gym. Their marathon time is"]
CONTINUATIONS = [(" sunny", " rainy", " snowy"), (" the gym", " a run"), (" the gym", " a run"),
                 (" under 4 hours", " 4 to 5 hours", " over 5 hours")]
REQUESTS = [ScoreRequest(c, conts) for c, conts in zip(CONTEXTS, CONTINUATIONS)]


def _scores(backend, groups) -> list[np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for group in groups:
        for i, res in zip(group, backend.score([REQUESTS[i] for i in group])):
            out[i] = res.logprob_sum
    return [out[i] for i in range(len(REQUESTS))]


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_scores_are_the_same_bits_in_any_batch(arch: str) -> None:
    backend = tiny_backend(arch, batch_invariant=True)
    together = _scores(backend, [[0, 1, 2, 3]])
    for groups in ([[0], [1], [2], [3]], [[3, 1], [0, 2]], [[2], [0, 3, 1]]):
        for a, b in zip(together, _scores(backend, groups)):
            np.testing.assert_array_equal(a, b)
    backend.max_batch_tokens = 16  # one sequence per forward pass
    for a, b in zip(together, _scores(backend, [[0, 1, 2, 3]])):
        np.testing.assert_array_equal(a, b)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        for a, b in zip(together, _scores(backend, [[1, 3], [0, 2]])):
            np.testing.assert_array_equal(a, b)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batch_invariant_mode_is_its_own_cache_key_and_computes_the_same_scores(arch: str) -> None:
    fast, exact = tiny_backend(arch), tiny_backend(arch, batch_invariant=True)
    assert fast.fingerprint != exact.fingerprint
    assert exact.model.config._attn_implementation == "sdscm_batch_invariant" and not exact.uses_prefix_cache
    # the two modes compute the same quantity: they agree far within the fast path's tolerance
    for a, b in zip(_scores(fast, [[0, 1, 2, 3]]), _scores(exact, [[0, 1, 2, 3]])):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_long_sequences_are_invariant_to_padding_past_the_reduction_split() -> None:
    """Contexts of 120-240 tokens (36-72 words): the weighted-value sum passes MKL's ~190-term split, where plain
    eager attention's result moves with the batch's padded length."""
    backend = tiny_backend("llama", batch_invariant=True)
    words = "Ann Bob sunny rainy snowy gym run training marathon hours".split()
    long = [ScoreRequest(" ".join(words[(i * 7 + j) % len(words)] for j in range(n)), (" sunny", " a run"))
            for i, n in enumerate((36, 60, 66, 72))]
    alone = [backend.score([r])[0].logprob_sum for r in long]
    together = [res.logprob_sum for res in backend.score(long)]
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_fast_path_agrees_across_batch_compositions_within_the_stated_tolerance() -> None:
    """docs/performance.md states 1e-4 nats for the default path; it is not bit-exact."""
    backend = tiny_backend("llama")
    together = _scores(backend, [[0, 1, 2, 3]])
    backend.clear_prefix_cache()
    alone = _scores(backend, [[3], [2], [1], [0]])
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}


def test_generated_datasets_are_byte_identical_whatever_the_cache_budget_or_resumption(tmp_path: Path) -> None:
    """Cold cache, warm cache, no cache, a small batch budget, and a resumed run: the same bytes."""
    spec = weather_spec(batch_invariant=True)

    def run(out: str, cache, budget: int = 8192, **kw):
        backend = tiny_backend("llama", batch_invariant=True, max_batch_tokens=budget)
        from sdscm.backends.factory import with_score_cache

        backend = with_score_cache(backend, cache)
        return generate(spec, tmp_path / out, variants=1, datasets_per_variant=2, n=24, seed=4,
                        backend=backend, **kw)

    run("cold", tmp_path / "cache")
    run("warm", tmp_path / "cache")
    run("none", False)
    run("small", False, budget=64)
    reference = _files(tmp_path / "cold")
    assert len(reference) == 2
    for name in ("warm", "none", "small"):
        assert _files(tmp_path / name) == reference, name
    (tmp_path / "small" / "data" / "variant000_dataset0001.parquet").unlink()
    run("small", tmp_path / "cache")  # resumed, the missing dataset from a warm cache
    assert _files(tmp_path / "small") == reference


def test_model_section_switch_reaches_the_backend() -> None:
    spec = weather_spec(batch_invariant=True)
    assert spec.model.batch_invariant is True
    model = SDSCM(spec, backend=tiny_backend("llama", batch_invariant=True))
    assert model.memo.backend.batch_invariant
