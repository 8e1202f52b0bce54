"""Exact enumeration of observational, interventional and conditional distributions for small models,
and each mechanism's full conditional table (what :func:`sdscm.to_pgmpy` exports)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from sdscm.engine.compiled import CompiledVariable
from sdscm.engine.interventions import Intervention, push_forward
from sdscm.engine.mechanisms import mechanism_log_probs
from sdscm.engine.score_memo import ScoreMemo
from sdscm.errors import QueryError
from sdscm.spec.messages import did_you_mean
from sdscm.spec.values import value_index

DEFAULT_MAX_STATES = 100_000


def joint_size(variables: Sequence[CompiledVariable], interventions: Mapping[str, Intervention],
               evidence: Mapping[str, int] | None = None) -> int:
    """Number of joint states to enumerate (hard interventions and evidence fix a variable to one state)."""
    size = 1
    for var in variables:
        iv = interventions.get(var.name)
        fixed = (iv is not None and iv.is_hard) or var.name in (evidence or {})
        size *= 1 if fixed else var.size
    return size


def parse_evidence(domains: Mapping[str, Sequence[str]], evidence: Mapping[str, object]) -> dict[str, int]:
    """`{variable: label or 0-based index}` as value indices, naming every bad entry in one error."""
    if not isinstance(evidence, Mapping):
        raise QueryError(f"evidence must be a dict {{variable: value}}, got {type(evidence).__name__}")
    out: dict[str, int] = {}
    problems: list[str] = []
    for name, value in evidence.items():
        if name not in domains:
            guess = did_you_mean(str(name), domains, n=1)
            problems.append(f"evidence on unknown variable {name!r}; "
                            + (guess if guess else f"known variables: {list(domains)}"))
            continue
        index = value_index(domains[name], value, digits=False)
        if index is None:
            problems.append(f"evidence {name}={value!r}: not a value of {name!r}; use one of "
                            f"{list(domains[name])} (or a 0-based index)")
            continue
        out[name] = index
    if problems:
        raise QueryError("\n".join(problems))
    return out


def intervened_log_probs(
    memo: ScoreMemo,
    variables: Sequence[CompiledVariable],
    var: CompiledVariable,
    iv: Intervention | None,
    parent_values: np.ndarray,
) -> np.ndarray:
    """log P(var | parents) (n, k) for rows of parent value indices, in the model under `iv`."""
    n = len(parent_values)
    if iv is not None and iv.is_hard:
        lp = np.full((n, var.size), -np.inf)
        lp[:, iv.index] = 0.0
        return lp
    if iv is not None and iv.log_probs is not None:
        return np.broadcast_to(iv.log_probs, (n, var.size)).copy()
    lp, _ = mechanism_log_probs(memo, variables, var, parent_values)
    return push_forward(lp, iv.mapping) if iv is not None and iv.mapping is not None else lp


def enumerate_joint(
    memo: ScoreMemo,
    variables: Sequence[CompiledVariable],
    interventions: Mapping[str, Intervention],
    max_states: int = DEFAULT_MAX_STATES,
    evidence: Mapping[str, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All joint states with positive probability: (states (m, V) value indices, probabilities (m,)).

    With `evidence` ({variable: value index}) only the states agreeing with it are kept, so the
    probabilities are P(state, evidence) and sum to P(evidence) (pruned as soon as each evidence
    variable is reached, which keeps the enumeration small).
    """
    evidence = dict(evidence or {})
    size = joint_size(variables, interventions, evidence)
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
            if evidence.get(var.name, iv.index) != iv.index:  # evidence against do(X=v): probability 0
                return states[:0], np.zeros(0)
            continue
        lp = intervened_log_probs(memo, variables, var, iv, states[:, list(var.parent_index)])
        if var.name in evidence:
            observed = np.full_like(lp, -np.inf)
            observed[:, evidence[var.name]] = lp[:, evidence[var.name]]
            lp = observed
        new_logp = (logp[:, None] + lp).reshape(-1)
        new_states = np.repeat(states, var.size, axis=0)
        new_states[:, var.index] = np.tile(np.arange(var.size), len(states))
        keep = np.isfinite(new_logp)
        states, logp = new_states[keep], new_logp[keep]
        if not len(states):
            break
    return states, np.exp(logp)


def conditional_table(
    memo: ScoreMemo,
    variables: Sequence[CompiledVariable],
    var: CompiledVariable,
    iv: Intervention | None,
) -> np.ndarray:
    """P(var | parents) for every combination of parent values, shape (k, prod(parent sizes)).

    Columns enumerate the parents' values in `var.parent_index` order with the last parent varying
    fastest (pgmpy's TabularCPD layout). Under a hard or soft intervention the table has no parents.
    """
    if iv is not None and (iv.is_hard or iv.log_probs is not None):
        return np.exp(intervened_log_probs(memo, variables, var, iv, np.zeros((1, 0), dtype=np.int64))).T
    sizes = [variables[p].size for p in var.parent_index]
    rows = (np.array(list(np.ndindex(*sizes)), dtype=np.int64) if sizes
            else np.zeros((1, 0), dtype=np.int64))
    return np.exp(intervened_log_probs(memo, variables, var, iv, rows)).T


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
