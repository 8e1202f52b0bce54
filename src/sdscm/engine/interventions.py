"""Interventions: hard `do(X=v)`, soft (a replacement distribution) and functional
(`do(X := f(X))`, DoWhy gcm's callables over the current value), parsed and checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.special import logsumexp

from sdscm.errors import QueryError
from sdscm.spec.messages import did_you_mean
from sdscm.spec.values import value_index


@dataclass(frozen=True)
class Soft:
    """A soft intervention: the variable's mechanism is replaced by this distribution.

    `Soft.uniform()` gives every value equal probability; `Soft({"a": 0.2, "b": 0.8})` or
    `Soft([0.2, 0.8])` gives explicit probabilities (labels not listed get 0).
    """

    probabilities: Mapping[str, float] | Sequence[float] | None = None

    def __post_init__(self) -> None:
        p = self.probabilities
        ok = p is None or isinstance(p, Mapping) or (
            isinstance(p, Sequence) and not isinstance(p, (str, bytes)))
        if not ok:
            raise QueryError(
                f"Soft({p!r:.80}): give a dict {{label: probability}}, a list of probabilities in the "
                "variable's value order, or use Soft.uniform()"
            )
        numbers = list(p.values()) if isinstance(p, Mapping) else list(p or [])
        for x in numbers:
            if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
                raise QueryError(f"Soft({p!r:.80}): probability {x!r} is not a number")

    @classmethod
    def uniform(cls) -> "Soft":
        return cls(None)

    def describe(self) -> str:
        if self.probabilities is None:
            return "uniform"
        if isinstance(self.probabilities, Mapping):
            return "{" + ", ".join(f"{k}: {v:g}" for k, v in self.probabilities.items()) + "}"
        return "[" + ", ".join(f"{v:g}" for v in self.probabilities) + "]"


@dataclass(frozen=True)
class Intervention:
    """A parsed intervention on one variable: `index` for hard, `log_probs` for soft, `mapping` for
    functional (value index i -> mapping[i]: the variable takes its mechanism's value, then `f`)."""

    variable: str
    index: int | None = None
    log_probs: np.ndarray | None = None
    label: str = ""
    mapping: np.ndarray | None = None

    @property
    def is_hard(self) -> bool:
        return self.index is not None

    @property
    def is_functional(self) -> bool:
        return self.mapping is not None


def push_forward(log_probs: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Log-probabilities (n, k) of f(X) when X has `log_probs` (n, k) and f is the index map `mapping`."""
    out = np.full(log_probs.shape, -np.inf)
    for target in np.unique(mapping):
        out[:, target] = logsumexp(log_probs[:, mapping == target], axis=1)
    return out


def sample_preimage(log_probs: np.ndarray, mapping: np.ndarray, observed: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each row, a value i with mapping[i] == observed, drawn with probability proportional to
    exp(log_probs[i]) by inverting the CDF at the uniform u: the posterior of X given f(X) = observed."""
    weights = np.where(mapping[None, :] == observed[:, None], np.exp(log_probs), 0.0)
    cdf = np.cumsum(weights, axis=1)
    target = u * cdf[:, -1]
    chosen = (cdf < target[:, None]).sum(axis=1)
    # rounding can step past the last admissible value: take the last one with weight
    last = weights.shape[1] - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
    return np.minimum(chosen, last)


def _tabulate(variable: str, values: Sequence[str], function: Callable[[str], Any]) -> np.ndarray:
    """A callable intervention as an index map: `function` is called once on every value label and
    must return a value label (or a 0-based index) of the same variable."""
    mapping = np.zeros(len(values), dtype=np.int64)
    for i, label in enumerate(values):
        try:
            result = function(label)
        except Exception as exc:  # the user's function: report what it did, wherever it failed
            raise QueryError(
                f"intervention on '{variable}': the function raised {type(exc).__name__}: {exc} when called "
                f"on the value {label!r}; it must map each of {list(values)} to one of them"
            ) from exc
        try:
            mapping[i] = _resolve_value(variable, values, result)
        except QueryError:
            raise QueryError(
                f"intervention on '{variable}': the function maps {label!r} to {result!r}, which is not a "
                f"value of '{variable}'; it must return one of {list(values)} (text SCMs have no arithmetic, "
                "so write e.g. lambda x: 'b' if x == 'a' else x)"
            ) from None
    return mapping


def _resolve_value(variable: str, values: Sequence[str], value: Any) -> int:
    """A hard intervention's value: its label or a 0-based integer index (a digit string is a label)."""
    index = value_index(values, value, digits=False)
    if index is not None:
        return index
    if isinstance(value, (bool, np.bool_)):
        raise QueryError(f"intervention on '{variable}': {value!r} is not a value; use one of {list(values)}")
    if isinstance(value, str):
        raise QueryError(
            f"intervention on '{variable}': unknown value {value!r}; use one of {list(values)}"
            " (or a 0-based index)"
        )
    if isinstance(value, (int, np.integer)):
        raise QueryError(
            f"intervention on '{variable}': index {value} is out of range 0..{len(values) - 1}"
        )
    raise QueryError(
        f"intervention on '{variable}': {value!r} is neither a value label, an index nor sdscm.Soft(...)"
    )


def _soft_log_probs(variable: str, values: Sequence[str], soft: Soft) -> np.ndarray:
    k = len(values)
    if soft.probabilities is None:
        probs = np.full(k, 1.0 / k)
    elif isinstance(soft.probabilities, Mapping):
        probs = np.zeros(k)
        for label, p in soft.probabilities.items():
            probs[_resolve_value(variable, values, label)] = float(p)
    else:
        probs = np.asarray(list(soft.probabilities), dtype=float)
        if probs.shape != (k,):
            raise QueryError(
                f"soft intervention on '{variable}': {len(probs)} probabilities given for {k} values"
            )
    if np.any(probs < 0) or not np.isclose(probs.sum(), 1.0, atol=1e-6):
        raise QueryError(
            f"soft intervention on '{variable}': probabilities must be >= 0 and sum to 1 (got sum {probs.sum():g})"
        )
    with np.errstate(divide="ignore"):
        return np.log(probs)


def parse_interventions(
    domains: Mapping[str, Sequence[str]], interventions: Mapping[str, Any]
) -> dict[str, Intervention]:
    """Check and parse `{variable: value | index | Soft | {label: p} | callable}` against the model's
    domains (a callable maps the variable's value label to a label, as in DoWhy gcm)."""
    if not isinstance(interventions, Mapping):
        raise QueryError(
            f"interventions must be a dict {{variable: value}}, e.g. {{'{next(iter(domains), 'X')}': 0}}; "
            f"got {type(interventions).__name__} {interventions!r:.80}"
        )
    parsed: dict[str, Intervention] = {}
    problems: list[str] = []
    for variable, value in interventions.items():
        if variable not in domains:
            guess = did_you_mean(str(variable), domains, n=1)
            hint = f"; {guess}" if guess else f"; known variables: {list(domains)}"
            problems.append(f"intervention on unknown variable '{variable}'{hint}")
            continue
        values = list(domains[variable])
        try:
            if isinstance(value, Mapping):
                value = Soft(dict(value))
            if isinstance(value, Soft):
                parsed[variable] = Intervention(
                    variable, log_probs=_soft_log_probs(variable, values, value), label=f"~{value.describe()}"
                )
            elif callable(value):
                mapping = _tabulate(variable, values, value)
                if len(set(mapping.tolist())) == 1:  # a constant function is the atomic do(X=v)
                    idx = int(mapping[0])
                    parsed[variable] = Intervention(variable, index=idx, label=f"={values[idx]}")
                else:
                    pairs = ", ".join(f"{values[i]}->{values[j]}" for i, j in enumerate(mapping) if i != j)
                    parsed[variable] = Intervention(variable, mapping=mapping, label=f":=f({pairs or 'identity'})")
            else:
                idx = _resolve_value(variable, values, value)
                parsed[variable] = Intervention(variable, index=idx, label=f"={values[idx]}")
        except QueryError as exc:
            problems.append(str(exc))
    if problems:
        raise QueryError("\n".join(problems))
    return parsed


def describe_interventions(interventions: Mapping[str, Intervention]) -> str:
    """`do(A=x, B~uniform)`: the suffix naming a world in result columns."""
    return "do(" + ", ".join(f"{name}{iv.label}" for name, iv in interventions.items()) + ")"
