"""Run an audit: per variant, sample units and compute their contrast and placebo worlds exactly.

For each variant (one phrasing draw of the family) `n` units are sampled with recorded noise,
keyed by (seed, unit id). Because their noise is recorded, the shared-noise counterfactual world of
a unit under do(cause = A) is the same model run under do(cause = A) with the same (seed, unit id):
non-descendants of the cause come out identical and descendants are recomputed with the unit's own
noise (DESIGN.md, "Counterfactuals"). Per unit we keep the outcome's exact distribution in each world:

- world A: do(cause = A); world B: do(cause = B), same noise -> effect = P_B(y) - P_A(y), flip = Y_B != Y_A;
- placebo: do(cause = A) with the cause's sentence re-worded (another phrasing of the same variable),
  same noise -> placebo change = P_A'(y) - P_A(y), placebo flip = Y_A' != Y_A.

The statistics live in :mod:`sdscm.audit.stats`; this module only produces the per-unit numbers and
hands them to :func:`sdscm.audit.summary.summarise` (see :class:`AuditResult`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from sdscm.errors import QueryError
from sdscm.graph.dag import descendants_of
from sdscm.progress import progress_bar
from sdscm.spec.messages import did_you_mean
from sdscm.spec.schema import SLOT, ModelFile
from sdscm.spec.values import value_index

if TYPE_CHECKING:
    from sdscm.audit.summary import AuditResult

DEFAULT_VARIANTS = 5
DEFAULT_N = 200


@dataclass
class VariantArm:
    """Per-unit results of one variant: outcome distributions in every world, as arrays."""

    variant: int | None
    phrasings: dict[str, str]
    cause_phrasing: str
    placebo_phrasing: str | None
    unit_ids: np.ndarray  # (n,)
    seeds: np.ndarray  # (n,)
    cause_factual: np.ndarray  # (n,) value index of the cause in the factual world
    outcome_factual: np.ndarray  # (n,) sampled outcome index, factual world
    outcome_a: np.ndarray  # (n,) sampled outcome index, world do(cause=A)
    outcome_b: np.ndarray  # (n,) world do(cause=B)
    probs_a: np.ndarray  # (n, k) outcome distribution, world A
    probs_b: np.ndarray  # (n, k) world B
    outcome_placebo: np.ndarray | None = None  # (n,) world do(cause=A) with the placebo phrasing
    probs_placebo: np.ndarray | None = None  # (n, k)
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return len(self.unit_ids)

    @property
    def has_placebo(self) -> bool:
        return self.probs_placebo is not None


@dataclass
class AuditSetup:
    """The resolved, checked inputs of an audit (everything needed to reproduce it)."""

    spec: ModelFile
    source: str | None
    cause: str
    values: tuple[str, str]
    outcome: str
    outcome_values: list[str]
    variants: list[int | None]
    n: int
    seed: int
    placebo: bool
    placebo_phrasing: str | None
    margin: float | None
    alpha: float
    level: float
    n_boot: int
    n_perm: int
    upstream: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        spec_dict = self.spec.model_dump(mode="json", exclude_none=True)
        digest = hashlib.sha256(json.dumps(spec_dict, sort_keys=True).encode()).hexdigest()
        return {
            "model_file": self.source,
            "model_name": self.spec.name,
            "model_sha256": digest,
            "cause": self.cause,
            "values": list(self.values),
            "outcome": self.outcome,
            "outcome_values": list(self.outcome_values),
            "variants": list(self.variants),
            "n": self.n,
            "seed": self.seed,
            "placebo": self.placebo,
            "placebo_phrasing": self.placebo_phrasing,
            "margin": self.margin,
            "alpha": self.alpha,
            "ci_level": self.level,
            "n_boot": self.n_boot,
            "n_perm": self.n_perm,
            "unit_ids": "variant position j uses unit ids j*n .. j*n+n-1 with the given seed",
            "spec": spec_dict,
        }


# ----------------------------------------------------------------------------- resolving inputs
def _resolve_label(kind: str, variable: str, domain: Sequence[str], value: Any) -> str:
    """A value label from a label or 0-based index (ints, or digit strings that are not labels)."""
    index = value_index(domain, value)
    if index is not None:
        return domain[index]
    if isinstance(value, (bool, np.bool_)):
        raise QueryError(f"{kind} of '{variable}': {value!r} is not a value; use one of {list(domain)}")
    if isinstance(value, str):
        guess = did_you_mean(value, domain, n=1)
        hint = f"; {guess}" if guess else ""
        raise QueryError(f"{kind}: '{value}' is not a value of '{variable}'{hint}; its values are {list(domain)}")
    raise QueryError(f"{kind}: {value!r} is not a value of '{variable}' (labels {list(domain)} "
                     f"or indices 0..{len(domain) - 1})")


def _check_variable(spec: ModelFile, name: str, role: str) -> None:
    if name not in spec.names:
        guess = did_you_mean(str(name), spec.names, n=1)
        hint = f"; {guess}" if guess else ""
        raise QueryError(f"unknown {role} variable '{name}'{hint}; the model's variables are {spec.names}")


def _check_template(template: str) -> str:
    if template.count(SLOT) != 1:
        raise QueryError(f"placebo phrasing {template!r} must contain exactly one {SLOT} slot")
    return template


def resolve_setup(
    spec: ModelFile, source: str | None, cause: str, values: Sequence[Any] | None, outcome: str,
    outcome_value: Any, variants: int | Sequence[int] | None, n: int, seed: int, placebo: bool,
    placebo_phrasing: str | int | None, margin: float | None, alpha: float, level: float,
    n_boot: int, n_perm: int,
) -> AuditSetup:
    """Check every argument against the model and fill in defaults; errors name the fix."""
    _check_variable(spec, cause, "cause")
    _check_variable(spec, outcome, "outcome")
    if cause == outcome:
        raise QueryError(f"the cause and the outcome are the same variable '{cause}'; pick two variables")
    cause_spec, outcome_spec = spec.variable(cause), spec.variable(outcome)
    if values is None:
        bench = spec.benchmark
        if bench is not None and bench.treatment == cause:
            values = (bench.control, bench.treated)
        elif len(cause_spec.values) == 2:
            values = tuple(cause_spec.values)
        else:
            raise QueryError(f"'{cause}' has {len(cause_spec.values)} values; say which two to contrast, "
                             f"e.g. values=('{cause_spec.values[0]}', '{cause_spec.values[1]}')")
    values = list(values)
    if len(values) != 2:
        raise QueryError(f"values must be two values of '{cause}' (A, B), got {len(values)}: {values}")
    a = _resolve_label("values", cause, cause_spec.values, values[0])
    b = _resolve_label("values", cause, cause_spec.values, values[1])
    if a == b:
        raise QueryError(f"values: A and B are the same value '{a}' of '{cause}'; contrast two different values")
    domain = list(outcome_spec.values)
    if outcome_value is None:
        primary = domain[0]
        bench = spec.benchmark
        if bench is not None and bench.outcome == outcome and bench.outcome_value in domain:
            primary = bench.outcome_value
        # A binary outcome's second value is the mirror image of the first: one contrast says it all.
        out_values = [primary] if len(domain) == 2 else [primary] + [v for v in domain if v != primary]
    else:
        raw = [outcome_value] if isinstance(outcome_value, (str, int, np.integer)) else list(outcome_value)
        if not raw:
            raise QueryError("outcome_value: give at least one value (or None for all values)")
        out_values = list(dict.fromkeys(_resolve_label("outcome value", outcome, domain, v) for v in raw))
    if isinstance(variants, (int, np.integer)) and not isinstance(variants, bool):
        if variants < 1:
            raise QueryError(f"variants must be >= 1, got {variants}")
        variant_list: list[int | None] = list(range(int(variants)))
    elif variants is None:
        variant_list = [None]
    else:
        variant_list = [int(v) for v in variants]
        if not variant_list or any(v < 0 for v in variant_list) or len(set(variant_list)) != len(variant_list):
            raise QueryError(f"variants must be distinct indices >= 0, got {variants}")
    if n < 2:
        raise QueryError(f"n must be at least 2 units per variant, got {n}")
    if margin is not None and not margin > 0:
        raise QueryError(f"margin must be a positive number (an effect size in probability units), got {margin}")
    if not 0 < alpha < 1 or not 0 < level < 1:
        raise QueryError("alpha and the confidence level must lie strictly between 0 and 1")
    notes: list[str] = []
    template: str | None = None
    if placebo:
        if isinstance(placebo_phrasing, (int, np.integer)) and not isinstance(placebo_phrasing, bool):
            if not 0 <= placebo_phrasing < len(cause_spec.phrasings):
                raise QueryError(f"placebo phrasing index {placebo_phrasing} is out of range: '{cause}' has "
                                 f"{len(cause_spec.phrasings)} phrasing(s)")
            template = cause_spec.phrasings[int(placebo_phrasing)]
        elif placebo_phrasing is not None:
            template = _check_template(str(placebo_phrasing))
        elif len(cause_spec.phrasings) < 2:
            placebo = False
            notes.append(f"no placebo possible: '{cause}' has only one phrasing, so there is no other wording "
                         "of the same value to compare with; add phrasings to the model file or pass "
                         "placebo_phrasing (CLI: --placebo-phrasing) with a re-wording that keeps {value}")
    upstream = outcome in descendants_of(_graph(spec), [cause])
    if not upstream:
        notes.append(f"'{cause}' is not upstream of the outcome '{outcome}' (no directed path in the DAG): "
                     "intervening on it cannot change the outcome, so every per-unit effect is exactly zero")
    return AuditSetup(spec=spec, source=source, cause=cause, values=(a, b), outcome=outcome,
                      outcome_values=out_values, variants=variant_list, n=int(n), seed=int(seed),
                      placebo=placebo, placebo_phrasing=template, margin=margin, alpha=alpha, level=level,
                      n_boot=int(n_boot), n_perm=int(n_perm), upstream=upstream, notes=notes)


def _graph(spec: ModelFile):
    from sdscm.graph.dag import build_graph

    return build_graph(spec)


def _placebo_template(setup: AuditSetup, chosen: str) -> str | None:
    """The placebo wording of the cause in a variant: the user's, else the next phrasing in the file."""
    if not setup.placebo:
        return None
    if setup.placebo_phrasing is not None:
        return setup.placebo_phrasing
    phr = list(setup.spec.variable(setup.cause).phrasings)
    start = phr.index(chosen) if chosen in phr else -1
    following = [phr[(start + step) % len(phr)] for step in range(1, len(phr) + 1)]
    return next((p for p in following if p != chosen), None)


