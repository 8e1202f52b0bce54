"""Mechanisms P(X_i | pa_i): the prompts a variable is scored under, and scores turned into distributions.

Each variable's phrasing lives on its :class:`~sdscm.engine.compiled.CompiledVariable`; the
context of a row of parent values is built from the parents' own phrasings (DESIGN.md section 1,
"Context"), and the scores come from the :class:`~sdscm.engine.score_memo.ScoreMemo`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import logsumexp

from sdscm.engine.compiled import CompiledVariable
from sdscm.engine.score_memo import ScoreKey, ScoreMemo
from sdscm.errors import QueryError
from sdscm.semantics.text import context_text, continuation_text, render


def normalize(scores: np.ndarray) -> np.ndarray:
    """Softmax over candidates, in log space: the mechanism's log-probabilities."""
    return scores - logsumexp(scores, axis=-1, keepdims=True)


def parent_sentences(variables: Sequence[CompiledVariable], var: CompiledVariable, row: Sequence[int]) -> list[str]:
    """Rendered sentences of a variable's parents for one row of parent value indices."""
    return [render(variables[pi].phrasing, variables[pi].values[v]) for pi, v in zip(var.parent_index, row)]


def mechanism_keys(
    variables: Sequence[CompiledVariable],
    var: CompiledVariable,
    parent_rows: np.ndarray,
    score_suffix: bool,
) -> list[ScoreKey]:
    """The (context, continuations) pair an `lm` mechanism scores for each row of parent values."""
    continuations = tuple(continuation_text(var.phrasing, v, score_suffix) for v in var.values)
    return [(context_text(var.phrasing, parent_sentences(variables, var, row)), continuations)
            for row in parent_rows]


def mechanism_log_probs(
    memo: ScoreMemo,
    variables: Sequence[CompiledVariable],
    var: CompiledVariable,
    parent_values: np.ndarray,
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
    keys = mechanism_keys(variables, var, uniq, memo.score_suffix)
    scores = np.stack(memo.scores(keys))
    return normalize(scores)[inverse], scores[inverse]
