"""The inputs of an audit, resolved and checked against the model: cause, contrast, outcome values,
variants, units, placebo wording and the test settings (:class:`AuditSetup`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from sdscm.errors import QueryError
from sdscm.graph.dag import build_graph, descendants_of
from sdscm.spec.messages import did_you_mean
from sdscm.spec.schema import SLOT, ModelFile
from sdscm.spec.values import value_index


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


MAX_VARIANTS = 10_000
"""Phrasing draws in one audit (each is a full set of worlds; the list is built up front)."""


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
        if variants > MAX_VARIANTS:
            raise QueryError(f"variants (--variants) {variants} is more than {MAX_VARIANTS:,} phrasing draws in one "
                             "audit; split it into audits over lists of variant indices, e.g. --variants 0,1,2")
        variant_list: list[int | None] = list(range(int(variants)))
    elif variants is None:
        variant_list = [None]
    else:
        variant_list = [int(v) for v in variants]
        if not variant_list or any(v < 0 for v in variant_list) or len(set(variant_list)) != len(variant_list):
            raise QueryError(f"variants must be distinct indices >= 0, got {variants}")
    if n < 2:
        raise QueryError(f"n must be at least 2 units per variant, got {n}")
    for label, count, low, high, default in (("n_boot", n_boot, 10, 100_000, 2000),
                                            ("n_perm", n_perm, 10, 1_000_000, 10_000)):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not low <= count <= high:
            raise QueryError(f"{label} (--{label.replace('_', '-')}) must be an integer from {low} to {high:,}, "
                             f"got {count!r}; the default {default} suits most audits")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= 2**63 - 1:
        raise QueryError(f"seed (--seed) must be an integer from 0 to 2**63-1, got {seed!r}")
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
    upstream = outcome in descendants_of(build_graph(spec), [cause])
    if not upstream:
        notes.append(f"'{cause}' is not upstream of the outcome '{outcome}' (no directed path in the DAG): "
                     "intervening on it cannot change the outcome, so every per-unit effect is exactly zero")
    return AuditSetup(spec=spec, source=source, cause=cause, values=(a, b), outcome=outcome,
                      outcome_values=out_values, variants=variant_list, n=int(n), seed=int(seed),
                      placebo=placebo, placebo_phrasing=template, margin=margin, alpha=alpha, level=level,
                      n_boot=int(n_boot), n_perm=int(n_perm), upstream=upstream, notes=notes)


def placebo_template(setup: AuditSetup, chosen: str) -> str | None:
    """The placebo wording of the cause in a variant: the user's, else the next phrasing in the file."""
    if not setup.placebo:
        return None
    if setup.placebo_phrasing is not None:
        return setup.placebo_phrasing
    phr = list(setup.spec.variable(setup.cause).phrasings)
    start = phr.index(chosen) if chosen in phr else -1
    following = [phr[(start + step) % len(phr)] for step in range(1, len(phr) + 1)]
    return next((p for p in following if p != chosen), None)
