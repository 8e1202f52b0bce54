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

from sdscm.estimators.base import EffectEstimate, register_factory

ALPHA = 0.05


class EconMLEstimator:
    """Fit an EconML CATE estimator (``fit(Y, T, X=X, W=None)``), report ATE and CATE with intervals."""

    def __init__(self, class_path: str, seed: int = 0, *, fixed: dict[str, Any] | None = None,
                 alpha: float = ALPHA, **params: Any):
        self.class_path, self.seed, self.alpha = class_path, seed, alpha
        self.kwargs = {"random_state": seed, **(fixed or {}), **params}

    def _build(self) -> Any:
        module, _, name = self.class_path.rpartition(".")
        return getattr(importlib.import_module(module), name)(**self.kwargs)

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
        est = self._build()
        t = np.asarray(t).astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(y, t, X=X, W=None)
            ate = float(np.squeeze(est.ate(X=X)))
            ate_lo, ate_hi = (float(np.squeeze(v)) for v in est.ate_interval(X=X, alpha=self.alpha))
            cate = est.effect(X)
            lo, hi = est.effect_interval(X, alpha=self.alpha)
        info: dict[str, Any] = {}
        if hasattr(est, "models_propensity"):
            info["min_fitted_propensity"] = _min_propensity(est, X)
        return EffectEstimate(ate=ate, ate_lower=ate_lo, ate_upper=ate_hi, cate=cate,
                              cate_lower=lo, cate_upper=hi, info=info)


def _min_propensity(est: Any, X: np.ndarray) -> float:
    """Smallest propensity of either arm predicted by the fitted first-stage models (diagnostic)."""
    try:
        lows = [np.min(m.predict_proba(X)) for fold in est.models_propensity for m in fold]
        return float(np.min(lows))
    except Exception:  # a diagnostic must never fail a fit
        return float("nan")


class GRFCausalForest:
    """EconML's ``grf.CausalForest`` (the generalized random forest of Athey, Tibshirani & Wager).

    Gives per-unit CATE with intervals; the ATE is the mean CATE (no ATE interval, as in the
    reference code).
    """

    def __init__(self, seed: int = 0, alpha: float = ALPHA, **params: Any):
        self.alpha = alpha
        self.kwargs = {"random_state": seed, "n_jobs": 1, **params}

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
        from econml.grf import CausalForest

        forest = CausalForest(**self.kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forest.fit(X, np.asarray(t, dtype=float), y)
            point, lo, hi = forest.predict(X, interval=True, alpha=self.alpha)
        return EffectEstimate.from_cate(point, lo, hi)


def _econml(class_path: str, **fixed: Any):
    def factory(seed: int = 0, **params: Any) -> EconMLEstimator:
        return EconMLEstimator(class_path, seed, fixed=fixed, **params)

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
