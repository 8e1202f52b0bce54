"""Side by side with DoWhy's gcm: the same toy SCM in both libraries, the same calls, the same answers.

The DoWhy twin of the sdscm toy model is a `gcm.StructuralCausalModel` whose mechanisms are the exact
conditional tables of the sdscm model (roots: a categorical draw; others: `gcm.ClassifierFCM` over a
table-lookup classifier), so both libraries describe the same distribution. gcm and sdscm couple
the noise differently (gcm: one uniform per node and inverse CDF; sdscm: one Gumbel vector per
variable and Gumbel-max), so single units differ, but layouts, interventional distributions and the
counterfactual properties that do not depend on the coupling must agree.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from dowhy import gcm
from dowhy.gcm.causal_mechanisms import StochasticModel
from dowhy.gcm.ml import ClassificationModel
from scipy import stats

import sdscm

ALPHA = 1e-3  # seeded draws: deterministic; a real mismatch of distributions gives p far below this
N = 3000

SWAP_ACTIVITY = {"the gym": "a run", "a run": "the gym"}


def swap_activity(x: str) -> str:
    return SWAP_ACTIVITY[x]


def no_sun(x: str) -> str:
    return "snowy" if x == "sunny" else x


class ExactRoot(StochasticModel):
    """A root node drawing its labels with the sdscm mechanism's exact probabilities."""

    def __init__(self, labels, probs):
        self.labels, self.probs = list(labels), np.asarray(probs)

    def fit(self, X) -> None:
        pass

    def draw_samples(self, num_samples: int) -> np.ndarray:
        idx = np.random.choice(len(self.labels), size=num_samples, p=self.probs)
        return np.asarray(self.labels, dtype=object)[idx].reshape(-1, 1)

    def clone(self):
        return ExactRoot(self.labels, self.probs)


class ExactTable(ClassificationModel):
    """P(node | parents) looked up in the sdscm model's exact conditional table (parents in gcm's sorted order)."""

    def __init__(self, labels, table):
        self.labels, self.table = list(labels), table

    def fit(self, X, Y) -> None:
        pass

    def predict_probabilities(self, X) -> np.ndarray:
        return np.array([self.table[tuple(row)] for row in np.asarray(X, dtype=object).reshape(len(X), -1)])

    def predict(self, X) -> np.ndarray:
        return np.asarray(self.labels, dtype=object)[self.predict_probabilities(X).argmax(axis=1)]

    @property
    def classes(self):
        return self.labels

    def clone(self):
        return ExactTable(self.labels, self.table)


def gcm_twin(model: sdscm.SDSCM) -> gcm.StructuralCausalModel:
    scm = gcm.StructuralCausalModel(nx.DiGraph(model.graph.edges()))
    for var in model.variables:
        if not var.parents:
            scm.set_causal_mechanism(var.name, ExactRoot(var.values, model.distribution(var.name).to_numpy()))
            continue
        parents = sorted(var.parents)
        domains = [model.variable(p).values for p in parents]
        table = {combo: model.distribution(var.name, dict(zip(parents, combo))).to_numpy()
                 for combo in itertools.product(*domains)}
        scm.set_causal_mechanism(var.name, gcm.ClassifierFCM(ExactTable(var.values, table)))
    # gcm.fit records each node's parents; the exact mechanisms ignore the data (their fit does nothing)
    gcm.fit(scm, sdscm.draw_samples(model, 20, seed=99))
    return scm


@pytest.fixture
def twin(toy_model):
    gcm.config.disable_progress_bars()
    gcm.util.general.set_random_seed(0)
    return gcm_twin(toy_model)


def counts(frame: pd.DataFrame, model: sdscm.SDSCM, variables: list[str]) -> np.ndarray:
    """Counts of every joint state of `variables` (all states, fixed order)."""
    states = list(itertools.product(*[model.variable(v).values for v in variables]))
    seen = frame.groupby(variables).size()
    return np.array([seen.get(s if len(s) > 1 else s[0], 0) for s in states], dtype=float)


