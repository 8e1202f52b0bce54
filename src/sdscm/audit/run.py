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
from typing import Any, Callable, Sequence

from sdscm.audit.arms import VariantArm, run_variant
from sdscm.audit.setup import resolve_setup
from sdscm.audit.summary import AuditResult, summarise
from sdscm.backends.factory import CacheOption
from sdscm.errors import QueryError
from sdscm.executors import check_executor, make_executor
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
    jobs: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
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
    a model built here (True: user cache dir, a folder, or False). `executor="ray"` computes the
    variants on `jobs` Ray actors (a local cluster, or the one at `ray_address`), each building the
    backend once; the per-unit results are the same as in this process. Returns an :class:`AuditResult`.
    """
    if outcome is None:
        raise QueryError("audit needs an outcome variable")
    check_executor(executor, ray_address)
    if int(jobs) < 1 or (executor == "local" and int(jobs) != 1):
        raise QueryError(f"jobs (--jobs) {jobs}: an audit runs its variants in this process with the local "
                         "executor (--jobs 1), or on --jobs N Ray actors with --executor ray")
    base = _base_model(model_or_spec, backend, cache)
    setup = resolve_setup(base.spec, base.source, cause, values, outcome, outcome_value, variants, n, seed,
                          placebo, placebo_phrasing, margin, alpha, level, n_boot, n_perm)
    started = time.perf_counter()
    arms: list[VariantArm] = []
    with progress_bar(progress, len(setup.variants), "variant", leave=False) as bar:
        if executor == "local":
            for position, variant in enumerate(setup.variants):
                arms.append(run_variant(base, setup, position, variant))
                bar.update(1)
            backend_obj = base.memo.backend_if_built
            fingerprint = backend_obj.fingerprint if backend_obj is not None else None
            scored = base.memo.stats.scored
        else:
            fingerprint, scored = _run_on_workers(base, setup, jobs, executor, ray_address, arms, bar.update)
    seconds = time.perf_counter() - started
    runtime = {
        "seconds": seconds,
        "contexts_scored": scored,
        "variant_seconds": [arm.seconds for arm in arms],
        "backend": fingerprint,
        # model, language model and fingerprint, seed, noise and library versions (the variants and
        # interventions are the audit's inputs, recorded beside it)
        "provenance": {**base.provenance(seed=int(setup.seed), noise="shared: each unit's noise keyed by "
                                         "(seed, unit id, variable) in every world"),
                       "variant": list(setup.variants),
                       # on workers the driver never builds the backend: their fingerprint stands
                       "fingerprint": fingerprint},
    }
    if setup.placebo and any(arm.placebo_phrasing == arm.cause_phrasing for arm in arms):
        setup.notes.append("in some variants the placebo phrasing equals the variant's own phrasing, so their "
                           "placebo change is zero by construction")
    return summarise(setup, arms, runtime)


def _variant_worker(spec: ModelFile, source: str | None, phrasings: dict[str, str],
                    backend_factory: Callable[[], Any], setup: Any) -> Callable[[tuple[int, int | None]], Any]:
    """Set up a worker of a parallel audit: one model (its backend built once, on first use) whose
    task is (position, variant) and whose result is (arm, contexts it scored, backend fingerprint)."""
    base = SDSCM(spec, source=source, backend=None).with_phrasings(phrasings)
    base.memo.backend_factory = backend_factory  # the driver's: an injected backend, or the model section's

    def one(task: tuple[int, int | None]) -> tuple[VariantArm, int, str | None]:
        before = base.memo.stats.scored
        arm = run_variant(base, setup, *task)
        built = base.memo.backend_if_built
        return arm, base.memo.stats.scored - before, built.fingerprint if built is not None else None

    return one


def _run_on_workers(base: SDSCM, setup: Any, jobs: int, executor: str, ray_address: str | None,
                    arms: list[VariantArm], tick: Callable[[int], Any]) -> tuple[str | None, int]:
    """Compute the variants on the executor's workers; fill `arms` in variant order. The backend
    factory travels to the workers (Ray pickles closures), so each builds the same backend."""
    found: dict[int, VariantArm] = {}
    fingerprints: list[str] = []
    scored = [0]

    def done(task: tuple[int, int | None], result: tuple[VariantArm, int, str | None]) -> None:
        arm, count, fingerprint = result
        found[task[0]] = arm
        scored[0] += count
        if fingerprint is not None:
            fingerprints.append(fingerprint)
        tick(1)

    tasks = list(enumerate(setup.variants))
    make_executor(executor, jobs, ray_address=ray_address).run(
        tasks, _variant_worker, (base.spec, base.source, base.phrasings, base.memo.backend_factory, setup),
        on_result=done)
    arms.extend(found[position] for position, _ in tasks)
    return (fingerprints[0] if fingerprints else None), scored[0]
