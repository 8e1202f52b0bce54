"""Checks of a model file that need the whole file, and the validation that runs them all.

:func:`build_spec` validates normalised data with pydantic, salvages what it can from a file with
shape errors, and runs every cross-field check (names, values, phrasings, parents, mechanisms and
tables, cycles, order, the benchmark section), so that one run reports every problem of a file.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Sequence
from typing import Any

import networkx as nx
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sdscm.errors import SpecError
from sdscm.spec.messages import (
    Report,
    choices,
    did_you_mean,
    pydantic_problems,
    type_name,
    variable_labels,
)
from sdscm.spec.schema import SLOT, ModelFile, VariableSpec

PROBABILITY_TOLERANCE = 1e-6
"""How far from 1 a list of probabilities may sum."""

_TOLERANCE_TEXT = f"{PROBABILITY_TOLERANCE:.0e}".replace("e-0", "e-")  # '1e-6'

_MISSING_NAME = "\x00missing-name-{i}"
"""Stand-in name of a variable whose name is missing or invalid (never shown to users)."""

Broken = set[tuple[int | None, str]]
"""(variable index or None for top level, field) pairs whose pydantic check already failed."""


def _salvage(
    data: dict[str, Any], errors: Sequence[ErrorDetails]
) -> tuple[ModelFile | None, Broken]:
    """A best-effort model without the fields pydantic rejected, so cross checks can still run.

    Returns the model (None when even that fails) and the (variable, field) pairs removed,
    which the cross checks skip.
    """
    data = copy.deepcopy(data)
    broken: Broken = set()
    variables = data.get("variables")
    if not isinstance(variables, list):
        return None, broken
    for err in errors:
        loc = tuple(err["loc"])
        if not loc:
            return None, broken
        if loc[0] == "variables":
            if len(loc) < 2 or not isinstance(loc[1], int):
                return None, broken
            i = loc[1]
            if len(loc) == 2:
                variables[i] = None
                broken.add((i, "*"))
            elif isinstance(variables[i], dict):
                variables[i].pop(loc[2], None)
                broken.add((i, str(loc[2])))
        else:
            data.pop(str(loc[0]), None)
            broken.add((None, str(loc[0])))
    for i, var in enumerate(variables):
        if not isinstance(var, dict):
            variables[i] = {"name": _MISSING_NAME.format(i=i), "values": [], "phrasings": []}
            broken.add((i, "*"))
            continue
        var.setdefault("name", _MISSING_NAME.format(i=i))
        var.setdefault("values", [])
        var.setdefault("phrasings", [])
    try:
        return ModelFile.model_validate(data), broken
    except ValidationError:
        return None, broken


# --------------------------------------------------------------------------- cross checks


def validate_spec(spec: ModelFile, source: str = "<data>") -> list[str]:
    """Every cross-field problem of a (pydantic-valid) model file; empty when it is valid."""
    report = Report(source, [f"variable {v.name!r} (#{i})" for i, v in enumerate(spec.variables)])
    _cross_checks(spec, report, set())
    return report.problems


def build_spec(data: Any, source: str = "<data>", problems: Sequence[str] = ()) -> ModelFile:
    """Pydantic validation plus cross checks of normalised data; raises SpecError with all problems.

    `problems` are messages found earlier (while reading or normalising) to report together.
    """
    report = Report(source, variable_labels(data))
    report.add(problems)
    if not isinstance(data, dict):
        report.top(
            None,
            f"the top level is {type_name(data)}, not a mapping; start the file with "
            "'variables:' followed by the list of variables",
        )
        raise SpecError(report.problems, source)
    try:
        spec: ModelFile | None = ModelFile.model_validate(data)
        broken: Broken = set()
    except ValidationError as error:
        pydantic_problems(error, report)
        spec, broken = _salvage(data, error.errors())
    if spec is not None:
        _cross_checks(spec, report, broken)
    if report.problems:
        raise SpecError(report.problems, source)
    assert spec is not None
    return spec


def _cross_checks(spec: ModelFile, report: Report, broken: Broken) -> None:
    """Run every cross-field check, skipping fields that already failed pydantic validation."""
    if not spec.variables and (None, "variables") not in broken:
        report.top("variables", "is empty; define at least one variable")
        return
    first = _check_names(spec, report, broken)
    for i, var in enumerate(spec.variables):
        if (i, "*") in broken:
            continue
        _check_values(i, var, report, broken)
        _check_phrasings(i, var, report, broken)
        _check_parents(i, var, first, report, broken)
        _check_mechanism(i, var, spec, first, report, broken)
    has_cycle = _check_cycles(spec, first, report, broken)
    if not has_cycle:
        _check_order(spec, first, report, broken)
    _check_benchmark(spec, first, report, None if has_cycle else _graph(spec, first, broken))


def _check_names(spec: ModelFile, report: Report, broken: Broken) -> dict[str, int]:
    """Empty and duplicate names; returns each name's first index."""
    first: dict[str, int] = {}
    for i, var in enumerate(spec.variables):
        if (i, "name") in broken or (i, "*") in broken:
            continue
        if not var.name.strip():
            report.var(i, "name", "is empty; give the variable a name")
        if var.name in first:
            report.var(
                i,
                "name",
                f"repeats the name of variable #{first[var.name]}; give every variable a unique name",
            )
        else:
            first[var.name] = i
    return first


