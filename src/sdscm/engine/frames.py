"""The engine's worlds as result DataFrames (the layout of :mod:`sdscm.results.frames`), and back.

:func:`world_frame` / :func:`world_columns` turn a :class:`~sdscm.engine.worlds.World` into the
columns of docs/results.md; :func:`values_from_frame` reads value indices back from a frame of
units (for counterfactuals of stored or observed units).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from sdscm.engine.compiled import CompiledVariable
from sdscm.engine.worlds import World
from sdscm.errors import QueryError
from sdscm.results.frames import prob_column, score_column


def world_columns(
    variables: Sequence[CompiledVariable], world: World, suffix: str = "", scores: bool = False
) -> dict[str, object]:
    """Value labels, text and probabilities of one world as named columns."""
    cols: dict[str, object] = {}
    for var in variables:
        labels = np.asarray(var.values, dtype=object)
        cols[f"{var.name}{suffix}"] = labels[world.values[:, var.index]]
    cols[f"text{suffix}"] = world.texts(variables)
    for var in variables:
        probs = world.probabilities(var.index)
        for j, value in enumerate(var.values):
            cols[prob_column(var.name, value, suffix)] = probs[:, j]
    if scores:
        for var in variables:
            raw = world.scores[var.index]
            if raw is None:
                continue
            for j, value in enumerate(var.values):
                cols[score_column(var.name, value, suffix)] = raw[:, j]
    return cols


def world_frame(
    variables: Sequence[CompiledVariable],
    world: World,
    seeds: np.ndarray | None,
    suffix: str = "",
    scores: bool = False,
) -> pd.DataFrame:
    """One world as a DataFrame with `unit_id` and `seed` first."""
    cols: dict[str, object] = {"unit_id": world.unit_ids}
    if seeds is not None:
        cols["seed"] = np.asarray(seeds, dtype=np.int64)
    cols.update(world_columns(variables, world, suffix, scores))
    return pd.DataFrame(cols)


def values_from_frame(variables: Sequence[CompiledVariable], units: pd.DataFrame) -> np.ndarray:
    """Value indices (n, V) from a frame's value-label columns, with clear errors for bad cells."""
    missing = [v.name for v in variables if v.name not in units.columns]
    if missing:
        raise QueryError(
            f"the units have no column for variable(s) {missing}; give one column per variable "
            "holding value labels (as written by `sample`)"
        )
    out = np.zeros((len(units), len(variables)), dtype=np.int64)
    for var in variables:
        lookup = {label: i for i, label in enumerate(var.values)}
        column = units[var.name].astype(str).tolist()
        bad = sorted({c for c in column if c not in lookup})
        if bad:
            raise QueryError(
                f"column '{var.name}' holds value(s) {bad[:5]} that variable '{var.name}' does not have; "
                f"its values are {list(var.values)}"
            )
        out[:, var.index] = [lookup[c] for c in column]
    return out
