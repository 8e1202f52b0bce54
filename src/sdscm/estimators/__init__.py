"""Treatment-effect estimators behind one protocol, with a registry and presets.

Importing this package registers the built-in suite (T-only OLS, LinReg, S/T learners, RF, EconML
DML/DR/causal forests, stochtree BART/BCF, weighted conformal ITE intervals; catenets learners as
an opt-in extra). Heavy libraries are imported only when an estimator is fitted.
"""

from sdscm.estimators.base import (
    ENCODINGS,
    OUTPUTS,
    EffectEstimate,
    EffectEstimator,
    Estimator,
    EstimatorConfig,
    EstimatorError,
    EstimatorInfo,
    InSampleOnly,
    NotProvided,
    ParameterError,
    encode_covariates,
    get_estimator,
    make_estimator,
    register_estimator,
    register_factory,
    registry,
    unregister_estimator,
)
from sdscm.estimators import sklearn_learners, econml_learners, bart, conformal, neural  # noqa: F401  (registers)
from sdscm.estimators.presets import PRESETS, SUITE, preset, select

__all__ = [
    "ENCODINGS", "OUTPUTS", "PRESETS", "SUITE", "EffectEstimate", "EffectEstimator", "Estimator",
    "EstimatorConfig", "EstimatorError", "EstimatorInfo", "InSampleOnly", "NotProvided", "ParameterError", "encode_covariates", "get_estimator", "make_estimator",
    "preset", "register_estimator", "register_factory", "registry", "select", "unregister_estimator",
]
