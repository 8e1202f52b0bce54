"""Sampling semantics: exactness against enumeration, interventions, determinism, memoisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sdscm import QueryError, Soft
from sdscm.model import SDSCM
from sdscm.semantics.text import context_text, render

from conftest import weather_spec
from fake_backend import HashBackend


def joint_gap_and_pvalue(model: SDSCM, n: int, seed: int) -> tuple[float, float]:
    """Largest |frequency - exact probability| over joint states, and the chi-square p-value."""
    exact = model.exact()
    units = model.sample(n, seed=seed)
    names = model.names
    counts = units.groupby(names).size()
    observed = np.array([counts.get(tuple(row[names]), 0) for _, row in exact.iterrows()], dtype=float)
    expected = exact["probability"].to_numpy() * n
    assert observed.sum() == n, "every sampled unit must be a state with positive exact probability"
    gap = float(np.max(np.abs(observed / n - exact["probability"].to_numpy())))
    return gap, float(stats.chisquare(observed, expected).pvalue)


def test_sampled_joint_frequencies_match_exact_enumeration(toy_model: SDSCM) -> None:
    """Gumbel-max sampling is an exact categorical sampler: chi-square on the 36-state joint at a fixed seed."""
    gap, p = joint_gap_and_pvalue(toy_model, 20_000, seed=7)
    assert p > 1e-3, f"chi-square p={p:.2g}"
    assert gap < 0.02


def test_exact_probabilities_sum_to_one_and_match_mechanism_products(toy_model: SDSCM) -> None:
    """Each exact joint probability is the product of the mechanisms along the unit."""
    exact = toy_model.exact()
    assert exact["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    row = exact.iloc[5]
    prod = 1.0
    for var in toy_model.variables:
        parents = {p: row[p] for p in var.parents}
        prod *= toy_model.distribution(var.name, parents)[row[var.name]]
    assert row["probability"] == pytest.approx(prod, rel=1e-12)


def test_hard_intervention_fixes_variable_and_keeps_non_descendants(toy_model: SDSCM) -> None:
    """do(activity=a run): activity is always 'a run'; weather and name keep their distribution exactly."""
    intervened = toy_model.do({"activity": "a run"})
    units = intervened.sample(500, seed=3)
    assert (units["activity"] == "a run").all()
    assert (units["P(activity=a run)"] == 1.0).all()
    for var in ("name", "weather"):
        before = toy_model.exact(var).set_index(var)["probability"]
        after = intervened.exact(var).set_index(var)["probability"]
        pd.testing.assert_series_equal(before, after)
    # the intervened exact distribution is the truncated factorisation
    direct = intervened.exact(["weather", "time"])
    for _, row in direct.iterrows():
        p_w = toy_model.exact("weather").set_index("weather")["probability"][row["weather"]]
        mech = toy_model.distribution("time", {"activity": "a run", "weather": row["weather"]})
        assert row["probability"] == pytest.approx(p_w * mech[row["time"]], rel=1e-9)


def test_intervention_sample_matches_interventional_exact(toy_model: SDSCM) -> None:
    """Interventional samples agree with interventional enumeration (chi-square)."""
    gap, p = joint_gap_and_pvalue(toy_model.do({"weather": "snowy"}), 20_000, seed=11)
    assert p > 1e-3 and gap < 0.02


def test_soft_uniform_intervention_frequencies(toy_model: SDSCM) -> None:
    """A soft uniform intervention on weather makes each weather value 1/3 (exact and sampled)."""
    soft = toy_model.do({"weather": Soft.uniform()})
    ex = soft.exact("weather")["probability"].to_numpy()
    np.testing.assert_allclose(ex, [1 / 3] * 3, atol=1e-12)
    counts = soft.sample(9_000, seed=5)["weather"].value_counts()
    assert stats.chisquare(counts.to_numpy(), [3000] * 3).pvalue > 1e-3


def test_soft_explicit_intervention_and_bad_soft_probabilities(toy_model: SDSCM) -> None:
    """An explicit soft distribution is used as given; probabilities that do not sum to 1 are refused."""
    soft = toy_model.do({"weather": {"sunny": 0.5, "snowy": 0.5}})
    ex = soft.exact("weather").set_index("weather")["probability"]
    assert "rainy" not in ex.index and ex["sunny"] == pytest.approx(0.5)
    with pytest.raises(QueryError, match="sum to 1"):
        toy_model.do({"weather": Soft([0.5, 0.6, 0.0])})


def test_intervention_on_unknown_variable_or_value_is_refused(toy_model: SDSCM) -> None:
    """Unknown variables and values are named in the error, with a suggestion."""
    with pytest.raises(QueryError, match="unknown variable 'wether'.*did you mean 'weather'"):
        toy_model.do({"wether": "sunny"})
    with pytest.raises(QueryError, match="unknown value 'hail'"):
        toy_model.do({"weather": "hail"})
    with pytest.raises(QueryError, match="out of range"):
        toy_model.do({"weather": 3})


def test_same_seed_same_units_across_runs_batches_and_orders(toy_spec) -> None:
    """Noise is keyed by (seed, unit id, variable): n, order and a fresh model do not change a unit."""
    a = SDSCM(toy_spec, backend=HashBackend()).sample(300, seed=42)
    b = SDSCM(toy_spec, backend=HashBackend()).sample(300, seed=42)
    pd.testing.assert_frame_equal(a, b)
    head = SDSCM(toy_spec, backend=HashBackend()).sample(50, seed=42)
    pd.testing.assert_frame_equal(a.iloc[:50], head)
    ids = np.arange(300)[::-1]
    rev = SDSCM(toy_spec, backend=HashBackend()).sample(0, seed=42, unit_ids=ids)
    pd.testing.assert_frame_equal(rev.iloc[::-1].reset_index(drop=True), a)
    other = SDSCM(toy_spec, backend=HashBackend()).sample(300, seed=43)
    assert not other[toy_model_names(toy_spec)].equals(a[toy_model_names(toy_spec)])


def toy_model_names(spec) -> list[str]:
    return [v.name for v in spec.variables]


def test_result_columns_and_text(toy_model: SDSCM) -> None:
    """Results hold ids, value labels, the story and a normalised distribution per variable."""
    units = toy_model.sample(20, seed=0)
    assert list(units.columns[:6]) == ["unit_id", "seed", "name", "weather", "activity", "time"]
    for var in toy_model.variables:
        cols = [f"P({var.name}={v})" for v in var.values]
        np.testing.assert_allclose(units[cols].sum(axis=1), 1.0, atol=1e-12)
    row = units.iloc[0]
    expected = " ".join(render(toy_model.phrasings[v], row[v]) for v in toy_model.names)
    assert row["text"] == expected


def test_context_contains_only_parents_in_topological_order(toy_spec) -> None:
    """The scored context of 'time' is the activity and weather sentences (tau order), not the name."""
    backend = HashBackend()
    seen: list[str] = []
    original = backend.score

    def spy(requests):
        seen.extend(r.context for r in requests)
        return original(requests)

    backend.score = spy  # type: ignore[method-assign]
    m = SDSCM(toy_spec, backend=backend)
    m.distribution("time", {"activity": "a run", "weather": "rainy"})
    weather = render(m.phrasings["weather"], "rainy")
    activity = render(m.phrasings["activity"], "a run")
    assert seen == [context_text(m.phrasings["time"], [weather, activity])]
    assert seen[0] == f"{weather} {activity} Their marathon time is "


def test_mechanisms_are_memoised_across_units_and_queries(toy_spec) -> None:
    """Every distinct (context, candidates) is scored once, across units, worlds and queries."""
    backend = HashBackend()
    m = SDSCM(toy_spec, backend=backend)
    m.sample(2_000, seed=1)
    # name: 1 context, weather: 1, activity: 2*3, time: 2*3 -> 14 distinct contexts
    assert backend.requests == 14
    m.do({"activity": "a run"}).sample(500, seed=2)
    m.exact()
    assert backend.requests == 14
    assert m.memo.stats.scored == 14


def test_distribution_checks_parents(toy_model: SDSCM) -> None:
    """distribution() needs exactly the variable's parents and returns a normalised Series."""
    d = toy_model.distribution("activity", {"weather": "sunny", "name": "Ann"})
    assert d.sum() == pytest.approx(1.0) and list(d.index) == ["the gym", "a run"]
    with pytest.raises(QueryError, match="missing"):
        toy_model.distribution("activity", {"weather": "sunny"})
    with pytest.raises(QueryError, match="not parents"):
        toy_model.distribution("name", {"weather": "sunny"})


