"""CLI end to end: every command writes what it says, bad input is one message and exit code 1."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sdscm.cli.app import app

runner = CliRunner()

CATEGORICAL_MODEL = {
    "name": "categorical-toy",
    "variables": [
        {"name": "weather", "values": ["sunny", "rainy"], "phrasings": ["It is {value}."],
         "mechanism": "categorical", "probabilities": [0.6, 0.4], "exogenous": True},
        {"name": "activity", "values": ["the gym", "a run"], "parents": ["weather"],
         "phrasings": ["They go to {value}."], "mechanism": "categorical",
         "table": [{"parents": {"weather": "sunny"}, "probabilities": [0.2, 0.8]},
                   {"parents": {"weather": "rainy"}, "probabilities": [0.7, 0.3]}]},
        {"name": "time", "values": ["fast", "slow"], "parents": ["activity", "weather"],
         "phrasings": ["They finish {value}."], "mechanism": "categorical",
         "table": [{"parents": {"activity": "a run", "weather": "sunny"}, "probabilities": [0.9, 0.1]},
                   {"parents": {"activity": "a run", "weather": "rainy"}, "probabilities": [0.6, 0.4]},
                   {"parents": {}, "probabilities": [0.3, 0.7]}]},
    ],
    "benchmark": {"treatment": "activity", "control": "the gym", "treated": "a run", "outcome": "time"},
}


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(CATEGORICAL_MODEL, sort_keys=False))
    return path


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_validate_ok_and_all_problems(model_file: Path, tmp_path: Path) -> None:
    """`validate` accepts a good file (exit 0) and lists every problem of a bad one (exit 1)."""
    ok = invoke("validate", model_file)
    assert ok.exit_code == 0 and "OK" in ok.output
    bad = dict(CATEGORICAL_MODEL)
    bad["variables"] = [dict(v) for v in CATEGORICAL_MODEL["variables"]]
    bad["variables"][0]["phrasings"] = ["It is sunny."]
    bad["variables"][1]["parents"] = ["wether"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad, sort_keys=False))
    res = invoke("validate", path)
    assert res.exit_code == 1
    assert "{value}" in res.output and "wether" in res.output
    assert "Traceback" not in res.output


def test_sample_then_counterfactual_round_trip(model_file: Path, tmp_path: Path) -> None:
    """`sample` writes units; `counterfactual` reads them and adds the world; factual do reproduces units."""
    units = tmp_path / "units.parquet"
    res = invoke("sample", model_file, "-n", 300, "--seed", 3, "--out", units)
    assert res.exit_code == 0, res.output
    frame = pd.read_parquet(units)
    assert len(frame) == 300 and {"unit_id", "seed", "weather", "activity", "time", "text"} <= set(frame.columns)
    cf = tmp_path / "cf.csv"
    res = invoke("counterfactual", model_file, "--units", units, "--do", "activity=a run", "--out", cf)
    assert res.exit_code == 0, res.output
    out = pd.read_csv(cf, keep_default_na=False)
    assert (out["activity|do(activity=a run)"] == "a run").all()
    assert (out["weather|do(activity=a run)"] == frame["weather"]).all()
    runs = frame[frame["activity"] == "a run"]
    same = out.loc[runs.index, "time|do(activity=a run)"]
    assert (same == runs["time"]).all()


def test_sample_with_interventions_and_csv(model_file: Path, tmp_path: Path) -> None:
    """`--do` by label or index and `--soft` work; CSV output reads back with labels intact."""
    out = tmp_path / "do.csv"
    res = invoke("sample", model_file, "-n", 50, "--do", "activity=1", "--soft", "weather=sunny:0.5,rainy:0.5",
                 "--out", out)
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert (frame["activity"] == "a run").all()


def test_exact_prints_marginal(model_file: Path) -> None:
    """`exact --var` prints the exact marginal of the variable."""
    res = invoke("exact", model_file, "--var", "activity")
    assert res.exit_code == 0, res.output
    # P(a run) = 0.6*0.8 + 0.4*0.3 = 0.6
    assert "0.6" in res.output


def test_graph_writes_png(model_file: Path, tmp_path: Path) -> None:
    """`graph` writes a PNG file."""
    out = tmp_path / "dag.png"
    res = invoke("graph", model_file, "--out", out)
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "{model}", "-n", "5", "--do", "activty=a run", "--out", "{tmp}/x.parquet"], "did you mean 'activity'"),
        (["sample", "{model}", "-n", "5", "--do", "activity=a walk", "--out", "{tmp}/x.parquet"], "unknown value 'a walk'"),
        (["sample", "{model}", "-n", "5", "--do", "activity", "--out", "{tmp}/x.parquet"], "VAR=VALUE"),
        (["sample", "{model}", "-n", "5", "--out", "{tmp}/x.txt"], "unknown output format"),
        (["sample", "{tmp}/missing.yaml", "-n", "5", "--out", "{tmp}/x.parquet"], "missing.yaml"),
        (["counterfactual", "{model}", "--units", "{tmp}/none.parquet", "--do", "activity=a run", "--out", "{tmp}/y.parquet"], "no such file"),
        (["counterfactual", "{model}", "--units", "{tmp}/units.parquet", "--do", "activity=a run", "--noise", "odd", "--out", "{tmp}/y.parquet"], "noise must be"),
        (["exact", "{model}", "--var", "nope"], "unknown variable"),
    ],
)
def test_bad_input_is_one_clear_message(model_file: Path, tmp_path: Path, args: list[str], message: str) -> None:
    """Every bad argument exits 1 with a message naming the problem, never a traceback."""
    invoke("sample", model_file, "-n", 5, "--out", tmp_path / "units.parquet")
    res = invoke(*[a.format(model=model_file, tmp=tmp_path) for a in args])
    assert res.exit_code == 1, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x.txt").exists()


def test_cache_info_and_clear(tmp_path: Path) -> None:
    """`cache info` counts the stored scores; `cache clear` removes them."""
    from sdscm.backends.base import ScoreRequest
    from sdscm.backends.score_cache import CachedBackend

    from fake_backend import HashBackend

    CachedBackend(HashBackend(), tmp_path).score([ScoreRequest(f"c{i} ", ("a", "b")) for i in range(4)])
    res = invoke("cache", "info", "--cache", tmp_path)
    assert res.exit_code == 0 and "entries: 4" in res.output
    res = invoke("cache", "clear", "--cache", tmp_path)
    assert res.exit_code == 0 and "removed 4" in res.output


def test_sample_and_counterfactual_on_a_real_tiny_language_model(tmp_path: Path) -> None:
    """End to end with a saved tiny transformers model (`--model DIR`) and the score cache."""
    from tiny_models import save_tiny_model

    model_dir = save_tiny_model(tmp_path / "tiny", "llama")
    spec = {
        "name": "lm-toy",
        "variables": [
            {"name": "weather", "values": ["sunny", "rainy"], "phrasings": ["The day is {value}."]},
            {"name": "activity", "values": ["the gym", "a run"], "parents": ["weather"],
             "phrasings": ["They go to {value}."]},
            {"name": "time", "values": ["under 4 hours", "over 5 hours"], "parents": ["activity"],
             "phrasings": ["Their marathon time is {value}."]},
        ],
    }
    path = tmp_path / "lm.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    units, cf, cache = tmp_path / "u.parquet", tmp_path / "cf.parquet", tmp_path / "cache"
    res = invoke("sample", path, "-n", 40, "--model", model_dir, "--cache", cache, "--out", units)
    assert res.exit_code == 0, res.output
    res = invoke("counterfactual", path, "--units", units, "--do", "activity=a run", "--model", model_dir,
                 "--cache", cache, "--out", cf)
    assert res.exit_code == 0, res.output
    frame = pd.read_parquet(cf)
    assert (frame["weather|do(activity=a run)"] == frame["weather"]).all()
    assert frame["P(time=under 4 hours)|do(activity=a run)"].between(0, 1).all()
    assert "entries: " in invoke("cache", "info", "--cache", cache).output
    again = tmp_path / "u2.parquet"
    invoke("sample", path, "-n", 40, "--model", model_dir, "--cache", cache, "--out", again)
    pd.testing.assert_frame_equal(pd.read_parquet(units), pd.read_parquet(again))
