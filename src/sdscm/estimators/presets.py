"""Named estimator suites.

``paper``: the paper's study as closely as this environment allows: covariates as integer value
indices, every library's defaults (EconML >= 0.15: its cross-validated default propensity model
and ``min_propensity=1e-6`` are what make the DR learners blow up on the paper's GPT-2 data,
where true propensities reach 0.034; reproducing that is the point), ``LinearT`` a T-learner of
two ordinary least-squares fits.

``recommended``: what we would run: one-hot (dummy-coded) covariates, DR propensities floored at
0.01, and no duplicate ``RF`` row (it is the same model as ``ForestS``).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from sdscm.estimators.base import EstimatorConfig, EstimatorError, get_estimator

SUITE: tuple[str, ...] = (
    "T-only OLS", "LinReg", "LinearS", "LinearT", "ForestS", "ForestT", "RF",
    "LinearDML", "ForestDML", "LinearDRLearner", "ForestDRLearner", "CausalForest",
    "BART", "BCF", "Conformal",
)
"""The estimators of the paper's study (R methods replaced as docs/estimators.md explains)."""

DR_FLOOR = 0.01

PRESETS: dict[str, str] = {
    "paper": "integer-coded covariates, library defaults (reproduces the DR blow-up on GPT-2 data)",
    "recommended": "one-hot covariates, DR propensities floored at 0.01",
}


def preset(name: str, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> list[EstimatorConfig]:
    """The estimator configurations of a preset; ``overrides`` merges parameters by estimator name
    (e.g. ``{"ForestS": {"n_estimators": 10}}``, used by tests and quick runs)."""
    overrides = dict(overrides or {})
    if name == "paper":
        configs = [EstimatorConfig(n, dict(overrides.get(n, {})), "index") for n in SUITE]
    elif name == "recommended":
        configs = []
        for n in SUITE:
            if n == "RF":
                continue
            params: dict[str, Any] = {}
            if n in ("LinearDRLearner", "ForestDRLearner"):
                params["min_propensity"] = DR_FLOOR
            params.update(overrides.get(n, {}))
            configs.append(EstimatorConfig(n, params, "onehot"))
    else:
        raise EstimatorError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return configs


def select(configs: list[EstimatorConfig], names: Iterable[str] | None) -> list[EstimatorConfig]:
    """Keep the named configurations, in the order given. A registered estimator that the preset
    lacks is added with the preset's encoding and default parameters."""
    if names is None:
        return configs
    by_label = {c.display: c for c in configs}
    encoding = configs[0].encoding if configs else "index"
    out = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        if name in by_label:
            out.append(by_label[name])
        else:
            get_estimator(name)  # raises with the list of known names
            out.append(EstimatorConfig(name, {}, encoding))
    if not out:
        raise EstimatorError("no estimators selected")
    return out
