"""Start-up: a query the score cache answers completely never loads the language model, and the
scoring probes run once per model and library versions, not once per process."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from sdscm.backends.lazy import LazyBackend, memo_key, recall
from sdscm.backends.transformers_backend import TransformersBackend
from sdscm.model import SDSCM

from conftest import weather_spec
from tiny_models import save_tiny_model


@pytest.fixture
def model_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SDSCM_CACHE_DIR", str(tmp_path / "cache"))
    return save_tiny_model(tmp_path / "tiny")


def _lazy(m: SDSCM) -> LazyBackend:
    inner = m.memo.backend.inner  # CachedBackend -> LazyBackend (not loading anything)
    assert isinstance(inner, LazyBackend)
    return inner


def test_fully_cached_query_never_loads_the_model(model_folder: Path, tmp_path: Path) -> None:
    """Second process-like run (a new SDSCM) on the same files: same frame, no model load."""
    spec = weather_spec(name=str(model_folder), device="cpu")
    first = SDSCM(spec, variant=0, cache=tmp_path / "scores")
    a = first.sample(6, seed=3)
    assert _lazy(first).loaded  # nothing was cached: the model had to score

    again = SDSCM(spec, variant=0, cache=tmp_path / "scores")
    b = again.sample(6, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not _lazy(again).loaded
    assert again.memo.backend.fingerprint == first.memo.backend.fingerprint

    # A query with a context never scored loads the model, and its fingerprint is the remembered one.
    more = again.do({"weather": "snowy"}).sample(6, seed=4)
    assert len(more) == 6 and _lazy(again).loaded
    assert again.memo.backend.fingerprint == first.memo.backend.fingerprint


def test_changed_model_files_are_not_answered_from_the_memo(model_folder: Path) -> None:
    """Any change to a file of the folder (size, time) makes the remembered fingerprint unusable."""
    options = {"name": str(model_folder), "dtype": "float32", "start_token": None, "batch_invariant": False}
    key = memo_key(model_folder, options)
    lazy = LazyBackend(lambda: TransformersBackend(str(model_folder), device="cpu"), key)
    assert lazy._fingerprint is None  # nothing remembered yet
    fp = lazy.fingerprint  # loads
    assert recall(key) == fp
    config = model_folder / "config.json"
    config.write_text(config.read_text() + "\n")
    st = config.stat()
    os.utime(config, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert recall(memo_key(model_folder, options)) is None
    assert recall(memo_key(model_folder, {**options, "start_token": "<s>"})) is None


def test_probes_run_once_per_model_files(model_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gathered-head and shared-prefix probes' outcomes are remembered for a model from files."""
    first = TransformersBackend(str(model_folder), device="cpu")
    assert first.uses_prefix_cache and first.uses_gathered_head

    def boom(self: TransformersBackend) -> bool:
        raise AssertionError("probe ran again")

    monkeypatch.setattr(TransformersBackend, "_probe_gather", boom)
    monkeypatch.setattr(TransformersBackend, "_probe_prefix", boom)
    second = TransformersBackend(str(model_folder), device="cpu")
    assert second.uses_prefix_cache and second.uses_gathered_head

    # Another token budget (the prefix probe packs batches by it) is probed afresh.
    third = TransformersBackend(str(model_folder), device="cpu", max_batch_tokens=123)
    with pytest.raises(AssertionError, match="probe ran again"):
        third.uses_gathered_head
