"""Misuse on the command line (issue 15, points 4 and 5): one clear `error:` line and exit code 1,
raised before any model work, never a traceback or a silently wrong result."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sdscm.cli.app import app
from test_audit_models import planted_dict
from test_benchmark_cli import MODEL as FAMILY
from test_cli import CATEGORICAL_MODEL

runner = CliRunner()
HUGE_SEED = "99999999999999999999999"


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_error(res, *fragments: str) -> str:
    """The command failed with exit code 1 and one `error:` message holding every fragment."""
    assert res.exit_code == 1, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    assert res.output.count("error:") == 1, res.output
    text = " ".join(res.output.split())
    for fragment in fragments:
        assert fragment in text, (fragment, res.output)
    return text


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A categorical model, a family, an LM model whose model cannot load, a plain file, garbage Parquet."""
    out = {"model": tmp_path / "model.yaml", "family": tmp_path / "family.yaml",
           "lm": tmp_path / "lm.yaml", "afile": tmp_path / "afile", "garbage": tmp_path / "garbage.parquet",
           "planted": tmp_path / "planted.yaml"}
    out["model"].write_text(yaml.safe_dump(CATEGORICAL_MODEL, sort_keys=False))
    out["family"].write_text(yaml.safe_dump(FAMILY, sort_keys=False))
    out["planted"].write_text(yaml.safe_dump(planted_dict(), sort_keys=False))
    lm = {**FAMILY, "model": {"name": str(tmp_path / "no-such-model")},
          "variables": [{**v, "mechanism": "lm", "probabilities": None, "table": None}
                        for v in FAMILY["variables"]]}
    out["lm"].write_text(yaml.safe_dump(lm, sort_keys=False))
    out["afile"].write_text("I am a file\n")
    out["garbage"].write_bytes(b"this is not parquet\n" * 10)
    return out


