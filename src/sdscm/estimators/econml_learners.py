"""EconML estimators behind the common protocol.

EconML's conventions, handled here once: ``X`` holds effect modifiers and ``W`` holds *controls*
(not the treatment), so benchmark covariates go into ``X`` with ``W=None`` (every covariate may
both confound and modify the effect); the treatment is discrete; intervals are 95%.

Library defaults are kept (EconML >= 0.15: first-stage models chosen by cross-validated model
selection, ``model_propensity='auto'``, DR ``min_propensity=1e-6``). With those defaults the DR
learners can blow up on data with near-zero propensities, as in the paper's GPT-2 datasets;
the ``recommended`` preset floors propensities at 0.01 through ``min_propensity``. Forests run
single-threaded by default (``n_jobs=1``) so parallel evaluation does not oversubscribe cores.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np

from sdscm.estimators.base import EffectEstimator, _vector, check_fraction, check_library_params, check_random_state, register_factory

ALPHA = 0.05


class EconMLEstimator(EffectEstimator):
    """Fit an EconML CATE estimator (``fit(Y, T, X=X, W=None)``), report ATE and CATE with intervals.

    ``params`` go to the EconML class; building it at construction checks them.
    """

    def __init__(self, class_path: str, random_state: int = 0, *, fixed: dict[str, Any] | None = None,
                 alpha: float = ALPHA, **params: Any):
        name = type(self).__name__
        self.class_path, self.fixed, self.params = class_path, dict(fixed or {}), params
        self.random_state = check_random_state(name, random_state)
        self.alpha = check_fraction(name, "alpha", alpha)
        self.kwargs = {"random_state": self.random_state, **self.fixed, **params}
        check_library_params(name, self._build)

    def _build(self) -> Any:
        module, _, name = self.class_path.rpartition(".")
        return getattr(importlib.import_module(module), name)(**self.kwargs)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        est = self._build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(y, t, X=X, W=None)
        self.model_ = est
        if hasattr(est, "models_propensity"):
            self.info_["min_fitted_propensity"] = _min_propensity(est, X)

    def _at(self, X: np.ndarray | None) -> np.ndarray:
        self._fitted()
        return self.X_train_ if X is None else np.asarray(X, dtype=float)

    def effect(self, X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _vector(self.model_.effect(self._at(X)))

    def effect_interval(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo, hi = self.model_.effect_interval(self._at(X), alpha=self.alpha)
        return _vector(lo), _vector(hi)

    def ate(self, X: np.ndarray | None = None) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(np.squeeze(self.model_.ate(X=self._at(X))))

    def ate_interval(self, X: np.ndarray | None = None) -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo, hi = self.model_.ate_interval(X=self._at(X), alpha=self.alpha)
        return float(np.squeeze(lo)), float(np.squeeze(hi))


def _min_propensity(est: Any, X: np.ndarray) -> float:
    """Smallest propensity of either arm predicted by the fitted first-stage models (diagnostic)."""
    try:
        lows = [np.min(m.predict_proba(X)) for fold in est.models_propensity for m in fold]
        return float(np.min(lows))
    except Exception:  # a diagnostic must never fail a fit
        return float("nan")


class GRFCausalForest(EffectEstimator):
    """EconML's ``grf.CausalForest`` (the generalized random forest of Athey, Tibshirani & Wager).

    Gives per-unit CATE with intervals; the ATE is the mean CATE (no ATE interval, as in the
    reference code).
    """

    def __init__(self, random_state: int = 0, alpha: float = ALPHA, **params: Any):
        name = type(self).__name__
        self.random_state = check_random_state(name, random_state)
        self.alpha = check_fraction(name, "alpha", alpha)
        self.params = params
        self.kwargs = {"random_state": self.random_state, "n_jobs": 1, **params}
        check_library_params(name, self._build)

    def _build(self) -> Any:
        from econml.grf import CausalForest

        return CausalForest(**self.kwargs)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        forest = self._build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forest.fit(X, t.astype(float), y)
        self.model_ = forest

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._fitted()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            point, lo, hi = self.model_.predict(np.asarray(X, dtype=float), interval=True, alpha=self.alpha)
        return _vector(point), _vector(lo), _vector(hi)

    def effect(self, X: np.ndarray) -> np.ndarray:
        return self._predict(X)[0]

    def effect_interval(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, lo, hi = self._predict(X)
        return lo, hi


def _econml(class_path: str, **fixed: Any):
    def factory(random_state: int = 0, **params: Any) -> EconMLEstimator:
        return EconMLEstimator(class_path, random_state, fixed=fixed, **params)

    return factory


_OUT = {"ate", "ate_interval", "cate", "cate_interval"}

register_factory("LinearDML", _econml("econml.dml.LinearDML", discrete_treatment=True), outputs=_OUT,
                 family="dml", requires=("econml",),
                 description="EconML LinearDML: double ML with a linear final stage (discrete treatment).")
register_factory("ForestDML", _econml("econml.dml.CausalForestDML", discrete_treatment=True, n_jobs=1),
                 outputs=_OUT, family="dml", requires=("econml",),
                 description="EconML CausalForestDML: double ML with a causal-forest final stage.")
register_factory("LinearDRLearner", _econml("econml.dr.LinearDRLearner"), outputs=_OUT, family="dr",
                 requires=("econml",),
                 description="EconML LinearDRLearner: doubly robust pseudo-outcomes, linear final stage.")
register_factory("ForestDRLearner", _econml("econml.dr.ForestDRLearner", n_jobs=1), outputs=_OUT,
                 family="dr", requires=("econml",),
                 description="EconML ForestDRLearner: doubly robust pseudo-outcomes, forest final stage.")
register_factory("CausalForest", GRFCausalForest, outputs={"ate", "cate", "cate_interval"},
                 family="forest", requires=("econml",),
                 description="EconML grf.CausalForest (generalized random forest); ATE = mean CATE.")
