"""Cross-field validation of model files: one test per check, each on the message's content.

Every message must name the variable (name and index), the field, and say how to fix it.
"""

from __future__ import annotations

from typing import Any

import pytest

from sdscm.errors import SpecError
from sdscm.spec import ModelFile, parse_spec, validate_spec

SOURCE = "m.yaml"


def var(name: str, **fields: Any) -> dict[str, Any]:
    """A valid variable with two values and one phrasing, plus `fields`."""
    return {
        "name": name,
        "values": ["lo", "hi"],
        "phrasings": [f"The {name} is {{value}}."],
        **fields,
    }


def problems(data: dict[str, Any]) -> list[str]:
    """All problems parse_spec reports for `data` (it must raise)."""
    with pytest.raises(SpecError) as info:
        parse_spec(data, SOURCE)
    assert info.value.path == SOURCE
    return info.value.problems


def only(data: dict[str, Any], *needles: str) -> str:
    """The single problem of `data`, checked to contain every needle and to name the file."""
    found = problems(data)
    assert len(found) == 1, found
    message = found[0]
    assert message.startswith(f"{SOURCE}: ")
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def test_valid_model_has_no_problems() -> None:
    """A well-formed model parses, and validate_spec on it returns an empty list."""
    spec = parse_spec({"variables": [var("a"), var("b", parents=["a"])]}, SOURCE)
    assert validate_spec(spec, SOURCE) == []


def test_cycle_is_printed() -> None:
    """A cycle is reported once, printed as 'a -> b -> a', at the edge that closes it."""
    only(
        {"variables": [var("a", parents=["b"]), var("b", parents=["a"])]},
        "variable 'a' (#0)",
        "field 'parents[0]'",
        "a -> b -> a",
        "remove one of these parent links",
    )


def test_longer_cycle_starts_at_earliest_variable() -> None:
    """A 3-cycle is printed from its earliest variable; an outside ancestor is not blamed."""
    message = only(
        {
            "variables": [
                var("x"),
                var("a", parents=["x", "c"]),
                var("b", parents=["a"]),
                var("c", parents=["b"]),
            ]
        },
        "variable 'a' (#1)",
        "field 'parents[1]'",
        "a -> b -> c -> a",
    )
    assert "comes after" not in message


def test_unknown_parent_suggests_close_name() -> None:
    """An unknown parent close to a real name gets a 'did you mean' suggestion."""
    only(
        {"variables": [var("weather"), var("activity", parents=["wether"])]},
        "variable 'activity' (#1)",
        "field 'parents[0]'",
        "unknown variable 'wether'",
        "did you mean 'weather'?",
    )


def test_unknown_parent_without_close_name_lists_known() -> None:
    """An unknown parent with no close name is explained with the known variables."""
    only(
        {"variables": [var("weather"), var("activity", parents=["zzz"])]},
        "variable 'activity' (#1)",
        "field 'parents[0]'",
        "define a variable named 'zzz' above this one, or remove it",
        "'weather'",
    )


def test_self_parent() -> None:
    """A variable that lists itself as a parent is reported (and not as a cycle)."""
    message = only(
        {"variables": [var("a", parents=["a"])]},
        "variable 'a' (#0)",
        "field 'parents[0]'",
        "lists the variable itself; remove it",
    )
    assert "cycle" not in message


def test_duplicate_parent() -> None:
    """A parent listed twice is reported at its second position."""
    only(
        {"variables": [var("a"), var("b", parents=["a", "a"])]},
        "variable 'b' (#1)",
        "field 'parents[1]'",
        "list each parent once",
    )


def test_duplicate_variable_names() -> None:
    """A repeated variable name is reported at the second occurrence, naming the first."""
    only(
        {"variables": [var("a"), var("b"), var("a")]},
        "variable 'a' (#2)",
        "field 'name'",
        "repeats the name of variable #0",
        "give every variable a unique name",
    )


def test_duplicate_values() -> None:
    """A value repeated within one variable is reported at its second position."""
    only(
        {"variables": [var("a", values=["x", "y", "x"])]},
        "variable 'a' (#0)",
        "field 'values[2]'",
        "'x' repeats values[0]",
        "make every value of a variable distinct",
    )


def test_no_values() -> None:
    """An empty `values` list is reported."""
    only(
        {"variables": [var("a", values=[])]},
        "variable 'a' (#0)",
        "field 'values'",
        "is empty; list the variable's possible values",
    )


def test_no_phrasings() -> None:
    """An empty `phrasings` list is reported."""
    only(
        {"variables": [var("a", phrasings=[])]},
        "variable 'a' (#0)",
        "field 'phrasings'",
        "add at least one phrasing",
    )


