"""What a benchmark compares: the treatment arms, the outcome and its quantity, and every variable's role.

:func:`resolve_design` reads the model file's `benchmark:` section, lets arguments override it,
and checks the result against the DAG (the outcome must not be fixed before the treatment) and
the dataset layout (no variable may write a reserved column).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from sdscm.benchmark.storage import (
    COVARIATE,
    INDEX_SUFFIX,
    OUTCOME,
    POST_OUTCOME,
    POST_TREATMENT,
    RESERVED_COLUMNS,
    TREATMENT,
)
from sdscm.errors import BenchmarkError
from sdscm.graph.dag import build_graph, descendants_of
from sdscm.spec.schema import ModelFile
from sdscm.spec.values import value_index

QUANTITIES = ("probability", "log_score", "category")


@dataclass(frozen=True)
class Design:
    """What a benchmark compares: treatment arms, the outcome and its quantity."""

    treatment: str
    control: str
    treated: str
    outcome: str
    outcome_value: str
    quantity: str = "probability"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _value_label(what: str, variable: str, values: Sequence[str], value: Any) -> str:
    """A value label from a label or a 0-based index (labels win over digit strings)."""
    index = value_index(values, str(value))
    if index is None:
        raise BenchmarkError(f"{what} {str(value)!r} is not a value of '{variable}'; its values are {list(values)}")
    return values[index]


def resolve_design(
    spec: ModelFile,
    *,
    treatment: str | None = None,
    control: str | int | None = None,
    treated: str | int | None = None,
    outcome: str | None = None,
    outcome_value: str | int | None = None,
    quantity: str | None = None,
) -> Design:
    """The benchmark design: the model file's `benchmark:` section with any argument overriding it.

    Raises BenchmarkError naming the missing or wrong argument and the fix.
    """
    base = spec.benchmark.model_dump() if spec.benchmark is not None else {}
    given = {"treatment": treatment, "control": control, "treated": treated, "outcome": outcome,
             "outcome_value": outcome_value, "quantity": quantity}
    merged = {k: (v if v is not None else base.get(k)) for k, v in given.items()}
    missing = [k for k in ("treatment", "control", "treated", "outcome") if merged[k] is None]
    if missing:
        flags = ", ".join("--" + k for k in missing)
        raise BenchmarkError(
            f"model '{spec.name}' has no `benchmark:` section naming {', '.join(missing)}; "
            f"add one to the model file or give {flags}"
        )
    names = spec.names
    for role in ("treatment", "outcome"):
        if merged[role] not in names:
            raise BenchmarkError(f"unknown {role} variable {merged[role]!r}; known variables: {names}")
    t_name, y_name = str(merged["treatment"]), str(merged["outcome"])
    if t_name == y_name:
        raise BenchmarkError(f"treatment and outcome are both '{t_name}'; pick two different variables")
    t_values, y_values = spec.variable(t_name).values, spec.variable(y_name).values
    control_label = _value_label("control", t_name, t_values, merged["control"])
    treated_label = _value_label("treated", t_name, t_values, merged["treated"])
    if control_label == treated_label:
        raise BenchmarkError(f"control and treated are both '{control_label}'; pick two different values")
    y_value = (y_values[0] if merged["outcome_value"] is None
               else _value_label("outcome value", y_name, y_values, merged["outcome_value"]))
    q = merged["quantity"] or "probability"
    if q not in QUANTITIES:
        raise BenchmarkError(f"quantity must be one of {list(QUANTITIES)}, got {q!r}")
    if q == "log_score" and spec.variable(y_name).mechanism != "lm":
        raise BenchmarkError(
            f"quantity 'log_score' needs an outcome scored by the language model, but '{y_name}' "
            f"has mechanism '{spec.variable(y_name).mechanism}'; use quantity 'probability'"
        )
    graph = build_graph(spec)
    if t_name in descendants_of(graph, [y_name]):
        raise BenchmarkError(
            f"outcome '{y_name}' is an ancestor of treatment '{t_name}', so it is fixed before treatment; "
            "pick an outcome downstream of the treatment"
        )
    if y_name not in descendants_of(graph, [t_name]):
        warnings.warn(f"outcome '{y_name}' is not a descendant of treatment '{t_name}': every effect is zero",
                      stacklevel=2)
    for v in spec.variables:
        for col in (v.name, v.name + INDEX_SUFFIX):
            if col in RESERVED_COLUMNS:
                raise BenchmarkError(
                    f"variable '{v.name}' would write column '{col}', which benchmark datasets reserve for "
                    f"{RESERVED_COLUMNS}; rename the variable"
                )
    return Design(t_name, control_label, treated_label, y_name, y_value, q)


def variable_roles(spec: ModelFile, design: Design) -> dict[str, str]:
    """Role of every variable: covariate (pre-treatment), treatment, outcome, or post-treatment."""
    graph = build_graph(spec)
    after_t = descendants_of(graph, [design.treatment])
    after_y = descendants_of(graph, [design.outcome])
    roles = {}
    for v in spec.variables:
        if v.name == design.treatment:
            roles[v.name] = TREATMENT
        elif v.name == design.outcome:
            roles[v.name] = OUTCOME
        elif v.name in after_t:
            roles[v.name] = POST_TREATMENT
        elif v.name in after_y:
            roles[v.name] = POST_OUTCOME
        else:
            roles[v.name] = COVARIATE
    return roles
