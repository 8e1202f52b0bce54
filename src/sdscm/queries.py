"""Query functions in the style of DoWhy's gcm module, over an :class:`SDSCM`."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from sdscm.model import SDSCM


def observational_samples(model: SDSCM, num_samples_to_draw: int, seed: int = 0) -> pd.DataFrame:
    """Units drawn from the model's observational distribution."""
    return model.sample(num_samples_to_draw, seed=seed)


def interventional_samples(
    model: SDSCM, interventions: Mapping[str, Any], num_samples_to_draw: int, seed: int = 0
) -> pd.DataFrame:
    """Units drawn under `do(interventions)`; same seed and ids share noise with the observational draw."""
    return model.do(interventions).sample(num_samples_to_draw, seed=seed)


def counterfactual_samples(
    model: SDSCM, interventions: Mapping[str, Any], observed_data: pd.DataFrame, noise: str = "shared"
) -> pd.DataFrame:
    """Counterfactual worlds of `observed_data` under `do(interventions)`."""
    return model.counterfactual(observed_data, do=interventions, noise=noise)


def exact_distribution(
    model: SDSCM, variables: list[str] | None = None, interventions: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Exact (interventional) distribution over `variables` by enumeration."""
    target = model.do(interventions) if interventions else model
    return target.exact(variables)