@pytest.mark.parametrize(("phrasing", "count"), [("No slot here.", 0), ("{value} and {value}", 2)])
def test_phrasing_needs_exactly_one_slot(phrasing: str, count: int) -> None:
    """A phrasing with zero or several `{value}` slots is reported with its index and count."""
    only(
        {"variables": [var("age", phrasings=["Age {value}.", "Aged {value}.", phrasing])]},
        f"{SOURCE}: variable 'age' (#0), field 'phrasings[2]': has {count} '{{value}}' slots; "
        "write exactly one '{value}' where the value goes.",
    )


def test_misspelt_slot_is_pointed_out() -> None:
    """A near-miss slot such as `{Value}` is quoted in the message."""
    only(
        {"variables": [var("a", phrasings=["It is {Value}."])]},
        "field 'phrasings[0]'",
        "found '{Value}'",
    )


def test_categorical_negative_probability() -> None:
    """A negative probability is reported at its index."""
    only(
        {"variables": [var("a", mechanism="categorical", probabilities=[1.2, -0.2])]},
        "variable 'a' (#0)",
        "field 'probabilities[1]'",
        "negative probability; use a number between 0 and 1",
    )


def test_categorical_probabilities_must_sum_to_one() -> None:
    """Probabilities summing to more than 1 + 1e-6 are reported; within tolerance they are not."""
    only(
        {"variables": [var("a", mechanism="categorical", probabilities=[0.5, 0.6])]},
        "variable 'a' (#0)",
        "field 'probabilities'",
        "sums to 1.1",
        "make the probabilities sum to 1",
    )
    parse_spec({"variables": [var("a", mechanism="categorical", probabilities=[0.5, 0.5 + 1e-7])]})


def test_categorical_probabilities_wrong_length() -> None:
    """A probability vector whose length differs from the number of values is reported."""
    only(
        {"variables": [var("a", mechanism="categorical", probabilities=[0.2, 0.3, 0.5])]},
        "variable 'a' (#0)",
        "field 'probabilities'",
        "has 3 numbers but the variable has 2 values",
        "give one probability per value",
    )


def test_categorical_probabilities_missing() -> None:
    """Mechanism `categorical` without probabilities or table is reported."""
    only(
        {"variables": [var("a", mechanism="categorical")]},
        "variable 'a' (#0)",
        "field 'probabilities'",
        "is missing",
        "give one probability per value",
    )


def test_categorical_with_both_probabilities_and_table() -> None:
    """Giving both `probabilities` and `table` is reported."""
    only(
        {
            "variables": [
                var(
                    "a",
                    mechanism="categorical",
                    probabilities=[0.5, 0.5],
                    table=[{"parents": {}, "probabilities": [0.5, 0.5]}],
                )
            ]
        },
        "variable 'a' (#0)",
        "field 'table'",
        "keep one",
    )


def _table_model(table: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "variables": [
            var("w", values=["sun", "rain"]),
            var("n", values=["ann", "bob"]),
            var("act", parents=["w", "n"], mechanism="categorical", table=table),
        ]
    }


def _full_table() -> list[dict[str, Any]]:
    return [
        {"parents": {"w": w, "n": n}, "probabilities": [0.5, 0.5]}
        for w in ("sun", "rain")
        for n in ("ann", "bob")
    ]


def test_table_full_coverage_is_valid() -> None:
    """A table with one row per parent combination is valid."""
    spec = parse_spec(_table_model(_full_table()))
    assert spec.variable("act").table is not None


def test_table_unknown_parent_name() -> None:
    """A table row naming a non-parent is reported with a suggestion."""
    table = _full_table()
    table[1]["parents"] = {"ww": "sun", "n": "bob"}
    only(
        _table_model(table),
        "variable 'act' (#2)",
        "field 'table[1].parents'",
        "'ww', which is not a parent",
        "did you mean 'w'?",
    )


def test_table_unknown_parent_value() -> None:
    """A table row with a value the parent does not have is reported with the allowed values."""
    table = _full_table()
    table[2]["parents"] = {"w": "snow", "n": "ann"}
    only(
        _table_model(table),
        "variable 'act' (#2)",
        "field 'table[2].parents.w'",
        "'snow' is not a value of 'w'",
        "use one of 'sun', 'rain'",
    )


def test_table_partial_row() -> None:
    """A row naming only some of the parents is reported (it is neither complete nor default)."""
    table = _full_table()
    table[3]["parents"] = {"w": "rain"}
    only(
        _table_model(table),
        "variable 'act' (#2)",
        "field 'table[3].parents'",
        "gives 1 of the 2 parents",
        "missing: 'n'",
    )


