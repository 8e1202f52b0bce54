"""The DoWhy-gcm-style query functions: gcm's keyword conventions, and the same results as the methods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sdscm
from sdscm import QueryError


def test_draw_samples_is_the_observational_draw(toy_model) -> None:
    """gcm's `draw_samples(model, num_samples)`, `observational_samples` and `sample` agree."""
    a = sdscm.draw_samples(toy_model, num_samples=30, seed=2)
    pd.testing.assert_frame_equal(a, sdscm.observational_samples(toy_model, 30, seed=2))
    pd.testing.assert_frame_equal(a, toy_model.sample(30, seed=2))


def test_interventional_samples_by_size_keeps_its_positional_form(toy_model) -> None:
    """`interventional_samples(m, do, n)` (as before) and `num_samples_to_draw=n` (gcm) draw do(...)."""
    expected = toy_model.do({"activity": "a run"}).sample(25, seed=1)
    pd.testing.assert_frame_equal(sdscm.interventional_samples(toy_model, {"activity": "a run"}, 25, 1), expected)
    pd.testing.assert_frame_equal(
        sdscm.interventional_samples(toy_model, interventions={"activity": "a run"}, num_samples_to_draw=25, seed=1),
        expected)


def test_interventional_samples_on_observed_data(toy_model) -> None:
    """With `observed_data` (gcm), variables the intervention does not affect keep their observed values;
    the intervened one is set and its descendants are drawn anew from their mechanisms."""
    observed = toy_model.sample(40, seed=3)[["name", "weather", "activity", "time"]]
    out = sdscm.interventional_samples(toy_model, {"activity": "the gym"}, observed_data=observed, seed=5)
    assert list(out["unit_id"]) == list(range(40)) and "seed" not in out.columns
    for col in ("name", "weather"):
        assert list(out[col]) == list(observed[col])
    assert set(out["activity"]) == {"the gym"}
    for _, row in out.head(5).iterrows():
        dist = toy_model.distribution("time", {"activity": "the gym", "weather": row["weather"]})
        np.testing.assert_allclose([row[f"P(time={v})"] for v in dist.index], dist.to_numpy())
    again = sdscm.interventional_samples(toy_model, {"activity": "the gym"}, observed_data=observed, seed=5)
    pd.testing.assert_frame_equal(out, again)


def test_interventional_samples_needs_one_source(toy_model) -> None:
    """Like gcm: a sample size or observed data, exactly one of them."""
    with pytest.raises(QueryError, match="either num_samples_to_draw or observed_data"):
        sdscm.interventional_samples(toy_model, {"activity": "a run"})
    with pytest.raises(QueryError, match="either num_samples_to_draw or observed_data"):
        sdscm.interventional_samples(toy_model, {"activity": "a run"}, 5, observed_data=toy_model.sample(5))


def test_counterfactual_samples_is_the_counterfactual_method(toy_model) -> None:
    """`counterfactual_samples(m, interventions, observed_data)` (gcm's order) with noise and seed."""
    units = toy_model.sample(20, seed=4)
    got = sdscm.counterfactual_samples(toy_model, {"activity": "a run"}, observed_data=units, noise="fresh", seed=7)
    pd.testing.assert_frame_equal(got, toy_model.counterfactual(units, do={"activity": "a run"}, noise="fresh", seed=7))
    pd.testing.assert_frame_equal(sdscm.counterfactual_samples(toy_model, {"activity": "a run"}, units),
                                  toy_model.counterfactual(units, do={"activity": "a run"}))
