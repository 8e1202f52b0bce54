"""Regression baselines and scikit-learn S/T meta-learners.

- ``T-only OLS``: y on t alone, the naive difference in means (non-causal; confounded).
- ``LinReg``: OLS on [X, t], one constant effect (the coefficient of t) with a classical 95% CI.
- ``LinearS`` / ``ForestS``: S-learner, one model f(x, t); tau(x) = f(x, 1) - f(x, 0).
- ``LinearT`` / ``ForestT``: T-learner, one model per arm; tau(x) = f1(x) - f0(x).
- ``RF``: the paper's random forest on [X, t] (scikit-learn defaults), tau(x) = f(x,1) - f(x,0).

Models use library defaults with a fixed ``random_state``; forest parameters can be overridden
(e.g. ``n_estimators`` in tests) through ``forest_params``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from scipy import stats

from sdscm.estimators.base import EffectEstimate, register_estimator, register_factory


def ols_coefficient(design: np.ndarray, y: np.ndarray, column: int, alpha: float = 0.05
                    ) -> tuple[float, float, float]:
    """OLS coefficient of one column of ``design`` (an intercept is added) with a classical CI.

    Uses a pseudo-inverse so collinear designs still give the identified coefficient; the
    t-distribution has n - rank degrees of freedom. Returns (estimate, lower, upper).
    """
    n = len(y)
    A = np.column_stack([np.ones(n), design])
    coef, _, rank, _ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    dof = max(n - rank, 1)
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(A.T @ A)
    j = column + 1
    se = math.sqrt(max(cov[j, j], 0.0))
    q = stats.t.ppf(1 - alpha / 2, dof)
    est = float(coef[j])
    return est, est - q * se, est + q * se


@register_estimator("T-only OLS", outputs={"ate", "ate_interval", "cate"}, family="naive", causal=False,
                    description="OLS of y on t alone: the difference in means (ignores confounding).")
def t_only_ols(X: np.ndarray, t: np.ndarray, y: np.ndarray, *, seed: int, alpha: float = 0.05
               ) -> EffectEstimate:
    est, lo, hi = ols_coefficient(t[:, None].astype(float), y, 0, alpha)
    return EffectEstimate.constant(est, len(y), lo, hi)


@register_estimator("LinReg", outputs={"ate", "ate_interval", "cate"}, family="regression",
                    description="OLS on [X, t]: a constant effect, the coefficient of t, with a 95% CI.")
def linreg(X: np.ndarray, t: np.ndarray, y: np.ndarray, *, seed: int, alpha: float = 0.05
           ) -> EffectEstimate:
    design = np.column_stack([X, t])
    est, lo, hi = ols_coefficient(design, y, design.shape[1] - 1, alpha)
    return EffectEstimate.constant(est, len(y), lo, hi)


def _linear(seed: int, params: dict[str, Any]) -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression(**params)


def _forest(seed: int, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**{"random_state": seed, "n_jobs": 1, **params})


class MetaLearner:
    """S- or T-learner around a scikit-learn regressor factory ``make(seed, params)``."""

    def __init__(self, kind: str, make: Callable[[int, dict[str, Any]], Any], seed: int = 0,
                 **model_params: Any):
        if kind not in ("S", "T"):
            raise ValueError(f"kind must be 'S' or 'T', got {kind!r}")
        self.kind, self.make, self.seed, self.model_params = kind, make, seed, model_params

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
        t = np.asarray(t, dtype=float)
        if self.kind == "S":
            model = self.make(self.seed, dict(self.model_params)).fit(np.column_stack([X, t]), y)
            ones, zeros = np.ones_like(t), np.zeros_like(t)
            cate = model.predict(np.column_stack([X, ones])) - model.predict(np.column_stack([X, zeros]))
        else:
            treated = t == 1
            m1 = self.make(self.seed, dict(self.model_params)).fit(X[treated], y[treated])
            m0 = self.make(self.seed, dict(self.model_params)).fit(X[~treated], y[~treated])
            cate = m1.predict(X) - m0.predict(X)
        return EffectEstimate.from_cate(cate)


def _meta(kind: str, make: Callable[[int, dict[str, Any]], Any]) -> Callable[..., MetaLearner]:
    def factory(seed: int = 0, **params: Any) -> MetaLearner:
        return MetaLearner(kind, make, seed, **params)

    return factory


_META = {
    "LinearS": ("S", _linear, "S-learner with ordinary least squares on [X, t]."),
    "LinearT": ("T", _linear, "T-learner: one ordinary least-squares fit per treatment arm."),
    "ForestS": ("S", _forest, "S-learner with a scikit-learn random forest on [X, t]."),
    "ForestT": ("T", _forest, "T-learner: one scikit-learn random forest per treatment arm."),
    "RF": ("S", _forest, "The paper's RF row: a random forest on [X, t] (same model as ForestS)."),
}

for _name, (_kind, _make, _doc) in _META.items():
    register_factory(_name, _meta(_kind, _make), outputs={"ate", "cate"}, family="meta-learner",
                     description=_doc)
