"""Import and export of the reference implementation's JSON config format.

The reference format (see the paper's code; e.g. ``breast_cancer_config.json``) has a top-level
``setup_sequence_sample_space`` list with, per variable, ``possible_prefix_suffix_pairs``
([prefix, suffix] pairs), ``candidate_set`` (values), ``parent_indices`` (0-based, null for
roots), ``exogenous`` and ``variable_name``; and at the top ``experiment_name``,
``index_of_intervention`` + ``intervention_choices`` ([control, treated] value indices) and
``index_of_outcome`` + ``possible_outcome_choices`` (outcome value indices).

Mapping: the phrasing is ``prefix + "{value}" + suffix`` exactly (every character kept);
the benchmark's outcome value is the first outcome choice; the model section is the default.
``to_reference`` is the inverse for everything the reference format can express.
"""

from __future__ import annotations

import re
from typing import Any

from sdscm.errors import SpecError
from sdscm.spec.schema import SLOT, ModelFile
from sdscm.spec.checks import build_spec
from sdscm.spec.messages import Report

REFERENCE_KEY = "setup_sequence_sample_space"
"""The top-level key that identifies the reference format."""


def is_reference_config(data: Any) -> bool:
    """True when `data` is in the reference implementation's JSON config format."""
    return isinstance(data, dict) and REFERENCE_KEY in data


def _index(x: Any) -> int | None:
    """A non-negative integer index (an int, or its digits as text), else None."""
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x if x >= 0 else None
    if isinstance(x, str) and re.fullmatch(r"[0-9]+", x):
        return int(x)
    return None


def _labels(entries: list[Any]) -> list[str]:
    labels = []
    for i, entry in enumerate(entries):
        name = entry.get("variable_name") if isinstance(entry, dict) else None
        labels.append(f"variable {str(name)!r} (#{i})" if name is not None else f"variable #{i}")
    return labels


def _variable(i: int, entry: Any, n: int, report: Report) -> dict[str, Any] | None:
    """One of our variables from one reference entry (parents still as indices)."""
    if not isinstance(entry, dict):
        report.var(
            i, None, "is not a mapping; each entry of 'setup_sequence_sample_space' must be one"
        )
        return None
    pairs = entry.get("possible_prefix_suffix_pairs")
    phrasings: list[str] = []
    if not isinstance(pairs, list):
        report.var(
            i,
            "possible_prefix_suffix_pairs",
            "is missing or not a list; give a list of [prefix, suffix] pairs",
        )
    else:
        for k, pair in enumerate(pairs):
            if (
                isinstance(pair, (list, tuple))
                and len(pair) == 2
                and all(isinstance(x, str) for x in pair)
            ):
                phrasings.append(pair[0] + SLOT + pair[1])
            else:
                report.var(
                    i,
                    f"possible_prefix_suffix_pairs[{k}]",
                    f"is {pair!r}; write a pair of two strings [prefix, suffix]",
                )
    values = entry.get("candidate_set")
    if not isinstance(values, list):
        report.var(i, "candidate_set", "is missing or not a list; give the list of possible values")
        values = []
    parents = entry.get("parent_indices")
    parent_idx: list[int] = []
    if parents is not None:
        if not isinstance(parents, list):
            report.var(
                i, "parent_indices", "is not a list; give a list of variable indices or null"
            )
        else:
            for k, p in enumerate(parents):
                j = _index(p)
                if j is None or j >= n:
                    report.var(
                        i,
                        f"parent_indices[{k}]",
                        f"is {p!r}; use the 0-based index of another variable (0 to {n - 1})",
                    )
                else:
                    parent_idx.append(j)
    name = entry.get("variable_name", f"X{i}")
    return {
        "name": str(name),
        "values": [str(v) if not isinstance(v, bool) else str(v).lower() for v in values],
        "phrasings": phrasings,
        "parents": parent_idx,
        "exogenous": entry.get("exogenous") if entry.get("exogenous") is not None else False,
    }


