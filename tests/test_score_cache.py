"""The persistent score cache: identical hits, corruption and concurrency never yield a wrong score."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
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


def test_corrupt_database_file_is_moved_aside_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An unreadable cache file gives a warning and correct scores, and is rebuilt."""
    (tmp_path / "scores.sqlite").write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="sdscm"):
        res = CachedBackend(HashBackend(), tmp_path).score(REQS[:4])
    assert [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()], caplog.text
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


def damaged_mid_file(folder: Path, entries: int = 3000) -> Path:
    """A valid cache of `entries` rows whose middle pages are then overwritten with garbage."""
    reqs = [ScoreRequest(f"Row {i} of a cache that will be damaged ", ("yes", "no")) for i in range(entries)]
    cached = CachedBackend(HashBackend(), folder)
    cached.score(reqs)
    cached.cache.close()
    path = folder / "scores.sqlite"
    assert not Path(str(path) + "-wal").exists() or Path(str(path) + "-wal").stat().st_size == 0
    size = path.stat().st_size
    assert size > 64 * 1024
    with open(path, "r+b") as f:
        f.seek((size // 2) // 4096 * 4096)
        f.write(bytes(range(256)) * 16 * 4)  # four pages of garbage in the middle
    return path


def test_cache_damaged_mid_file_is_checked_on_open_and_moved_aside(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A file that opens but fails PRAGMA quick_check: one warning, moved aside, correct scores."""
    damaged_mid_file(tmp_path)
    with caplog.at_level(logging.WARNING, logger="sdscm"):
        res = CachedBackend(HashBackend(), tmp_path).score(REQS[:5])
    assert scores(res) == scores(HashBackend().score(REQS[:5]))
    warned = [r for r in caplog.records if r.name == "sdscm"]
    assert len(warned) == 1 and "is damaged" in warned[0].getMessage(), caplog.text
    assert "\n" not in warned[0].getMessage()
    assert len(list(tmp_path.glob("scores.sqlite.corrupt-*"))) == 1
    assert ScoreCache(tmp_path).info()["entries"] == 5


def test_moved_aside_files_older_than_a_week_are_deleted_on_open(tmp_path: Path) -> None:
    old, recent = tmp_path / "scores.sqlite.corrupt-1-1", tmp_path / "scores.sqlite.corrupt-2-2"
    for path in (old, recent):
        path.write_bytes(b"junk")
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(old, (week_ago, week_ago))
    CachedBackend(HashBackend(), tmp_path).score(REQS[:2])
    assert not old.exists() and recent.exists()
    assert ScoreCache(tmp_path).info()["corrupt_files"] == [str(recent)]


def test_cli_cache_commands_and_a_scoring_run_on_a_cache_damaged_mid_file(tmp_path: Path) -> None:
    """`cache info`, `cache clear` and `sample` each work on a damaged file: one warning line, no traceback."""
    import yaml
    from typer.testing import CliRunner

    from sdscm.cli.app import app
    from tiny_models import save_tiny_model

    runner = CliRunner()

    def check(res, *expected: str) -> None:
        assert res.exit_code == 0, res.output
        assert "Traceback" not in res.output
        lines = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
        assert len(lines) == 1 and "is damaged" in lines[0] and "moved it to scores.sqlite.corrupt-" in lines[0], \
            res.stderr
        for text in expected:
            assert text in res.stdout, res.stdout

    cache = tmp_path / "cache"
    damaged_mid_file(cache)
    check(runner.invoke(app, ["cache", "info", "--cache", str(cache)]), "entries: 0", "damaged files moved aside: 1")
    damaged_mid_file(cache)
    check(runner.invoke(app, ["cache", "clear", "--cache", str(cache)]), "removed 0")
    assert not list(cache.glob("scores.sqlite.corrupt-*"))  # clear deletes moved-aside files too

    model_dir = save_tiny_model(tmp_path / "tiny", "llama")
    spec = {"name": "lm-toy", "variables": [
        {"name": "weather", "values": ["sunny", "rainy"], "phrasings": ["The day is {value}."]},
        {"name": "activity", "values": ["the gym", "a run"], "parents": ["weather"],
         "phrasings": ["They go to {value}."]}]}
    path = tmp_path / "lm.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    first = runner.invoke(app, ["sample", str(path), "-n", "20", "--model", str(model_dir), "--cache",
                                str(cache), "--out", str(tmp_path / "a.parquet")])
    assert first.exit_code == 0, first.output
    damaged_mid_file(cache)
    check(runner.invoke(app, ["sample", str(path), "-n", "20", "--model", str(model_dir), "--cache", str(cache),
                              "--out", str(tmp_path / "b.parquet")]))
    import pandas as pd

    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))
