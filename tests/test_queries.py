"""The DoWhy-gcm-style query functions: gcm's signatures and layout (one column per variable), callable
interventions over the current value, `noise_data`, and the same worlds as the native methods.
(Side by side with DoWhy itself: tests/test_gcm_compat.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sdscm
from sdscm import QueryError

SWAP = {"the gym": "a run", "a run": "the gym"}


def swap(value: str) -> str:
    return SWAP[value]


def test_draw_samples_is_the_observational_draw_in_gcm_layout(toy_model) -> None:
    """gcm's `draw_samples(model, num_samples)`: exactly the variable columns (topological order, index
    0..n-1) of `sample(n, seed)`; `observational_samples` is the same."""
    a = sdscm.draw_samples(toy_model, num_samples=30, seed=2)
    assert list(a.columns) == toy_model.names and list(a.index) == list(range(30))
    pd.testing.assert_frame_equal(a, sdscm.observational_samples(toy_model, 30, seed=2))
    full = toy_model.sample(30, seed=2)
    for name in toy_model.names:
        assert list(a[name]) == list(full[name])


def test_interventional_samples_by_size(toy_model) -> None:
    """`num_samples_to_draw=n` draws do(...) units (the values of `do(...).sample(n, seed)`); a number in
    the third slot (gcm's `observed_data`) is refused with the keyword to use."""
    expected = toy_model.do({"activity": "a run"}).sample(25, seed=1)[toy_model.names]
    got = sdscm.interventional_samples(toy_model, {"activity": "a run"}, num_samples_to_draw=25, seed=1)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    with pytest.raises(QueryError, match="num_samples_to_draw=25"):
        sdscm.interventional_samples(toy_model, {"activity": "a run"}, 25)


def test_callable_interventions_apply_to_the_current_value(toy_model) -> None:
    """gcm's `{"X": f}`: each unit's X is f of the value its mechanism gives (same noise), so a swap flips
    every unit's activity; a constant function is the atomic do(X=v)."""
    natural = sdscm.draw_samples(toy_model, 40, seed=3)
    swapped = sdscm.interventional_samples(toy_model, {"activity": swap}, num_samples_to_draw=40, seed=3)
    assert list(swapped["activity"]) == [SWAP[v] for v in natural["activity"]]
    assert list(swapped["weather"]) == list(natural["weather"])
    constant = sdscm.interventional_samples(toy_model, {"activity": lambda x: "a run"}, num_samples_to_draw=40, seed=3)
    pd.testing.assert_frame_equal(
        constant, sdscm.interventional_samples(toy_model, {"activity": "a run"}, num_samples_to_draw=40, seed=3))
    # the exact distribution of f(X) is the push-forward of X's distribution
    before = toy_model.exact(["activity"]).set_index("activity")["probability"]
    after = toy_model.do({"activity": swap}).exact(["activity"]).set_index("activity")["probability"]
    for value in SWAP:
        assert after[SWAP[value]] == pytest.approx(before[value], abs=1e-12)


def test_bad_callable_interventions_are_clear_errors(toy_model) -> None:
    """A function that raises or returns a non-label is reported with the variable, the value and the fix."""
    with pytest.raises(QueryError, match="'activity'.*raised ZeroDivisionError.*'the gym'"):
        toy_model.do({"activity": lambda x: 1 / 0})
    with pytest.raises(QueryError, match="maps 'the gym' to 'THE GYM'"):
        sdscm.interventional_samples(toy_model, {"activity": str.upper}, num_samples_to_draw=3)


def test_interventional_samples_on_observed_data(toy_model) -> None:
    """With `observed_data` (gcm): variables the interventions do not affect keep their observed values,
    the intervened one is set, its descendants drawn anew; a function on a root applies to the observed
    value; sdscm's derived columns (text, P(...)) are dropped, other columns kept."""
    observed = toy_model.sample(40, seed=3)
    out = sdscm.interventional_samples(toy_model, {"activity": "the gym", "name": lambda x: "Bob"},
                                       observed_data=observed, seed=5)
    assert "text" not in out.columns and not [c for c in out.columns if c.startswith("P(")]
    assert list(out["unit_id"]) == list(range(40)) and list(out["seed"]) == list(observed["seed"])
    assert list(out["weather"]) == list(observed["weather"])
    assert set(out["activity"]) == {"the gym"} and set(out["name"]) == {"Bob"}
    assert sdscm.interventional_samples(toy_model, {"activity": "the gym", "name": lambda x: "Bob"},
                                        observed_data=observed, seed=5).equals(out)
    flipped = sdscm.interventional_samples(toy_model, {"name": lambda x: "Bob" if x == "Ann" else "Ann"},
                                           observed_data=observed[["name", "weather", "activity", "time"]])
    assert list(flipped["name"]) == ["Bob" if x == "Ann" else "Ann" for x in observed["name"]]


def test_interventional_samples_needs_one_source(toy_model) -> None:
    """Like gcm: a sample size or observed data, exactly one of them."""
    with pytest.raises(QueryError, match="either num_samples_to_draw or observed_data"):
        sdscm.interventional_samples(toy_model, {"activity": "a run"})
    with pytest.raises(QueryError, match="either num_samples_to_draw or observed_data"):
        sdscm.interventional_samples(toy_model, {"activity": "a run"}, toy_model.sample(5), 5)


def test_counterfactual_samples_carry_values_under_the_variables_names(toy_model) -> None:
    """gcm's layout: the counterfactual values under the variables' own names, nothing else; they are the
    `|do(...)` columns of `m.counterfactual` (shared and fresh noise)."""
    units = toy_model.sample(20, seed=4)
    for kwargs in ({}, {"noise": "fresh", "seed": 7}):
        got = sdscm.counterfactual_samples(toy_model, {"activity": "a run"}, observed_data=units, **kwargs)
        native = toy_model.counterfactual(units, do={"activity": "a run"}, **kwargs)
        assert list(got.columns) == toy_model.names
        for name in toy_model.names:
            assert list(got[name]) == list(native[f"{name}|do(activity=a run)"])
    with pytest.raises(QueryError, match="noise='fresh'"):
        sdscm.counterfactual_samples(toy_model, {"activity": "a run"}, units, "fresh")


def test_counterfactual_consistency(toy_model) -> None:
    """Setting X to its own value (the identity function, or no intervention) gives back the factual world,
    for generated units and for observed ones (abducted noise)."""
    units = toy_model.sample(30, seed=6)
    plain = units[toy_model.names].copy()
    for data in (units, plain):
        for iv in ({"activity": lambda x: x}, {}):
            got = sdscm.counterfactual_samples(toy_model, iv, observed_data=data)
            assert list(got.columns) == toy_model.names
            for name in toy_model.names:
                assert list(got[name]) == list(plain[name])


def test_noise_data_round_trips(toy_model) -> None:
    """`noise_data` holds noise(X=v) columns: the drawn units are the factual world of their noise, and
    counterfactuals from `compute_noise_from_data(observed)` equal those from `observed_data=observed`."""
    noise = sdscm.noise_samples(toy_model, 25, seed=8)
    expected_cols = [f"noise({v.name}={value})" for v in toy_model.variables for value in v.values]
    assert list(noise.columns) == expected_cols and noise.dtypes.eq(np.float64).all()
    pd.testing.assert_frame_equal(sdscm.counterfactual_samples(toy_model, {}, noise_data=noise),
                                  sdscm.draw_samples(toy_model, 25, seed=8))
    units = toy_model.sample(25, seed=8)
    for observed in (units, units[toy_model.names]):
        for iv in ({"activity": "a run"}, {"weather": swap_weather, "activity": sdscm.Soft.uniform()}):
            from_noise = sdscm.counterfactual_samples(
                toy_model, iv, noise_data=sdscm.compute_noise_from_data(toy_model, observed, seed=2))
            from_data = sdscm.counterfactual_samples(toy_model, iv, observed_data=observed, seed=2)
            pd.testing.assert_frame_equal(from_noise, from_data)


def swap_weather(value: str) -> str:
    return {"sunny": "rainy", "rainy": "snowy", "snowy": "sunny"}[value]


def test_noise_data_errors(toy_model) -> None:
    """Missing noise columns and non-finite noise are named; observed and noise data are exclusive."""
    noise = sdscm.noise_samples(toy_model, 5)
    with pytest.raises(QueryError, match=r"lacks the column\(s\) \['noise\(time=under 4 hours\)'"):
        sdscm.counterfactual_samples(toy_model, {}, noise_data=noise.drop(columns=["noise(time=under 4 hours)"]))
    broken = noise.copy()
    broken.iloc[0, 0] = np.nan
    with pytest.raises(QueryError, match="NaN or infinite"):
        sdscm.counterfactual_samples(toy_model, {}, noise_data=broken)
    with pytest.raises(QueryError, match="either observed_data or noise_data"):
        sdscm.counterfactual_samples(toy_model, {}, sdscm.draw_samples(toy_model, 5), noise)


@pytest.mark.parametrize("call", [
    lambda m: sdscm.draw_samples("model.yaml", 3),
    lambda m: sdscm.draw_samples(m, -1),
    lambda m: sdscm.draw_samples(m, 2.5),
    lambda m: sdscm.observational_samples(m, 3, seed=-1),
    lambda m: sdscm.interventional_samples(m, [("activity", "a run")], num_samples_to_draw=3),
    lambda m: sdscm.interventional_samples(m, {"activity": "a run"}, observed_data="units.csv"),
    lambda m: sdscm.interventional_samples(m, {"activity": "a run"}, num_samples_to_draw="3"),
    lambda m: sdscm.interventional_samples(m, {"activity": "a run"}, sdscm.draw_samples(m, 2).assign(unit_id="x")),
    lambda m: sdscm.counterfactual_samples(m, {"activity": "a run"}, observed_data=[["Ann", "sunny"]]),
    lambda m: sdscm.counterfactual_samples(m, {"activity": "a run"}, noise_data={"noise(name=Ann)": [0.1]}),
    lambda m: sdscm.counterfactual_samples(m, {"activity": "a run"}, sdscm.draw_samples(m, 2), seed="7"),
    lambda m: sdscm.noise_samples(m, None),
    lambda m: sdscm.compute_noise_from_data(m, sdscm.draw_samples(m, 2).assign(weather="foggy")),
    lambda m: sdscm.exact_distribution(m, ["time"], evidence=[("activity", "a run")]),
    lambda m: sdscm.to_pgmpy(m, max_table_entries="many"),
])
def test_misuse_is_a_query_error(toy_model, call) -> None:
    """Wrong types and values for the gcm/pgmpy-style functions give sdscm's QueryError, not a bare
    TypeError/ValueError from deep inside pandas or numpy."""
    with pytest.raises(QueryError):
        call(toy_model)


def test_abduction_through_a_functional_intervention(toy_model) -> None:
    """Observed units of a model under do(X := f(X)): the abducted noise reproduces them, and undoing f
    in a counterfactual recovers X's pre-image with its posterior P(X = x | f(X) = observed)."""
    from scipy import stats

    def no_sun(x: str) -> str:
        return "snowy" if x == "sunny" else x

    shifted = toy_model.do({"weather": no_sun})
    observed = sdscm.draw_samples(shifted, 2000, seed=9)
    noise = sdscm.compute_noise_from_data(shifted, observed, seed=1)
    pd.testing.assert_frame_equal(sdscm.counterfactual_samples(shifted, {}, noise_data=noise), observed,
                                  check_like=False, check_exact=True, check_index_type=False)
    undone = sdscm.counterfactual_samples(shifted, {"weather": lambda x: x}, observed_data=observed, seed=1)
    snowy = (observed["weather"] == "snowy").to_numpy()
    assert set(undone["weather"][~snowy]) <= {"rainy"} and set(undone["weather"][snowy]) <= {"sunny", "snowy"}
    prior = toy_model.distribution("weather")
    p_sunny = prior["sunny"] / (prior["sunny"] + prior["snowy"])
    k = int((undone["weather"][snowy] == "sunny").sum())
    assert stats.binomtest(k, int(snowy.sum()), p_sunny).pvalue > 1e-3