def _benchmark(
    data: dict[str, Any], variables: list[dict[str, Any] | None], report: Report
) -> dict[str, Any] | None:
    """Our benchmark section from the reference's intervention/outcome indices (None if absent)."""
    t_raw, o_raw = data.get("index_of_intervention"), data.get("index_of_outcome")
    if t_raw is None and o_raw is None:
        return None
    if t_raw is None or o_raw is None:
        missing = "index_of_intervention" if t_raw is None else "index_of_outcome"
        report.top(
            missing, "is missing while the other index is given; give both or neither", late=True
        )
        return None
    bench: dict[str, Any] = {"quantity": "probability"}
    ok = True
    for key, raw, role in (
        ("index_of_intervention", t_raw, "treatment"),
        ("index_of_outcome", o_raw, "outcome"),
    ):
        j = _index(raw)
        if j is None or j >= len(variables) or variables[j] is None:
            report.top(
                key,
                f"is {raw!r}; use the 0-based index of a variable (0 to {len(variables) - 1})",
                late=True,
            )
            ok = False
        else:
            bench[role] = j
    if not ok:
        return None
    t_values = variables[bench["treatment"]]["values"]  # type: ignore[index]
    o_values = variables[bench["outcome"]]["values"]  # type: ignore[index]
    choices = data.get("intervention_choices")
    picks = [_index(c) for c in choices] if isinstance(choices, list) else []
    if len(picks) != 2 or any(c is None or c >= len(t_values) for c in picks):
        report.top(
            "intervention_choices",
            f"is {choices!r}; give two value indices [control, treated] of the treatment "
            f"(0 to {len(t_values) - 1})",
            late=True,
        )
        return None
    outcomes = data.get("possible_outcome_choices")
    if outcomes is None:
        outcomes = list(range(len(o_values)))
    out_idx = [_index(c) for c in outcomes] if isinstance(outcomes, list) else []
    if not out_idx or any(c is None or c >= len(o_values) for c in out_idx):
        report.top(
            "possible_outcome_choices",
            f"is {outcomes!r}; give a non-empty list of outcome value indices "
            f"(0 to {len(o_values) - 1})",
            late=True,
        )
        return None
    bench.update(
        treatment=variables[bench["treatment"]]["name"],  # type: ignore[index]
        outcome=variables[bench["outcome"]]["name"],  # type: ignore[index]
        control=t_values[picks[0]],
        treated=t_values[picks[1]],
        outcome_value=o_values[out_idx[0]],  # type: ignore[index]
    )
    return bench


def from_reference(data: dict[str, Any], source: str = "<reference>") -> ModelFile:
    """Convert a reference-format config into a validated ModelFile.

    Raises SpecError listing every problem (of the reference structure, then of the result).
    """
    entries = data.get(REFERENCE_KEY) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SpecError(
            [f"{source}: field {REFERENCE_KEY!r}: is not a list; give one entry per variable."],
            source,
        )
    report = Report(source, _labels(entries))
    n = len(entries)
    variables = [_variable(i, entry, n, report) for i, entry in enumerate(entries)]
    names = [v["name"] if v is not None else f"X{i}" for i, v in enumerate(variables)]
    for var in variables:
        if var is not None:
            var["parents"] = [names[j] for j in var["parents"]]
    out: dict[str, Any] = {"variables": [v for v in variables if v is not None]}
    if "experiment_name" in data:
        out["name"] = str(data["experiment_name"])
    bench = _benchmark(data, variables, report)
    if bench is not None:
        out["benchmark"] = bench
    if report.problems:
        raise SpecError(report.problems, source)
    return build_spec(out, source)


def to_reference(spec: ModelFile) -> dict[str, Any]:
    """The reference-format config of a model (the inverse of `from_reference`).

    Only `lm` mechanisms exist in the reference format; other mechanisms raise SpecError.
    The model section, descriptions and the benchmark quantity are not represented.
    """
    report = Report(
        spec.name, [f"variable {v.name!r} (#{i})" for i, v in enumerate(spec.variables)]
    )
    for i, var in enumerate(spec.variables):
        if var.mechanism != "lm":
            report.var(
                i,
                "mechanism",
                f"is {var.mechanism!r}, which the reference format cannot express; "
                "use mechanism 'lm' to export this model",
            )
    if report.problems:
        raise SpecError(report.problems, spec.name)
    index = {v.name: i for i, v in enumerate(spec.variables)}
    entries = []
    for var in spec.variables:
        pairs = [list(p.partition(SLOT)[::2]) for p in var.phrasings]
        entries.append(
            {
                "possible_prefix_suffix_pairs": pairs,
                "candidate_set": list(var.values),
                "intervention_choice": None,
                "parent_indices": [index[p] for p in var.parents] or None,
                "exogenous": var.exogenous,
                "variable_name": var.name,
            }
        )
    out: dict[str, Any] = {"experiment_name": spec.name, REFERENCE_KEY: entries}
    bench = spec.benchmark
    if bench is not None:
        treatment = spec.variable(bench.treatment)
        outcome = spec.variable(bench.outcome)
        first = outcome.values.index(bench.outcome_value) if bench.outcome_value is not None else 0
        out["index_of_intervention"] = index[bench.treatment]
        out["intervention_choices"] = [
            treatment.values.index(bench.control),
            treatment.values.index(bench.treated),
        ]
        out["index_of_outcome"] = index[bench.outcome]
        out["possible_outcome_choices"] = [first] + [
            k for k in range(len(outcome.values)) if k != first
        ]
    return out
