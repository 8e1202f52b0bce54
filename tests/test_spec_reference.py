"""Import and export of the reference implementation's JSON config format."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sdscm.errors import SpecError
from sdscm.spec import from_reference, load_spec, parse_spec, to_reference

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

ROUND_TRIP_VARIABLE_KEYS = (
    "possible_prefix_suffix_pairs",
    "candidate_set",
    "parent_indices",
    "exogenous",
    "variable_name",
)
ROUND_TRIP_TOP_KEYS = (
    "experiment_name",
    "index_of_intervention",
    "intervention_choices",
    "index_of_outcome",
    "possible_outcome_choices",
)


def _shared_config_path() -> Path | None:
    """The paper's breast-cancer config: $SDSCM_REFERENCE_CONFIG, examples/reference/, ./shared/ or ../shared/."""
    candidates = [
        os.environ.get("SDSCM_REFERENCE_CONFIG"),
        ROOT / "examples" / "reference" / "breast_cancer_config.json",
        ROOT / "shared" / "reference" / "breast_cancer_config.json",
        ROOT.parent / "shared" / "reference" / "breast_cancer_config.json",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def shared_config() -> dict[str, Any]:
    """The paper's breast-cancer config (tests using it skip where it is not available)."""
    path = _shared_config_path()
    if path is None:
        pytest.skip("shared/reference/breast_cancer_config.json not found")
    return json.loads(path.read_text(encoding="utf-8"))


def small_config() -> dict[str, Any]:
    """A three-variable reference config with odd spacing and an empty prefix."""
    return {
        "experiment_name": "small",
        "setup_sequence_sample_space": [
            {
                "possible_prefix_suffix_pairs": [["A ", "-year-old."], ["Aged ", "  years."]],
                "candidate_set": [30, 60],
                "intervention_choice": None,
                "parent_indices": None,
                "exogenous": True,
                "variable_name": "age",
            },
            {
                "possible_prefix_suffix_pairs": [["", " is given."]],
                "candidate_set": ["drug", "placebo"],
                "intervention_choice": None,
                "parent_indices": [0],
                "exogenous": False,
                "variable_name": "treatment",
            },
            {
                "possible_prefix_suffix_pairs": [["She ", "."]],
                "candidate_set": ["recovers", "dies", "is unchanged"],
                "intervention_choice": None,
                "parent_indices": [0, 1],
                "exogenous": False,
                "variable_name": "outcome",
            },
        ],
        "index_of_intervention": 1,
        "intervention_choices": [1, 0],
        "index_of_outcome": 2,
        "possible_outcome_choices": [0, 1, 2],
    }


def assert_round_trip(config: dict[str, Any]) -> None:
    """to_reference(from_reference(config)) agrees with config on every mapped key."""
    back = to_reference(from_reference(config))
    for key in ROUND_TRIP_TOP_KEYS:
        assert back[key] == config[key], key
    ours, theirs = back["setup_sequence_sample_space"], config["setup_sequence_sample_space"]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        for key in ROUND_TRIP_VARIABLE_KEYS:
            expected = b[key]
            if key == "candidate_set":
                expected = [str(x) for x in expected]
            assert a[key] == expected, (b["variable_name"], key)


def test_small_config_mapping() -> None:
    """Pairs become prefix+'{value}'+suffix exactly; indices become names and labels."""
    spec = from_reference(small_config())
    assert spec.name == "small"
    age, treatment, outcome = spec.variables
    assert age.phrasings == ["A {value}-year-old.", "Aged {value}  years."]
    assert age.values == ["30", "60"] and age.exogenous and age.parents == []
    assert treatment.phrasings == ["{value} is given."] and treatment.parents == ["age"]
    assert outcome.parents == ["age", "treatment"]
    bench = spec.benchmark
    assert bench is not None
    assert (bench.treatment, bench.control, bench.treated) == ("treatment", "placebo", "drug")
    assert (bench.outcome, bench.outcome_value, bench.quantity) == (
        "outcome",
        "recovers",
        "probability",
    )
    assert spec.model == type(spec.model)()


def test_small_config_round_trip() -> None:
    """The small config survives from_reference then to_reference; roots get null parents."""
    assert_round_trip(small_config())
    assert (
        to_reference(from_reference(small_config()))["setup_sequence_sample_space"][0][
            "parent_indices"
        ]
        is None
    )


def test_outcome_choices_absent_means_all() -> None:
    """Without possible_outcome_choices the outcome value is the first value; export lists all."""
    config = small_config()
    del config["possible_outcome_choices"]
    spec = from_reference(config)
    assert spec.benchmark is not None and spec.benchmark.outcome_value == "recovers"
    assert to_reference(spec)["possible_outcome_choices"] == [0, 1, 2]


def test_no_benchmark_when_indices_absent() -> None:
    """A config without intervention/outcome indices imports without a benchmark section."""
    config = small_config()
    for key in (
        "index_of_intervention",
        "intervention_choices",
        "index_of_outcome",
        "possible_outcome_choices",
    ):
        del config[key]
    spec = from_reference(config)
    assert spec.benchmark is None
    assert "index_of_intervention" not in to_reference(spec)


def test_parse_spec_and_load_spec_detect_reference_format(tmp_path: Path) -> None:
    """parse_spec and load_spec recognise the reference format by its top-level key."""
    config = small_config()
    expected = from_reference(config)
    assert parse_spec(config) == expected
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    assert load_spec(path) == expected


def test_malformed_reference_reports_every_problem() -> None:
    """Bad pairs, parent indices and intervention choices are all reported, by variable."""
    config = small_config()
    variables = config["setup_sequence_sample_space"]
    variables[0]["possible_prefix_suffix_pairs"].append(["only prefix"])
    variables[2]["parent_indices"] = [0, 7]
    config["intervention_choices"] = [0, 5]
    with pytest.raises(SpecError) as info:
        from_reference(config, "cfg.json")
    found = info.value.problems
    assert len(found) == 3, found
    assert found[0].startswith(
        "cfg.json: variable 'age' (#0), field 'possible_prefix_suffix_pairs[2]'"
    )
    assert found[1].startswith("cfg.json: variable 'outcome' (#2), field 'parent_indices[1]'")
    assert found[2].startswith("cfg.json: field 'intervention_choices'")


def test_imported_model_is_validated() -> None:
    """A prefix containing '{value}' gives a phrasing with two slots, reported as usual."""
    config = small_config()
    config["setup_sequence_sample_space"][1]["possible_prefix_suffix_pairs"] = [["{value} ", "."]]
    with pytest.raises(SpecError) as info:
        from_reference(config, "cfg.json")
    assert info.value.problems == [
        "cfg.json: variable 'treatment' (#1), field 'phrasings[0]': has 2 '{value}' slots; "
        "write exactly one '{value}' where the value goes."
    ]


def test_to_reference_rejects_non_lm_mechanisms() -> None:
    """Exporting a categorical variable is a SpecError naming the variable and field."""
    spec = parse_spec(
        {
            "variables": [
                {
                    "name": "u",
                    "values": ["a", "b"],
                    "phrasings": ["{value}"],
                    "mechanism": "uniform",
                }
            ]
        }
    )
    with pytest.raises(SpecError) as info:
        to_reference(spec)
    assert "variable 'u' (#0), field 'mechanism': is 'uniform'" in info.value.problems[0]


def test_toy_examples_round_trip_through_reference() -> None:
    """Our toy models export to the reference format and import back to the same variables."""
    for name in ("toy_confounder.yaml", "toy_collider.yaml"):
        spec = load_spec(EXAMPLES / name)
        back = from_reference(to_reference(spec))
        assert back.variables == spec.variables and back.benchmark == spec.benchmark


def test_shared_config_round_trips(shared_config: dict[str, Any]) -> None:
    """The paper's breast-cancer config round-trips through from_reference/to_reference."""
    assert_round_trip(shared_config)
    spec = from_reference(shared_config)
    assert len(spec.variables) == 14
    assert [v.name for v in spec.variables if v.exogenous] == [v.name for v in spec.variables[:4]]
    menopausal = spec.variable("menopausal status")
    assert (
        "She is a {value}  woman who has had no previous breast surgeries"
        in menopausal.phrasings[0]
    )


def test_breast_cancer_example_matches_shared_config(shared_config: dict[str, Any]) -> None:
    """examples/breast_cancer.yaml loads and equals from_reference(shared config)."""
    assert load_spec(EXAMPLES / "breast_cancer.yaml") == from_reference(shared_config)


def test_breast_cancer_example_loads() -> None:
    """examples/breast_cancer.yaml loads on its own (no shared folder needed)."""
    spec = load_spec(EXAMPLES / "breast_cancer.yaml")
    assert spec.benchmark is not None
    assert (spec.benchmark.treatment, spec.benchmark.outcome) == ("PD-L1 level", "therapy")
    assert spec.variable("therapy").parents == spec.names[:13]
