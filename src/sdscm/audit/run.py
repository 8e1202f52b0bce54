"""Run an audit: per variant, sample units and compute their contrast and placebo worlds exactly.

For each variant (one phrasing draw of the family) `n` units are sampled with recorded noise,
keyed by (seed, unit id). Because their noise is recorded, the shared-noise counterfactual world of
a unit under do(cause = A) is the same model run under do(cause = A) with the same (seed, unit id):
non-descendants of the cause come out identical and descendants are recomputed with the unit's own
noise (DESIGN.md, "Counterfactuals"). Per unit we keep the outcome's exact distribution in each world:

- world A: do(cause = A); world B: do(cause = B), same noise -> effect = P_B(y) - P_A(y), flip = Y_B != Y_A;
- placebo: do(cause = A) with the cause's sentence re-worded (another phrasing of the same variable),
  same noise -> placebo change = P_A'(y) - P_A(y), placebo flip = Y_A' != Y_A.

Inputs are resolved in :mod:`sdscm.audit.setup`, each variant's worlds computed in
:mod:`sdscm.audit.arms`, and the per-unit numbers handed to :func:`sdscm.audit.summary.summarise`
(statistics from :mod:`sdscm.audit.stats`), which returns the :class:`AuditResult`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from sdscm.audit.arms import VariantArm, run_variant
from sdscm.audit.setup import resolve_setup
from sdscm.audit.summary import AuditResult, summarise
from sdscm.backends.factory import CacheOption
from sdscm.errors import QueryError
from sdscm.model import SDSCM
from sdscm.progress import progress_bar
from sdscm.spec.load import load_spec
from sdscm.spec.schema import ModelFile

DEFAULT_VARIANTS = 5
DEFAULT_N = 200


def _base_model(model_or_spec: Any, backend: Any, cache: CacheOption = True) -> SDSCM:
    """An SDSCM from a model, a ModelFile, or a path to a model file."""
    if isinstance(model_or_spec, SDSCM):
        if backend is not None:
            raise QueryError("pass `backend` only with a model file or ModelFile; an SDSCM already has one")
        return model_or_spec
    if isinstance(model_or_spec, ModelFile):
        return SDSCM(model_or_spec, backend=backend, cache=cache)
    if isinstance(model_or_spec, (str, Path)):
        return SDSCM(load_spec(model_or_spec), backend=backend, source=str(model_or_spec), cache=cache)
    raise QueryError(f"audit needs an SDSCM, a ModelFile or a model file path, got {type(model_or_spec).__name__}")


def audit(
    model_or_spec: Any,
    cause: str,
    values: Sequence[str | int] | None = None,
    outcome: str | None = None,
    outcome_value: str | int | Sequence[str | int] | None = None,
    variants: int | Sequence[int] | None = DEFAULT_VARIANTS,
    n: int = DEFAULT_N,
    seed: int = 0,
    placebo: bool = True,
    margin: float | None = None,
    backend: Any = None,
    *,
    placebo_phrasing: str | int | None = None,
    alpha: float = 0.05,
    level: float = 0.95,
    n_boot: int = 2000,
    n_perm: int = 10_000,
    progress: bool = False,
    cache: CacheOption = True,
) -> AuditResult:
    """Audit the causal effect of `cause` (A -> B) on `outcome` that a (language) model encodes.

    `model_or_spec`: an :class:`~sdscm.SDSCM`, a :class:`~sdscm.spec.ModelFile` or a model-file path.
    `values`: (A, B), labels or indices (default: the benchmark's control/treated, or a binary cause's two
    values). `outcome_value`: one value, several, or None for every value (one contrast per value, with
    Holm and Benjamini-Hochberg adjustment; for a binary outcome None means the first value only, the
    other being its mirror image). `variants`: K (phrasing draws 0..K-1), a list of variant indices, or
    None (the given model's own phrasings). `n` units per variant, noise keyed by (`seed`, unit id).
    `placebo`: also re-word the cause (another phrasing of it, or `placebo_phrasing`) at value A.
    `margin`: equivalence margin for TOST (probability units). `cache`: the persistent score cache for
    a model built here (True: user cache dir, a folder, or False). Returns an :class:`AuditResult`.
    """
    if outcome is None:
        raise QueryError("audit needs an outcome variable")
    base = _base_model(model_or_spec, backend, cache)
    setup = resolve_setup(base.spec, base.source, cause, values, outcome, outcome_value, variants, n, seed,
                          placebo, placebo_phrasing, margin, alpha, level, n_boot, n_perm)
    started = time.perf_counter()
    arms: list[VariantArm] = []
    with progress_bar(progress, len(setup.variants), "variant", leave=False) as bar:
        for position, variant in enumerate(setup.variants):
            arms.append(run_variant(base, setup, position, variant))
            bar.update(1)
    seconds = time.perf_counter() - started
    backend_obj = base.memo.backend_if_built
    runtime = {
        "seconds": seconds,
        "contexts_scored": base.memo.stats.scored,
        "variant_seconds": [arm.seconds for arm in arms],
        "backend": backend_obj.fingerprint if backend_obj is not None else None,
        # model, language model and fingerprint, seed, noise and library versions (the variants and
        # interventions are the audit's inputs, recorded beside it)
        "provenance": {**base.provenance(seed=int(setup.seed), noise="shared: each unit's noise keyed by "
                                         "(seed, unit id, variable) in every world"),
                       "variant": list(setup.variants)},
    }
    if setup.placebo and any(arm.placebo_phrasing == arm.cause_phrasing for arm in arms):
        setup.notes.append("in some variants the placebo phrasing equals the variant's own phrasing, so their "
                           "placebo change is zero by construction")
    return summarise(setup, arms, runtime)