def _check_values(i: int, var: VariableSpec, report: Report, broken: Broken) -> None:
    if (i, "values") in broken:
        return
    if not var.values:
        report.var(i, "values", "is empty; list the variable's possible values, e.g. [low, high]")
    seen: dict[str, int] = {}
    for k, value in enumerate(var.values):
        if not value.strip():
            report.var(
                i,
                f"values[{k}]",
                f"is empty ({value!r}); give every value a label, e.g. 'none' or 'unknown'",
            )
        if value in seen:
            report.var(
                i,
                f"values[{k}]",
                f"{value!r} repeats values[{seen[value]}]; make every value of a variable distinct",
            )
        else:
            seen[value] = k


_BRACED = re.compile(r"\{[^{}]*\}")


def _check_phrasings(i: int, var: VariableSpec, report: Report, broken: Broken) -> None:
    if (i, "phrasings") in broken:
        return
    if not var.phrasings:
        report.var(
            i,
            "phrasings",
            f"is empty; add at least one phrasing with one {SLOT!r} slot, "
            f"e.g. 'The weather is {SLOT}.'",
        )
    for k, phrasing in enumerate(var.phrasings):
        text = phrasing_problem(phrasing)
        if text is not None:
            report.var(i, f"phrasings[{k}]", text)


def phrasing_problem(phrasing: object) -> str | None:
    """What is wrong with a phrasing template (not text, or not exactly one `{value}` slot), or None."""
    if not isinstance(phrasing, str):
        return f"is {type(phrasing).__name__} {phrasing!r}, not text; write a sentence with one {SLOT!r} slot"
    count = phrasing.count(SLOT)
    if count == 1:
        return None
    text = f"has {count} {SLOT!r} slots; write exactly one {SLOT!r} where the value goes"
    near = [m for m in _BRACED.findall(phrasing) if m != SLOT]
    if count == 0 and near:
        text += f" (found {near[0]!r}; the slot is spelt exactly {SLOT!r})"
    return text


def _check_parents(
    i: int, var: VariableSpec, first: dict[str, int], report: Report, broken: Broken
) -> None:
    if (i, "parents") in broken:
        return
    seen: set[str] = set()
    for k, parent in enumerate(var.parents):
        field = f"parents[{k}]"
        if parent == var.name:
            report.var(
                i,
                field,
                "lists the variable itself; remove it (a variable cannot be its own parent)",
            )
        elif parent in seen:
            report.var(i, field, f"repeats {parent!r}; list each parent once")
        elif parent not in first:
            guess = did_you_mean(parent, first)
            fix = guess or (
                f"define a variable named {parent!r} above this one, or remove it "
                f"(known variables: {choices(list(first))})"
            )
            report.var(i, field, f"names an unknown variable {parent!r}; {fix}")
        seen.add(parent)


def _check_probabilities(
    i: int, field: str, probs: Sequence[float], n_values: int | None, report: Report
) -> None:
    """Length, sign, finiteness and sum of one probability vector."""
    if n_values is not None and len(probs) != n_values:
        report.var(
            i,
            field,
            f"has {len(probs)} numbers but the variable has {n_values} values; "
            "give one probability per value, in the order of 'values'",
        )
    finite = True
    for k, p in enumerate(probs):
        if not math.isfinite(p):
            finite = False
            report.var(i, f"{field}[{k}]", f"is {p}; write a probability between 0 and 1")
        elif p < 0:
            report.var(
                i,
                f"{field}[{k}]",
                f"is {p:g}, a negative probability; use a number between 0 and 1",
            )
    if finite and probs:
        total = math.fsum(probs)
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            report.var(
                i,
                field,
                f"sums to {total:.10g}, not 1; make the probabilities sum to 1 "
                f"(within {_TOLERANCE_TEXT})",
            )


