"""Report tables and figures from evaluation results, and the `benchmark evaluate/report` CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score
from typer.testing import CliRunner

from sdscm.cli.app import app
from sdscm.estimators import EstimatorConfig
from sdscm.evaluation import ate_table, cate_table, evaluate, write_report
from test_estimators_data import confounded_dataset, confounded_spec

cli = CliRunner()


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    data = []
    for group in ("lm-a", "lm-b"):
        for s in range(3):
            for view in ("all", "hidden"):
                ds = confounded_dataset(120, seed=10 * s + (group == "lm-b"), view=view, name=f"{group}-{s}")
                ds.metadata = {"group": group}
                data.append(ds)
    configs = [EstimatorConfig("T-only OLS"), EstimatorConfig("LinReg"),
               EstimatorConfig("CausalForest", {"n_estimators": 8}),
               EstimatorConfig("Conformal", {"quantile_params": {"n_estimators": 5},
                                             "propensity_params": {"n_estimators": 20}}),
               EstimatorConfig("ForestT", {"n_estimators": -1}, label="Broken")]  # fails: invalid parameter
    return evaluate(data, configs, jobs=0, progress=False)


def test_ate_table_uses_sate_as_y_true_per_group_and_setting(results) -> None:
    """ATE R^2 and RMSE are computed across the datasets of one group and setting, with the
    SATE as y_true; failed fits are counted, not scored."""
    table = ate_table(results)
    assert len(table) == 2 * 2 * 5
    sub = results[(results["group"] == "lm-a") & (results["setting"] == "hidden") & (results["estimator"] == "LinReg")]
    row = table[(table["group"] == "lm-a") & (table["setting"] == "hidden") & (table["estimator"] == "LinReg")].iloc[0]
    assert row["ate_r2"] == pytest.approx(r2_score(y_true=sub["sate"], y_pred=sub["ate"]))
    assert row["ate_rmse"] == pytest.approx(np.sqrt(np.mean((sub["ate"] - sub["sate"]) ** 2)))
    broken = table[table["estimator"] == "Broken"]
    assert (broken["failed"] == 3).all() and broken["ate_r2"].isna().all()
    conformal = table[table["estimator"] == "Conformal"]
    assert conformal["ate_rmse"].isna().all()  # no ATE from an interval-only method


def test_cate_table_summaries(results) -> None:
    """Mean CATE R^2 is the mean of per-dataset values; paper_cate_r2 is reported apart;
    interval coverage appears only for estimators that give intervals."""
    table = cate_table(results)
    sub = results[(results["group"] == "lm-b") & (results["setting"] == "all") & (results["estimator"] == "CausalForest")]
    row = table[(table["group"] == "lm-b") & (table["setting"] == "all") & (table["estimator"] == "CausalForest")].iloc[0]
    assert row["mean_cate_r2"] == pytest.approx(sub["cate_r2"].mean())
    assert row["median_std_pehe"] == pytest.approx(sub["std_pehe"].median())
    assert 0 <= row["cate_interval_coverage"] <= 1 and math.isnan(row["ite_interval_coverage"])
    conf = table[table["estimator"] == "Conformal"].iloc[0]
    assert 0 <= conf["ite_interval_coverage"] <= 1 and math.isnan(conf["mean_cate_r2"])
    assert "paper_cate_r2_table2_only" in table.columns


def test_write_report_files(results, tmp_path) -> None:
    """The report folder holds markdown, CSV tables and three PNG figures; the markdown labels
    paper_cate_r2 as a Table-2 comparison and lists the failures with their error."""
    paths = write_report(results, tmp_path / "rep")
    for name in ("ate_csv", "cate_csv", "failures_csv", "report_md", "ate_scatter", "cate_r2", "coverage_width"):
        assert paths[name].exists() and paths[name].stat().st_size > 0
    assert paths["ate_scatter"].read_bytes()[:4] == b"\x89PNG"
    md = paths["report_md"].read_text()
    assert "## ATE — lm-a" in md and "## ATE — lm-b" in md
    assert "paper's Table 2 only" in md
    assert "Broken" in md.split("## Failures")[1]
    assert len(pd.read_csv(paths["ate_csv"])) == 20


def test_cli_evaluate_and_report_on_a_generated_benchmark(tmp_path) -> None:
    """`benchmark evaluate` reads a generated folder (both settings) and, detected, its
    reference-layout CSVs; a rerun resumes with nothing to do; `report` writes the tables."""
    from sdscm.benchmark import generate

    bench = tmp_path / "bench"
    generate(confounded_spec(), bench, variants=2, datasets_per_variant=2, n=150, formats=("parquet", "reference"))
    out = tmp_path / "res.parquet"
    args = ["benchmark", "evaluate", str(bench), "--estimators", "T-only OLS,LinReg", "--setting", "both",
            "--jobs", "0", "--out", str(out)]
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    res = pd.read_parquet(out)
    assert len(res) == 4 * 2 * 2 and set(res["setting"]) == {"all", "hidden"}
    assert set(res["group"]) == {"bench"} and (res["status"] == "ok").all()
    assert (res[res["setting"] == "hidden"]["p"] == 1).all() and (res[res["setting"] == "all"]["p"] == 2).all()
    again = cli.invoke(app, args)
    assert again.exit_code == 0 and "16 fit(s) ok" in again.output
    ref_out = tmp_path / "ref.parquet"
    ref = cli.invoke(app, ["benchmark", "evaluate", str(bench / "reference"), "--estimators", "LinReg",
                           "--setting", "all", "--jobs", "0", "--out", str(ref_out)])
    assert ref.exit_code == 0, ref.output
    ref_res = pd.read_parquet(ref_out)
    gen_all = res[(res["setting"] == "all") & (res["estimator"] == "LinReg")]
    # The reference CSVs hold a log-score outcome, so only the datasets and arms must match.
    assert sorted(ref_res["dataset"]) == sorted(gen_all["dataset"])
    np.testing.assert_allclose(sorted(ref_res["treated_share"]), sorted(gen_all["treated_share"]))
    rep = cli.invoke(app, ["benchmark", "report", str(out), "--out", str(tmp_path / "rep"), "--no-figures"])
    assert rep.exit_code == 0, rep.output
    assert (tmp_path / "rep" / "report.md").exists() and not (tmp_path / "rep" / "figures" / "ate_scatter.png").exists()


def test_cli_bad_input_is_one_clear_message(tmp_path) -> None:
    """Unknown estimators, settings or missing inputs exit 1 with a message, no traceback."""
    bad = cli.invoke(app, ["benchmark", "evaluate", str(tmp_path), "--estimators", "Nope", "--out",
                           str(tmp_path / "r.parquet")])
    assert bad.exit_code == 1 and "unknown estimator 'Nope'" in bad.output and "Traceback" not in bad.output
    bad = cli.invoke(app, ["benchmark", "evaluate", str(tmp_path / "missing"), "--out", str(tmp_path / "r.parquet")])
    assert bad.exit_code == 1 and "no such" in bad.output
    bad = cli.invoke(app, ["benchmark", "evaluate", str(tmp_path), "--setting", "some", "--out", "r.parquet"])
    assert bad.exit_code == 1 and "--setting" in bad.output
    bad = cli.invoke(app, ["benchmark", "report", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "rep")])
    assert bad.exit_code == 1 and "no such results file" in bad.output


def test_cli_lists_a_preset() -> None:
    """`--list` shows the preset's estimators with encoding and parameters."""
    res = cli.invoke(app, ["benchmark", "evaluate", ".", "--preset", "recommended", "--list", "--out", "x.parquet"])
    assert res.exit_code == 0
    assert "LinearDRLearner" in res.output and "onehot" in res.output and "0.01" in res.output
    assert "RF " not in res.output


def test_cli_view_is_the_setting_option(tmp_path) -> None:
    """`--view` names the datasets' views; `--setting`, its former name, does the same."""
    from sdscm.benchmark import generate

    bench = tmp_path / "bench"
    generate(confounded_spec(), bench, variants=1, datasets_per_variant=2, n=150)
    frames = []
    for flag in ("--view", "--setting"):
        out = tmp_path / f"{flag.strip('-')}.parquet"
        run = cli.invoke(app, ["benchmark", "evaluate", str(bench), "--estimators", "LinReg", flag, "hidden",
                               "--jobs", "0", "--out", str(out)])
        assert run.exit_code == 0, run.output
        frames.append(pd.read_parquet(out).drop(columns=["seconds", "cpu_seconds"]))  # timings vary
    assert set(frames[0]["setting"]) == {"hidden"} and len(frames[0]) == 2
    pd.testing.assert_frame_equal(frames[0], frames[1])
    bad = cli.invoke(app, ["benchmark", "evaluate", str(bench), "--view", "some", "--out", str(tmp_path / "r.parquet")])
    assert bad.exit_code == 1 and "--view" in bad.output
