"""Bayesian tree ensembles via ``stochtree``: S-learner BART and the Bayesian causal forest.

Both replace the paper's R ``bartCause::bartc``. Intervals are equal-tailed posterior quantiles:

- ATE: the posterior of the mean conditional effect over the sample's units;
- CATE: per-unit posterior of tau(x_i);
- ITE: posterior predictive of the individual effect. The observed outcome stays as observed
  and the missing potential outcome is drawn from its posterior predictive
  (f(x_i, 1 - t_i) + sigma * noise), which is what bartCause's ``type='ite'`` extracts.

stochtree defaults are kept (5 grow-from-root warm-start sweeps, 100 retained MCMC draws); pass
``num_gfr``, ``num_burnin``, ``num_mcmc`` or stochtree parameter dicts to change them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sdscm.estimators.base import EffectEstimate, register_factory

ALPHA = 0.05
PREDICTIVE_REPEATS = 10
"""Noise draws per posterior draw for ITE predictive intervals (steadier tail quantiles)."""


def _quantiles(draws: np.ndarray, alpha: float, axis: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.quantile(draws, alpha / 2, axis=axis), np.quantile(draws, 1 - alpha / 2, axis=axis))


def _summarise(tau_draws: np.ndarray, ite_draws: np.ndarray, alpha: float,
               **info: Any) -> EffectEstimate:
    """EffectEstimate from per-unit effect draws (n x draws) and ITE predictive draws."""
    ate_draws = tau_draws.mean(axis=0)
    ate_lo, ate_hi = np.quantile(ate_draws, [alpha / 2, 1 - alpha / 2])
    cate_lo, cate_hi = _quantiles(tau_draws, alpha, axis=1)
    ite_lo, ite_hi = _quantiles(ite_draws, alpha, axis=1)
    return EffectEstimate(ate=float(ate_draws.mean()), ate_lower=float(ate_lo), ate_upper=float(ate_hi),
                          cate=tau_draws.mean(axis=1), cate_lower=cate_lo, cate_upper=cate_hi,
                          ite_lower=ite_lo, ite_upper=ite_hi, info=info)


def _ite_draws(y: np.ndarray, t: np.ndarray, mu0: np.ndarray, mu1: np.ndarray, sigma2: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Posterior predictive ITE draws: observed outcome minus/plus a drawn missing potential outcome."""
    mu_missing = np.where(t[:, None] == 1, mu0, mu1)
    mu_missing = np.repeat(mu_missing, PREDICTIVE_REPEATS, axis=1)
    sd = np.repeat(np.sqrt(np.maximum(sigma2, 0.0)), PREDICTIVE_REPEATS)[None, :]
    y_missing = mu_missing + sd * rng.standard_normal(mu_missing.shape)
    return np.where(t[:, None] == 1, y[:, None] - y_missing, y_missing - y[:, None])


class _StochtreeBase:
    def __init__(self, seed: int = 0, alpha: float = ALPHA, num_gfr: int = 5, num_burnin: int = 0,
                 num_mcmc: int = 100, general_params: dict[str, Any] | None = None, **params: Any):
        self.seed, self.alpha = seed, alpha
        self.sample_kwargs = {"num_gfr": num_gfr, "num_burnin": num_burnin, "num_mcmc": num_mcmc,
                              "general_params": {"random_seed": seed, **(general_params or {})}, **params}


class BARTSLearner(_StochtreeBase):
    """BART of y on [X, t]; tau(x) = f(x, 1) - f(x, 0) draw by draw (S-learner)."""

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
        from stochtree import BARTModel

        t = np.asarray(t, dtype=float)
        model = BARTModel()
        model.sample(X_train=np.column_stack([X, t]), y_train=np.asarray(y, dtype=float),
                     **self.sample_kwargs)
        f1 = np.asarray(model.predict(np.column_stack([X, np.ones_like(t)]), terms="y_hat"))
        f0 = np.asarray(model.predict(np.column_stack([X, np.zeros_like(t)]), terms="y_hat"))
        rng = np.random.default_rng(self.seed)
        ite = _ite_draws(np.asarray(y, float), t, f0, f1, np.asarray(model.global_var_samples), rng)
        return _summarise(f1 - f0, ite, self.alpha, draws=int(f1.shape[1]))


class BCF(_StochtreeBase):
    """Bayesian causal forest (Hahn, Murray & Carvalho 2020): y = mu(x, e(x)) + tau(x) t + noise.

    The propensity is estimated internally by stochtree (BART), its default.
    """

    def estimate(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
        from stochtree import BCFModel

        t = np.asarray(t, dtype=float)
        model = BCFModel()
        model.sample(X_train=X, Z_train=t, y_train=np.asarray(y, dtype=float), **self.sample_kwargs)
        tau = np.asarray(model.tau_hat_train).reshape(len(t), -1)
        mu0 = np.asarray(model.mu_hat_train).reshape(len(t), -1)
        rng = np.random.default_rng(self.seed)
        ite = _ite_draws(np.asarray(y, float), t, mu0, mu0 + tau, np.asarray(model.global_var_samples), rng)
        return _summarise(tau, ite, self.alpha, draws=int(tau.shape[1]))


_OUT = {"ate", "ate_interval", "cate", "cate_interval", "ite_interval"}
register_factory("BART", BARTSLearner, outputs=_OUT, family="bayesian", requires=("stochtree",),
                 description="stochtree BART S-learner on [X, t]; intervals from posterior draws.")
register_factory("BCF", BCF, outputs=_OUT, family="bayesian", requires=("stochtree",),
                 description="stochtree Bayesian causal forest; intervals from posterior draws.")
