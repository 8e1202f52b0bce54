"""The numerical floor of a benchmark dataset: how far the backend's own arithmetic moves its outcome.

The engine scores contexts in large batches through shared key/value prefixes. Floating-point
sums then depend (slightly) on what else is in the batch and on the path taken. The floor is
measured per dataset: a seeded sample of units has its outcome mechanism re-scored under both
arms, each request on its own (its own batch), through the plain scoring path where the backend
has one (``score_plain``), bypassing every memo and the persistent score cache. The floor is the
largest difference, over those units and both arms, between the re-scored outcome quantity and
the one in the dataset (probability scale for `probability` and `category`, raw score for
`log_score`). An effect that is not clearly above it is numerical noise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sdscm.backends.base import ScoreRequest, ScoreResult, ScoringBackend
from sdscm.engine.mechanisms import mechanism_keys, normalize
from sdscm.engine.score_memo import candidate_scores
from sdscm.engine.worlds import World
from sdscm.model import SDSCM

FLOOR_UNITS = 8
"""Units re-scored per dataset (each under both arms)."""


def independent_scores(backend: ScoringBackend, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
    """Score each request alone, past any score cache, through the plain path when there is one."""
    inner = backend
    while hasattr(inner, "inner"):  # a CachedBackend (or another wrapper): go to the model itself
        inner = inner.inner  # type: ignore[attr-defined]
    plain = getattr(inner, "score_plain", None)
    if callable(plain):
        return list(plain(requests))
    return [inner.score([request])[0] for request in requests]


def floor_units(n: int, seed: int, count: int = FLOOR_UNITS) -> np.ndarray:
    """The positions of the units re-scored: `count` of `n`, drawn reproducibly from `seed`."""
    rng = np.random.default_rng([int(seed) & (2**63 - 1), 0x5D5C])
    return np.sort(rng.choice(n, size=min(count, n), replace=False))


def numerical_floor(model: SDSCM, outcome: str, outcome_value: str, quantity: str,
                    worlds: Sequence[World], seed: int, count: int = FLOOR_UNITS) -> float | None:
    """Largest difference between the outcome quantity in `worlds` and an independent re-scoring.

    Returns None when the outcome is not scored by the language model (no numerical error).
    """
    var = model.variable(outcome)
    if var.mechanism != "lm" or not worlds:
        return None
    j = var.values.index(outcome_value)
    rows = floor_units(len(worlds[0].unit_ids), seed, count)
    worst = 0.0
    for world in worlds:
        if world.scores[var.index] is None:  # the outcome was intervened on in this world
            continue
        parents = world.values[np.ix_(rows, np.asarray(var.parent_index, dtype=np.int64))]
        keys = mechanism_keys(model.variables, var, parents, model.memo.score_suffix)
        results = independent_scores(model.memo.backend, [ScoreRequest(c, conts) for c, conts in keys])
        scores = np.stack([candidate_scores(r, model.memo.length_normalize) for r in results])
        if quantity == "log_score":
            fresh, stored = scores[:, j], np.asarray(world.scores[var.index])[rows, j]
        else:
            fresh, stored = np.exp(normalize(scores)[:, j]), np.exp(world.log_probs[var.index][rows, j])
        worst = max(worst, float(np.max(np.abs(fresh - stored))))
    return worst
