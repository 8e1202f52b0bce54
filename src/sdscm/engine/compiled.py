"""A model file resolved into what the engine needs: one phrasing per variable, indices, tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sdscm.semantics.noise import stream_key
from sdscm.spec.schema import ModelFile, VariableSpec


@dataclass(frozen=True)
class CompiledVariable:
    """One variable with its chosen phrasing and parent indices in topological order."""

    index: int
    name: str
    values: tuple[str, ...]
    phrasing: str
    parents: tuple[str, ...]  # sorted by topological order
    parent_index: tuple[int, ...]
    mechanism: str
    exogenous: bool
    fixed_log_probs: np.ndarray | None = None  # unconditional categorical / uniform
    table: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)
    default_row: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.values)


def choose_phrasings(spec: ModelFile, variant: int | None) -> dict[str, str]:
    """One phrasing per variable: the first (variant None) or a reproducible draw keyed by (variant, name)."""
    chosen: dict[str, str] = {}
    for var in spec.variables:
        if variant is None:
            chosen[var.name] = var.phrasings[0]
        else:
            key = int(stream_key(int(variant), var.name, "variant"))
            chosen[var.name] = var.phrasings[key % len(var.phrasings)]
    return chosen


def _log(p: list[float] | np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(p, dtype=float))


def compile_variable(var: VariableSpec, index: int, position: dict[str, int], phrasing: str) -> CompiledVariable:
    parents = tuple(sorted(var.parents, key=position.__getitem__))
    fixed = None
    table: dict[tuple[str, ...], np.ndarray] = {}
    default = None
    if var.mechanism == "uniform":
        fixed = np.full(len(var.values), -np.log(len(var.values)))
    elif var.mechanism == "categorical":
        if var.table:
            for row in var.table:
                if not row.parents:
                    default = _log(row.probabilities)
                else:
                    table[tuple(row.parents[p] for p in parents)] = _log(row.probabilities)
        else:
            fixed = _log(var.probabilities or [])
    return CompiledVariable(
        index=index,
        name=var.name,
        values=tuple(var.values),
        phrasing=phrasing,
        parents=parents,
        parent_index=tuple(position[p] for p in parents),
        mechanism=var.mechanism,
        exogenous=var.exogenous,
        fixed_log_probs=fixed,
        table=table,
        default_row=default,
    )


def compile_spec(spec: ModelFile, phrasings: dict[str, str]) -> list[CompiledVariable]:
    """Compile every variable in the file's (topological) order."""
    position = {v.name: i for i, v in enumerate(spec.variables)}
    return [compile_variable(v, i, position, phrasings[v.name]) for i, v in enumerate(spec.variables)]
