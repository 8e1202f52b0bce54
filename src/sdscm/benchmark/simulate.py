"""One benchmark dataset: units drawn from one SD-SCM with both treatment arms, exact potential
outcomes, and the dataset laid out as the stored (ACIC-style) frame with its metadata.

The units 0..n-1 are drawn with one noise seed, and both treatment arms are computed as
shared-noise counterfactual worlds do(T=control), do(T=treated) of the same units. The outcome
quantity in each arm world is exact (a probability or a raw score), so the potential outcomes
mu0, mu1 and the ITE are ground truth, not estimates.

Treatments with more than two values: the benchmark population is the SD-SCM conditioned on
T in {control, treated}. The factual arm is argmax over those two values of (log P + Gumbel noise),
an exact draw from P(T | parents, T in arms), and `e` is the renormalised P(treated | parents).
For a binary treatment this is exactly the observational draw and the model's propensity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from sdscm.benchmark.design import Design
from sdscm.benchmark.storage import (
    COVARIATE,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_SUFFIX,
    ROLE_E,
    ROLE_ID,
    ROLE_ITE,
    ROLE_MU,
    ROLE_T,
    ROLE_TEXT,
    ROLE_Y,
    ROLE_Y_CATEGORY,
)
from sdscm.engine.noise_sources import SeededNoise
from sdscm.engine.worlds import World, unit_texts
from sdscm.errors import BenchmarkError
from sdscm.model import SDSCM
from sdscm.semantics.noise import gumbel_max


@dataclass
class SimulatedDataset:
    """The worlds of one dataset: observational, both arms, and the benchmark arrays."""

    design: Design
    unit_ids: np.ndarray
    seed: int
    observational: World
    control_world: World
    treated_world: World
    t: np.ndarray  # 0/1
    e: np.ndarray  # P(T = treated | T's parents, T in arms)
    mu0: np.ndarray
    mu1: np.ndarray
    factual_values: np.ndarray  # (n, V): the arm world at each unit's t

    @property
    def y(self) -> np.ndarray:
        """The factual outcome quantity: mu_t at each unit's own t."""
        return np.where(self.t == 1, self.mu1, self.mu0)

    @property
    def ite(self) -> np.ndarray:
        return self.mu1 - self.mu0


def outcome_quantity(model: SDSCM, design: Design, world: World) -> np.ndarray:
    """The outcome quantity of every unit in one world (probability, raw score, or indicator)."""
    y_var = model.variable(design.outcome)
    j = y_var.values.index(design.outcome_value)
    if design.quantity == "probability":
        return np.exp(world.log_probs[y_var.index][:, j])
    if design.quantity == "log_score":
        raw = world.scores[y_var.index]
        if raw is None:
            raise BenchmarkError(f"outcome '{design.outcome}' has no raw scores; use quantity 'probability'")
        return np.asarray(raw[:, j], dtype=float)
    return (world.values[:, y_var.index] == j).astype(float)


def simulate_dataset(model: SDSCM, design: Design, n: int, seed: int) -> SimulatedDataset:
    """Draw units 0..n-1 with noise `seed` and evaluate both treatment arms with shared noise."""
    if n < 1:
        raise BenchmarkError(f"n must be at least 1, got {n}")
    unit_ids = np.arange(n, dtype=np.int64)
    seeds = np.full(n, int(seed), dtype=np.int64)
    # Factual world and both arms chunk by chunk (a chunk's shared text is scored while cached).
    obs, (w0, w1) = model.potential_outcome_worlds(
        unit_ids, seeds, [{design.treatment: design.control}, {design.treatment: design.treated}])
    t_var = model.variable(design.treatment)
    c, tr = t_var.values.index(design.control), t_var.values.index(design.treated)
    arms = sorted((c, tr))  # index order, so ties break like the engine's argmax
    lp = obs.log_probs[t_var.index][:, arms]
    norm = logsumexp(lp, axis=1)
    if not np.all(np.isfinite(norm)):
        bad = int(np.flatnonzero(~np.isfinite(norm))[0])
        raise BenchmarkError(
            f"unit {bad}: both '{design.control}' and '{design.treated}' have probability zero for "
            f"'{design.treatment}', so the unit can be in neither arm"
        )
    if t_var.size == 2:  # the model's own propensity, bit for bit
        e = np.exp(obs.log_probs[t_var.index][:, tr])
    else:
        e = np.exp(lp[:, arms.index(tr)] - norm)
    g = SeededNoise(seeds).gumbel(t_var.name, unit_ids, t_var.size)[:, arms]
    t = (np.asarray(arms)[gumbel_max(lp, g)] == tr).astype(np.int64)
    factual = np.where(t[:, None] == 1, w1.values, w0.values)
    return SimulatedDataset(
        design=design, unit_ids=unit_ids, seed=int(seed), observational=obs, control_world=w0,
        treated_world=w1, t=t, e=e, mu0=outcome_quantity(model, design, w0),
        mu1=outcome_quantity(model, design, w1), factual_values=factual,
    )


