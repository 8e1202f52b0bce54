"""Effect arithmetic on a dataset's arrays: one definition of the true sample ATE and of the naive
difference in means, for benchmark generation, health verdicts, datasets and evaluation rows."""

from __future__ import annotations

import numpy as np


def sample_ate(mu0: np.ndarray, mu1: np.ndarray) -> float:
    """The true sample average treatment effect: the mean of mu1 - mu0."""
    return float(np.mean(np.asarray(mu1, dtype=float) - np.asarray(mu0, dtype=float)))


def naive_difference(t: np.ndarray, y: np.ndarray) -> float | None:
    """Mean outcome of treated units minus that of control units; None when an arm is empty."""
    treated = np.asarray(t).astype(bool)
    y = np.asarray(y, dtype=float)
    if not (treated.any() and (~treated).any()):
        return None
    return float(y[treated].mean() - y[~treated].mean())
