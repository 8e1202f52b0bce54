"""Small LM-free models for the audit tests (imported by the other test_audit_* modules), and checks
that each has the property it is built for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sdscm.model import SDSCM
from sdscm.spec.schema import ModelFile

RACES = ["white", "black", "asian"]
PAIN = ["opioid", "nsaid", "no medication"]
# P(pain | sex, race): the planted effect of race on P(opioid) is -0.20 for women and -0.10 for men
# (white -> black), so the average effect over sex ~ Bernoulli(0.5) is exactly -0.15.
PAIN_TABLE = {
    ("female", "white"): [0.60, 0.30, 0.10],
    ("female", "black"): [0.40, 0.40, 0.20],
    ("female", "asian"): [0.50, 0.30, 0.20],
    ("male", "white"): [0.70, 0.20, 0.10],
    ("male", "black"): [0.60, 0.25, 0.15],
    ("male", "asian"): [0.65, 0.25, 0.10],
}
PLANTED_EFFECT = -0.15


def planted_dict(race_phrasings: list[str] | None = None, sex_values: list[str] | None = None) -> dict[str, Any]:
    """Triage model with categorical tables: sex, race -> pain; clinic -> wait (not upstream of pain)."""
    sex_values = sex_values or ["female", "male"]
    return {
        "name": "planted",
        "variables": [
            {"name": "clinic", "values": ["north", "south"], "mechanism": "uniform",
             "phrasings": ["The visit is at the {value} clinic.", "Clinic: {value}."]},
            {"name": "sex", "values": sex_values, "mechanism": "categorical", "probabilities": [0.5, 0.5],
             "phrasings": ["The patient is {value}."]},
            {"name": "race", "values": RACES, "mechanism": "categorical", "probabilities": [0.5, 0.3, 0.2],
             "phrasings": race_phrasings or ["The patient is {value}.", "Race: {value}.", "Self-identifies as {value}."]},
            {"name": "wait", "values": ["short", "long"], "parents": ["clinic"], "mechanism": "categorical",
             "phrasings": ["The wait is {value}."],
             "table": [{"parents": {"clinic": "north"}, "probabilities": [0.7, 0.3]},
                       {"parents": {"clinic": "south"}, "probabilities": [0.4, 0.6]}]},
            {"name": "pain", "values": PAIN, "parents": ["sex", "race"], "mechanism": "categorical",
             "phrasings": ["Recommended: {value}.", "Plan: {value}."],
             "table": [{"parents": {"sex": s2, "race": r}, "probabilities": p}
                       for (s, r), p in PAIN_TABLE.items() for s2 in [sex_values[["female", "male"].index(s)]]]},
        ],
    }


def planted_spec(**kwargs: Any) -> ModelFile:
    return ModelFile.model_validate(planted_dict(**kwargs))


NULL_EFFECTS = [0.3, -0.1, -0.15, -0.05]  # per-stratum effects, mean exactly 0 over a uniform stratum


def null_spec() -> ModelFile:
    """t -> y with per-unit effects that vary with a stratum x but average to exactly zero."""
    xs = [f"x{i}" for i in range(4)]
    rows = []
    for x, base, eff in zip(xs, [0.3, 0.4, 0.5, 0.6], NULL_EFFECTS):
        rows.append({"parents": {"x": x, "t": "a"}, "probabilities": [base, 1 - base]})
        rows.append({"parents": {"x": x, "t": "b"}, "probabilities": [base + eff, 1 - base - eff]})
    return ModelFile.model_validate({"name": "null", "variables": [
        {"name": "x", "values": xs, "phrasings": ["Stratum {value}."], "mechanism": "uniform"},
        {"name": "t", "values": ["a", "b"], "parents": ["x"], "mechanism": "categorical",
         "phrasings": ["T is {value}.", "T: {value}."],
         "table": [{"parents": {"x": x}, "probabilities": [0.5, 0.5]} for x in xs]},
        {"name": "y", "values": ["yes", "no"], "parents": ["x", "t"], "mechanism": "categorical",
         "phrasings": ["Y is {value}."], "table": rows},
    ]})


def write_yaml(data: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def exact_effect(spec: ModelFile, cause: str, a: str, b: str, outcome: str, value: str) -> float:
    """P(outcome = value | do(cause = b)) - P(... | do(cause = a)) by exact enumeration."""
    m = SDSCM(spec)

    def prob(v: str) -> float:
        table = m.do({cause: v}).exact([outcome])
        return float(table.loc[table[outcome] == value, "probability"].sum())

    return prob(b) - prob(a)


def test_planted_model_has_the_planted_effect() -> None:
    """Enumeration gives the planted average effect -0.15 of race (white -> black) on P(opioid)."""
    assert exact_effect(planted_spec(), "race", "white", "black", "pain", "opioid") == pytest.approx(PLANTED_EFFECT)


def test_null_model_has_zero_average_effect() -> None:
    """Enumeration gives an average effect of exactly zero in the null model, although strata differ."""
    assert exact_effect(null_spec(), "t", "a", "b", "y", "yes") == pytest.approx(0.0, abs=1e-12)
    assert sum(NULL_EFFECTS) == pytest.approx(0.0)