def _check_mechanism(
    i: int,
    var: VariableSpec,
    spec: ModelFile,
    first: dict[str, int],
    report: Report,
    broken: Broken,
) -> None:
    if (i, "mechanism") in broken:
        return
    n_values = None if (i, "values") in broken else len(var.values)
    if var.mechanism != "categorical":
        for field in ("probabilities", "table"):
            if getattr(var, field) is not None:
                report.var(
                    i,
                    field,
                    f"is only used by mechanism 'categorical', but this variable's mechanism "
                    f"is {var.mechanism!r}; remove {field!r} or set mechanism: categorical",
                )
        return
    if var.probabilities is None and var.table is None:
        if (i, "probabilities") not in broken and (i, "table") not in broken:
            report.var(
                i,
                "probabilities",
                "is missing, but mechanism 'categorical' needs it; give one probability per "
                "value (or a conditional 'table' keyed by parent values)",
            )
        return
    if var.probabilities is not None and var.table is not None:
        report.var(
            i,
            "table",
            "is given together with 'probabilities'; keep one: 'probabilities' for a "
            "distribution that ignores the parents, 'table' for one that depends on them",
        )
    if var.probabilities is not None:
        _check_probabilities(i, "probabilities", var.probabilities, n_values, report)
    if var.table is not None:
        _check_table(i, var, spec, first, n_values, report, broken)


def _check_table(
    i: int,
    var: VariableSpec,
    spec: ModelFile,
    first: dict[str, int],
    n_values: int | None,
    report: Report,
    broken: Broken,
) -> None:
    """Rows name real parents and values, cover every parent combination (or have a default)."""
    assert var.table is not None
    if not var.table:
        report.var(
            i,
            "table",
            "is empty; add one row per parent combination (or a default row with empty "
            "'parents'), or give 'probabilities' instead",
        )
        return
    parents = [] if (i, "parents") in broken else list(dict.fromkeys(var.parents))
    parent_values: dict[str, list[str]] = {
        p: list(spec.variables[first[p]].values) for p in parents if p in first and p != var.name
    }
    complete = len(parent_values) == len(parents) and all(parent_values.values())
    seen: dict[tuple[str, ...], int] = {}
    default_row: int | None = None
    all_rows_ok = True
    for r, row in enumerate(var.table):
        _check_probabilities(i, f"table[{r}].probabilities", row.probabilities, n_values, report)
        row_ok = True
        for name, value in row.parents.items():
            if name not in parents:
                row_ok = False
                guess = did_you_mean(name, parents)
                report.var(
                    i,
                    f"table[{r}].parents",
                    f"names {name!r}, which is not a parent of this variable; "
                    + (guess or f"use only names listed in 'parents' ({choices(parents)})"),
                )
            elif name in parent_values and value not in parent_values[name]:
                row_ok = False
                report.var(
                    i,
                    f"table[{r}].parents.{name}",
                    f"{value!r} is not a value of {name!r}; use one of "
                    f"{choices(parent_values[name])}",
                )
        if not row.parents:
            if default_row is not None:
                report.var(
                    i,
                    f"table[{r}].parents",
                    f"is empty like table[{default_row}], so there are two default rows; keep one",
                )
            default_row = r if default_row is None else default_row
            continue
        missing = [p for p in parents if p not in row.parents]
        if missing and row_ok:
            row_ok = False
            report.var(
                i,
                f"table[{r}].parents",
                f"gives {len(parents) - len(missing)} of the {len(parents)} parents; name every "
                f"parent (missing: {choices(missing)}) or leave 'parents' empty for the default row",
            )
        all_rows_ok &= row_ok
        if row_ok:
            key = tuple(row.parents[p] for p in parents)
            if key in seen:
                report.var(
                    i,
                    f"table[{r}].parents",
                    f"repeats the parent values of table[{seen[key]}]; keep one row per combination",
                )
            else:
                seen[key] = r
    if default_row is not None or not complete or not all_rows_ok:
        return  # coverage is only meaningful once every row is well-formed
    total = math.prod(len(parent_values[p]) for p in parents)
    n_missing = total - len(seen)
    if n_missing <= 0:
        return
    examples = []
    for combo in itertools.product(*(parent_values[p] for p in parents)):
        if combo not in seen:
            examples.append("{" + ", ".join(f"{p}: {v!r}" for p, v in zip(parents, combo)) + "}")
            if len(examples) == 3:
                break
    report.var(
        i,
        "table",
        f"misses {n_missing} of the {total} parent combinations, e.g. {'; '.join(examples)}; "
        "add a row for each, or a row with empty 'parents' as the default",
    )


