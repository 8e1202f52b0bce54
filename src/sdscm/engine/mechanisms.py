"""Mechanisms P(X_i | pa_i): language-model scores turned into distributions, memoised.

A mechanism is a pure function of (model, phrasing, parent values) — in fact of the
(context text, continuations) pair — so each distinct pair is scored once per store and
reused by every unit, world and query that meets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from scipy.special import logsumexp

from sdscm.backends.base import ScoreRequest, ScoringBackend
from sdscm.engine.compiled import CompiledVariable
from sdscm.errors import QueryError
from sdscm.semantics.text import context_text, continuation_text, render

ScoreKey = tuple[str, tuple[str, ...]]


@dataclass
class StoreStats:
    """How many distinct contexts were scored and how many lookups the memo answered."""

    scored: int = 0
    lookups: int = 0
    backend_calls: int = 0


@dataclass
class MechanismStore:
    """In-memory memo of candidate scores keyed by (context, continuations); the backend is created lazily."""

    backend_factory: Callable[[], ScoringBackend]
    length_normalize: bool = False
    score_suffix: bool = False
    _backend: ScoringBackend | None = None
    _memo: dict[ScoreKey, np.ndarray] = field(default_factory=dict)
    stats: StoreStats = field(default_factory=StoreStats)

    @property
    def backend(self) -> ScoringBackend:
        if self._backend is None:
            self._backend = self.backend_factory()
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
                total = np.asarray(res.logprob_sum, dtype=np.float64)
                if self.length_normalize:
                    total = total / np.asarray(res.num_tokens, dtype=np.float64)
                self._memo[key] = total
        return [self._memo[k] for k in keys]


def normalize(scores: np.ndarray) -> np.ndarray:
    """Softmax over candidates, in log space: the mechanism's log-probabilities."""
    return scores - logsumexp(scores, axis=-1, keepdims=True)


def parent_sentences(
    variables: Sequence[CompiledVariable], var: CompiledVariable, row: Sequence[int], phrasings: dict[str, str]
) -> list[str]:
    """Rendered sentences of a variable's parents for one row of parent value indices."""
    return [
        render(phrasings[name], variables[pi].values[v])
        for name, pi, v in zip(var.parents, var.parent_index, row)
    ]


def mechanism_keys(
    variables: Sequence[CompiledVariable],
    var: CompiledVariable,
    parent_rows: np.ndarray,
    phrasings: dict[str, str],
    score_suffix: bool,
) -> list[ScoreKey]:
    """The (context, continuations) pair an `lm` mechanism scores for each row of parent values."""
    phrasing = phrasings[var.name]
    continuations = tuple(continuation_text(phrasing, v, score_suffix) for v in var.values)
    return [(context_text(phrasing, parent_sentences(variables, var, row, phrasings)), continuations)
            for row in parent_rows]


def mechanism_log_probs(
    store: MechanismStore,
    variables: Sequence[CompiledVariable],
    var: CompiledVariable,
    parent_values: np.ndarray,
    phrasings: dict[str, str],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Log-probabilities (n, k) of `var` for each row of parent value indices (n, |pa|).

    Returns also the raw candidate scores (n, k) for `lm` mechanisms (None otherwise).
    Distinct parent rows are evaluated once.
    """
    n = parent_values.shape[0]
    if var.fixed_log_probs is not None:
        return np.broadcast_to(var.fixed_log_probs, (n, var.size)).copy(), None
    if n == 0:
        return np.zeros((0, var.size)), (np.zeros((0, var.size)) if var.mechanism == "lm" else None)
    if parent_values.shape[1] == 0:
        uniq, inverse = np.zeros((1, 0), dtype=np.int64), np.zeros(n, dtype=np.int64)
    else:
        uniq, inverse = np.unique(parent_values, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
    if var.mechanism == "categorical":
        rows = []
        for row in uniq:
            labels = tuple(variables[pi].values[v] for pi, v in zip(var.parent_index, row))
            table_row = var.table.get(labels, var.default_row)
            if table_row is None:
                raise QueryError(
                    f"variable '{var.name}': its categorical table has no row for parents {dict(zip(var.parents, labels))}"
                )
            rows.append(table_row)
        return np.stack(rows)[inverse], None
    keys = mechanism_keys(variables, var, uniq, phrasings, store.score_suffix)
    scores = np.stack(store.scores(keys))
    return normalize(scores)[inverse], scores[inverse]