def test_exact_refuses_large_models_with_their_size() -> None:
    """Enumeration beyond max_states stops with the number of states in the message."""
    spec = weather_spec()
    m = SDSCM(spec, backend=HashBackend())
    with pytest.raises(QueryError, match="36 joint states"):
        m.exact(max_states=10)


def test_variant_picks_phrasings_reproducibly(toy_spec) -> None:
    """variant=None takes first phrasings; variant=K draws the same phrasings every time; variants differ."""
    first = SDSCM(toy_spec, variant=None, backend=HashBackend())
    assert all(first.phrasings[v.name] == v.phrasings[0] for v in toy_spec.variables)
    draws = {k: SDSCM(toy_spec, variant=k, backend=HashBackend()).phrasings for k in range(12)}
    again = {k: SDSCM(toy_spec, variant=k, backend=HashBackend()).phrasings for k in range(12)}
    assert draws == again
    assert len({tuple(d.values()) for d in draws.values()}) > 1


def test_length_normalize_uses_mean_token_score() -> None:
    """With length_normalize the mechanism is the softmax of mean (not summed) token log-probs."""
    spec = weather_spec(length_normalize=True)
    backend = HashBackend()
    m = SDSCM(spec, backend=backend)
    d = m.distribution("time", {"activity": "a run", "weather": "rainy"})
    ctx = context_text(m.phrasings["time"], [render(m.phrasings["weather"], "rainy"),
                                             render(m.phrasings["activity"], "a run")])
    values = m.variable("time").values
    means = np.array([backend._one(ctx, v) / len(v.split()) for v in values])
    expected = np.exp(means - np.logaddexp.reduce(means))
    np.testing.assert_allclose(d.to_numpy(), expected, rtol=1e-12)


