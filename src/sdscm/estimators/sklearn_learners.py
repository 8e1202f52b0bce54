"""Regression baselines and scikit-learn S/T meta-learners.

- ``T-only OLS``: y on t alone, the naive difference in means (non-causal; confounded).
- ``LinReg``: OLS on [X, t], one constant effect (the coefficient of t) with a classical 95% CI.
- ``LinearS`` / ``ForestS``: S-learner, one model f(x, t); tau(x) = f(x, 1) - f(x, 0).
- ``LinearT`` / ``ForestT``: T-learner, one model per arm; tau(x) = f1(x) - f0(x).
- ``RF``: the paper's random forest on [X, t] (scikit-learn defaults), tau(x) = f(x,1) - f(x,0).

Models use library defaults with a fixed ``random_state``; regressor parameters (e.g.
``n_estimators``) are passed through and checked at construction.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from scipy import stats

from sdscm.estimators.base import (EffectEstimator, check_choice, check_fraction, check_library_params,
                                   check_random_state, register_factory)


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


class OLSEffect(EffectEstimator):
    """A constant effect from OLS with a classical interval: ``y ~ t`` (``covariates=False``, the
    naive difference in means) or ``y ~ X + t``. ``effect(X)`` is that constant at any X."""

    def __init__(self, covariates: bool = True, alpha: float = 0.05, random_state: int = 0):
        self.covariates = bool(covariates)
        self.alpha = check_fraction(type(self).__name__, "alpha", alpha)
        self.random_state = check_random_state(type(self).__name__, random_state)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        design = np.column_stack([X, t]) if self.covariates else t[:, None].astype(float)
        self.coef_, self.lower_, self.upper_ = ols_coefficient(design, y, design.shape[1] - 1, self.alpha)

    def effect(self, X: np.ndarray) -> np.ndarray:
        self._fitted()
        return np.full(len(X), self.coef_)

    def ate(self, X: np.ndarray | None = None) -> float:
        self._fitted()
        return self.coef_

    def ate_interval(self, X: np.ndarray | None = None) -> tuple[float, float]:
        self._fitted()
        return self.lower_, self.upper_


def _ols(covariates: bool) -> Callable[..., OLSEffect]:
    def factory(random_state: int = 0, alpha: float = 0.05) -> OLSEffect:
        return OLSEffect(covariates, alpha, random_state)

    return factory


register_factory("T-only OLS", _ols(False), outputs={"ate", "ate_interval", "cate"}, family="naive", causal=False,
                 description="OLS of y on t alone: the difference in means (ignores confounding).")
register_factory("LinReg", _ols(True), outputs={"ate", "ate_interval", "cate"}, family="regression",
                 description="OLS on [X, t]: a constant effect, the coefficient of t, with a 95% CI.")


def _linear(seed: int, params: dict[str, Any]) -> Any:
    from sklearn.linear_model import LinearRegression

    return LinearRegression(**params)


def _forest(seed: int, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(**{"random_state": seed, "n_jobs": 1, **params})


class MetaLearner(EffectEstimator):
    """S- or T-learner around a scikit-learn regressor factory ``make(random_state, params)``;
    ``model_params`` go to the regressor (checked at construction)."""

    def __init__(self, kind: str, make: Callable[[int, dict[str, Any]], Any], random_state: int = 0,
                 **model_params: Any):
        name = type(self).__name__
        self.kind = check_choice(name, "kind", kind, ("S", "T"))
        self.make, self.random_state = make, check_random_state(name, random_state)
        self.model_params = model_params
        check_library_params(name, lambda: make(self.random_state, dict(model_params)))

    def _model(self) -> Any:
        return self.make(self.random_state, dict(self.model_params))

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        tf = t.astype(float)
        if self.kind == "S":
            self.models_ = (self._model().fit(np.column_stack([X, tf]), y),)
        else:
            treated = t == 1
            self.models_ = (self._model().fit(X[treated], y[treated]), self._model().fit(X[~treated], y[~treated]))

    def effect(self, X: np.ndarray) -> np.ndarray:
        self._fitted()
        X = np.asarray(X, dtype=float)
        if self.kind == "S":
            model = self.models_[0]
            ones, zeros = np.ones(len(X)), np.zeros(len(X))
            return model.predict(np.column_stack([X, ones])) - model.predict(np.column_stack([X, zeros]))
        m1, m0 = self.models_
        return m1.predict(X) - m0.predict(X)


def _meta(kind: str, make: Callable[[int, dict[str, Any]], Any]) -> Callable[..., MetaLearner]:
    def factory(random_state: int = 0, **params: Any) -> MetaLearner:
        return MetaLearner(kind, make, random_state, **params)

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
