"""Causal estimators recover a planted effect; the naive T-only OLS is biased by the confounder.

The data come from a categorical-mechanism SD-SCM (no language model) with exact potential
outcomes: ITE = 0.1 + 0.05 C, C confounds T and Y (propensity 0.2 / 0.5 / 0.8), y is the sampled
binary outcome. The tolerance is derived from the data: 4 standard errors of the oracle
stratified (by C) difference-in-means estimator, the precision an adjusted estimator can reach.
"""

from __future__ import annotations

import numpy as np
import pytest

from sdscm.estimators import encode_covariates, make_estimator
from test_estimators_data import confounded_dataset

N = 4000
CAUSAL = {
    "LinReg": {},
    "LinearT": {},
    "ForestT": {"n_estimators": 30, "min_samples_leaf": 20},
    "LinearDRLearner": {"model_propensity": "linear", "model_regression": "linear", "cv": 2},
    "CausalForest": {"n_estimators": 40},
    "BART": {"num_gfr": 3, "num_mcmc": 25},
}


def oracle_se(ds) -> float:
    """Standard error of the difference in means stratified by the confounder C."""
    c = ds.X[:, 0]
    var = 0.0
    for value in np.unique(c):
        m = c == value
        y1, y0 = ds.y[m & (ds.t == 1)], ds.y[m & (ds.t == 0)]
        var += m.mean() ** 2 * (y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
    return float(np.sqrt(var))


@pytest.fixture(scope="module")
def planted():
    ds = confounded_dataset(N, seed=21, outcome="category")
    return ds, 4 * oracle_se(ds)


def test_naive_estimator_is_biased_by_the_planted_confounder(planted) -> None:
    """T-only OLS (the difference in means) misses the SATE by far more than the tolerance."""
    ds, tol = planted
    est = make_estimator("T-only OLS").estimate(ds.X, ds.t, ds.y)
    assert est.ate - ds.sate > 2 * tol
    assert not (est.ate_lower < ds.sate < est.ate_upper)


@pytest.mark.parametrize("name", sorted(CAUSAL))
def test_causal_estimator_recovers_the_planted_effect(name: str, planted) -> None:
    """Adjusting for C, each causal estimator's ATE is within 4 oracle standard errors of SATE."""
    ds, tol = planted
    X = encode_covariates(ds.X, ds.categories, "onehot")
    est = make_estimator(name, seed=0, **CAUSAL[name]).estimate(X, ds.t, ds.y)
    assert abs(est.ate - ds.sate) < tol, (name, est.ate, ds.sate, tol)


def test_conformal_ite_intervals_cover_individual_effects() -> None:
    """Weighted conformal ITE intervals cover the individual effect Y1 - Y0 for at least 90% of
    units (nominal 95%) on confounded data with continuous outcome noise. (Here mu_t are the
    realised potential outcomes, so the ITE includes the noise, the target of these intervals.)"""
    rng = np.random.default_rng(5)
    n = 1500
    X = rng.integers(0, 4, size=(n, 3)).astype(float)
    e = 1 / (1 + np.exp(-(X[:, 0] - 1.5)))
    t = (rng.random(n) < e).astype(int)
    y0 = 0.3 * X[:, 0] + 0.2 * X[:, 1] + rng.normal(0, 0.3, n)
    y1 = y0 + 0.5 + 0.2 * X[:, 2] + rng.normal(0, 0.2, n)
    y = np.where(t == 1, y1, y0)
    est = make_estimator("Conformal", seed=0, quantile_params={"n_estimators": 40}).estimate(X, t, y)
    covered = np.mean((est.ite_lower < y1 - y0) & (y1 - y0 < est.ite_upper))
    assert covered >= 0.9
    assert np.isfinite(est.ite_upper - est.ite_lower).mean() > 0.95