def _cases():
    # (arguments with {placeholders}, fragments of the one error line); the `lm` model would fail
    # with "no such model" if anything tried to load it, so the expected message proves the order.
    return [
        (["sample", "{lm}", "-n", "5", "--seed", HUGE_SEED, "--out", "{tmp}/o.parquet"],
         ["--seed " + HUGE_SEED, "from 0 to 2**63-1"]),
        (["sample", "{lm}", "-n", "5", "--seed", "-1", "--out", "{tmp}/o.parquet"], ["--seed -1"]),
        (["sample", "{lm}", "-n", "100000000000", "--out", "{tmp}/o.parquet"],
         ["-n 100000000000", "10,000,000", "split the work"]),
        (["sample", "{lm}", "-n", "5", "--out", "{afile}/o.parquet"], ["afile is a file, not a folder"]),
        (["sample", "{lm}", "-n", "5", "--out", "{tmp}/o.txt"], ["unknown output format '.txt'"]),
        (["sample", "{lm}", "-n", "5", "--out", "{tmp}"], ["is a folder; give a file name"]),
        (["counterfactual", "{lm}", "--units", "{garbage}", "--do", "activity=a run", "--out", "{tmp}/c.parquet"],
         ["garbage.parquet: cannot be read as Parquet"]),
        (["counterfactual", "{lm}", "--units", "{garbage}", "--do", "activity=a run", "--seed", HUGE_SEED,
          "--out", "{tmp}/c.parquet"], ["--seed " + HUGE_SEED]),
        (["counterfactual", "{lm}", "--units", "{garbage}", "--do", "activity=a run", "--out", "{afile}/c.csv"],
         ["afile is a file"]),
        (["exact", "{lm}", "--out", "{afile}/t.csv"], ["afile is a file"]),
        (["graph", "{lm}", "--out", "{tmp}/dag.gif"], ["unknown output format '.gif'"]),
        (["benchmark", "generate", "{lm}", "--seed", HUGE_SEED, "--out", "{tmp}/bench"], ["--seed " + HUGE_SEED]),
        (["benchmark", "generate", "{lm}", "-n", "100000000000", "--out", "{tmp}/bench"],
         ["more than 10,000,000 units", "--datasets-per-variant"]),
        (["benchmark", "generate", "{lm}", "--out", "{afile}/bench"], ["afile is a file"]),
        (["benchmark", "generate", "{lm}", "--out", "{afile}"], ["is a file; give a folder"]),
        (["benchmark", "evaluate", "{garbage}", "--out", "{tmp}/r.parquet"],
         ["garbage.parquet: cannot be read as a Parquet dataset"]),
        (["benchmark", "evaluate", "{tmp}", "--out", "{tmp}/r.csv"], ["unknown output format '.csv'"]),
        (["benchmark", "report", "{garbage}", "--out", "{tmp}/rep"],
         ["garbage.parquet: cannot be read as an evaluation results Parquet file"]),
        (["benchmark", "describe", "{tmp}", "--out", "{afile}"], ["is a file; give a folder"]),
        (["demo", "--model-file", "{lm}", "--seed", HUGE_SEED, "--out", "{tmp}/demo"], ["--seed " + HUGE_SEED]),
        (["demo", "--model-file", "{lm}", "-n", "100000000000", "--out", "{tmp}/demo"], ["10,000,000"]),
        (["demo", "--model-file", "{lm}", "--out", "{afile}/demo"], ["afile is a file"]),
        (["audit", "{lm}", "--cause", "activity", "--outcome", "time", "--seed", HUGE_SEED, "--out", "{tmp}/a"],
         ["--seed " + HUGE_SEED]),
        (["audit", "{lm}", "--cause", "activity", "--outcome", "time", "--out", "{afile}/a"], ["afile is a file"]),
        (["audit", "{lm}", "--cause", "activity", "--outcome", "time", "--n-boot", "0", "--out", "{tmp}/a"],
         ["n_boot (--n-boot) must be an integer from 10", "got 0"]),
        (["audit", "{lm}", "--cause", "activity", "--outcome", "time", "--n-perm", "-5", "--out", "{tmp}/a"],
         ["n_perm (--n-perm)"]),
        (["audit", "{lm}", "--cause", "activity", "--outcome", "time", "--variants", "100000000000",
          "--out", "{tmp}/a"], ["more than 10,000 phrasing draws"]),
        (["benchmark", "generate", "{lm}", "--variants", "100000000000", "--out", "{tmp}/bench"],
         ["100,000,000,000 datasets, more than 100,000 in one folder"]),
        # every bad estimator name in one message, before the (unreadable) source is read
        (["benchmark", "evaluate", "{garbage}", "--out", "{tmp}/r.parquet", "--estimators", "Nope1,Nope2"],
         ["unknown estimators 'Nope1', 'Nope2'", "--list"]),
        (["benchmark", "evaluate", "{garbage}"], ["needs --out FILE", "only --list"]),
        (["benchmark", "evaluate", "--out", "{tmp}/r.parquet"], ["needs a SOURCE folder"]),
        (["benchmark", "evaluate", "{tmp}/missing", "--out", "{tmp}/r.parquet"], ["missing: no such folder"]),
        (["benchmark", "evaluate", "{garbage}", "--out", "{tmp}/r.parquet", "--jobs", "-2"], ["--jobs must be"]),
        (["counterfactual", "{lm}", "--units", "{garbage}", "--do", "activity=a run", "--noise", "foo",
          "--out", "{tmp}/c.parquet"], ["--noise must be one of shared, fresh"]),
        (["exact", "{lm}", "--var", "zz"], ["unknown variable(s) ['zz']"]),
        (["sample", "{lm}", "-n", "2", "--cache", "{afile}", "--out", "{tmp}/o.parquet"],
         ["is a file; give a folder for the score cache"]),
        (["cache", "info", "--cache", "{afile}"], ["is a file; give a folder for the score cache"]),
        (["cache", "clear", "--cache", "{afile}"], ["is a file; give a folder for the score cache"]),
        (["sample", "{lm}", "-n", "2", "--variant", "-1", "--out", "{tmp}/o.parquet"], ["variant must be"]),
        (["demo", "--model-file", "{lm}", "--variant", "-3", "--out", "{tmp}/demo"], ["--variant must be 0 or more"]),
    ]


@pytest.mark.parametrize("args, fragments", _cases(), ids=lambda x: " ".join(x)[:60] if isinstance(x, list) and
                         x and x[0] in ("sample", "counterfactual", "exact", "graph", "benchmark", "demo", "audit")
                         else None)
def test_misuse_is_one_error_before_any_model_work(files: dict[str, Path], tmp_path: Path, args: list[str],
                                                    fragments: list[str]) -> None:
    """Every case of issue 15 point 4 is one error naming the argument or file, before the model loads."""
    names = {k: str(v) for k, v in files.items()}
    res = invoke(*[a.format(tmp=tmp_path, **names) for a in args])
    text = one_error(res, *fragments)
    assert "no-such-model" not in text  # nothing tried to load the language model
    assert not (tmp_path / "o.txt").exists() and not (tmp_path / "bench").exists()


