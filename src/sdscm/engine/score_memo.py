"""The score memo: candidate scores keyed by (context text, continuations), each scored once.

A mechanism is a pure function of (model, phrasing, parent values), in fact of the (context text,
continuations) pair, so each distinct pair is sent to the backend once per memo and reused by
every unit, world and query that meets it. The backend is created on first use: a model whose
mechanisms are all categorical never loads a language model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from sdscm.backends.base import ScoreRequest, ScoreResult, ScoringBackend

ScoreKey = tuple[str, tuple[str, ...]]
"""(context text, continuations): what one score request asks."""


@dataclass
class MemoStats:
    """How many distinct contexts were scored and how many lookups the memo answered."""

    scored: int = 0
    lookups: int = 0
    backend_calls: int = 0


def candidate_scores(result: ScoreResult, length_normalize: bool) -> np.ndarray:
    """A request's candidate scores: summed token log-probs, or their mean with `length_normalize`."""
    total = np.asarray(result.logprob_sum, dtype=np.float64)
    if length_normalize:
        total = total / np.asarray(result.num_tokens, dtype=np.float64)
    return total


@dataclass
class ScoreMemo:
    """In-memory memo of candidate scores keyed by (context, continuations); the backend is built lazily."""

    backend_factory: Callable[[], ScoringBackend]
    length_normalize: bool = False
    score_suffix: bool = False
    _backend: ScoringBackend | None = None
    _memo: dict[ScoreKey, np.ndarray] = field(default_factory=dict)
    stats: MemoStats = field(default_factory=MemoStats)

    @property
    def backend(self) -> ScoringBackend:
        if self._backend is None:
            self._backend = self.backend_factory()
        return self._backend

    @property
    def backend_if_built(self) -> ScoringBackend | None:
        """The backend if a score was ever needed, else None (nothing is loaded to answer)."""
        return self._backend

    def scores(self, keys: Sequence[ScoreKey]) -> list[np.ndarray]:
        """Candidate scores (sum, or mean with `length_normalize`) for each key, scoring only unseen ones."""
        self.stats.lookups += len(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if missing:
            results = self.backend.score([ScoreRequest(c, conts) for c, conts in missing])
            self.stats.backend_calls += 1
            self.stats.scored += len(missing)
            for key, res in zip(missing, results):
                self._memo[key] = candidate_scores(res, self.length_normalize)
        return [self._memo[k] for k in keys]
