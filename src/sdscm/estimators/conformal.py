"""Weighted split-conformal counterfactual intervals for individual effects (Lei & Candes 2021).

Replaces the paper's R ``cfcausal::conformalIte(algo='counterfactual')``. For each arm a:

1. split the arm's units into a training part (``train_fraction``) and a calibration part;
2. fit conformalized quantile regression (CQR, Romano et al. 2019): quantile regression forests
   (``quantile-forest``; scikit-learn quantile boosting as a fallback) for the alpha/2 and
   1 - alpha/2 quantiles of Y given X on the arm's training part; the calibration scores are
   s_i = max(q_lo(x_i) - y_i, y_i - q_hi(x_i));
3. the units whose outcome under a is *missing* (the other arm) differ from the arm's units in
   their covariate distribution, so calibration is weighted by the likelihood ratio
   w(x) = P(T = 1 - a | x) / P(T = a | x), estimated with a propensity model fitted on the
   training parts (gradient-boosted stumps, like R gbm's defaults that cfcausal uses; clipped to
   [clip, 1 - clip]); the threshold eta(x) is the 1 - alpha quantile of
   the scores weighted by w(x_i), with mass w(x) at +infinity (which can make an interval
   infinite where overlap is poor, an honest answer);
4. the counterfactual interval for Y(a) is [q_lo(x) - eta(x), q_hi(x) + eta(x)].

The ITE interval of a treated unit is [y - hi_0(x), y - lo_0(x)], of a control unit
[lo_1(x) - y, hi_1(x) - y]: the observed outcome is known, the missing one is bracketed with
coverage 1 - alpha (marginally, under ignorability and overlap).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sdscm.estimators.base import (EffectEstimator, ParameterError, check_choice, check_fraction,
                                   check_random_state, register_factory)


def weighted_conformal_threshold(scores: np.ndarray, cal_weights: np.ndarray,
                                 test_weights: np.ndarray, alpha: float) -> np.ndarray:
    """Per test point, the 1 - alpha quantile of calibration scores under weights w(x_i), with
    the test point's own weight w(x) placed at +infinity (Tibshirani et al. 2019)."""
    order = np.argsort(scores, kind="stable")
    s, w = scores[order], cal_weights[order]
    cum = np.cumsum(w)
    total = cum[-1] if len(cum) else 0.0
    need = (1 - alpha) * (total + test_weights)
    k = np.searchsorted(cum, need - 1e-12 * (total + test_weights), side="left")
    out = np.full(len(test_weights), np.inf)
    ok = k < len(s)
    out[ok] = s[k[ok]]
    return out


class WeightedConformalITE(EffectEstimator):
    """Counterfactual ITE intervals by weighted split-conformal CQR (no point estimates).

    ``fit`` splits each arm, fits the quantile models and the propensity model and keeps the
    calibration scores; ``ite_interval(X, t, y)`` then brackets the missing potential outcome of
    any units with observed treatment and outcome.
    """

    def __init__(self, random_state: int = 0, alpha: float = 0.05, train_fraction: float = 0.75,
                 quantile_model: str = "forest", propensity_clip: float = 0.01,
                 quantile_params: dict[str, Any] | None = None,
                 propensity_params: dict[str, Any] | None = None):
        name = type(self).__name__
        self.random_state = check_random_state(name, random_state)
        self.alpha = check_fraction(name, "alpha", alpha)
        self.train_fraction = check_fraction(name, "train_fraction", train_fraction)
        self.quantile_model = check_choice(name, "quantile_model", quantile_model, ("forest", "boosting"))
        self.propensity_clip = check_fraction(name, "propensity_clip", propensity_clip, high=0.5)
        for key, value in (("quantile_params", quantile_params), ("propensity_params", propensity_params)):
            if value is not None and not isinstance(value, dict):
                raise ParameterError(name, key, f"must be a dict of model parameters, got {value!r}")
        self.quantile_params = dict(quantile_params or {})
        self.propensity_params = dict(propensity_params or {})

    def _quantile_fit(self, X_fit: np.ndarray, y_fit: np.ndarray) -> Any:
        """Models of the alpha/2 and 1 - alpha/2 conditional quantiles, as a predict function."""
        qs = [self.alpha / 2, 1 - self.alpha / 2]
        if self.quantile_model == "forest":
            from quantile_forest import RandomForestQuantileRegressor

            model = RandomForestQuantileRegressor(**{"random_state": self.random_state, **self.quantile_params})
            model.fit(X_fit, y_fit)
            return lambda X: np.asarray(model.predict(X, quantiles=qs)).reshape(len(X), 2)
        from sklearn.ensemble import GradientBoostingRegressor

        models = [GradientBoostingRegressor(**{"loss": "quantile", "alpha": q, "random_state": self.random_state,
                                               **self.quantile_params}).fit(X_fit, y_fit) for q in qs]
        return lambda X: np.column_stack([m.predict(X) for m in models])

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import GradientBoostingClassifier

        n = len(y)
        rng = np.random.default_rng(self.random_state)
        train = np.zeros(n, dtype=bool)
        for a in (0, 1):
            idx = np.flatnonzero(t == a)
            if len(idx) < 4:
                raise ValueError(f"arm t={a} has {len(idx)} units; conformal intervals need at least 4")
            take = rng.permutation(idx)[: max(2, int(round(self.train_fraction * len(idx))))]
            train[take] = True
        ps = GradientBoostingClassifier(**{"random_state": self.random_state, "max_depth": 1, **self.propensity_params})
        ps.fit(X[train], t[train])
        self.propensity_ = ps
        self.arms_ = {}
        for a in (0, 1):
            fit, cal = train & (t == a), ~train & (t == a)
            quantiles = self._quantile_fit(X[fit], y[fit])
            q_cal = quantiles(X[cal])
            scores = np.maximum(q_cal[:, 0] - y[cal], y[cal] - q_cal[:, 1])
            self.arms_[a] = (quantiles, scores, self._odds(X[cal], a))

    def _odds(self, X: np.ndarray, a: int) -> np.ndarray:
        """w(x) = P(T = 1 - a | x) / P(T = a | x), with the propensity clipped."""
        e = np.clip(self.propensity_.predict_proba(X)[:, 1], self.propensity_clip, 1 - self.propensity_clip)
        return (1 - e) / e if a == 1 else e / (1 - e)

    def ite_interval(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._fitted()
        X, t, y = np.asarray(X, dtype=float), np.asarray(t).astype(int), np.asarray(y, dtype=float)
        lower, upper = np.empty(len(y)), np.empty(len(y))
        for a in (0, 1):
            target = t != a  # units whose outcome under arm a is missing
            quantiles, scores, cal_odds = self.arms_[a]
            q = quantiles(X[target])
            eta = weighted_conformal_threshold(scores, cal_odds, self._odds(X[target], a), self.alpha)
            lo_a, hi_a = q[:, 0] - eta, q[:, 1] + eta
            if a == 0:  # treated units: ITE = y - Y(0)
                lower[target], upper[target] = y[target] - hi_a, y[target] - lo_a
            else:  # control units: ITE = Y(1) - y
                lower[target], upper[target] = lo_a - y[target], hi_a - y[target]
        self.info_["infinite_intervals"] = int(np.sum(~np.isfinite(upper - lower)))
        return lower, upper

    def ate(self, X: np.ndarray | None = None) -> float:
        raise self._missing("an ATE")


register_factory("Conformal", WeightedConformalITE, outputs={"ite_interval"}, family="conformal",
                 requires=("sklearn", "quantile_forest"),
                 description="Weighted split-conformal counterfactual ITE intervals (Lei & Candes 2021).")
