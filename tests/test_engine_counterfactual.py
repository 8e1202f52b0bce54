"""Counterfactual semantics: consistency, non-descendants, shared vs fresh noise, abduction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sdscm import QueryError
from sdscm.model import SDSCM
from sdscm.semantics.noise import abduct_gumbel, gumbel, uniforms

NAMES = ["name", "weather", "activity", "time"]


def test_factual_intervention_reproduces_every_unit(toy_model: SDSCM) -> None:
    """Shared noise: the counterfactual under each unit's own factual activity equals the unit (100%)."""
    units = toy_model.sample(3_000, seed=9)
    for value in ("the gym", "a run"):
        group = units[units["activity"] == value]
        cf = toy_model.counterfactual(group, do={"activity": value})
        suffix = f"|do(activity={value})"
        for col in NAMES + ["text"]:
            assert (cf[col + suffix].to_numpy() == group[col].to_numpy()).all(), col


def test_non_descendants_keep_factual_values(toy_model: SDSCM) -> None:
    """Under do(activity), name and weather (non-descendants) never change, with shared or fresh noise."""
    units = toy_model.sample(2_000, seed=4)
    for noise in ("shared", "fresh"):
        cf = toy_model.counterfactual(units, do={"activity": "a run"}, noise=noise)
        for col in ("name", "weather"):
            assert (cf[f"{col}|do(activity=a run)"] == units[col]).all()
        assert (cf["activity|do(activity=a run)"] == "a run").all()


def test_counterfactual_probabilities_are_the_interventional_mechanism(toy_model: SDSCM) -> None:
    """The outcome distribution in the counterfactual world is P(time | do(activity), the unit's weather)."""
    units = toy_model.sample(200, seed=2)
    cf = toy_model.counterfactual(units, do={"activity": "the gym"})
    for _, row in cf.head(20).iterrows():
        mech = toy_model.distribution("time", {"activity": "the gym", "weather": row["weather"]})
        got = [row[f"P(time={v})|do(activity=the gym)"] for v in mech.index]
        np.testing.assert_allclose(got, mech.to_numpy(), rtol=1e-12)


def test_shared_noise_counterfactual_equals_interventional_sample_of_same_units(toy_model: SDSCM) -> None:
    """With recorded noise, cf under do(X) equals sampling do(X) with the same seed and ids (non-descendants of X included)."""
    units = toy_model.sample(1_000, seed=21)
    cf = toy_model.counterfactual(units, do={"activity": "a run"})
    direct = toy_model.do({"activity": "a run"}).sample(1_000, seed=21)
    for col in NAMES:
        assert (cf[f"{col}|do(activity=a run)"].to_numpy() == direct[col].to_numpy()).all()


def test_fresh_noise_redraws_descendants(toy_model: SDSCM) -> None:
    """Fresh noise gives different descendant values than shared noise for some units, same distribution."""
    units = toy_model.sample(4_000, seed=8)
    shared = toy_model.counterfactual(units, do={"activity": "a run"}, noise="shared")
    fresh = toy_model.counterfactual(units, do={"activity": "a run"}, noise="fresh")
    col = "time|do(activity=a run)"
    assert (shared[col] != fresh[col]).mean() > 0.05
    table = pd.crosstab(np.r_[np.zeros(len(units)), np.ones(len(units))],
                        np.r_[shared[col].to_numpy(), fresh[col].to_numpy()])
    assert stats.chi2_contingency(table).pvalue > 1e-3
    again = toy_model.counterfactual(units, do={"activity": "a run"}, noise="fresh")
    pd.testing.assert_frame_equal(fresh, again)


def test_abduction_reproduces_observed_values(toy_model: SDSCM) -> None:
    """Units given only as values: abducted noise explains them (factual intervention returns them)."""
    units = toy_model.sample(2_000, seed=13)[NAMES]
    for value in ("the gym", "a run"):
        group = units[units["activity"] == value]
        cf = toy_model.counterfactual(group, do={"activity": value})
        for col in NAMES:
            assert (cf[f"{col}|do(activity={value})"].to_numpy() == group[col].to_numpy()).all()


