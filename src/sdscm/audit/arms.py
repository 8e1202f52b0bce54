"""The worlds of one audit variant: units sampled with recorded noise, and the outcome's exact
distribution in the factual, do(cause=A), do(cause=B) and placebo worlds (:class:`VariantArm`).

Because the units' noise is recorded, the shared-noise counterfactual world of a unit under
do(cause = A) is the same model run under do(cause = A) with the same (seed, unit id):
non-descendants of the cause come out identical and descendants are recomputed with the unit's
own noise (DESIGN.md, "Counterfactuals").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sdscm.audit.setup import AuditSetup, placebo_template
from sdscm.engine.compiled import choose_phrasings
from sdscm.model import SDSCM


@dataclass
class VariantArm:
    """Per-unit results of one variant: outcome distributions in every world, as arrays."""

    variant: int | None
    phrasings: dict[str, str]
    cause_phrasing: str
    placebo_phrasing: str | None
    unit_ids: np.ndarray  # (n,)
    seeds: np.ndarray  # (n,)
    cause_factual: np.ndarray  # (n,) value index of the cause in the factual world
    outcome_factual: np.ndarray  # (n,) sampled outcome index, factual world
    outcome_a: np.ndarray  # (n,) sampled outcome index, world do(cause=A)
    outcome_b: np.ndarray  # (n,) world do(cause=B)
    probs_a: np.ndarray  # (n, k) outcome distribution, world A
    probs_b: np.ndarray  # (n, k) world B
    outcome_placebo: np.ndarray | None = None  # (n,) world do(cause=A) with the placebo phrasing
    probs_placebo: np.ndarray | None = None  # (n, k)
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return len(self.unit_ids)

    @property
    def has_placebo(self) -> bool:
        return self.probs_placebo is not None


def run_variant(base: SDSCM, setup: AuditSetup, position: int, variant: int | None) -> VariantArm:
    """Sample `n` units of one variant and compute the outcome in the factual, A, B and placebo worlds."""
    started = time.perf_counter()
    model = base if variant is None else base.with_phrasings(choose_phrasings(setup.spec, variant))
    n = setup.n
    unit_ids = np.arange(position * n, (position + 1) * n, dtype=np.int64)
    seeds = np.full(n, setup.seed, dtype=np.int64)
    cause_var, out_var = model.variable(setup.cause), model.variable(setup.outcome)
    a, b = setup.values
    factual = model.simulate(unit_ids, seeds)
    chosen = model.phrasings[setup.cause]
    placebo = placebo_template(setup, chosen)
    oi = out_var.index
    if not setup.upstream:
        # The outcome and all its ancestors are non-descendants of the cause: in every counterfactual
        # world they keep their factual values and distributions (shared noise), so reuse the factual world.
        world_a = world_b = factual
        world_p = factual if placebo is not None else None
    else:
        world_a = model.do({setup.cause: a}).simulate(unit_ids, seeds)
        world_b = model.do({setup.cause: b}).simulate(unit_ids, seeds)
        world_p = (model.with_phrasings({setup.cause: placebo}).do({setup.cause: a}).simulate(unit_ids, seeds)
                   if placebo is not None else None)
    return VariantArm(
        variant=variant,
        phrasings=dict(model.phrasings),
        cause_phrasing=chosen,
        placebo_phrasing=placebo,
        unit_ids=unit_ids,
        seeds=seeds,
        cause_factual=factual.values[:, cause_var.index].copy(),
        outcome_factual=factual.values[:, oi].copy(),
        outcome_a=world_a.values[:, oi].copy(),
        outcome_b=world_b.values[:, oi].copy(),
        probs_a=world_a.probabilities(oi),
        probs_b=world_b.probabilities(oi),
        outcome_placebo=None if world_p is None else world_p.values[:, oi].copy(),
        probs_placebo=None if world_p is None else world_p.probabilities(oi),
        seconds=time.perf_counter() - started,
    )


def units_frame(setup: AuditSetup, arms: Sequence[VariantArm]) -> pd.DataFrame:
    """Per-unit results in long form: one row per (variant, unit, outcome value)."""
    spec_cause = setup.spec.variable(setup.cause)
    domain = list(setup.spec.variable(setup.outcome).values)
    labels = np.asarray(domain, dtype=object)
    cause_labels = np.asarray(spec_cause.values, dtype=object)
    frames = []
    for arm in arms:
        for value in setup.outcome_values:
            j = domain.index(value)
            data: dict[str, Any] = {
                "variant": np.full(arm.n, -1 if arm.variant is None else arm.variant, dtype=np.int64),
                "unit_id": arm.unit_ids,
                "seed": arm.seeds,
                "outcome_value": np.full(arm.n, value, dtype=object),
                "cause_factual": cause_labels[arm.cause_factual],
                "outcome_factual": labels[arm.outcome_factual],
                "outcome_do_a": labels[arm.outcome_a],
                "outcome_do_b": labels[arm.outcome_b],
                "prob_do_a": arm.probs_a[:, j],
                "prob_do_b": arm.probs_b[:, j],
                "effect": arm.probs_b[:, j] - arm.probs_a[:, j],
                "flip": arm.outcome_a != arm.outcome_b,
            }
            if arm.has_placebo:
                data.update({
                    "outcome_placebo": labels[arm.outcome_placebo],
                    "prob_placebo": arm.probs_placebo[:, j],
                    "placebo_change": arm.probs_placebo[:, j] - arm.probs_a[:, j],
                    "placebo_flip": arm.outcome_placebo != arm.outcome_a,
                })
            frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)
