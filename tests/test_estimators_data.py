"""Benchmark datasets with a planted effect for the estimator tests, built without a language model.

A categorical-mechanism SD-SCM: a confounder C (3 values) drives both treatment T and outcome Y,
an exogenous U affects only Y. P(Y = good | C, T, U) = 0.15 + 0.2 C + (0.1 + 0.05 C) T + 0.1 [U = b],
so the ITE is 0.1 + 0.05 C and the naive difference in means is biased upward by C.
Other test modules import `confounded_dataset` from here.
"""

from __future__ import annotations

import numpy as np

from sdscm.benchmark.dataset import CausalDataset
from sdscm.model import SDSCM
from sdscm.spec.schema import ModelFile

PROPENSITY = {"0": 0.2, "1": 0.5, "2": 0.8}


def p_good(c: int, t: int, u: str) -> float:
    """The planted outcome probability."""
    return 0.15 + 0.2 * c + (0.1 + 0.05 * c) * t + 0.1 * (u == "b")


def confounded_spec() -> ModelFile:
    """C -> T, C -> Y, T -> Y, U -> Y with categorical mechanisms, and a benchmark section."""
    rows = [{"parents": {"C": str(c), "T": t, "U": u}, "probabilities": [p, 1 - p]}
            for c in range(3) for ti, t in enumerate(["no", "yes"]) for u in ["a", "b"]
            for p in [p_good(c, ti, u)]]
    return ModelFile.model_validate({
        "name": "planted",
        "variables": [
            {"name": "U", "values": ["a", "b"], "phrasings": ["u {value}."], "mechanism": "categorical",
             "probabilities": [0.5, 0.5], "exogenous": True},
            {"name": "C", "values": ["0", "1", "2"], "phrasings": ["c {value}."], "mechanism": "categorical",
             "probabilities": [1 / 3, 1 / 3, 1 / 3]},
            {"name": "T", "values": ["no", "yes"], "phrasings": ["t {value}."], "parents": ["C"],
             "mechanism": "categorical",
             "table": [{"parents": {"C": c}, "probabilities": [1 - e, e]} for c, e in PROPENSITY.items()]},
            {"name": "Y", "values": ["good", "bad"], "phrasings": ["y {value}."], "parents": ["C", "T", "U"],
             "mechanism": "categorical", "table": rows},
        ],
        "benchmark": {"treatment": "T", "control": "no", "treated": "yes", "outcome": "Y",
                      "outcome_value": "good"},
    })


def confounded_model() -> SDSCM:
    """The planted SD-SCM (exact, no language model)."""
    return SDSCM(confounded_spec())


def confounded_dataset(n: int, seed: int = 0, view: str = "all", outcome: str = "category",
                       name: str | None = None) -> CausalDataset:
    """n units with exact potential outcomes mu_t = P(Y = good | do(T = t), C, U).

    ``outcome="category"``: y is the sampled indicator [Y = good] (noisy around mu_t);
    ``outcome="probability"``: y = mu_t exactly (the SD-SCM default quantity).
    ``view="hidden"`` drops the exogenous U.
    """
    model = confounded_model()
    units = model.sample(n, seed=seed)
    cf0 = model.counterfactual(units, do={"T": "no"})
    cf1 = model.counterfactual(units, do={"T": "yes"})
    mu0 = cf0["P(Y=good)|do(T=no)"].to_numpy(float)
    mu1 = cf1["P(Y=good)|do(T=yes)"].to_numpy(float)
    t = (units["T"] == "yes").to_numpy().astype(np.int64)
    y = (units["Y"] == "good").to_numpy(float) if outcome == "category" else np.where(t == 1, mu1, mu0)
    c = units["C"].astype(int).to_numpy(float)
    u = (units["U"] == "b").to_numpy(float)
    cols, cats, X = (["C", "U"], [3, 2], np.column_stack([c, u])) if view == "all" else (["C"], [3], c[:, None])
    e = np.array([PROPENSITY[str(int(v))] for v in c])
    return CausalDataset(name=name or f"planted-{seed}", view=view, covariates=cols, X=X, t=t, y=y,
                         mu0=mu0, mu1=mu1, categories=cats, e=e, frame=units,
                         metadata={"group": "planted"})


def population_ate() -> float:
    """E[ITE] = 0.1 + 0.05 E[C] with C uniform on {0, 1, 2}."""
    return 0.1 + 0.05 * 1.0


def test_planted_ground_truth_is_exact() -> None:
    """The dataset's ITE equals the planted 0.1 + 0.05 C unit by unit, y == mu_t for the
    probability outcome, and the naive difference is far above the SATE (confounding)."""
    ds = confounded_dataset(3000, seed=1, outcome="probability")
    np.testing.assert_allclose(ds.ite, 0.1 + 0.05 * ds.X[:, 0], atol=1e-12)
    np.testing.assert_allclose(ds.y, np.where(ds.t == 1, ds.mu1, ds.mu0))
    assert abs(ds.sate - population_ate()) < 0.01
    assert ds.naive_difference - ds.sate > 0.15


def test_hidden_view_drops_only_the_exogenous_covariate() -> None:
    """The hidden view keeps C and drops U; the outcome and ground truth are unchanged."""
    full = confounded_dataset(500, seed=2)
    hidden = confounded_dataset(500, seed=2, view="hidden")
    assert full.covariates == ["C", "U"] and hidden.covariates == ["C"]
    np.testing.assert_array_equal(full.y, hidden.y)
    np.testing.assert_array_equal(full.ite, hidden.ite)
