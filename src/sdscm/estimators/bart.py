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

from sdscm.estimators.base import EffectEstimator, ParameterError, check_count, check_fraction, check_random_state, register_factory

ALPHA = 0.05
PREDICTIVE_REPEATS = 10
"""Noise draws per posterior draw for ITE predictive intervals (steadier tail quantiles)."""


def _ite_draws(y: np.ndarray, t: np.ndarray, mu0: np.ndarray, mu1: np.ndarray, sigma2: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Posterior predictive ITE draws: observed outcome minus/plus a drawn missing potential outcome."""
    mu_missing = np.where(t[:, None] == 1, mu0, mu1)
    mu_missing = np.repeat(mu_missing, PREDICTIVE_REPEATS, axis=1)
    sd = np.repeat(np.sqrt(np.maximum(sigma2, 0.0)), PREDICTIVE_REPEATS)[None, :]
    y_missing = mu_missing + sd * rng.standard_normal(mu_missing.shape)
    return np.where(t[:, None] == 1, y[:, None] - y_missing, y_missing - y[:, None])


class _StochtreeBase(EffectEstimator):
    """Posterior draws of tau(x) (units x draws) and of the outcome noise variance; outputs are
    summaries of them. In-sample draws come from the fit itself; new units are predicted."""

    def __init__(self, random_state: int = 0, alpha: float = ALPHA, num_gfr: int = 5, num_burnin: int = 0,
                 num_mcmc: int = 100, general_params: dict[str, Any] | None = None, **params: Any):
        name = type(self).__name__
        self.random_state = check_random_state(name, random_state)
        self.alpha = check_fraction(name, "alpha", alpha)
        self.num_gfr = check_count(name, "num_gfr", num_gfr)
        self.num_burnin = check_count(name, "num_burnin", num_burnin)
        self.num_mcmc = check_count(name, "num_mcmc", num_mcmc, minimum=1)
        if general_params is not None and not isinstance(general_params, dict):
            raise ParameterError(name, "general_params", f"must be a dict of stochtree options, got {general_params!r}")
        self.general_params, self.params = general_params, params
        self.sample_kwargs = {"num_gfr": self.num_gfr, "num_burnin": self.num_burnin, "num_mcmc": self.num_mcmc,
                              "general_params": {"random_seed": self.random_state, **(general_params or {})},
                              **params}

    def _draws(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mu0, mu1, tau) posterior draws at X, each units x draws (the last X's are kept, since
        every output of one call of ``predict`` asks for the same units)."""
        cached = getattr(self, "_last_draws", None)
        if cached is not None and (cached[0] is X or (cached[0].shape == X.shape and np.array_equal(cached[0], X))):
            return cached[1]
        draws = self._posterior(X)
        self._last_draws = (X, draws)
        return draws

    def _posterior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def effect(self, X: np.ndarray) -> np.ndarray:
        return self._draws(np.asarray(X, dtype=float))[2].mean(axis=1)

    def effect_interval(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tau = self._draws(np.asarray(X, dtype=float))[2]
        return np.quantile(tau, self.alpha / 2, axis=1), np.quantile(tau, 1 - self.alpha / 2, axis=1)

    def _ate_draws(self, X: np.ndarray | None) -> np.ndarray:
        self._fitted()
        return self._draws(self.X_train_ if X is None else np.asarray(X, dtype=float))[2].mean(axis=0)

    def ate(self, X: np.ndarray | None = None) -> float:
        """Posterior mean of the average of tau(x_i) over the units."""
        return float(self._ate_draws(X).mean())

    def ate_interval(self, X: np.ndarray | None = None) -> tuple[float, float]:
        lo, hi = np.quantile(self._ate_draws(X), [self.alpha / 2, 1 - self.alpha / 2])
        return float(lo), float(hi)

    def ite_interval(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior predictive ITE: the observed outcome against a drawn missing potential outcome."""
        mu0, mu1, _ = self._draws(np.asarray(X, dtype=float))
        rng = np.random.default_rng(self.random_state)
        ite = _ite_draws(np.asarray(y, float), np.asarray(t, float), mu0, mu1, self.sigma2_, rng)
        return np.quantile(ite, self.alpha / 2, axis=1), np.quantile(ite, 1 - self.alpha / 2, axis=1)


class BARTSLearner(_StochtreeBase):
    """BART of y on [X, t]; tau(x) = f(x, 1) - f(x, 0) draw by draw (S-learner)."""

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        from stochtree import BARTModel

        model = BARTModel()
        model.sample(X_train=np.column_stack([X, t.astype(float)]), y_train=y, **self.sample_kwargs)
        self.model_, self.sigma2_ = model, np.asarray(model.global_var_samples)
        self._last_draws = None
        self.info_["draws"] = int(len(self.sigma2_))

    def _posterior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._fitted()
        ones, zeros = np.ones(len(X)), np.zeros(len(X))
        f1 = np.asarray(self.model_.predict(np.column_stack([X, ones]), terms="y_hat"))
        f0 = np.asarray(self.model_.predict(np.column_stack([X, zeros]), terms="y_hat"))
        return f0, f1, f1 - f0


class BCF(_StochtreeBase):
    """Bayesian causal forest (Hahn, Murray & Carvalho 2020): y = mu(x, e(x)) + tau(x) t + noise.

    The propensity is estimated internally by stochtree (BART), its default.
    """

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        from stochtree import BCFModel

        model = BCFModel()
        model.sample(X_train=X, Z_train=t.astype(float), y_train=y, **self.sample_kwargs)
        self.model_, self.sigma2_ = model, np.asarray(model.global_var_samples)
        self._last_draws = None
        n = len(y)
        self.train_tau_ = np.asarray(model.tau_hat_train).reshape(n, -1)
        self.train_mu0_ = np.asarray(model.mu_hat_train).reshape(n, -1)
        self.info_["draws"] = int(self.train_tau_.shape[1])

    def _posterior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._is_train(X):  # the fit's own draws (exactly what the in-sample protocol scores)
            tau, mu0 = self.train_tau_, self.train_mu0_
        else:
            zeros = np.zeros(len(X))
            tau = np.asarray(self.model_.predict(X, zeros, terms="tau")).reshape(len(X), -1)
            mu0 = np.asarray(self.model_.predict(X, zeros, terms="mu")).reshape(len(X), -1)
        return mu0, mu0 + tau, tau


_OUT = {"ate", "ate_interval", "cate", "cate_interval", "ite_interval"}
register_factory("BART", BARTSLearner, outputs=_OUT, family="bayesian", requires=("stochtree",),
                 description="stochtree BART S-learner on [X, t]; intervals from posterior draws.")
register_factory("BCF", BCF, outputs=_OUT, family="bayesian", requires=("stochtree",),
                 description="stochtree Bayesian causal forest; intervals from posterior draws.")
