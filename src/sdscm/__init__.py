"""sdscm: sequence-driven structural causal models (a language model plus a DAG as an SCM).

Quick start::

    import sdscm
    m = sdscm.load("examples/breast_cancer.yaml", variant=0)
    units = m.sample(100, seed=1)
    treated = m.counterfactual(units, do={"PD-L1 level": "high"})
"""

from sdscm.engine.interventions import Soft
from sdscm.errors import BackendError, QueryError, SDSCMError, SpecError
from sdscm.model import SDSCM, load
from sdscm.queries import (
    compute_noise_from_data,
    counterfactual_samples,
    draw_samples,
    exact_distribution,
    interventional_samples,
    noise_samples,
    observational_samples,
    to_pgmpy,
)
from sdscm.results.io import read_frame, write_frame
from sdscm.version import __version__ as __version__

__all__ = [
    "SDSCM",
    "BackendError",
    "QueryError",
    "SDSCMError",
    "Soft",
    "SpecError",
    "compute_noise_from_data",
    "counterfactual_samples",
    "draw_samples",
    "exact_distribution",
    "interventional_samples",
    "load",
    "noise_samples",
    "observational_samples",
    "read_frame",
    "to_pgmpy",
    "write_frame",
]