def test_abduction_matches_recorded_noise_in_distribution(toy_model: SDSCM) -> None:
    """The joint of (factual time, counterfactual time) from abduction matches the one from recorded noise."""
    units = toy_model.sample(20_000, seed=17)
    recorded = toy_model.counterfactual(units, do={"activity": "a run"})
    abducted = toy_model.counterfactual(units[NAMES], do={"activity": "a run"}, seed=5)
    col = "time|do(activity=a run)"
    pair_r = units["time"] + " -> " + recorded[col]
    pair_a = units["time"] + " -> " + abducted[col]
    table = pd.crosstab(np.r_[np.zeros(len(units)), np.ones(len(units))], np.r_[pair_r, pair_a])
    assert stats.chi2_contingency(table).pvalue > 1e-3


def test_abducted_gumbel_posterior_matches_rejection_sampling() -> None:
    """Top-down truncated Gumbel equals the prior conditioned on the argmax (rejection sampling)."""
    logp = np.log(np.array([0.5, 0.3, 0.2]))
    ids = np.arange(200_000)
    prior = gumbel(1, ids, "x", 3)
    accepted = prior[np.argmax(logp + prior, axis=1) == 1]
    n = len(accepted)
    post = abduct_gumbel(np.tile(logp, (n, 1)), np.ones(n, dtype=np.int64),
                         uniforms(2, np.arange(n), "x", 1)[:, 0], uniforms(3, np.arange(n), "x", 3))
    assert (np.argmax(logp + post, axis=1) == 1).all()
    for j in range(3):
        assert stats.ks_2samp(accepted[:, j], post[:, j]).pvalue > 1e-3


def test_counterfactual_input_errors(toy_model: SDSCM) -> None:
    """Bad units and interventions give messages naming the column, value or variable."""
    units = toy_model.sample(10, seed=0)
    with pytest.raises(QueryError, match="at least one intervention"):
        toy_model.counterfactual(units, do={})
    with pytest.raises(QueryError, match="no column for variable"):
        toy_model.counterfactual(units.drop(columns=["weather"]), do={"activity": "a run"})
    bad = units.copy()
    bad.loc[0, "weather"] = "foggy"
    with pytest.raises(QueryError, match="column 'weather' holds value"):
        toy_model.counterfactual(bad, do={"activity": "a run"})
    with pytest.raises(QueryError, match="noise must be"):
        toy_model.counterfactual(units, do={"activity": "a run"}, noise="new")


def test_results_do_not_depend_on_chunk_size(toy_spec) -> None:
    """Evaluating units in chunks of 7 or all at once gives identical frames (sample and counterfactual)."""
    from fake_backend import HashBackend

    small = SDSCM(toy_spec, backend=HashBackend(), chunk_units=7)
    large = SDSCM(toy_spec, backend=HashBackend(), chunk_units=10_000)
    a, b = small.sample(100, seed=3), large.sample(100, seed=3)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        small.counterfactual(a[NAMES], do={"activity": "a run"}),
        large.counterfactual(b[NAMES], do={"activity": "a run"}),
    )


def test_potential_outcome_worlds_equal_separate_counterfactual_queries(toy_model: SDSCM) -> None:
    """The chunked factual+arms evaluation equals sample() followed by counterfactual() per arm."""
    toy_model.chunk_units = 16
    ids, seeds = np.arange(50), np.full(50, 4)
    factual, (gym, run) = toy_model.potential_outcome_worlds(
        ids, seeds, [{"activity": "the gym"}, {"activity": "a run"}])
    units = toy_model.sample(50, seed=4)
    for arm, world in (("the gym", gym), ("a run", run)):
        direct = toy_model.counterfactual_world(units, do={"activity": arm})
        np.testing.assert_array_equal(world.values, direct.values)
        for lp, lq in zip(world.log_probs, direct.log_probs):
            np.testing.assert_array_equal(lp, lq)
    np.testing.assert_array_equal(factual.values, toy_model.simulate(ids, seeds).values)
