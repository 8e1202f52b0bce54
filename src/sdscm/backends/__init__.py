"""Scoring backends: turn (context, continuations) into teacher-forced log-probabilities.

`base` holds the protocol; `tokenization` the text -> token-id convention; `transformers_backend`
the transformers implementation; `default_model` the packaged SmolLM2 and sdscm's model cache.
The torch-based names are imported lazily, so `import sdscm` stays light.
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
