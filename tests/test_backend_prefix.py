"""The shared-prefix path gives the plain path's scores while running far fewer tokens."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sdscm.backends.base import ScoreRequest
from sdscm.backends.prefix_cache import PrefixCache
from sdscm.backends import prefix_scoring

from tiny_models import tiny_backend

WORDS = "the gym a run sunny rainy She is 45. tumor grade 2 marathon time under hours Café 東京 🎉".split()


def random_requests(seed: int, n: int = 30) -> list[ScoreRequest]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ctx = "A 45-year-old woman comes in. " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 10)))
        ctx += " " * (i % 3)
        conts = tuple(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 4)))
        out.append(ScoreRequest(ctx, conts))
    out.append(ScoreRequest("", ("hello", "world x")))
    return out


def story_requests(n_units: int = 6) -> list[list[ScoreRequest]]:
    """Requests of a fully connected DAG, one call per variable: each context extends the last."""
    rng = random.Random(1)
    stories = [""] * n_units
    calls = []
    for var in range(5):
        prefix = f"Fact {var} is"
        reqs = [ScoreRequest((s + " " if s else "") + prefix + " ", ("red", "green", "blue sky")) for s in stories]
        calls.append(reqs)
        stories = [(s + " " if s else "") + f"{prefix} {rng.choice(['red', 'green', 'blue sky'])}." for s in stories]
    return calls


def sums(results) -> np.ndarray:
    return np.concatenate([r.logprob_sum for r in results])


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_prefix_path_matches_plain_path(arch: str) -> None:
    """Same sums and token counts (within 1e-4) over two calls that reuse cached prefixes."""
    fast = tiny_backend(arch, max_batch_tokens=128)
    plain = tiny_backend(arch, prefix_cache=False)
    assert fast.uses_prefix_cache and not plain.uses_prefix_cache
    for seed in (0, 1):
        reqs = random_requests(seed)
        a, b = fast.score(reqs), plain.score(reqs)
        np.testing.assert_allclose(sums(a), sums(b), atol=1e-4)
        assert all((x.num_tokens == y.num_tokens).all() for x, y in zip(a, b))
    assert fast.prefix_stats.reused_tokens > 0


@pytest.mark.parametrize("budget_bytes", [1, 30_000, 10**9])
def test_results_do_not_depend_on_cache_budget_or_batch_size(budget_bytes: int) -> None:
    """Evictions (tiny budget) and batch sizes change the work, never the scores."""
    reference = sums(tiny_backend("llama", prefix_cache=False).score(random_requests(3)))
    for max_batch_tokens in (16, 4096):
        backend = tiny_backend("llama", max_batch_tokens=max_batch_tokens)
        backend._prefix = PrefixCache(budget_bytes)
        for call in story_requests():
            backend.score(call)
        np.testing.assert_allclose(sums(backend.score(random_requests(3))), reference, atol=1e-4)


def test_story_costs_about_one_pass_over_its_text() -> None:
    """In a chain of extending contexts, forward tokens stay close to the distinct-prefix minimum."""
    fast = tiny_backend("llama", track_tokens=True)
    plain = tiny_backend("llama", prefix_cache=False)
    for call in story_requests():
        np.testing.assert_allclose(sums(fast.score(call)), sums(plain.score(call)), atol=1e-4)
    assert fast.forward_tokens <= 1.3 * fast.minimum_tokens()
    assert fast.forward_tokens < 0.6 * plain.forward_tokens


def test_failing_fast_path_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model the fast path cannot run is scored by the plain path, with a warning, same results."""
    backend = tiny_backend("llama")

    def broken(*args, **kwargs):
        raise RuntimeError("no 4-D masks here")

    monkeypatch.setattr("sdscm.backends.transformers_backend.score_with_prefix_cache", broken)
    with pytest.warns(RuntimeWarning, match="plain batched scoring"):
        got = backend.score(random_requests(5))
    np.testing.assert_allclose(sums(got), sums(tiny_backend("llama", prefix_cache=False).score(random_requests(5))),
                               atol=1e-4)


def test_prefix_cache_splits_and_evicts_consistently() -> None:
    """Radix tree: partial matches split nodes; eviction keeps the byte count exact."""
    import torch

    cache = PrefixCache(10**9)
    kv = lambda n: torch.arange(n, dtype=torch.float32).reshape(1, 1, 1, n, 1).repeat(2, 2, 1, 1, 1)  # noqa: E731
    cache.insert(cache.match([1, 2, 3, 4]), [1, 2, 3, 4], kv(4))
    m = cache.match([1, 2, 9])
    assert m.length == 2
    cache.insert(m, [9], kv(1))
    assert cache.match([1, 2, 3, 4]).length == 4 and cache.match([1, 2, 9, 5]).length == 3
    out = torch.zeros(2, 2, 1, 4, 1)
    cache.gather(cache.match([1, 2, 3, 4]), out)
    assert out[0, 0, 0, :, 0].tolist() == [0, 1, 2, 3]
    expected = sum(n.nbytes for n in cache._nodes())
    assert cache.nbytes == expected
    cache.max_bytes = kv(2).numel() * 4
    cache.evict()
    assert cache.nbytes == sum(n.nbytes for n in cache._nodes()) <= cache.max_bytes