def test_table_missing_combinations() -> None:
    """Uncovered parent combinations are counted and exemplified."""
    only(
        _table_model(_full_table()[:3]),
        "variable 'act' (#2)",
        "field 'table'",
        "misses 1 of the 4 parent combinations",
        "{w: 'rain', n: 'bob'}",
        "or a row with empty 'parents' as the default",
    )


def test_table_default_row_covers_the_rest() -> None:
    """A row with empty `parents` is the default, so partial coverage is then valid."""
    table = _full_table()[:1] + [{"parents": {}, "probabilities": [0.9, 0.1]}]
    parse_spec(_table_model(table))


def test_table_row_probabilities_checked() -> None:
    """Each table row's probabilities get the same checks as `probabilities`."""
    table = _full_table()
    table[0]["probabilities"] = [0.7, 0.7]
    only(
        _table_model(table), "variable 'act' (#2)", "field 'table[0].probabilities'", "sums to 1.4"
    )


@pytest.mark.parametrize("field", ["probabilities", "table"])
def test_probabilities_or_table_on_non_categorical(field: str) -> None:
    """`probabilities` or `table` on an `lm`/`uniform` variable is reported."""
    value: Any = (
        [0.5, 0.5] if field == "probabilities" else [{"parents": {}, "probabilities": [1, 0]}]
    )
    only(
        {"variables": [var("a", mechanism="uniform", **{field: value})]},
        "variable 'a' (#0)",
        f"field '{field}'",
        "is only used by mechanism 'categorical'",
        "set mechanism: categorical",
    )


def test_parent_after_child() -> None:
    """A parent defined below its child is reported with the fix: move the parent up."""
    only(
        {"variables": [var("b", parents=["a"]), var("a")]},
        "variable 'b' (#0)",
        "field 'parents[0]'",
        "names 'a' (#1), which comes after this variable",
        "move variable 'a' above 'b'",
    )


def test_order_not_reported_when_there_is_a_cycle() -> None:
    """With a cycle only the cycle is reported, not the order (moving would not help)."""
    found = problems({"variables": [var("a", parents=["b"]), var("b", parents=["a"])]})
    assert len(found) == 1 and "cycle" in found[0]


def _bench_model(**bench: str) -> dict[str, Any]:
    base = {
        "treatment": "t",
        "control": "lo",
        "treated": "hi",
        "outcome": "y",
        "outcome_value": "hi",
    }
    return {"variables": [var("t"), var("y", parents=["t"])], "benchmark": {**base, **bench}}


@pytest.mark.parametrize(
    ("field", "bad", "expected"),
    [
        ("treatment", "tt", "unknown variable 'tt'; did you mean 't'?"),
        ("control", "mid", "'mid' is not a value of 't'; use one of 'lo', 'hi'"),
        ("treated", "top", "'top' is not a value of 't'; use one of 'lo', 'hi'"),
        ("outcome", "why", "unknown variable 'why'"),
        ("outcome_value", "max", "'max' is not a value of 'y'; use one of 'lo', 'hi'"),
    ],
)
def test_benchmark_unknown_names_and_values(field: str, bad: str, expected: str) -> None:
    """Each benchmark field naming an unknown variable or value is reported with the choices."""
    parse_spec(_bench_model())
    only(_bench_model(**{field: bad}), f"field 'benchmark.{field}'", expected)


def test_benchmark_control_equals_treated() -> None:
    """A benchmark whose two arms are the same value is reported."""
    only(_bench_model(treated="lo"), "field 'benchmark.treated'", "pick two different values")


def test_all_problems_reported_together() -> None:
    """Three independent errors in one file give exactly three messages, one per error."""
    data = {
        "variables": [
            var("a", values=["x", "x"]),
            var("b", phrasings=["no slot"]),
            var("c", parents=["zz"]),
        ]
    }
    found = problems(data)
    assert len(found) == 3, found
    assert "variable 'a' (#0), field 'values[1]'" in found[0]
    assert "variable 'b' (#1), field 'phrasings[0]'" in found[1]
    assert "variable 'c' (#2), field 'parents[0]'" in found[2]


def test_unknown_field_suggests_close_name() -> None:
    """A pydantic 'extra field' error becomes a message with a 'did you mean' suggestion."""
    only(
        {"variables": [var("a"), {**var("b"), "parent": ["a"]}]},
        "variable 'b' (#1)",
        "field 'parent'",
        "is not a known field; did you mean 'parents'?",
    )


def test_missing_field_message() -> None:
    """A missing required field becomes a message naming the field and what to add."""
    only(
        {"variables": [{"name": "a", "phrasings": ["{value}"]}]},
        "variable 'a' (#0)",
        "field 'values'",
        "is missing; add it",
    )


