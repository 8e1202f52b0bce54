"""Property-based misuse (issue 15): random and mutated model files and random command lines give
only sdscm's own errors, never a traceback, in bounded time.

Model files start from the example files and the tests' small families and are mutated (keys
deleted or renamed, values replaced by other types, lists duplicated, values nested deeper, the
text truncated), then fed to `load_spec` and `sdscm validate`. Command lines draw each command's
options from pools of good and bad values (huge and negative numbers, wrong extensions, files
where folders are expected, garbage Parquet, unknown variables). No language model loads: the
files' mechanisms are categorical/uniform, and the one language-model file points `model:` at a
missing folder, which fails fast. Accepted outcomes: exit 0; exit 1 with an `error:` line (or
`validate`'s list of problems); click/typer usage errors (exit 2, no Python exception).
"""

from __future__ import annotations

import copy
import re
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sdscm.cli.app import app
from sdscm.errors import SDSCMError
from sdscm.spec import load_spec
from test_audit_models import planted_dict
from test_benchmark_cli import MODEL as FAMILY
from test_cli import CATEGORICAL_MODEL

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ["toy_confounder.yaml", "statin_heart.yaml", "audit_triage.yaml", "breast_cancer.yaml"]
BASES: list[Any] = [CATEGORICAL_MODEL, FAMILY, planted_dict()] + [
    yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8")) for name in EXAMPLES
]
# Examples per test (about 150 in all); the deadline bounds each example, the test bounds the total.
FILE_EXAMPLES = int(os.environ.get("SDSCM_PROPERTY_EXAMPLES", 80))
CLI_EXAMPLES = int(os.environ.get("SDSCM_PROPERTY_EXAMPLES", 80))
DEADLINE_MS = 10_000
# The default run is the same examples every time; SDSCM_PROPERTY_RANDOM=1 explores new ones.
DERANDOMIZE = os.environ.get("SDSCM_PROPERTY_RANDOM") != "1"
TOTAL_S = float(os.environ.get("SDSCM_PROPERTY_SECONDS", 60))

FIELDS = ["name", "values", "phrasings", "parents", "mechanism", "probabilities", "table", "exogenous",
          "description", "model", "variables", "benchmark", "treatment", "control", "treated", "outcome",
          "outcome_value", "quantity", "dtype", "device", "start_token", "length_normalize",
          "max_batch_tokens", "prefix_cache", "prefix_cache_mb", "backend", "score_suffix", "batch_invariant"]
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "{value}", "{value} {value}", "{valu}", "lm", "categorical", "uniform",
                     "weather", "rainy", "activity", "float32", "bfloat16", "cuda", "log_score", "x" * 300,
                     "*anchor", "&a", "!!python/object:os.system", "1e400"]),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6),
                                                                inner, max_size=3),
    max_leaves=8,
)


