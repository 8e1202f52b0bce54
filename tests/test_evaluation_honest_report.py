"""Reports that say what they rest on: per-cell dataset counts, a warning for unequal cells (or
--common), counted failed and non-finite fits, bootstrap intervals, filters; and the
reproduce-paper command on CSVs in the released layout."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sdscm.cli.app import app
from sdscm.errors import SDSCMError
from sdscm.evaluation.metrics import ate_r2, bootstrap_interval
from sdscm.evaluation.paper import TABLE1_ESTIMATORS, published_table
from sdscm.evaluation.report import ate_table, common_datasets, filter_results, write_report
from reference_layout import released_folder

cli = CliRunner()


def _rows(n: int = 8, seed: int = 0) -> pd.DataFrame:
    """Synthetic results: two estimators x n datasets in one group and view; B misses two datasets
    (one failed fit, one NaN ATE)."""
    rng = np.random.default_rng(seed)
    sate = rng.normal(0, 1, n)
    rows = []
    for k in range(n):
        rows.append({"dataset": f"d_{k}", "setting": "all", "group": "g", "estimator": "A", "config": "a",
                     "status": "ok", "sate": sate[k], "ate": sate[k] + rng.normal(0, 0.3), "error": ""})
        status, ate = "ok", sate[k] + rng.normal(0, 0.1)
        if k == 0:
            status, ate = "error", math.nan
        if k == 1:
            ate = math.nan
        rows.append({"dataset": f"d_{k}", "setting": "all", "group": "g", "estimator": "B", "config": "b",
                     "status": status, "sate": sate[k], "ate": ate, "error": "boom" if k == 0 else ""})
    return pd.DataFrame(rows)


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    sate = rng.normal(size=50)
    est = sate + rng.normal(scale=0.5, size=50)
    lo, hi = bootstrap_interval(sate, est, "r2")
    assert lo < ate_r2(sate, est) < hi and (lo, hi) == bootstrap_interval(sate, est, "r2")
    rlo, rhi = bootstrap_interval(sate, est, "rmse")
    assert rlo < float(np.sqrt(np.mean((est - sate) ** 2))) < rhi
    assert all(math.isnan(v) for v in bootstrap_interval(sate[:2], est[:2]))


def test_ate_table_counts_failed_and_nonfinite_fits() -> None:
    table = ate_table(_rows()).set_index("estimator")
    assert table.loc["B", ["datasets", "failed", "nonfinite", "used"]].tolist() == [8, 1, 1, 6]
    assert table.loc["A", "used"] == 8
    assert table.loc["A", "ate_r2_lo"] < table.loc["A", "ate_r2"] < table.loc["A", "ate_r2_hi"]


def test_report_warns_about_unequal_cells_and_common_removes_it(tmp_path: Path) -> None:
    """Cells of 8 and 6 datasets: the report says so at the top; --common scores both estimators
    on the 6 datasets both finished."""
    md = Path(write_report(_rows(), tmp_path / "r", figures=False)["report_md"]).read_text()
    head = md.split("## ATE")[0]
    assert "different numbers of datasets (6 to 8)" in head and "1 failed" in head
    assert "6 (1 failed, 1 non-finite)" in md
    common = common_datasets(_rows())
    assert sorted(set(common["dataset"])) == [f"d_{k}" for k in range(2, 8)]
    md2 = Path(write_report(_rows(), tmp_path / "c", figures=False, common=True)["report_md"]).read_text()
    assert "different numbers" not in md2 and "6 of 8 dataset-settings" in md2


def test_filters_choose_sources_estimators_and_datasets() -> None:
    rows = pd.concat([_rows(), _rows(seed=1).assign(group="h")])
    got = filter_results(rows, groups=["h"], estimators=["A"], datasets="0:3")
    assert set(got["group"]) == {"h"} and set(got["estimator"]) == {"A"}
    assert sorted(got["dataset"]) == ["d_0", "d_1", "d_2"]
    with pytest.raises(SDSCMError, match="nope"):
        filter_results(rows, estimators=["nope"])
    with pytest.raises(SDSCMError, match="--datasets"):
        filter_results(rows, datasets="x_*")


def test_published_table_has_table1_rows() -> None:
    pub = published_table()
    assert len(pub) == 2 * 2 * len(TABLE1_ESTIMATORS)
    assert set(pub["estimator"]) == set(TABLE1_ESTIMATORS)
    row = pub[(pub["model"] == "gpt2") & (pub["setting"] == "all") & (pub["estimator"] == "BART")].iloc[0]
    assert row["ate_r2"] == "0.9999" and row["ate_rmse"] == pytest.approx(0.0003)


def test_reproduce_paper_runs_subsets_prints_published_values_and_resumes(tmp_path: Path) -> None:
    """On a folder laid out as the release (gpt2/, llama-3-8b/), the command runs both settings of
    each model on the chosen subset, prints our numbers beside the published ones, and a rerun
    finds every fit done."""
    root = released_folder(tmp_path / "release", per_model=5, n=60)
    out = tmp_path / "work"
    args = ["benchmark", "reproduce-paper", str(root), "--out", str(out), "--datasets", "0:4",
            "--estimators", "T-only OLS,LinReg", "--jobs", "0"]
    run = cli.invoke(app, args)
    assert run.exit_code == 0, run.output
    table = pd.read_csv(out / "table1.csv")
    assert len(table) == 2 * 2 * 2 and (table["datasets"] == 4).all()
    gpt2 = table[(table["model"] == "gpt2") & (table["setting"] == "all") & (table["estimator"] == "LinReg")].iloc[0]
    assert str(gpt2["published_ate_r2"]) == "0.9146"
    assert "0.9146" in run.output and "| gpt2 | all | LinReg | 4 |" in run.output
    before = pd.read_parquet(out / "results.parquet")
    assert len(before) == 2 * 4 * 2 * 2 and before["cpu_seconds"].notna().all()
    rerun = cli.invoke(app, args)
    assert rerun.exit_code == 0, rerun.output
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), before)


def test_evaluate_takes_several_labelled_sources_and_report_filters_them(tmp_path: Path) -> None:
    root = released_folder(tmp_path / "release", per_model=3, n=60)
    res = tmp_path / "r.parquet"
    run = cli.invoke(app, ["benchmark", "evaluate", f"small={root / 'gpt2'}", f"large={root / 'llama-3-8b'}",
                           "--estimators", "LinReg", "--view", "all", "--max-datasets", "2", "--jobs", "0",
                           "--out", str(res)])
    assert run.exit_code == 0, run.output
    frame = pd.read_parquet(res)
    assert sorted(set(frame["group"])) == ["large", "small"] and len(frame) == 4
    rep = cli.invoke(app, ["benchmark", "report", str(res), "--out", str(tmp_path / "rep"), "--no-figures",
                           "--source", "large"])
    assert rep.exit_code == 0, rep.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## ATE — large" in md and "small" not in md.split("## ATE")[1] and "Filtered (--source large)" in md


def test_cli_scores_held_out_units_and_refuses_a_bad_fraction(tmp_path: Path) -> None:
    """--test-fraction gives held-out rows (a quarter of the units, per arm); a fraction outside
    (0, 1) is a clear error naming the option."""
    root = released_folder(tmp_path / "release", per_model=2, n=60)
    res = tmp_path / "r.parquet"
    run = cli.invoke(app, ["benchmark", "evaluate", str(root / "gpt2"), "--estimators", "LinReg", "--view", "all",
                           "--jobs", "0", "--test-fraction", "0.25", "--out", str(res)])
    assert run.exit_code == 0, run.output
    frame = pd.read_parquet(res)
    assert set(frame["scope"]) == {"held-out 25%"} and frame["n_scored"].between(14, 16).all()
    bad = cli.invoke(app, ["benchmark", "evaluate", str(root / "gpt2"), "--estimators", "LinReg", "--jobs", "0",
                           "--test-fraction", "1.5", "--out", str(tmp_path / "b.parquet")])
    assert bad.exit_code != 0 and "--test-fraction" in bad.output
