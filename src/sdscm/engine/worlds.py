"""Evaluate one world for many units, variable by variable (variable-major, DESIGN.md section 2).

Observational, interventional and counterfactual queries are all this loop with different
clamps (interventions, values held from the factual world) and noise sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from sdscm.engine.compiled import CompiledVariable
from sdscm.engine.interventions import Intervention, push_forward
from sdscm.engine.mechanisms import mechanism_log_probs
from sdscm.engine.noise_sources import NoiseSource
from sdscm.engine.score_memo import ScoreMemo
from sdscm.semantics.noise import gumbel_max
from sdscm.semantics.text import render, story


@dataclass
class World:
    """Values and exact distributions of every variable for n units in one world."""

    unit_ids: np.ndarray  # (n,)
    values: np.ndarray  # (n, V) value indices
    log_probs: list[np.ndarray]  # per variable, (n, k): the distribution each unit's value was drawn from
    scores: list[np.ndarray | None]  # per variable, raw candidate scores for lm mechanisms

    def probabilities(self, index: int) -> np.ndarray:
        return np.exp(self.log_probs[index])

    def texts(self, variables: Sequence[CompiledVariable]) -> list[str]:
        """Each unit's story: all sentences in topological order."""
        return unit_texts(variables, self.values)


def unit_texts(variables: Sequence[CompiledVariable], values: np.ndarray) -> list[str]:
    """The story of each row of value indices (n, V): every variable's sentence in topological order."""
    return [story([render(v.phrasing, v.values[row[v.index]]) for v in variables]) for row in values]


def evaluate_world(
    memo: ScoreMemo,
    variables: Sequence[CompiledVariable],
    unit_ids: np.ndarray,
    noise: NoiseSource | None,
    interventions: Mapping[str, Intervention] | None = None,
    held: Mapping[str, np.ndarray] | None = None,
    on_variable: Callable[[CompiledVariable], None] | None = None,
) -> World:
    """Run the SD-SCM forward for all units at once.

    `held` maps variables to value indices kept from another world (non-descendants in
    counterfactuals, or observed values); their distributions are still computed. A functional
    intervention `X := f(X)` applies f to the drawn (or held) value; the recorded distribution
    of X is then f's push-forward of the mechanism.
    `noise` may be None only when every non-intervened variable is held.
    """
    interventions = dict(interventions or {})
    held = dict(held or {})
    unit_ids = np.asarray(unit_ids, dtype=np.int64)
    n = len(unit_ids)
    values = np.zeros((n, len(variables)), dtype=np.int64)
    log_probs: list[np.ndarray] = []
    scores: list[np.ndarray | None] = []
    for var in variables:
        iv = interventions.get(var.name)
        raw: np.ndarray | None = None
        if iv is not None and iv.is_hard:
            lp = np.full((n, var.size), -np.inf)
            lp[:, iv.index] = 0.0
            values[:, var.index] = iv.index
            log_probs.append(lp)
            scores.append(raw)
            if on_variable is not None:
                on_variable(var)
            continue
        if iv is not None and iv.log_probs is not None:
            lp = np.broadcast_to(iv.log_probs, (n, var.size)).copy()
        else:
            lp, raw = mechanism_log_probs(memo, variables, var, values[:, list(var.parent_index)])
        if var.name in held:
            drawn = np.asarray(held[var.name], dtype=np.int64)
        else:
            if noise is None:
                raise ValueError(f"no noise source for variable {var.name!r}")
            drawn = gumbel_max(lp, noise.gumbel(var.name, unit_ids, var.size))
        if iv is not None and iv.mapping is not None:
            # do(X := f(X)): the mechanism's value (drawn, or held from the observed world), then f
            values[:, var.index] = iv.mapping[drawn]
            lp = push_forward(lp, iv.mapping)
        else:
            values[:, var.index] = drawn
        log_probs.append(lp)
        scores.append(raw)
        if on_variable is not None:
            on_variable(var)
    return World(unit_ids=unit_ids, values=values, log_probs=log_probs, scores=scores)


def concat_worlds(worlds: Sequence[World]) -> World:
    """Stack worlds of disjoint unit chunks (same variables) into one."""
    if len(worlds) == 1:
        return worlds[0]
    first = worlds[0]
    return World(
        unit_ids=np.concatenate([w.unit_ids for w in worlds]),
        values=np.concatenate([w.values for w in worlds]),
        log_probs=[np.concatenate([w.log_probs[i] for w in worlds]) for i in range(len(first.log_probs))],
        scores=[
            None if first.scores[i] is None else np.concatenate([w.scores[i] for w in worlds])  # type: ignore[misc]
            for i in range(len(first.scores))
        ],
    )


def chunks(n: int, size: int) -> list[slice]:
    """Consecutive slices of at most `size` units covering 0..n."""
    size = max(1, int(size))
    return [slice(i, min(n, i + size)) for i in range(0, n, size)] or [slice(0, 0)]