def _positions(doc: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value inside `doc` (dict keys and list indices)."""
    out = [path]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _positions(value, path + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _positions(value, path + (i,))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    positions = _positions(doc)[1:] or [()]
    path = data.draw(st.sampled_from(positions), label="path")
    if not path:
        return data.draw(VALUES, label="whole")
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    op = data.draw(st.sampled_from(["delete", "replace", "rename", "duplicate", "wrap", "nest", "empty"]), label="op")
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = data.draw(VALUES, label="value")
    elif op == "rename" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(FIELDS), label="new key")] = parent.pop(key)
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    elif op == "wrap":
        parent[key] = [parent[key]]
    elif op == "nest":
        parent[key] = {data.draw(st.sampled_from(FIELDS), label="nest key"): parent[key]}
    else:
        parent[key] = "" if not isinstance(parent[key], (list, dict)) else type(parent[key])()
    return doc


def _text(doc: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, default=str)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files the command lines refer to (shared by every example of this module)."""
    root = tmp_path_factory.mktemp("property")
    files = {"root": root, "model": root / "model.yaml", "family": root / "family.yaml",
             "lm": root / "lm.yaml", "afile": root / "afile", "garbage": root / "garbage.parquet",
             "units": root / "units.parquet", "folder": root / "folder"}
    files["model"].write_text(yaml.safe_dump(CATEGORICAL_MODEL, sort_keys=False))
    files["family"].write_text(yaml.safe_dump(FAMILY, sort_keys=False))
    lm = {**FAMILY, "model": {"name": str(root / "no-such-model")},
          "variables": [{k: v for k, v in var.items() if k not in ("mechanism", "probabilities", "table")}
                        for var in FAMILY["variables"]]}
    files["lm"].write_text(yaml.safe_dump(lm, sort_keys=False))
    files["afile"].write_text("a plain file\n")
    files["garbage"].write_bytes(b"PAR1 not really parquet" * 5)
    files["folder"].mkdir()
    res = CliRunner().invoke(app, ["sample", str(files["model"]), "-n", "8", "--out", str(files["units"])])
    assert res.exit_code == 0, res.output
    bench = root / "bench"
    res = CliRunner().invoke(app, ["benchmark", "generate", str(files["family"]), "-n", "20", "--out", str(bench)])
    assert res.exit_code == 0, res.output
    files["bench"] = bench
    return files


def check_result(res, command: str, label: str) -> None:
    """Only sdscm's own outcomes: exit 0, exit 1 with one message, or a usage error with no exception."""
    exc = res.exception
    assert exc is None or isinstance(exc, SystemExit), (command, res.output, repr(exc))
    assert "Traceback" not in res.output, (command, res.output)
    assert res.exit_code in (0, 1, 2), (command, res.exit_code, res.output)
    event(f"{label}: exit {res.exit_code}")
    if res.exit_code == 1:
        assert "error:" in res.output or "problem(s)" in res.output, (command, res.output)


_started: dict[str, float] = {}


def _time_bound(name: str) -> None:
    now = time.perf_counter()
    _started.setdefault(name, now)
    assert now - _started[name] < TOTAL_S, f"{name}: the property run took more than {TOTAL_S} s"


@settings(max_examples=FILE_EXAMPLES, deadline=DEADLINE_MS, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_model_files_give_only_sdscm_errors(data: st.DataObject, tmp_path: Path) -> None:
    """A mutated or truncated model file loads, or raises SDSCMError; `validate` exits 0 or 1 with a message."""
    _time_bound("files")
    doc = copy.deepcopy(data.draw(st.sampled_from(BASES), label="base"))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        doc = _mutate(doc, data)
    fmt = data.draw(st.sampled_from(["yaml", "json"]), label="format")
    text = _text(doc, fmt)
    if data.draw(st.booleans(), label="truncate"):
        text = text[: data.draw(st.integers(0, len(text)), label="cut")]
    path = tmp_path / f"m.{fmt}"
    path.write_text(text, encoding="utf-8")
    try:
        load_spec(path)
    except SDSCMError:
        pass
    res = CliRunner().invoke(app, ["validate", str(path)])
    check_result(res, f"validate {path}", "validate")
    assert res.exit_code in (0, 1)


def _options(work: dict[str, Path]) -> dict[str, Any]:
    """Pools of argument values per option kind."""
    root = work["root"]
    ints = st.one_of(st.integers(-3, 40), st.sampled_from([0, 2**63 - 1, 2**63, 10**11, 99999999999999999999999]))
    seeds = st.one_of(st.integers(-3, 5), st.sampled_from([2**63 - 1, 2**63, 99999999999999999999999]))
    names = ["weather", "activity", "time", "mood", "wether", "nope", ""]
    values = ["sunny", "rainy", "a run", "the gym", "0", "1", "7", "", "uniform", "sunny:0.5,rainy:0.5",
              "sunny:2", "x:y", "a run,the gym"]
    assignments = st.builds(lambda n, v, eq: f"{n}{'=' if eq else ''}{v}", st.sampled_from(names),
                            st.sampled_from(values), st.booleans())
    out_files = st.sampled_from([f"{root}/o.parquet", f"{root}/o.csv", f"{root}/o.txt", f"{root}/o",
                                 f"{work['afile']}/o.parquet", str(work["folder"]), f"{root}/new/o.pq"])
    out_dirs = st.sampled_from([f"{root}/d1", f"{root}/d2/sub", str(work["afile"]), f"{work['afile']}/x",
                                str(work["folder"]), str(work["units"])])
    inputs = st.sampled_from([str(work[k]) for k in ("units", "garbage", "afile", "folder", "bench", "model")]
                             + [f"{root}/missing.parquet", f"{work['bench']}/data/variant000_dataset0000.parquet"])
    models = st.sampled_from([str(work["model"]), str(work["lm"]), str(work["family"]), str(work["afile"]),
                              str(work["garbage"]), f"{root}/missing.yaml"])
    return dict(ints=ints, seeds=seeds, assignments=assignments, out_files=out_files, out_dirs=out_dirs,
                inputs=inputs, models=models, names=st.sampled_from(names), values=st.sampled_from(values))


REQUIRED = {"sample": ("-n", "--out"), "counterfactual": ("--units", "--do", "--out"), "generate": ("--out",),
            "describe": ("--out",), "evaluate": ("--out", "--estimators"), "report": ("--out",)}
# `benchmark evaluate` always gets unknown estimator names (or --list): fitting the real suite takes
# tens of seconds, and estimators are not what this test is about.


def _command(data: st.DataObject, work: dict[str, Path]) -> list[str]:
    p = _options(work)
    command = data.draw(st.sampled_from(["sample", "counterfactual", "exact", "validate", "generate",
                                         "describe", "evaluate", "report", "cache"]), label="command")
    opts: list[tuple[str, Any]] = []  # (option, strategy of its value or None for a flag)
    if command == "sample":
        head = ["sample", data.draw(p["models"])]
        opts = [("-n", p["ints"]), ("--seed", p["seeds"]), ("--do", p["assignments"]), ("--soft", p["assignments"]),
                ("--out", p["out_files"]), ("--variant", p["ints"]), ("--scores", None), ("--no-cache", None),
                ("--model", st.just(str(work["root"] / "no-model"))), ("--dtype", st.sampled_from(["float32", "x"]))]
    elif command == "counterfactual":
        head = ["counterfactual", data.draw(p["models"])]
        opts = [("--units", p["inputs"]), ("--do", p["assignments"]), ("--soft", p["assignments"]),
                ("--noise", st.sampled_from(["shared", "fresh", "odd"])), ("--seed", p["seeds"]),
                ("--out", p["out_files"]), ("--variant", p["ints"])]
    elif command == "exact":
        head = ["exact", data.draw(p["models"])]
        opts = [("--var", p["names"]), ("--do", p["assignments"]), ("--soft", p["assignments"]),
                ("--max-states", p["ints"]), ("--out", p["out_files"]), ("--variant", p["ints"])]
    elif command == "validate":
        head = ["validate", data.draw(p["models"])]
    elif command == "generate":
        head = ["benchmark", "generate", data.draw(p["models"])]
        small = st.one_of(st.integers(-2, 3), st.sampled_from([10**11, 2**63]))
        opts = [("--out", p["out_dirs"]), ("--variants", small), ("--datasets-per-variant", small),
                ("-n", st.one_of(st.integers(-2, 30), st.sampled_from([10**11]))), ("--seed", p["seeds"]),
                ("--jobs", st.integers(-1, 1)), ("--treatment", p["names"]), ("--control", p["values"]),
                ("--treated", p["values"]), ("--outcome", p["names"]), ("--outcome-value", p["values"]),
                ("--quantity", st.sampled_from(["probability", "log_score", "category", "odd"])),
                ("--format", st.sampled_from(["reference", "parquet", "xml"])), ("--stop-if-unhealthy", None)]
    elif command == "describe":
        head = ["benchmark", "describe", data.draw(p["inputs"])]
        opts = [("--out", p["out_dirs"]), ("--view", st.sampled_from(["all", "hidden", "odd"]))]
    elif command == "evaluate":
        head = ["benchmark", "evaluate", data.draw(p["inputs"])]
        opts = [("--out", p["out_files"]), ("--estimators", st.sampled_from(["nope", "x,y", "DML,nope"])),
                ("--preset", st.sampled_from(["paper", "recommended", "odd"])),
                ("--view", st.sampled_from(["all", "hidden", "both", "odd"])), ("--jobs", st.integers(-1, 0)),
                ("--time-limit", st.sampled_from(["0", "-1", "1e9", "nan"])), ("--seed", p["seeds"]),
                ("--encoding", st.sampled_from(["index", "onehot", "odd"])), ("--max-datasets", p["ints"]),
                ("--list", None)]
    elif command == "report":
        head = ["benchmark", "report", data.draw(p["inputs"])]
        opts = [("--out", p["out_dirs"]), ("--no-figures", None)]
    else:
        head = ["cache", data.draw(st.sampled_from(["info", "clear"]))]
        opts = [("--cache", st.sampled_from([str(work["root"] / "cache"), str(work["folder"]),
                                             f"{work['root']}/missing-cache"]))]
    required = REQUIRED.get(command, ())
    args = list(head)
    for option, values in opts:
        # Required options are nearly always there, so most examples get past click's usage check.
        counts = st.sampled_from([1, 1, 1, 1, 1, 0, 2]) if option in required else st.integers(0, 2 if option in (
            "--do", "--soft", "--var") else 1)
        if option == "--estimators":
            counts = st.just(1)
        for _ in range(data.draw(counts, label=option)):
            args.append(option)
            if values is not None:
                args.append(str(data.draw(values, label=f"{option} value")))
    return args


@settings(max_examples=CLI_EXAMPLES, deadline=DEADLINE_MS, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_command_lines_give_only_sdscm_errors(data: st.DataObject, work: dict[str, Path]) -> None:
    """Random argument lists for sample, counterfactual, exact, validate, benchmark generate/describe/
    evaluate/report and cache: exit 0, one `error:` line with exit 1, or a usage error; never a traceback."""
    _time_bound("cli")
    args = _command(data, work)
    res = CliRunner().invoke(app, args)
    check_result(res, " ".join(args), " ".join(args[:2] if args[0] in ("benchmark", "cache") else args[:1]))


# ----------------------------------------------------------------------------- the Python API
# Every public function of `sdscm` (its __all__) and every query method of SDSCM, called with wrong
# types and values, raises sdscm's own error (an SDSCMError subclass), never a bare
# ValueError/IndexError/TypeError/AttributeError from numpy, pandas or pathlib.

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import sdscm  # noqa: E402
from conftest import weather_spec  # noqa: E402
from fake_backend import HashBackend  # noqa: E402

JUNK = [None, True, -1, 2.5, 10**30, "x", "", b"x", [], [[1]], {}, {"weather": object()}, (1, 2),
        np.array([[1, 2]]), np.array([0.5]), object(), pd.DataFrame({"x": [1]}), range(3)]
"""Wrong types and values drawn for every argument."""


def _model() -> sdscm.SDSCM:
    return sdscm.SDSCM(weather_spec(), backend=HashBackend())


def _calls(m: sdscm.SDSCM, units: pd.DataFrame, scratch: Path = ROOT / "unused") -> dict[str, Any]:
    """Each public entry point as a function of one bad argument (the rest valid)."""
    return {
        "load(path)": lambda x: sdscm.load(x),
        "load(variant)": lambda x: sdscm.load(ROOT / "examples" / "toy_confounder.yaml", variant=x),
        "load(cache)": lambda x: sdscm.load(ROOT / "examples" / "toy_confounder.yaml", cache=x),
        "SDSCM(spec)": lambda x: sdscm.SDSCM(x),
        "SDSCM(chunk_units)": lambda x: sdscm.SDSCM(weather_spec(), backend=HashBackend(), chunk_units=x),
        "Soft(probabilities)": lambda x: m.do({"weather": sdscm.Soft(x)}),
        "sample(n)": lambda x: m.sample(x),
        "sample(seed)": lambda x: m.sample(2, seed=x),
        "sample(unit_ids)": lambda x: m.sample(2, unit_ids=x),
        "simulate(unit_ids)": lambda x: m.simulate(x, [0, 0]),
        "simulate(seeds)": lambda x: m.simulate([0, 1], x),
        "do(interventions)": lambda x: m.do(x),
        "do({var: value})": lambda x: m.do({"weather": x}),
        "with_phrasings(phrasings)": lambda x: m.with_phrasings(x),
        "with_phrasings({var: text})": lambda x: m.with_phrasings({"activity": x}),
        "counterfactual(units)": lambda x: m.counterfactual(x, {"activity": "a run"}),
        "counterfactual(do)": lambda x: m.counterfactual(units, x),
        "counterfactual(noise)": lambda x: m.counterfactual(units, {"activity": "a run"}, noise=x),
        "counterfactual(seed)": lambda x: m.counterfactual(units, {"activity": "a run"}, seed=x),
        "distribution(variable)": lambda x: m.distribution(x),
        "distribution(parents)": lambda x: m.distribution("activity", x),
        "exact(variables)": lambda x: m.exact(x),
        "exact(max_states)": lambda x: m.exact(None, max_states=x),
        "variable(name)": lambda x: m.variable(x),
        "draw_samples(num_samples)": lambda x: sdscm.draw_samples(m, x),
        "observational_samples(n)": lambda x: sdscm.observational_samples(m, x),
        "draw_samples(model)": lambda x: sdscm.draw_samples(x, 2),
        "interventional_samples(interventions)": lambda x: sdscm.interventional_samples(
            m, x, num_samples_to_draw=2),
        "interventional_samples(n)": lambda x: sdscm.interventional_samples(
            m, {"activity": 0}, num_samples_to_draw=x),
        "interventional_samples(observed_data)": lambda x: sdscm.interventional_samples(
            m, {"activity": 0}, observed_data=x),
        "counterfactual_samples(interventions)": lambda x: sdscm.counterfactual_samples(m, x, units),
        "counterfactual_samples(observed_data)": lambda x: sdscm.counterfactual_samples(m, {"activity": 0}, x),
        "counterfactual_samples(noise_data)": lambda x: sdscm.counterfactual_samples(
            m, {"activity": 0}, noise_data=x),
        "noise_samples(n)": lambda x: sdscm.noise_samples(m, x),
        "noise_samples(seed)": lambda x: sdscm.noise_samples(m, 2, seed=x),
        "compute_noise_from_data(observed_data)": lambda x: sdscm.compute_noise_from_data(m, x),
        "to_pgmpy(model)": lambda x: sdscm.to_pgmpy(x),
        "to_pgmpy(max_table_entries)": lambda x: sdscm.to_pgmpy(m, x),
        "exact(evidence)": lambda x: m.exact(None, evidence=x),
        "exact_distribution(evidence)": lambda x: sdscm.exact_distribution(m, None, None, x),
        "exact_distribution(variables)": lambda x: sdscm.exact_distribution(m, x),
        "exact_distribution(interventions)": lambda x: sdscm.exact_distribution(m, None, x),
        "read_frame(path)": lambda x: sdscm.read_frame(x),
        "write_frame(frame)": lambda x: sdscm.write_frame(x, scratch / "frame.parquet"),
        "write_frame(path)": lambda x: sdscm.write_frame(units, x),
    }


def test_every_public_function_is_exercised() -> None:
    """The table below covers each callable in sdscm.__all__ (error classes aside)."""
    m = _model()
    covered = {name.split("(")[0] for name in _calls(m, m.sample(2))}
    public = {n for n in sdscm.__all__ if not n.endswith("Error")}
    assert public - covered - {"SDSCM", "Soft"} == set()


@pytest.mark.parametrize("junk", JUNK, ids=lambda x: type(x).__name__ + ":" + repr(x)[:20])
def test_public_api_misuse_raises_only_sdscm_errors(junk: Any, tmp_path: Path) -> None:
    m = _model()
    units = m.sample(3, seed=1)
    wrong = []
    for name, call in _calls(m, units, tmp_path).items():
        try:
            call(junk)
        except sdscm.SDSCMError:
            pass
        except Exception as exc:  # noqa: BLE001 - the point of the test
            wrong.append(f"{name} with {junk!r:.30}: {type(exc).__name__}: {exc}"[:200])
    assert wrong == []


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda m: m.with_phrasings({"activity": "no slot"}), "has 0 '{value}' slots"),
    (lambda m: m.with_phrasings({"activity": "{valu} here"}), "spelt exactly '{value}'"),
    (lambda m: m.simulate(range(5), 0), "np.full(5, seed)"),
    (lambda m: m.simulate([0, 1], [0]), "seeds has 1 entries for 2 unit ids"),
    (lambda m: m.sample(2.5), "whole number of units"),
    (lambda m: m.do("weather"), "must be a dict"),
])
def test_named_misuse_is_refused_at_once(call: Any, fragment: str) -> None:
    """The issue's examples: refused when called, with sdscm's error naming the fix."""
    with pytest.raises(sdscm.SDSCMError, match=re.escape(fragment)):
        call(_model())
