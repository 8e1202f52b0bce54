"""`exact(..., evidence=)` (pgmpy's conditional queries) checked against pgmpy's own exact inference on the
model exported by `sdscm.to_pgmpy`, whose TabularCPDs are the model's mechanisms."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import sdscm
from sdscm import QueryError
from sdscm.cli.app import app

pgmpy_inference = pytest.importorskip("pgmpy.inference")

QUERIES = [
    (["time"], {"activity": "a run"}),
    (["weather"], {"time": "over 5 hours"}),  # diagnostic: against the arrows
    (["name", "weather"], {"time": "under 4 hours", "activity": "the gym"}),
    (["activity", "time"], {"name": "Bob"}),
    (["name"], {}),
]


def pgmpy_table(network, variables, evidence):
    """pgmpy's VariableElimination answer as {tuple of labels: probability}."""
    factor = pgmpy_inference.VariableElimination(network).query(variables, evidence=evidence or None, joint=True,
                                                               show_progress=False)
    out = {}
    for combo in itertools.product(*[factor.state_names[v] for v in variables]):
        out[combo] = float(factor.get_value(**dict(zip(variables, combo))))
    return out


def sdscm_table(model, variables, evidence):
    table = model.exact(variables, evidence=evidence)
    return {tuple(row[v] for v in variables): row["probability"] for _, row in table.iterrows()}


def assert_tables_agree(model, variables, evidence) -> None:
    ours = sdscm_table(model, variables, evidence)
    theirs = pgmpy_table(sdscm.to_pgmpy(model), variables, evidence)
    assert set(ours) <= set(theirs)
    for combo, p in theirs.items():
        assert ours.get(combo, 0.0) == pytest.approx(p, abs=1e-9), (variables, evidence, combo)


def test_exported_cpds_are_the_mechanisms(toy_model) -> None:
    """Every TabularCPD column is `m.distribution(var, parents)` for that combination of parent labels."""
    network = sdscm.to_pgmpy(toy_model)
    assert network.check_model()
    assert set(network.edges()) == set(toy_model.graph.edges())
    for var in toy_model.variables:
        cpd = network.get_cpds(var.name)
        assert cpd.state_names[var.name] == list(var.values)
        for combo in itertools.product(*[toy_model.variable(p).values for p in var.parents]):
            parents = dict(zip(var.parents, combo))
            expected = toy_model.distribution(var.name, parents)
            got = [cpd.get_value(**{var.name: value}, **parents) for value in var.values]
            np.testing.assert_allclose(got, expected.to_numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("variables,evidence", QUERIES)
def test_conditional_queries_agree_with_pgmpy(toy_model, variables, evidence) -> None:
    """P(variables | evidence) by sdscm's enumeration equals pgmpy's variable elimination to 1e-9."""
    assert_tables_agree(toy_model, variables, evidence)


@pytest.mark.parametrize("do", [
    {"activity": "a run"},
    {"weather": sdscm.Soft({"sunny": 0.5, "snowy": 0.5})},
    {"activity": lambda x: "a run" if x == "the gym" else "the gym"},
])
def test_intervened_models_export_and_agree(toy_model, do) -> None:
    """Hard, soft and functional interventions are exported (mutilated CPDs) and conditional queries on the
    intervened model still agree with pgmpy."""
    model = toy_model.do(do)
    network = sdscm.to_pgmpy(model)
    name = next(iter(do))
    if not callable(do[name]):
        assert network.get_parents(name) == []
    assert_tables_agree(model, ["time", "activity"], {"weather": "snowy"})
    assert_tables_agree(model, ["weather"], {"time": "4 to 5 hours"})


def test_evidence_of_probability_zero_is_refused(toy_model) -> None:
    """Conditioning on an impossible event (against a hard intervention, or a value a soft intervention
    excludes) is a clear error, not NaN."""
    with pytest.raises(QueryError, match="activity=the gym has probability zero.*do\\(activity=a run\\)"):
        toy_model.do({"activity": "a run"}).exact(["time"], evidence={"activity": "the gym"})
    with pytest.raises(QueryError, match="probability zero"):
        toy_model.do({"weather": sdscm.Soft({"sunny": 1.0})}).exact(["time"], evidence={"weather": "rainy"})


def test_bad_evidence_names_every_problem(toy_model) -> None:
    """Unknown variables and values are listed together, with the known names."""
    with pytest.raises(QueryError) as info:
        toy_model.exact(["time"], evidence={"wether": "sunny", "activity": "swimming"})
    assert "wether" in str(info.value) and "swimming" in str(info.value)


def test_exact_distribution_takes_evidence(toy_model) -> None:
    """`sdscm.exact_distribution(m, vars, interventions, evidence)` is `m.do(...).exact(vars, evidence=...)`."""
    got = sdscm.exact_distribution(toy_model, ["time"], {"name": "Ann"}, evidence={"weather": "rainy"})
    expected = toy_model.do({"name": "Ann"}).exact(["time"], evidence={"weather": "rainy"})
    assert got.equals(expected) and got["probability"].sum() == pytest.approx(1.0)


def test_to_pgmpy_refuses_large_tables(toy_model) -> None:
    """The export scores every parent combination, so it names the table size it would need."""
    with pytest.raises(QueryError, match="max_table_entries=10"):
        sdscm.to_pgmpy(toy_model, max_table_entries=10)


def test_cli_exact_evidence(tmp_path: Path) -> None:
    """`sdscm exact --evidence VAR=VALUE` prints P(var | evidence); impossible evidence exits 1 with a message."""
    from test_cli import CATEGORICAL_MODEL

    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(CATEGORICAL_MODEL, sort_keys=False))
    runner = CliRunner()
    table_file = tmp_path / "table.csv"
    res = runner.invoke(app, ["exact", str(path), "--var", "weather", "--evidence", "time=fast",
                              "--out", str(table_file)])
    assert res.exit_code == 0, res.output
    # P(sunny, fast) = .6 (.2 * .3 + .8 * .9), P(rainy, fast) = .4 (.7 * .3 + .3 * .6)
    sunny, rainy = 0.6 * (0.2 * 0.3 + 0.8 * 0.9), 0.4 * (0.7 * 0.3 + 0.3 * 0.6)
    printed = dict(pd.read_csv(table_file).itertuples(index=False))
    assert float(printed["sunny"]) == pytest.approx(sunny / (sunny + rainy), abs=1e-6)
    assert float(printed["rainy"]) == pytest.approx(rainy / (sunny + rainy), abs=1e-6)
    bad = runner.invoke(app, ["exact", str(path), "--do", "activity=a run", "--evidence", "activity=0"])
    assert bad.exit_code == 1 and "probability zero" in bad.output
