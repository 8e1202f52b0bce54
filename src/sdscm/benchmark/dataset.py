"""`CausalDataset`: one benchmark dataset in one view, as arrays for estimators and a DataFrame.

The shared currency between dataset generation/loading (sdscm.benchmark) and the estimator
suite (sdscm.estimators): estimators see `X, t, y`; metrics see `mu0, mu1, ite`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sdscm.benchmark.health import (
    DEFAULT_THRESHOLDS,
    NUMERICAL_FLOOR,
    DatasetHealth,
    HealthThresholds,
    dataset_health,
)
from sdscm.effects import naive_difference, sample_ate

VIEWS = ("all", "hidden")


@dataclass
class CausalDataset:
    """Arrays of one dataset in one view (`all` covariates, or `hidden`: exogenous ones dropped).

    X holds covariates as value indices (float), columns named by `covariates`; `categories`
    gives each covariate's number of values so one-hot encoding is well defined even when a
    value does not occur in this sample. `e` is the true propensity when known (None for
    datasets without it).
    """

    name: str
    view: str
    covariates: list[str]
    X: np.ndarray
    t: np.ndarray
    y: np.ndarray
    mu0: np.ndarray
    mu1: np.ndarray
    categories: list[int]
    e: np.ndarray | None = None
    frame: pd.DataFrame | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.t)
        for label, arr in (("X", self.X), ("y", self.y), ("mu0", self.mu0), ("mu1", self.mu1)):
            if len(arr) != n:
                raise ValueError(f"dataset {self.name}: {label} has {len(arr)} rows, t has {n}")
        if self.X.ndim != 2 or self.X.shape[1] != len(self.covariates):
            raise ValueError(f"dataset {self.name}: X must be (n, {len(self.covariates)})")
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {self.view!r}")

    @property
    def n(self) -> int:
        return len(self.t)

    @property
    def ite(self) -> np.ndarray:
        """Individual treatment effects mu1 - mu0 (exact for SD-SCM benchmarks)."""
        return self.mu1 - self.mu0

    @property
    def sate(self) -> float:
        """Sample average treatment effect: the mean ITE."""
        return sample_ate(self.mu0, self.mu1)

    @property
    def naive_difference(self) -> float:
        """Difference in mean outcome between treated and control units (NaN when an arm is empty)."""
        naive = naive_difference(self.t, self.y)
        return math.nan if naive is None else naive

    @property
    def quantity(self) -> str:
        """The outcome quantity: probability, log_score or category (from the metadata)."""
        design = self.metadata.get("design") or {}
        return str(design.get("quantity") or self.metadata.get("quantity") or "probability")

    def health(self, thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> DatasetHealth:
        """Health numbers and verdict (sdscm.benchmark.health); the near-null check needs the
        numerical floor recorded at generation (absent for the paper's CSVs)."""
        return dataset_health(self.t, self.y, self.mu0, self.mu1, self.e, self.metadata.get(NUMERICAL_FLOOR),
                              probability_scale=self.quantity != "log_score", thresholds=thresholds)
