"""The demo job on a stand-in backend: writes data and DAG, and its numbers come from the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from sdscm.benchmark import read_dataset
from sdscm.cli.app import app
from sdscm.demo import packaged_breast_cancer, packaged_statin_heart, run_demo
from sdscm.spec import load_spec

from fake_backend import HashBackend

REPO = Path(__file__).resolve().parents[1]


def test_packaged_families_are_the_example_files() -> None:
    """The families shipped in the package are byte-identical to the files in examples/."""
    assert packaged_breast_cancer().read_bytes() == (REPO / "examples" / "breast_cancer.yaml").read_bytes()
    assert packaged_statin_heart().read_bytes() == (REPO / "examples" / "statin_heart.yaml").read_bytes()


def test_statin_family_meets_the_design_rules() -> None:
    """At least 10 variables, 3+ exogenous confounders of T and Y, a binary treatment, a short outcome,
    5+ phrasings per variable (the issue's design brief for a family with real effects)."""
    spec = load_spec(packaged_statin_heart())
    bench = spec.benchmark
    assert bench is not None and len(spec.variables) >= 10
    treatment, outcome = spec.variable(bench.treatment), spec.variable(bench.outcome)
    confounders = [v.name for v in spec.variables
                   if v.exogenous and v.name in treatment.parents and v.name in outcome.parents]
    assert len(confounders) >= 3
    assert len(treatment.values) == 2 and 2 <= len(outcome.values) <= 4
    assert all(len(v.split()) == 1 for v in outcome.values)
    assert min(len(v.phrasings) for v in spec.variables) >= 5


def test_demo_writes_data_and_reports_true_naive_and_adjusted_ate(tmp_path: Path) -> None:
    """SATE = mean of exact per-unit effects in the written data; naive = factual contrast; each
    estimator is fitted with and without the exogenous covariates; a health verdict comes along."""
    s = run_demo(tmp_path, n=80, seed=1, backend=HashBackend())
    frame, meta = read_dataset(s.data_path)
    assert len(frame) == 80 and s.dag_path.read_bytes()[:4] == b"\x89PNG"
    assert s.sample_ate == np.mean(frame["mu1"] - frame["mu0"])
    t = frame["t"].to_numpy().astype(bool)
    assert np.isclose(s.naive_difference, frame["y"][t].mean() - frame["y"][~t].mean())
    np.testing.assert_array_equal(frame["y"], np.where(t, frame["mu1"], frame["mu0"]))
    assert [r.name for r in s.estimates] == ["LinReg", "ForestT", "BART"]
    assert all(np.isfinite(r.ate_all) and np.isfinite(r.ate_hidden) for r in s.estimates)
    assert s.hidden_covariates == ["family history", "stress", "smoking", "salt intake"]
    # the hash backend's scores do not depend on the batch: the measured floor is exactly zero
    assert meta["numerical_floor"] == 0.0 and s.health.numerical_floor == 0.0
    assert np.isclose(s.bias, s.naive_difference - s.sample_ate)


def test_demo_runs_the_breast_cancer_family_on_request(tmp_path: Path) -> None:
    s = run_demo(tmp_path, n=30, seed=0, model_file=packaged_breast_cancer(), backend=HashBackend())
    assert s.family == "breast_cancer_example" and s.treatment == "PD-L1 level"
    assert len(read_dataset(s.data_path)[0]) == 30


def test_demo_cli_needs_a_benchmark_section(tmp_path: Path) -> None:
    """A model file without a `benchmark:` section is one clear error, before any model work."""
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nvariables:\n  - name: a\n    values: [x, y]\n    phrasings: ['A {value}.']\n"
                    "    mechanism: uniform\n")
    result = CliRunner().invoke(app, ["demo", "--model-file", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "benchmark:" in result.output and "Traceback" not in result.output


CATEGORICAL_FAMILY = """
name: categorical-demo
variables:
  - name: weather
    exogenous: true
    values: [sunny, rainy]
    phrasings: ['It is {value}.']
    mechanism: categorical
    probabilities: [0.5, 0.5]
  - name: mood
    values: [calm, tense]
    phrasings: ['They feel {value}.']
    mechanism: uniform
  - name: activity
    parents: [weather, mood]
    values: [the gym, a run]
    phrasings: ['They go to {value}.']
    mechanism: categorical
    table:
      - {parents: {weather: sunny, mood: calm}, probabilities: [0.2, 0.8]}
      - {parents: {weather: sunny, mood: tense}, probabilities: [0.3, 0.7]}
      - {parents: {}, probabilities: [0.7, 0.3]}
  - name: time
    parents: [weather, activity]
    values: [fast, slow]
    phrasings: ['They finish {value}.']
    mechanism: categorical
    table:
      - {parents: {activity: a run, weather: sunny}, probabilities: [0.9, 0.1]}
      - {parents: {activity: a run, weather: rainy}, probabilities: [0.6, 0.4]}
      - {parents: {activity: the gym, weather: sunny}, probabilities: [0.5, 0.5]}
      - {parents: {}, probabilities: [0.2, 0.8]}
benchmark: {treatment: activity, control: the gym, treated: a run, outcome: time}
"""


def test_demo_cli_prints_true_naive_and_adjusted_estimates_with_the_verdict(tmp_path: Path) -> None:
    """`sdscm demo --model-file` on a family that needs no language model: the whole table, the
    hidden U named, the verdict, and the data written; numbers are never cut at 80 columns."""
    path = tmp_path / "family.yaml"
    path.write_text(CATEGORICAL_FAMILY)
    result = CliRunner().invoke(app, ["demo", "--model-file", str(path), "-n", "400", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    for text in ("true sample ATE (exact)", "naive difference in means", "regression adjustment (OLS)",
                 "U hidden", "U (hidden in the last columns): weather", "benchmark health: ok"):
        assert text in result.output, text
    frame, _ = read_dataset(tmp_path / "o" / "units.parquet")
    sate = float(np.mean(frame["mu1"] - frame["mu0"]))
    assert f"{sate:+.4f}" in result.output  # the printed SATE is the data's, to four decimals