def pooled(table: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Columns of `table` with an expected count below 5 merged into one, so the chi-square
    approximation holds (small cells make its p-values too small)."""
    small = expected < 5
    if small.sum() < 2:
        return table
    return np.column_stack([table[:, ~small], table[:, small].sum(axis=1)])


def same_distribution(a: pd.DataFrame, b: pd.DataFrame, model: sdscm.SDSCM, variables: list[str]) -> float:
    """p-value of a chi-square test that two samples come from one distribution over `variables`."""
    table = np.vstack([counts(a, model, variables), counts(b, model, variables)])
    table = pooled(table[:, table.sum(axis=0) > 0], table[:, table.sum(axis=0) > 0].sum(axis=0) / 2)
    return stats.chi2_contingency(table).pvalue


def fits_exact(sample: pd.DataFrame, model: sdscm.SDSCM, variables: list[str]) -> float:
    """p-value of a chi-square goodness-of-fit test of a sample against sdscm's exact distribution."""
    exact = model.exact(variables).set_index(variables)["probability"]
    states = list(itertools.product(*[model.variable(v).values for v in variables]))
    probs = np.array([exact.get(s if len(s) > 1 else s[0], 0.0) for s in states])
    observed = counts(sample, model, variables)
    assert observed[probs == 0].sum() == 0, "a sample holds a state the exact distribution excludes"
    expected = probs / probs.sum() * observed.sum()
    keep = probs > 0
    both = pooled(np.vstack([observed[keep], expected[keep]]), expected[keep])
    return stats.chisquare(both[0], both[1]).pvalue


def assert_same_layout(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert sorted(ours.columns) == sorted(theirs.columns)
    assert ours.shape == theirs.shape
    assert list(ours.index) == list(theirs.index)
    for column in ours.columns:
        assert ours[column].dtype == theirs[column].dtype, column


def test_observational_layout_and_distribution_match_gcm(toy_model, twin) -> None:
    """`draw_samples`: same columns, shape, index and dtypes as gcm's, and the same joint distribution."""
    theirs = gcm.draw_samples(twin, N)
    ours = sdscm.draw_samples(toy_model, N, seed=0)
    assert_same_layout(ours, theirs)
    assert same_distribution(ours, theirs, toy_model, toy_model.names) > ALPHA
    assert fits_exact(theirs, toy_model, toy_model.names) > ALPHA


def test_interventional_samples_match_gcm(toy_model, twin) -> None:
    """The same callables (a swap on `activity`, a shift of `weather`) give gcm's layout and the same
    interventional distribution in both libraries, which is also sdscm's exact push-forward."""
    interventions = {"activity": swap_activity, "weather": no_sun}
    theirs = gcm.interventional_samples(twin, interventions, num_samples_to_draw=N)
    ours = sdscm.interventional_samples(toy_model, interventions, num_samples_to_draw=N, seed=1)
    assert_same_layout(ours, theirs)
    assert "sunny" not in set(ours["weather"]) | set(theirs["weather"])
    assert same_distribution(ours, theirs, toy_model, toy_model.names) > ALPHA
    intervened = toy_model.do(interventions)
    assert fits_exact(theirs, intervened, toy_model.names) > ALPHA
    assert fits_exact(ours, intervened, toy_model.names) > ALPHA


def test_interventional_samples_on_observed_data_match_gcm(toy_model, twin) -> None:
    """With `observed_data`: both keep the unaffected columns as observed, apply a root's function to its
    observed value (identical columns), and redraw descendants from the same distribution."""
    observed = sdscm.draw_samples(toy_model, N, seed=2)
    interventions = {"name": lambda x: "Bob" if x == "Ann" else "Ann", "activity": lambda x: "the gym"}
    theirs = gcm.interventional_samples(twin, interventions, observed_data=observed)
    ours = sdscm.interventional_samples(toy_model, interventions, observed_data=observed, seed=3)
    assert_same_layout(ours, theirs)
    for column in ("name", "weather", "activity"):
        assert list(ours[column]) == list(theirs[column]), column
    assert list(ours["weather"]) == list(observed["weather"])
    assert same_distribution(ours, theirs, toy_model, ["weather", "time"]) > ALPHA


def gcm_noise(twin, n: int) -> pd.DataFrame:
    """gcm's noise_data for the twin: root values themselves, uniforms for the classifier nodes."""
    sample = gcm.draw_samples(twin, n)
    return pd.DataFrame({node: (sample[node] if not list(twin.graph.predecessors(node))
                                else np.random.uniform(0, 1, n)) for node in sample.columns})


def test_counterfactual_samples_match_gcm(toy_model, twin) -> None:
    """From noise: the same layout; with no intervention the factual world; non-descendants of the
    intervened variable unchanged; and, with noise from the prior, the counterfactual world has the
    interventional distribution in both libraries."""
    theirs_noise = gcm_noise(twin, N)
    ours_noise = sdscm.noise_samples(toy_model, N, seed=4)
    interventions = {"activity": swap_activity}
    theirs_factual = gcm.counterfactual_samples(twin, {}, noise_data=theirs_noise)
    ours_factual = sdscm.counterfactual_samples(toy_model, {}, noise_data=ours_noise)
    theirs = gcm.counterfactual_samples(twin, interventions, noise_data=theirs_noise)
    ours = sdscm.counterfactual_samples(toy_model, interventions, noise_data=ours_noise)
    assert_same_layout(ours, theirs)
    assert_same_layout(ours_factual, theirs_factual)
    pd.testing.assert_frame_equal(ours_factual, sdscm.draw_samples(toy_model, N, seed=4))
    for cf, factual in ((ours, ours_factual), (theirs, theirs_factual)):
        for column in ("name", "weather"):
            assert list(cf[column]) == list(factual[column])
        assert list(cf["activity"]) == [SWAP_ACTIVITY[v] for v in factual["activity"]]
    assert same_distribution(ours, theirs, toy_model, toy_model.names) > ALPHA
    assert fits_exact(ours, toy_model.do(interventions), toy_model.names) > ALPHA


def test_counterfactual_consistency_like_gcm(toy_model, twin) -> None:
    """The identity function on the intervened variable gives back the factual world, in both libraries."""
    theirs_noise = gcm_noise(twin, 200)
    theirs = gcm.counterfactual_samples(twin, {"activity": lambda x: x}, noise_data=theirs_noise)
    assert theirs.equals(gcm.counterfactual_samples(twin, {}, noise_data=theirs_noise))
    observed = sdscm.draw_samples(toy_model, 200, seed=5)
    ours = sdscm.counterfactual_samples(toy_model, {"activity": lambda x: x}, observed_data=observed)
    pd.testing.assert_frame_equal(ours, observed)
