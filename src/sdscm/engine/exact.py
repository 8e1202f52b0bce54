"""Exact enumeration of observational and interventional distributions for small models."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sdscm.engine.compiled import CompiledVariable
from sdscm.engine.interventions import Intervention
from sdscm.engine.mechanisms import mechanism_log_probs
from sdscm.engine.score_memo import ScoreMemo
from sdscm.errors import QueryError

DEFAULT_MAX_STATES = 100_000


def joint_size(variables: Sequence[CompiledVariable], interventions: Mapping[str, Intervention]) -> int:
    """Number of joint states to enumerate (hard interventions fix a variable to one state)."""
    size = 1
    for var in variables:
        iv = interventions.get(var.name)
        size *= 1 if (iv is not None and iv.is_hard) else var.size
    return size


def enumerate_joint(
    memo: ScoreMemo,
    variables: Sequence[CompiledVariable],
    interventions: Mapping[str, Intervention],
    max_states: int = DEFAULT_MAX_STATES,
) -> tuple[np.ndarray, np.ndarray]:
    """All joint states with positive probability: (states (m, V) value indices, probabilities (m,))."""
    size = joint_size(variables, interventions)
    if size > max_states:
        raise QueryError(
            f"exact enumeration needs {size:,} joint states, more than max_states={max_states:,}; "
            "sample instead, intervene on more variables, or raise max_states"
        )
    states = np.zeros((1, len(variables)), dtype=np.int64)
    logp = np.zeros(1)
    for var in variables:
        iv = interventions.get(var.name)
        if iv is not None and iv.is_hard:
            states[:, var.index] = iv.index
            continue
        if iv is not None:
            lp = np.broadcast_to(iv.log_probs, (len(states), var.size))
        else:
            lp, _ = mechanism_log_probs(memo, variables, var, states[:, list(var.parent_index)])
        new_logp = (logp[:, None] + lp).reshape(-1)
        new_states = np.repeat(states, var.size, axis=0)
        new_states[:, var.index] = np.tile(np.arange(var.size), len(states))
        keep = np.isfinite(new_logp)
        states, logp = new_states[keep], new_logp[keep]
    return states, np.exp(logp)


def exact_table(
    variables: Sequence[CompiledVariable],
    states: np.ndarray,
    probs: np.ndarray,
    keep: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Marginalise the enumerated joint onto `keep` (default: all variables), one row per state."""
    names = [v.name for v in variables]
    keep = list(keep) if keep is not None else names
    unknown = [k for k in keep if k not in names]
    if unknown:
        raise QueryError(f"unknown variable(s) {unknown}; known variables: {names}")
    index = [names.index(k) for k in keep]
    sub = states[:, index]
    uniq, inverse = np.unique(sub, axis=0, return_inverse=True)
    total = np.bincount(inverse.reshape(-1), weights=probs, minlength=len(uniq))
    data: dict[str, object] = {}
    for col, i in enumerate(index):
        data[names[i]] = np.asarray(variables[i].values, dtype=object)[uniq[:, col]]
    data["probability"] = total
    return pd.DataFrame(data)
