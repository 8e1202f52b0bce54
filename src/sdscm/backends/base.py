"""The scoring-backend protocol: the one extension point between the engine and a language model.

A backend turns (context, candidate continuations) into teacher-forced log-probabilities.
It knows nothing about variables, DAGs or noise; the engine builds the texts
(:mod:`sdscm.semantics.text`) and turns scores into mechanisms. Backends are built from a model
section by :func:`sdscm.backends.factory.build_backend`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np

Capability = Literal["exact", "first_token"]


@dataclass(frozen=True)
class ScoreRequest:
    """Score every continuation given one context.

    `context` is the raw context text (it may end in whitespace: the backend moves trailing
    whitespace to the front of each continuation, the lm-eval convention).
    """

    context: str
    continuations: tuple[str, ...]


@dataclass(frozen=True)
class ScoreResult:
    """Per continuation: the sum of its token log-probabilities and its token count."""

    logprob_sum: np.ndarray  # float64, shape (len(continuations),)
    num_tokens: np.ndarray  # int64, shape (len(continuations),)


@runtime_checkable
class ScoringBackend(Protocol):
    """Anything that scores continuations. Results should not depend on batch composition: the
    transformers backend's fast path agrees across batches to about 1e-5 nats, its batch-invariant
    mode bit for bit (docs/performance.md#batch-invariance)."""

    capability: Capability

    @property
    def fingerprint(self) -> str:
        """Stable id of (model weights, tokenizer, start token, dtype): the score-cache key."""
        ...

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        """Score many requests at once; result i belongs to request i."""
        ...
