"""The persistent score cache: identical hits, corruption and concurrency never yield a wrong score."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sdscm.backends.base import ScoreRequest
from sdscm.backends.score_cache import CachedBackend, ScoreCache, request_key

from fake_backend import HashBackend

REQS = [ScoreRequest(f"Context number {i} is ", ("alpha", "beta gamma", "δ")) for i in range(30)]


def scores(results) -> list[tuple[list[float], list[int]]]:
    return [(list(r.logprob_sum), list(r.num_tokens)) for r in results]


def test_hits_return_identical_values_and_skip_the_backend(tmp_path: Path) -> None:
    """A second process-level cache over the same folder answers everything from disk, bit for bit."""
    inner = HashBackend()
    first = CachedBackend(inner, tmp_path).score(REQS)
    calls = inner.requests
    again_backend = HashBackend()
    again = CachedBackend(again_backend, tmp_path)
    second = again.score(REQS[::-1])
    assert again_backend.requests == 0 and again.stats.hits == len(REQS)
    assert scores(second) == scores(first)[::-1]
    assert calls == len(REQS)


def test_different_fingerprints_do_not_share_entries(tmp_path: Path) -> None:
    """A model with another fingerprint never reads the first model's scores."""
    CachedBackend(HashBackend(salt="a"), tmp_path).score(REQS[:5])
    other = HashBackend(salt="b")
    res = CachedBackend(other, tmp_path).score(REQS[:5])
    assert other.requests == 5
    assert scores(res) == scores(HashBackend(salt="b").score(REQS[:5]))


def test_tampered_row_is_rejected_and_rescored(tmp_path: Path) -> None:
    """A row whose values do not match its checksum is dropped and recomputed, never returned."""
    CachedBackend(HashBackend(), tmp_path).score(REQS[:3])
    key = request_key(HashBackend().fingerprint, REQS[1])
    with sqlite3.connect(tmp_path / "scores.sqlite") as conn:
        conn.execute("UPDATE scores SET sums = ? WHERE key = ?", (np.zeros(3).tobytes(), key))
    backend = HashBackend()
    cached = CachedBackend(backend, tmp_path)
    res = cached.score(REQS[:3])
    assert cached.stats.rejected == 1 and backend.requests == 1
    assert scores(res) == scores(HashBackend().score(REQS[:3]))


def test_corrupt_database_file_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    """An unreadable cache file gives a warning and correct scores, and is rebuilt."""
    (tmp_path / "scores.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.warns(RuntimeWarning, match="could not be read"):
        res = CachedBackend(HashBackend(), tmp_path).score(REQS[:4])
    assert scores(res) == scores(HashBackend().score(REQS[:4]))
    assert list(tmp_path.glob("scores.sqlite.corrupt-*"))
    assert CachedBackend(HashBackend(), tmp_path).score(REQS[:4]) and ScoreCache(tmp_path).info()["entries"] == 4


def _worker(folder: str, offset: int, out: "mp.Queue") -> None:
    reqs = REQS[offset:] + REQS[:offset]
    res = CachedBackend(HashBackend(), folder).score(reqs)
    out.put([(r.context, list(x.logprob_sum)) for r, x in zip(reqs, res)])


def test_concurrent_processes_share_the_cache_safely(tmp_path: Path) -> None:
    """Two processes filling the same cache at once both get exactly the backend's scores."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), k * 7, q)) for k in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    truth = {r.context: list(x.logprob_sum) for r, x in zip(REQS, HashBackend().score(REQS))}
    for result in results:
        for context, values in result:
            assert values == truth[context]
    assert ScoreCache(tmp_path).info()["entries"] == len(REQS)


def test_info_and_clear(tmp_path: Path) -> None:
    """info() counts entries per model; clear() removes them all."""
    CachedBackend(HashBackend(), tmp_path).score(REQS[:6])
    cache = ScoreCache(tmp_path)
    info = cache.info()
    assert info["entries"] == 6 and list(info["models"].values()) == [6]
    assert cache.clear() == 6 and cache.info()["entries"] == 0
