"""Scoring backends: turn (context, continuations) into teacher-forced log-probabilities.

- `base`: the protocol every backend implements (the extension point); `factory`: build_backend,
  the one place a backend is built from a model section (plus the score cache).
- `score_cache`: the persistent SQLite score cache (a wrapper around any backend); `disk_cache`:
  the cache folder and memoised file hashes.
- the transformers backend: `transformers_backend` (the class), `tokenization` (text -> token ids),
  `batching` (plain batched scoring), `prefix_cache` + `prefix_scoring` (shared-prefix scoring),
  `loading`, `fingerprint`, `bf16_cpu`; `default_model`: the packaged SmolLM2 and its conversion.

The torch-based names below are resolved on first access (PEP 562), so that `import sdscm` does not
import torch (seconds at start-up) for models and commands that never score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sdscm.backends.base import Capability, ScoreRequest, ScoreResult, ScoringBackend

if TYPE_CHECKING:
    from sdscm.backends.default_model import DEFAULT_START_TOKEN, default_model_path
    from sdscm.backends.transformers_backend import TransformersBackend

__all__ = [
    "DEFAULT_START_TOKEN",
    "Capability",
    "ScoreRequest",
    "ScoreResult",
    "ScoringBackend",
    "TransformersBackend",
    "default_model_path",
]

_LAZY = {
    "TransformersBackend": "sdscm.backends.transformers_backend",
    "default_model_path": "sdscm.backends.default_model",
    "DEFAULT_START_TOKEN": "sdscm.backends.default_model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sdscm.backends' has no attribute {name!r}")