def test_wrong_type_and_literal_messages() -> None:
    """Wrong types and unknown mechanism names become messages with the expected form."""
    found = problems(
        {"variables": [var("a", parents="b", mechanism="gpt")], "model": {"dtype": "f16"}}
    )
    assert len(found) == 3, found
    text = "\n".join(found)
    assert (
        "variable 'a' (#0), field 'parents': is 'b', not a list; write it as a list, e.g. [b]"
        in text
    )
    assert "variable 'a' (#0), field 'mechanism': is 'gpt'; use one of 'lm', 'uniform'" in text
    assert "field 'model.dtype': is 'f16'; use one of 'float32' or 'bfloat16'" in text


def test_schema_and_cross_field_errors_reported_together() -> None:
    """A shape error in one variable does not hide a cross-field error in another."""
    found = problems({"variables": [var("a", exogenous="maybe"), var("b", parents=["q"])]})
    assert len(found) == 2, found
    assert "variable 'a' (#0), field 'exogenous'" in found[0]
    assert "variable 'b' (#1), field 'parents[0]'" in found[1]


def test_variable_not_a_mapping() -> None:
    """A variable entry that is not a mapping is reported by its index."""
    only({"variables": [var("a"), "oops"]}, "variable #1:", "not a mapping")


def test_validate_spec_on_constructed_model() -> None:
    """validate_spec returns the cross-field problems of a ModelFile built in Python."""
    spec = ModelFile(
        variables=[
            {"name": "a", "values": ["x"], "phrasings": ["{value}"], "parents": ["b"]},
            {"name": "b", "values": ["x"], "phrasings": ["{value}"]},
        ]
    )
    found = validate_spec(spec, "py")
    assert found == [
        "py: variable 'a' (#0), field 'parents[0]': names 'b' (#1), which comes after this "
        "variable; move variable 'b' above 'a' in the file (parents must come before their "
        "children: the file's order is the topological order)."
    ]


def test_messages_in_file_order() -> None:
    """Shape and cross-field messages are interleaved in file order, benchmark last."""
    data = {
        "variables": [var("a", parents=["zz"]), var("b", mechanism="gpt")],
        "benchmark": {"treatment": "q", "control": "lo", "treated": "hi", "outcome": "b"},
        "model": {"device": "tpu"},
    }
    found = problems(data)
    assert [p.split(": ")[1] for p in found] == [
        "field 'model.device'",
        "variable 'a' (#0), field 'parents[0]'",
        "variable 'b' (#1), field 'mechanism'",
        "field 'benchmark.treatment'",
    ]


def test_benchmark_outcome_ancestor_of_treatment() -> None:
    """An outcome upstream of the treatment has no potential outcomes: reported by validation, not later."""
    data = {"variables": [var("y"), var("m", parents=["y"]), var("t", parents=["m"])],
            "benchmark": {"treatment": "t", "control": "lo", "treated": "hi", "outcome": "y"}}
    only(data, "field 'benchmark.outcome'", "'y' is an ancestor of the treatment 't'",
         "choose a descendant of the treatment")


@pytest.mark.parametrize("empty", ["", "  "])
def test_empty_value_label(empty: str) -> None:
    """An empty value label is reported with its index (sampling it failed later before)."""
    only({"variables": [var("a", values=["lo", empty])]}, "variable 'a' (#0), field 'values[1]'",
         f"is empty ({empty!r})", "give every value a label")


def test_exogenous_with_parents_is_a_warning_and_the_paper_example_loads() -> None:
    """exogenous: true with parents loads (the paper's breast-cancer config does it) with a warning
    naming the variable, its parents and the fix; `sdscm validate` prints it and exits 0."""
    from pathlib import Path

    from typer.testing import CliRunner

    from sdscm.cli.app import app
    from sdscm.spec import load_spec, spec_warnings

    spec = parse_spec({"variables": [var("a"), var("b", parents=["a"], exogenous=True)]}, SOURCE)
    (warning,) = spec_warnings(spec)
    assert "variable 'b' (#1): exogenous: true, but it has parents ['a']" in warning
    assert "Remove its parents, or 'exogenous: true'" in warning
    example = Path(__file__).parents[1] / "examples" / "breast_cancer.yaml"
    assert len(spec_warnings(load_spec(example))) == 3
    res = CliRunner().invoke(app, ["validate", str(example)])
    assert res.exit_code == 0, res.output
    assert "warning: variable 'medical conditions' (#1)" in res.output and "OK" in res.output


def test_benchmark_name_that_is_not_text_is_reported() -> None:
    """A list as benchmark.treatment (found by the property test: it raised TypeError) is one problem."""
    data = _bench_model()
    data["benchmark"]["treatment"] = ["t"]
    found = problems(data)
    assert any("benchmark.treatment" in p for p in found), found