def test_report_on_a_units_file_names_the_missing_columns(files: dict[str, Path], tmp_path: Path) -> None:
    """`benchmark report units.parquet`: not a results file, and the message names the missing columns."""
    units = tmp_path / "units.parquet"
    assert invoke("sample", files["model"], "-n", 5, "--out", units).exit_code == 0
    one_error(invoke("benchmark", "report", units, "--out", tmp_path / "rep"),
              "not an evaluation results file", "missing columns ['dataset', 'setting', 'estimator', 'config']")


def test_repeated_and_conflicting_interventions_are_refused(files: dict[str, Path], tmp_path: Path) -> None:
    """Two --do on one variable, or --do and --soft on one variable, are refused (not last/soft wins)."""
    out = tmp_path / "x.parquet"
    one_error(invoke("sample", files["model"], "-n", 5, "--do", "activity=a run", "--do", "activity=the gym",
                     "--out", out), "--do activity=the gym", "already set by --do activity=a run")
    one_error(invoke("sample", files["model"], "-n", 5, "--do", "weather=sunny", "--soft", "weather=uniform",
                     "--out", out), "--soft weather=uniform", "already set by --do weather=sunny")
    one_error(invoke("exact", files["model"], "--soft", "weather=uniform", "--soft", "weather=sunny:1,rainy:0"),
              "already set by --soft weather=uniform")
    assert not out.exists()


def test_units_of_another_model_are_refused(files: dict[str, Path], tmp_path: Path) -> None:
    """Units record their model; counterfactuals of another model's units are refused, not mixed."""
    units = tmp_path / "units.parquet"
    assert invoke("sample", files["model"], "-n", 20, "--out", units).exit_code == 0
    other = dict(CATEGORICAL_MODEL, name="other")
    other["variables"] = [dict(v) for v in CATEGORICAL_MODEL["variables"]]
    other["variables"][0]["probabilities"] = [0.5, 0.5]  # same names and values, another model
    other_path = tmp_path / "other.yaml"
    other_path.write_text(yaml.safe_dump(other, sort_keys=False))
    out = tmp_path / "cf.parquet"
    one_error(invoke("counterfactual", other_path, "--units", units, "--do", "activity=a run", "--out", out),
              "were sampled from model 'categorical-toy'", "differ from those of 'other'")
    assert not out.exists()
    ok = invoke("counterfactual", files["model"], "--units", units, "--do", "activity=a run", "--out", out)
    assert ok.exit_code == 0, ok.output


def test_units_without_metadata_must_have_the_model_columns(files: dict[str, Path], tmp_path: Path) -> None:
    """Observed units (no metadata) are accepted with exactly the model's variables; others are named."""
    units = tmp_path / "units.parquet"
    assert invoke("sample", files["model"], "-n", 20, "--out", units).exit_code == 0
    frame = pd.read_parquet(units)
    plain = tmp_path / "observed.csv"
    frame[["weather", "activity", "time"]].to_csv(plain, index=False)
    out = tmp_path / "cf.csv"
    res = invoke("counterfactual", files["model"], "--units", plain, "--do", "activity=a run", "--out", out)
    assert res.exit_code == 0, res.output
    sampled_csv = tmp_path / "sampled.csv"  # a sample written as CSV keeps every result column
    assert invoke("sample", files["model"], "-n", 5, "--out", sampled_csv).exit_code == 0
    res = invoke("counterfactual", files["model"], "--units", sampled_csv, "--do", "activity=a run", "--out", out)
    assert res.exit_code == 0, res.output
    bad = tmp_path / "bad.csv"
    frame[["weather", "activity"]].assign(mood="calm").to_csv(bad, index=False)
    one_error(invoke("counterfactual", files["model"], "--units", bad, "--do", "activity=a run", "--out", out),
              "no column for variable(s) ['time']", "column(s) ['mood'] that are not variables of 'categorical-toy'")


def test_sampled_units_are_not_benchmark_datasets(files: dict[str, Path], tmp_path: Path) -> None:
    """Units keep their metadata under their own key: `benchmark describe` on them is one error
    (found by the property test: it raised KeyError when both used the same key)."""
    units = tmp_path / "units.parquet"
    assert invoke("sample", files["model"], "-n", 5, "--out", units).exit_code == 0
    one_error(invoke("benchmark", "describe", units, "--out", tmp_path / "d"),
              "has no sdscm metadata", "not written by `sdscm benchmark generate`")


def test_evaluate_list_needs_no_folder_nor_out() -> None:
    """`benchmark evaluate --list` prints the preset's estimators without a folder or --out."""
    res = invoke("benchmark", "evaluate", "--list")
    assert res.exit_code == 0, res.output
    assert len(res.output.strip().splitlines()) >= 5
    res = invoke("benchmark", "evaluate", "--list", "--estimators", "Nope")
    one_error(res, "unknown estimator 'Nope'")
