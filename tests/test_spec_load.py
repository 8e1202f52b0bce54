"""Reading and writing model files: formats, shorthands, file errors, dumping, the examples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from sdscm.errors import SpecError
from sdscm.spec import dump_spec, load_spec, parse_spec, spec_to_dict, validate_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

MINIMAL_YAML = """\
variables:
  - name: weather
    values: [sunny, rainy]
    phrasing: "The weather is {value}."
  - name: mood
    parents: [weather]
    values: [good, bad]
    phrasings:
      - "She is in a {value} mood."
      - "Her mood is {value}."
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    """Write `text` to tmp_path/name and return the path."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def spec_error(path: Path) -> SpecError:
    """The SpecError load_spec raises for `path` (it must raise one)."""
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value


def test_load_yaml_with_phrasing_shorthand(tmp_path: Path) -> None:
    """A YAML file loads; `phrasing:` becomes a one-element `phrasings` list; defaults apply."""
    spec = load_spec(write(tmp_path, "m.yaml", MINIMAL_YAML))
    assert spec.names == ["weather", "mood"]
    assert spec.variable("weather").phrasings == ["The weather is {value}."]
    assert spec.variable("mood").parents == ["weather"]
    assert spec.variable("mood").mechanism == "lm"
    assert spec.model.name is None and spec.benchmark is None


def test_load_json_by_extension_and_by_sniffing(tmp_path: Path) -> None:
    """JSON loads from .json and, by content, from a file with another extension."""
    data = {"variables": [{"name": "a", "values": ["x", "y"], "phrasings": ["A is {value}."]}]}
    text = json.dumps(data)
    assert load_spec(write(tmp_path, "m.json", text)) == parse_spec(data)
    assert load_spec(write(tmp_path, "m.model", text)) == parse_spec(data)


def test_numbers_and_booleans_become_text(tmp_path: Path) -> None:
    """Numeric and boolean values (JSON numbers, YAML true) are turned into strings."""
    data = {"variables": [{"name": 7, "values": [25, 2.5, True], "phrasings": ["{value}"]}]}
    spec = parse_spec(data)
    assert spec.names == ["7"] and spec.variables[0].values == ["25", "2.5", "true"]
    path = write(
        tmp_path,
        "n.yaml",
        "variables:\n  - {name: a, values: [25, 1.10, true], phrasing: '{value}'}\n",
    )
    assert load_spec(path).variables[0].values == ["25", "1.10", "true"]


def test_yaml_scalars_keep_their_spelling(tmp_path: Path) -> None:
    """yes/no/on, clock times, leading zeros and dates stay the strings they were written as."""
    path = write(
        tmp_path,
        "s.yaml",
        "variables:\n  - name: t\n    values: [yes, no, on, '3:29', 3:30, 007, 2020-01-01]\n"
        "    phrasing: 'T {value}'\n",
    )
    values = load_spec(path).variables[0].values
    assert values == ["yes", "no", "on", "3:29", "3:30", "007", "2020-01-01"]


def test_benchmark_values_by_index(tmp_path: Path) -> None:
    """A benchmark value given as a 0-based index is resolved to its label."""
    data = {
        "variables": [
            {"name": "t", "values": ["off", "on"], "phrasings": ["{value}"]},
            {"name": "y", "values": ["1", "0"], "phrasings": ["{value}"], "parents": ["t"]},
        ],
        "benchmark": {
            "treatment": "t",
            "control": 0,
            "treated": 1,
            "outcome": "y",
            "outcome_value": 0,
        },
    }
    bench = parse_spec(data).benchmark
    assert bench is not None
    assert (bench.control, bench.treated) == ("off", "on")
    assert bench.outcome_value == "0"  # a label wins over an index


def test_phrasing_and_phrasings_together(tmp_path: Path) -> None:
    """Giving both `phrasing` and `phrasings` is reported, not silently merged."""
    data = {
        "variables": [
            {"name": "a", "values": ["x"], "phrasing": "{value}", "phrasings": ["{value}"]}
        ]
    }
    with pytest.raises(SpecError) as info:
        parse_spec(data, "p.yaml")
    assert info.value.problems == [
        "p.yaml: variable 'a' (#0), field 'phrasing': is given together with 'phrasings'; "
        "move it into the 'phrasings' list."
    ]


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a SpecError naming the path."""
    path = tmp_path / "nope.yaml"
    error = spec_error(path)
    assert error.problems[0].startswith(f"{path}: file not found; check the path")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    """A folder passed as model file is a clear SpecError."""
    assert "is a folder" in spec_error(tmp_path).problems[0]