# ----------------------------------------------------------------------------- the worlds
def run_variant(base, setup: AuditSetup, position: int, variant: int | None) -> VariantArm:
    """Sample `n` units of one variant and compute the outcome in the factual, A, B and placebo worlds."""
    from sdscm.engine.compiled import choose_phrasings

    started = time.perf_counter()
    model = base if variant is None else base.with_phrasings(choose_phrasings(setup.spec, variant))
    n = setup.n
    unit_ids = np.arange(position * n, (position + 1) * n, dtype=np.int64)
    seeds = np.full(n, setup.seed, dtype=np.int64)
    cause_var, out_var = model.variable(setup.cause), model.variable(setup.outcome)
    a, b = setup.values
    factual = model.simulate(unit_ids, seeds)
    chosen = model.phrasings[setup.cause]
    placebo = _placebo_template(setup, chosen)
    oi = out_var.index
    if not setup.upstream:
        # The outcome and all its ancestors are non-descendants of the cause: in every counterfactual
        # world they keep their factual values and distributions (shared noise), so reuse the factual world.
        world_a = world_b = factual
        world_p = factual if placebo is not None else None
    else:
        world_a = model.do({setup.cause: a}).simulate(unit_ids, seeds)
        world_b = model.do({setup.cause: b}).simulate(unit_ids, seeds)
        world_p = (model.with_phrasings({setup.cause: placebo}).do({setup.cause: a}).simulate(unit_ids, seeds)
                   if placebo is not None else None)
    return VariantArm(
        variant=variant,
        phrasings=dict(model.phrasings),
        cause_phrasing=chosen,
        placebo_phrasing=placebo,
        unit_ids=unit_ids,
        seeds=seeds,
        cause_factual=factual.values[:, cause_var.index].copy(),
        outcome_factual=factual.values[:, oi].copy(),
        outcome_a=world_a.values[:, oi].copy(),
        outcome_b=world_b.values[:, oi].copy(),
        probs_a=world_a.probabilities(oi),
        probs_b=world_b.probabilities(oi),
        outcome_placebo=None if world_p is None else world_p.values[:, oi].copy(),
        probs_placebo=None if world_p is None else world_p.probabilities(oi),
        seconds=time.perf_counter() - started,
    )


