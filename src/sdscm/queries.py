"""Query functions with the keyword conventions of DoWhy's `gcm` module, over an :class:`SDSCM`.

| DoWhy gcm | here |
|---|---|
| `draw_samples(causal_model, num_samples)` | `draw_samples(model, num_samples, seed=0)` (also `observational_samples`) |
| `interventional_samples(causal_model, interventions, observed_data=None, num_samples_to_draw=None)` | `interventional_samples(model, interventions, num_samples_to_draw=None, seed=0, *, observed_data=None)` |
| `counterfactual_samples(causal_model, interventions, observed_data=None, noise_data=None)` | `counterfactual_samples(model, interventions, observed_data, noise="shared", *, seed=None)` |

As in gcm, `interventional_samples` takes either a sample size or observed data (then the
variables the interventions affect are drawn anew, the others keep their observed values).
Differences: `interventions` maps variables to values (a label, a 0-based index, or
:class:`sdscm.Soft`), not to functions of the old value (a categorical variable has no arithmetic
to apply); `num_samples_to_draw` stays the third positional argument, as before; counterfactual
noise is recorded or abducted, never passed as `noise_data`. Results use the layout of
docs/results.md.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from sdscm.engine.frames import world_frame
from sdscm.errors import QueryError
from sdscm.model import SDSCM


def draw_samples(model: SDSCM, num_samples: int, seed: int = 0) -> pd.DataFrame:
    """Units drawn from the model's observational distribution (gcm's `draw_samples`)."""
    return model.sample(num_samples, seed=seed)


def observational_samples(model: SDSCM, num_samples_to_draw: int, seed: int = 0) -> pd.DataFrame:
    """Units drawn from the model's observational distribution (the same as :func:`draw_samples`)."""
    return draw_samples(model, num_samples_to_draw, seed=seed)


def interventional_samples(
    model: SDSCM,
    interventions: Mapping[str, Any],
    num_samples_to_draw: int | None = None,
    seed: int = 0,
    *,
    observed_data: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Units under `do(interventions)`: `num_samples_to_draw` new units (the same seed and ids share
    noise with the observational draw), or the units of `observed_data` with every variable the
    interventions affect drawn anew (fresh noise from `seed`) and the others as observed."""
    if (observed_data is None) == (num_samples_to_draw is None):
        raise QueryError("interventional_samples needs either num_samples_to_draw or observed_data, not both")
    if observed_data is None:
        return model.do(interventions).sample(num_samples_to_draw, seed=seed)
    world = model.counterfactual_world(observed_data, do=interventions, noise="fresh", seed=seed)
    return world_frame(model.variables, world, seeds=None)


def counterfactual_samples(
    model: SDSCM,
    interventions: Mapping[str, Any],
    observed_data: pd.DataFrame,
    noise: str = "shared",
    *,
    seed: int | None = None,
) -> pd.DataFrame:
    """Counterfactual worlds of `observed_data` under `do(interventions)` (see :meth:`SDSCM.counterfactual`)."""
    return model.counterfactual(observed_data, do=interventions, noise=noise, seed=seed)


def exact_distribution(
    model: SDSCM, variables: list[str] | None = None, interventions: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Exact (interventional) distribution over `variables` by enumeration."""
    target = model.do(interventions) if interventions is not None else model
    return target.exact(variables)
