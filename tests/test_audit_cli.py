"""`sdscm audit` on the command line: outputs, argument checking, the not-upstream case."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sdscm.audit.report import FILES
from sdscm.cli.app import app
from sdscm.cli.audit import parse_variants, split_values
from sdscm.errors import QueryError

from test_audit_models import planted_dict, write_yaml

FAST = ["--n-boot", "100", "--n-perm", "200"]


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    return write_yaml(planted_dict(), tmp_path / "planted.yaml")


def run(*args: str):
    return CliRunner().invoke(app, ["audit", *args])


def test_cli_writes_every_output(model_file: Path, tmp_path: Path) -> None:
    """A run writes results.json (with the headline fields and the inputs), units.parquet, report.md,
    report.html and both figures, and prints the verdict; a scoring override is recorded for reproduction."""
    out = tmp_path / "out"
    res = run(str(model_file), "--cause", "race", "--values", "white,black", "--outcome", "pain",
              "--outcome-value", "opioid", "--outcome-value", "nsaid", "--variants", "2", "-n", "40",
              "--margin", "0.05", "--length-normalize", "--no-cache", "--out", str(out), *FAST)
    assert res.exit_code == 0, res.output
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert data["outcome_value"] == "opioid" and data["effect"] < 0
    assert set(data["adjusted"]["p_value"]["holm"]) == {"opioid", "nsaid"}
    assert data["equivalence"]["margin"] == 0.05
    assert data["inputs"]["model_file"] == str(model_file)
    units = pd.read_parquet(out / "units.parquet")
    assert len(units) == 2 * 40 * 2 and {"effect", "placebo_change", "flip", "placebo_flip"} <= set(units.columns)
    assert "lowers P(pain = opioid)" in res.output
    assert data["inputs"]["spec"]["model"]["length_normalize"] is True  # the override is recorded
    md = (out / "report.md").read_text()
    assert "forest.png" in md and "## pain = nsaid" in md and "--length-normalize" in md


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cause", "rac", "--values", "white,black", "--outcome", "pain"], "unknown variable 'rac'"),
        (["--cause", "race", "--values", "white,black", "--outcome", "pian"], "unknown variable 'pian'"),
        (["--cause", "race", "--values", "white,purple", "--outcome", "pain"], "'purple' is not a value of 'race'"),
        (["--cause", "race", "--values", "white", "--outcome", "pain"], "two values"),
        (["--cause", "race", "--values", "white,black", "--outcome", "pain", "--outcome-value", "aspirin"],
         "'aspirin' is not a value of 'pain'"),
        (["--cause", "race", "--values", "white,black", "--outcome", "pain", "--variants", "zero"], "--variants"),
        (["--cause", "race", "--values", "white,black", "--outcome", "pain", "-n", "1"], "at least 2"),
    ],
)
def test_cli_rejects_bad_arguments(model_file: Path, tmp_path: Path, args: list[str], message: str) -> None:
    """Bad arguments: exit code 1, one clear message naming the problem, no traceback, no outputs."""
    out = tmp_path / "bad"
    res = run(str(model_file), *args, "--out", str(out))
    assert res.exit_code == 1
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert not out.exists()


def test_cli_missing_model_file(tmp_path: Path) -> None:
    """A model file that does not exist: exit code 1 and a message, no traceback."""
    res = run(str(tmp_path / "nope.yaml"), "--cause", "a", "--outcome", "b", "--out", str(tmp_path / "o"))
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_cli_cause_not_upstream_is_reported_not_crashed(model_file: Path, tmp_path: Path) -> None:
    """A cause with no directed path to the outcome: exit 0, a note saying it is not upstream, exact zeros."""
    out = tmp_path / "nu"
    res = run(str(model_file), "--cause", "clinic", "--values", "north,south", "--outcome", "pain",
              "--variants", "2", "-n", "20", "--out", str(out), *FAST)
    assert res.exit_code == 0, res.output
    assert "not upstream of the outcome 'pain'" in " ".join(res.output.split())
    data = json.loads((out / "results.json").read_text())
    assert data["upstream"] is False and data["effect"] == 0.0 and data["p_value"] == 1.0


def test_value_and_variant_parsing() -> None:
    """--values splits at the comma where both sides are values (labels may hold commas, or use indices);
    --variants takes a count, a list or 'first'."""
    domain = ["low, stable", "high"]
    assert split_values("low, stable,high", domain, "x") == ("low, stable", "high")
    assert split_values("0,1", domain, "x") == ("0", "1")
    with pytest.raises(QueryError):
        split_values("a,b,c", domain, "x")
    assert parse_variants("3") == 3 and parse_variants("0,4") == [0, 4] and parse_variants("first") is None
    with pytest.raises(QueryError):
        parse_variants("0")