def test_score_suffix_scores_text_after_slot() -> None:
    """With score_suffix the continuation is the value followed by the phrasing's text after the slot."""
    spec = weather_spec(score_suffix=True)
    backend = HashBackend()
    m = SDSCM(spec, backend=backend)
    d = m.distribution("weather", {})
    scores = np.array([backend._one(m.phrasings["weather"].split("{value}")[0], v + m.phrasings["weather"].split("{value}")[1])
                       for v in m.variable("weather").values])
    np.testing.assert_allclose(d.to_numpy(), np.exp(scores - np.logaddexp.reduce(scores)), rtol=1e-12)


@pytest.mark.parametrize("seed", [-1, 2**63, 10**30, 1.5, "3"])
def test_seed_out_of_range_is_one_query_error(seed) -> None:
    """A seed outside [0, 2**63-1] (OverflowError before) or not an integer is a QueryError naming the range."""
    from conftest import weather_spec
    from fake_backend import HashBackend

    from sdscm.errors import QueryError
    from sdscm.model import SDSCM

    m = SDSCM(weather_spec(), backend=HashBackend())
    with pytest.raises(QueryError, match=r"seed must be an integer from 0 to 2\*\*63-1"):
        m.sample(3, seed=seed)
    units = m.sample(3, seed=2**63 - 1)
    with pytest.raises(QueryError, match=r"seed must be an integer from 0 to 2\*\*63-1"):
        m.counterfactual(units[["name", "weather", "activity", "time"]], do={"activity": 0}, seed=seed)
