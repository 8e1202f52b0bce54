"""`sdscm benchmark generate/describe` end to end on a model whose mechanisms need no language model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from sdscm.benchmark import load
from sdscm.cli.app import app

runner = CliRunner()

MODEL = {
    "name": "categorical-family",
    "variables": [
        {"name": "weather", "values": ["sunny", "rainy"], "phrasings": ["It is {value}.", "The day is {value}."],
         "mechanism": "categorical", "probabilities": [0.6, 0.4], "exogenous": True},
        {"name": "mood", "values": ["calm", "tense"], "phrasings": ["They feel {value}."],
         "mechanism": "uniform"},
        {"name": "activity", "values": ["the gym", "a run"], "parents": ["weather", "mood"],
         "phrasings": ["They go to {value}.", "They chose {value}."], "mechanism": "categorical",
         "table": [{"parents": {"weather": "sunny", "mood": "calm"}, "probabilities": [0.2, 0.8]},
                   {"parents": {}, "probabilities": [0.7, 0.3]}]},
        {"name": "time", "values": ["fast", "slow"], "parents": ["activity", "weather"],
         "phrasings": ["They finish {value}."], "mechanism": "categorical",
         "table": [{"parents": {"activity": "a run", "weather": "sunny"}, "probabilities": [0.9, 0.1]},
                   {"parents": {"activity": "a run", "weather": "rainy"}, "probabilities": [0.6, 0.4]},
                   {"parents": {}, "probabilities": [0.3, 0.7]}]},
    ],
    "benchmark": {"treatment": "activity", "control": "the gym", "treated": "a run", "outcome": "time"},
}


@pytest.fixture
def family(tmp_path: Path) -> Path:
    path = tmp_path / "family.yaml"
    path.write_text(yaml.safe_dump(MODEL, sort_keys=False))
    return path


def test_generate_resume_and_describe(family: Path, tmp_path: Path) -> None:
    """generate writes datasets with the known effects, a re-run skips them, describe writes PNGs + summary."""
    out = tmp_path / "bench"
    args = ["benchmark", "generate", str(family), "--variants", "2", "--datasets-per-variant", "2",
            "-n", "400", "--seed", "7", "--out", str(out), "--format", "reference"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "4 dataset(s) generated, 0 already present" in first.output
    datasets = load(out)
    assert len(datasets) == 4 and len(list((out / "reference").glob("*.csv"))) == 4
    for ds in datasets:
        sunny = ds.frame["weather"].to_numpy() == "sunny"
        # P(fast | run, weather) - P(fast | gym) = 0.9 - 0.3 (sunny) or 0.6 - 0.3 (rainy), exactly
        assert np.allclose(ds.ite, np.where(sunny, 0.6, 0.3))
        assert np.allclose(ds.e, np.where(sunny & (ds.frame["mood"] == "calm").to_numpy(), 0.8, 0.3))
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "0 dataset(s) generated, 4 already present" in second.output
    described = runner.invoke(app, ["benchmark", "describe", str(out), "--out", str(tmp_path / "desc")])
    assert described.exit_code == 0, described.output
    for name in ("sate_vs_naive.png", "propensity_overlap.png", "ite_histograms.png",
                 "outcome_distributions.png"):
        assert (tmp_path / "desc" / name).read_bytes()[:4] == b"\x89PNG"
    summary = (tmp_path / "desc" / "summary.md").read_text()
    assert "variant001_dataset0001" in summary and "true SATE" in summary


@pytest.mark.parametrize("extra, message", [
    (["-n", "0"], "n must be at least 1"),
    (["--treatment", "colour"], "unknown treatment variable 'colour'"),
    (["--quantity", "log_score"], "needs an outcome scored by the language model"),
    (["--format", "excel"], "format must be among"),
])
def test_bad_arguments_exit_1_with_one_message(family: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    """Bad arguments print one error line (no traceback) and exit with code 1."""
    result = runner.invoke(app, ["benchmark", "generate", str(family), "--out", str(tmp_path / "o"), *extra])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_non_matching_output_folder(family: Path, tmp_path: Path) -> None:
    """Re-using --out with other arguments is refused with a hint to pick a new --out."""
    out = str(tmp_path / "o")
    assert runner.invoke(app, ["benchmark", "generate", str(family), "-n", "5", "--out", out]).exit_code == 0
    result = runner.invoke(app, ["benchmark", "generate", str(family), "-n", "6", "--out", out])
    assert result.exit_code == 1 and "new --out" in " ".join(result.output.split())