def test_unreadable_bytes(tmp_path: Path) -> None:
    """A file that is not UTF-8 is a clear SpecError."""
    assert (
        "is not UTF-8 text" in spec_error(write(tmp_path, "b.yaml", b"\xff\xfe\x00bad")).problems[0]
    )


def test_empty_file(tmp_path: Path) -> None:
    """An empty file is a SpecError saying what a model file needs."""
    assert (
        "is empty; a model file needs a top-level 'variables' list"
        in spec_error(write(tmp_path, "e.yaml", "\n# nothing\n")).problems[0]
    )


def test_yaml_syntax_error_has_line_number(tmp_path: Path) -> None:
    """A YAML syntax error is one SpecError message with the line number, not a yaml traceback."""
    text = "variables:\n  - name: a\n    values: [x, y\n    phrasing: '{value}'\n"
    error = spec_error(write(tmp_path, "bad.yaml", text))
    assert len(error.problems) == 1
    assert ", line 4, column" in error.problems[0] and "YAML syntax error" in error.problems[0]
    assert error.__cause__ is None and error.__suppress_context__


def test_json_syntax_error_has_line_number(tmp_path: Path) -> None:
    """A JSON syntax error names its line and column."""
    error = spec_error(write(tmp_path, "bad.json", '{\n  "variables": [,]\n}'))
    assert ", line 2, column" in error.problems[0] and "JSON syntax error" in error.problems[0]


def test_duplicate_yaml_keys(tmp_path: Path) -> None:
    """A key repeated in one YAML mapping is reported with its line (YAML would keep the last)."""
    text = "variables:\n  - name: a\n    values: [x]\n    values: [y]\n    phrasing: '{value}'\n"
    assert validate_file(write(tmp_path, "d.yaml", text)) == [
        f"{tmp_path / 'd.yaml'}, line 4: key 'values' appears twice in the same mapping; "
        "keep one (the later one would silently win)."
    ]


def test_invalid_content_never_raises_pydantic_error(tmp_path: Path) -> None:
    """Shape errors come back as a SpecError whose messages name file, variable and field."""
    path = write(
        tmp_path,
        "t.yaml",
        "variables:\n  - name: a\n    values: x\n    phrasings: 3\n    parent: [b]\n",
    )
    try:
        load_spec(path)
    except ValidationError:  # pragma: no cover - the failure this test guards against
        pytest.fail("raw pydantic error escaped")
    except SpecError as error:
        assert len(error.problems) == 3
        assert all(p.startswith(f"{path}: variable 'a' (#0), field '") for p in error.problems)


def test_validate_file_lists_every_problem(tmp_path: Path) -> None:
    """validate_file returns [] for a valid file and all messages for an invalid one."""
    assert validate_file(write(tmp_path, "ok.yaml", MINIMAL_YAML)) == []
    bad = MINIMAL_YAML.replace("[weather]", "[wether]").replace("[good, bad]", "[good, good]")
    found = validate_file(write(tmp_path, "bad.yaml", bad))
    assert len(found) == 2 and "did you mean 'weather'?" in found[1]
    assert validate_file(tmp_path / "missing.yaml")[0].endswith(
        f"file not found; check the path (relative paths start from {os.getcwd()})."
    )


def test_dump_yaml_round_trip_omits_defaults(tmp_path: Path) -> None:
    """dump_spec writes YAML that loads back equal, without default fields, with a header."""
    spec = load_spec(EXAMPLES / "toy_confounder.yaml")
    out = dump_spec(spec, tmp_path / "sub" / "copy.yaml", header="made by a test")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# made by a test\n")
    assert load_spec(out) == spec
    for default in ("mechanism:", "model:", "exogenous: false", "quantity:", "parents: []"):
        assert default not in text
    assert "    values: [Alice, Bob, Carmen, Deshawn]\n" in text


def test_dump_json_round_trip(tmp_path: Path) -> None:
    """dump_spec writes JSON for a .json path, and it loads back equal."""
    spec = load_spec(EXAMPLES / "toy_collider.yaml")
    out = dump_spec(spec, tmp_path / "copy.json")
    assert json.loads(out.read_text(encoding="utf-8")) == spec_to_dict(spec)
    assert load_spec(out) == spec