def dataset_frame(model: SDSCM, sim: SimulatedDataset, roles: dict[str, str],
                  name: str, extra: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ACIC-style DataFrame of one dataset and its metadata (column roles, design, phrasings)."""
    design = sim.design
    cols: dict[str, Any] = {"unit_id": sim.unit_ids}
    columns: dict[str, dict[str, Any]] = {"unit_id": {"role": ROLE_ID}}
    variables = []
    order = sorted(model.variables, key=lambda v: (roles[v.name] != COVARIATE, v.index))
    for v in order:
        idx = sim.factual_values[:, v.index]
        cols[v.name] = np.asarray(v.values, dtype=object)[idx]
        cols[v.name + INDEX_SUFFIX] = idx.astype(np.int64)
        info = {"role": roles[v.name], "variable": v.name, "exogenous": bool(v.exogenous)}
        columns[v.name] = {**info, "encoding": "label"}
        columns[v.name + INDEX_SUFFIX] = {**info, "encoding": "index"}
    for v in model.variables:
        variables.append({
            "name": v.name, "values": list(v.values), "role": roles[v.name], "exogenous": bool(v.exogenous),
            "parents": list(v.parents), "phrasing": v.phrasing, "mechanism": v.mechanism,
            "label_column": v.name, "index_column": v.name + INDEX_SUFFIX,
        })
    y_var = model.variable(design.outcome)
    y_labels = np.asarray(y_var.values, dtype=object)
    cols.update({
        "t": sim.t, "y": sim.y, "mu0": sim.mu0, "mu1": sim.mu1, "ite": sim.ite, "e": sim.e,
        "y0": y_labels[sim.control_world.values[:, y_var.index]],
        "y1": y_labels[sim.treated_world.values[:, y_var.index]],
    })
    cols["text"] = unit_texts(model.variables, sim.factual_values)
    columns.update({
        "t": {"role": ROLE_T}, "y": {"role": ROLE_Y}, "mu0": {"role": ROLE_MU, "arm": design.control},
        "mu1": {"role": ROLE_MU, "arm": design.treated}, "ite": {"role": ROLE_ITE}, "e": {"role": ROLE_E},
        "y0": {"role": ROLE_Y_CATEGORY, "arm": design.control},
        "y1": {"role": ROLE_Y_CATEGORY, "arm": design.treated},
        "text": {"role": ROLE_TEXT},
    })
    metadata = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": name, "seed": sim.seed,
        "n": int(len(sim.unit_ids)), "variant": model.variant, "design": design.as_dict(),
        "columns": columns, "variables": variables,
        # model, language model and fingerprint, variant, seed, noise, library versions (the arms
        # are the design's treatment values)
        "provenance": model.provenance(seed=int(sim.seed), noise="shared: a unit's noise is keyed by (seed, "
                                       "unit id, variable), the same in its factual world and under each arm"),
        **(extra or {}),
    }
    return pd.DataFrame(cols), metadata