def _graph(spec: ModelFile, first: dict[str, int], broken: Broken) -> nx.DiGraph:
    """parent -> child edges over known, distinct names (self-loops are reported elsewhere)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(first)
    for i, var in enumerate(spec.variables):
        if first.get(var.name) != i or (i, "parents") in broken or (i, "*") in broken:
            continue
        for parent in var.parents:
            if parent in first and parent != var.name:
                graph.add_edge(parent, var.name)
    return graph


def _check_cycles(spec: ModelFile, first: dict[str, int], report: Report, broken: Broken) -> bool:
    """Report one cycle per strongly connected component; True when there is any."""
    graph = _graph(spec, first, broken)
    found = False
    components = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    for component in sorted(components, key=lambda c: min(first[n] for n in c)):
        found = True
        edges = nx.find_cycle(
            graph.subgraph(component), source=min(component, key=lambda n: first[n])
        )
        nodes = [u for u, _ in edges]
        # Rotate so the cycle starts (and ends) at its earliest variable in the file.
        start = min(nodes, key=lambda n: first[n])
        k = nodes.index(start)
        path = nodes[k:] + nodes[:k] + [start]
        closing_parent = path[-2]
        child = spec.variables[first[start]]
        field = f"parents[{child.parents.index(closing_parent)}]"
        report.var(
            first[start],
            field,
            f"closes the cycle {' -> '.join(path)} (arrows point from parent to child); "
            "remove one of these parent links so that the graph has no cycle",
        )
    return found


def _check_order(spec: ModelFile, first: dict[str, int], report: Report, broken: Broken) -> None:
    """Each parent must come before its child: the file's order is the topological order."""
    for i, var in enumerate(spec.variables):
        if (i, "parents") in broken or (i, "*") in broken:
            continue
        for k, parent in enumerate(var.parents):
            j = first.get(parent)
            if j is not None and j > i:
                report.var(
                    i,
                    f"parents[{k}]",
                    f"names {parent!r} (#{j}), which comes after this variable; move variable "
                    f"{parent!r} above {var.name!r} in the file (parents must come before "
                    "their children: the file's order is the topological order)",
                )


def _check_benchmark(spec: ModelFile, first: dict[str, int], report: Report, graph: nx.DiGraph | None) -> None:
    bench = spec.benchmark
    if bench is None:
        return

    def variable(field: str, name: str) -> VariableSpec | None:
        if name in first:
            return spec.variables[first[name]]
        fix = did_you_mean(name, first) or f"use one of {choices(list(first))}"
        report.top(f"benchmark.{field}", f"names an unknown variable {name!r}; {fix}")
        return None

    def value(field: str, var: VariableSpec, label: str | None) -> bool:
        if label is None or label in var.values:
            return True
        report.top(
            f"benchmark.{field}",
            f"{label!r} is not a value of {var.name!r}; use one of {choices(var.values)}",
        )
        return False

    treatment = variable("treatment", bench.treatment)
    if treatment is not None:
        ok = value("control", treatment, bench.control) & value("treated", treatment, bench.treated)
        if ok and bench.control == bench.treated:
            report.top(
                "benchmark.treated",
                "is the same value as 'control'; pick two different values of the treatment",
            )
    outcome = variable("outcome", bench.outcome)
    if outcome is not None:
        value("outcome_value", outcome, bench.outcome_value)
        if bench.outcome == bench.treatment:
            report.top(
                "benchmark.outcome",
                "is the treatment variable itself; choose a different variable as the outcome",
            )
        elif treatment is not None and graph is not None and nx.has_path(graph, bench.outcome, bench.treatment):
            report.top(
                "benchmark.outcome",
                f"{bench.outcome!r} is an ancestor of the treatment {bench.treatment!r} (a directed path leads "
                "from it to the treatment), so it is fixed before treatment and has no potential outcomes; "
                "choose a descendant of the treatment as the outcome",
            )


def spec_warnings(spec: ModelFile) -> list[str]:
    """Things a valid model file may do on purpose but that often are mistakes (`sdscm validate` prints them).

    `exogenous: true` on a variable with parents stays a warning, not an error: the flag marks the
    covariates hidden in the benchmarks' `hidden` view, and the paper's breast-cancer config
    (examples/breast_cancer.yaml and its reference JSON) marks variables with parents this way.
    """
    out = []
    for i, var in enumerate(spec.variables):
        if var.exogenous and var.parents:
            out.append(
                f"variable {var.name!r} (#{i}): exogenous: true, but it has parents {list(var.parents)}; it is "
                "still dropped in the benchmarks' hidden view, but it is not exogenous in the SCM sense (a counterfactual "
                "recomputes it when one of its ancestors is intervened on). "
                "Remove its parents, or 'exogenous: true' if it should stay observed"
            )
    return out