def test_dump_categorical_tables_and_tricky_text(tmp_path: Path) -> None:
    """Tables, number-like values, odd spacing and a leading slot survive a YAML round trip."""
    data = {
        "name": "tricky",
        "model": {"dtype": "bfloat16", "length_normalize": True},
        "variables": [
            {
                "name": "age",
                "values": ["25", "yes", "3:30"],
                "phrasings": ["{value}  years, 'old': \"x\" "],
            },
            {
                "name": "y",
                "parents": ["age"],
                "values": ["a", "b"],
                "phrasings": ["# {value}"],
                "mechanism": "categorical",
                "table": [
                    {"parents": {"age": "25"}, "probabilities": [0.25, 0.75]},
                    {"parents": {}, "probabilities": [1, 0]},
                ],
            },
        ],
    }
    spec = parse_spec(data)
    out = dump_spec(spec, tmp_path / "t.yml")
    assert load_spec(out) == spec
    assert spec_to_dict(spec)["model"] == {"dtype": "bfloat16", "length_normalize": True}


def test_dump_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed write leaves the old file untouched and no temporary file behind."""
    spec = load_spec(EXAMPLES / "toy_collider.yaml")
    target = write(tmp_path, "m.yaml", "old content\n")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        dump_spec(spec, target)
    assert target.read_text() == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]
    monkeypatch.undo()
    dump_spec(spec, target)
    assert load_spec(target) == spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]


def test_toy_examples_share_variables_and_differ_in_dag() -> None:
    """The toy confounder and collider files have the same variables but different DAGs."""
    conf = load_spec(EXAMPLES / "toy_confounder.yaml")
    coll = load_spec(EXAMPLES / "toy_collider.yaml")
    assert conf.names == coll.names == ["name", "weather", "activity", "marathon time"]
    for a, b in zip(conf.variables, coll.variables):
        assert (a.values, a.phrasings, a.exogenous) == (b.values, b.phrasings, b.exogenous)
        assert 2 <= len(a.phrasings) <= 3
    assert [v.name for v in conf.variables if v.exogenous] == ["name", "weather"]
    for spec in (conf, coll):
        assert spec.variable("activity").parents == ["name", "weather"]
        bench = spec.benchmark
        assert bench is not None and (bench.treatment, bench.outcome) == (
            "activity",
            "marathon time",
        )
    assert conf.variable("marathon time").parents == ["weather", "activity"]
    assert coll.variable("marathon time").parents == ["activity"]


def test_documented_example_matches_toy_confounder() -> None:
    """The annotated example in docs/model-format.md is valid and equals toy_confounder.yaml."""
    doc = (EXAMPLES.parent / "docs" / "model-format.md").read_text(encoding="utf-8")
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert parse_spec(yaml.safe_load(block)) == load_spec(EXAMPLES / "toy_confounder.yaml")


# --------------------------------------------------------------------------- model-section overrides


def test_model_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    """`--device tpu`, `max_batch_tokens=-5` or a misspelt field are SpecErrors naming field and fix,
    exactly like the same values written in the file's model section."""
    from sdscm.spec import with_model_overrides

    spec = load_spec(write(tmp_path, "m.yaml", MINIMAL_YAML))
    with pytest.raises(SpecError) as info:
        with_model_overrides(spec, device="tpu", max_batch_tokens=-5)
    problems = info.value.problems
    assert len(problems) == 2
    assert "field 'model.device': is 'tpu'; use one of 'auto', 'cpu' or 'cuda'." in problems[0]
    assert "field 'model.max_batch_tokens': is -5; use a number greater than 0." in problems[1]
    with pytest.raises(SpecError, match=r"field 'model.dtpye': is not a known field; did you mean 'dtype'\?"):
        with_model_overrides(spec, dtpye="bfloat16")
    with pytest.raises(SpecError, match=r"field 'model.dtype': is 'float16'; use one of 'float32' or 'bfloat16'"):
        with_model_overrides(spec, dtype="float16")
    # the same values in the file are reported the same way
    in_file = MINIMAL_YAML + "model:\n  device: tpu\n"
    assert any("field 'model.device': is 'tpu'; use one of 'auto', 'cpu' or 'cuda'." in p
               for p in validate_file(write(tmp_path, "f.yaml", in_file)))


def test_model_overrides_keep_the_rest_of_the_section(tmp_path: Path) -> None:
    """Valid overrides replace only their fields; None means 'not given'."""
    from sdscm.spec import with_model_overrides

    spec = load_spec(write(tmp_path, "m.yaml", MINIMAL_YAML + "model:\n  length_normalize: true\n"))
    out = with_model_overrides(spec, dtype="bfloat16", name=None, max_batch_tokens=64)
    assert (out.model.dtype, out.model.max_batch_tokens, out.model.length_normalize) == ("bfloat16", 64, True)
    assert out.variables == spec.variables
    assert with_model_overrides(spec, name=None) is spec