def _base_model(model_or_spec: Any, backend: Any, cache: Any = True):
    """An SDSCM from a model, a ModelFile, or a path to a model file."""
    from sdscm.model import SDSCM

    if isinstance(model_or_spec, SDSCM):
        if backend is not None:
            raise QueryError("pass `backend` only with a model file or ModelFile; an SDSCM already has one")
        return model_or_spec
    if isinstance(model_or_spec, ModelFile):
        return SDSCM(model_or_spec, backend=backend, cache=cache)
    if isinstance(model_or_spec, (str, Path)):
        from sdscm.spec import load_spec

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
    cache: bool | str | Path = True,
) -> "AuditResult":
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
    from sdscm.audit.summary import summarise

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
    }
    if setup.placebo and any(arm.placebo_phrasing == arm.cause_phrasing for arm in arms):
        setup.notes.append("in some variants the placebo phrasing equals the variant's own phrasing, so their "
                           "placebo change is zero by construction")
    return summarise(setup, arms, runtime)


def units_frame(setup: AuditSetup, arms: Sequence[VariantArm]) -> pd.DataFrame:
    """Per-unit results in long form: one row per (variant, unit, outcome value)."""
    spec_cause = setup.spec.variable(setup.cause)
    domain = list(setup.spec.variable(setup.outcome).values)
    labels = np.asarray(domain, dtype=object)
    cause_labels = np.asarray(spec_cause.values, dtype=object)
    frames = []
    for arm in arms:
        for value in setup.outcome_values:
            j = domain.index(value)
            data: dict[str, Any] = {
                "variant": np.full(arm.n, -1 if arm.variant is None else arm.variant, dtype=np.int64),
                "unit_id": arm.unit_ids,
                "seed": arm.seeds,
                "outcome_value": np.full(arm.n, value, dtype=object),
                "cause_factual": cause_labels[arm.cause_factual],
                "outcome_factual": labels[arm.outcome_factual],
                "outcome_do_a": labels[arm.outcome_a],
                "outcome_do_b": labels[arm.outcome_b],
                "prob_do_a": arm.probs_a[:, j],
                "prob_do_b": arm.probs_b[:, j],
                "effect": arm.probs_b[:, j] - arm.probs_a[:, j],
                "flip": arm.outcome_a != arm.outcome_b,
            }
            if arm.has_placebo:
                data.update({
                    "outcome_placebo": labels[arm.outcome_placebo],
                    "prob_placebo": arm.probs_placebo[:, j],
                    "placebo_change": arm.probs_placebo[:, j] - arm.probs_a[:, j],
                    "placebo_flip": arm.outcome_placebo != arm.outcome_a,
                })
            frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)
