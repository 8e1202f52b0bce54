"""Where a world's Gumbel noise comes from: recorded (seeded), fresh, or abducted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from sdscm.semantics.noise import gumbel


class NoiseSource(Protocol):
    """Gumbel vectors (n, k) for one variable of the given units."""

    def gumbel(self, variable: str, unit_ids: np.ndarray, size: int) -> np.ndarray: ...


def _per_seed(seeds: np.ndarray, unit_ids: np.ndarray, variable: str, size: int, stream: str) -> np.ndarray:
    out = np.empty((len(unit_ids), size))
    for s in np.unique(seeds):
        rows = seeds == s
        out[rows] = gumbel(int(s), unit_ids[rows], variable, size, stream)
    return out


@dataclass
class SeededNoise:
    """The noise of generated units, identified by (seed, unit id, variable); seeds may differ per unit."""

    seeds: np.ndarray  # (n,) int64
    stream: str = "noise"

    def gumbel(self, variable: str, unit_ids: np.ndarray, size: int) -> np.ndarray:
        return _per_seed(self.seeds, unit_ids, variable, size, self.stream)


@dataclass
class FreshNoise:
    """Redraws the noise of `variables` (the paper's counterfactual procedure); others use `base`."""

    base: NoiseSource
    seeds: np.ndarray
    variables: frozenset[str]

    def gumbel(self, variable: str, unit_ids: np.ndarray, size: int) -> np.ndarray:
        if variable in self.variables:
            return _per_seed(self.seeds, unit_ids, variable, size, "fresh")
        return self.base.gumbel(variable, unit_ids, size)


@dataclass
class AbductedNoise:
    """Noise sampled from its posterior given observed values, one (n, k) array per variable."""

    noise: dict[str, np.ndarray] = field(default_factory=dict)

    def gumbel(self, variable: str, unit_ids: np.ndarray, size: int) -> np.ndarray:
        return self.noise[variable]
