"""The audit on LM-free categorical models (exact answers known) and on the hash fake LM."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from sdscm.audit import audit
from sdscm.errors import QueryError
from sdscm.model import SDSCM

from conftest import weather_spec
from fake_backend import HashBackend
from test_audit_models import PLANTED_EFFECT, exact_effect, null_spec, planted_spec

FAST = dict(n_boot=200, n_perm=500)


def test_cause_not_upstream_gives_exact_zero_and_engine_agrees() -> None:
    """A cause without a directed path to the outcome: every per-unit effect and placebo change is exactly
    0, nothing is significant, the result says so; the engine's own counterfactual worlds agree."""
    spec = planted_spec()
    r = audit(spec, cause="clinic", values=("north", "south"), outcome="pain", variants=2, n=50, margin=0.01, **FAST)
    assert not r.upstream
    assert any("not upstream" in note for note in r.notes)
    units = r.units
    assert (units["effect"] == 0.0).all() and (units["placebo_change"] == 0.0).all()
    assert not units["flip"].any()
    for c in r.contrasts:
        assert c["effect"] == 0.0 and c["p_value"] == 1.0 and c["p_holm"] == 1.0
        assert c["equivalence"]["equivalent"]
        assert all(v["p_wilcoxon"] == 1.0 and v["p_sign_flip"] == 1.0 for v in c["variants"])
    assert "not upstream" in r.primary["verdict"]
    # Same property computed the long way, through the engine's counterfactual query.
    m = SDSCM(spec)
    units_f = m.sample(50, seed=0)
    pa = m.counterfactual_world(units_f, {"clinic": "north"}).probabilities(m.variable("pain").index)
    pb = m.counterfactual_world(units_f, {"clinic": "south"}).probabilities(m.variable("pain").index)
    assert np.array_equal(pa, pb)


def test_planted_effect_found_with_sign_and_ci_covering_exact_value() -> None:
    """Categorical tables with a planted effect: the audit's pooled estimate has the right sign and its CI
    covers the exact average effect from enumeration; each unit's effect is exactly its stratum's."""
    spec = planted_spec()
    exact = exact_effect(spec, "race", "white", "black", "pain", "opioid")
    assert exact == pytest.approx(PLANTED_EFFECT)
    r = audit(spec, cause="race", values=("white", "black"), outcome="pain", outcome_value="opioid",
              variants=4, n=200, seed=11, **FAST)
    assert r.upstream and r.effect < 0 and r.p_value < 1e-3
    assert r.ci[0] <= exact <= r.ci[1]
    units = r.units
    assert set(np.round(units["effect"], 12)) <= {-0.2, -0.1}
    assert all(v["ci_low"] <= v["effect"] <= v["ci_high"] for v in r.primary["variants"])


def test_planted_effect_ci_coverage_over_seeds() -> None:
    """Across 30 seeds the 95% CI covers the exact effect in at least 24 audits (binomial: P(< 24) < 1%)."""
    spec = planted_spec()
    exact = exact_effect(spec, "race", "white", "black", "pain", "opioid")
    covered = 0
    for seed in range(30):
        r = audit(spec, cause="race", values=("white", "black"), outcome="pain", outcome_value="opioid",
                  variants=2, n=40, seed=seed, placebo=False, n_boot=50, n_perm=50)
        covered += r.ci[0] <= exact <= r.ci[1]
    assert covered >= 24


def test_placebo_of_categorical_model_is_exactly_zero() -> None:
    """Phrasings do not enter categorical mechanisms, so re-wording the cause changes nothing: every
    placebo change is 0 and no decision flips, while the effect does flip decisions."""
    r = audit(planted_spec(), cause="race", values=("white", "black"), outcome="pain", variants=3, n=100, **FAST)
    units = r.units
    assert (units["placebo_change"] == 0.0).all() and not units["placebo_flip"].any()
    assert units["flip"].any()
    for c in r.contrasts:
        assert c["placebo_effect"] == 0.0 and c["placebo_flip_rate"] == 0.0
    # placebo phrasing differs from the variant's own
    assert all(arm.placebo_phrasing != arm.cause_phrasing for arm in r.arms)


def test_shared_noise_worlds_match_engine_counterfactuals() -> None:
    """The audit's worlds are the engine's shared-noise counterfactuals of the sampled units (LM model)."""
    spec = weather_spec()
    backend = HashBackend()
    r = audit(spec, cause="activity", values=("the gym", "a run"), outcome="time", variants=None, n=30,
              backend=backend, **FAST)
    arm = r.arms[0]
    m = SDSCM(spec, backend=HashBackend())
    units = m.sample(30, seed=0)
    oi = m.variable("time").index
    for world_probs, value in ((arm.probs_a, "the gym"), (arm.probs_b, "a run")):
        cf = m.counterfactual_world(units, {"activity": value}, noise="shared")
        np.testing.assert_allclose(world_probs, cf.probabilities(oi), rtol=0, atol=1e-15)
    cf_b = m.counterfactual_world(units, {"activity": "a run"})
    assert np.array_equal(arm.outcome_b, cf_b.values[:, oi])


def test_lm_model_placebo_moves_and_adjustments() -> None:
    """With a (fake) language model the re-wording moves the model; several outcome values are adjusted
    with Holm and Benjamini-Hochberg exactly as statsmodels' multipletests does; results are reproducible
    and strict JSON."""
    from statsmodels.stats.multitest import multipletests

    kwargs = dict(cause="activity", values=("the gym", "a run"), outcome="time", variants=3, n=60, **FAST)
    r = audit(weather_spec(), backend=HashBackend(), **kwargs)
    assert [c["outcome_value"] for c in r.contrasts] == ["under 4 hours", "4 to 5 hours", "over 5 hours"]
    assert (r.units["placebo_change"] != 0).any()
    ps = [c["p_value"] for c in r.contrasts]
    assert [c["p_holm"] for c in r.contrasts] == pytest.approx(list(multipletests(ps, method="holm")[1]))
    assert [c["p_bh"] for c in r.contrasts] == pytest.approx(list(multipletests(ps, method="fdr_bh")[1]))
    pv = [c["p_value_vs_placebo"] for c in r.contrasts]
    assert [c["p_vs_placebo_holm"] for c in r.contrasts] == pytest.approx(list(multipletests(pv, method="holm")[1]))
    for c in r.contrasts:  # strong disagreement between variants is spelled out in the verdict
        assert ("variants disagree" in c["verdict"]) == (c["heterogeneity"]["i2"] > 0.5)
    # per-unit effects of the outcome values sum to zero (probabilities sum to one in each world)
    per_unit = r.units.groupby(["variant", "unit_id"])["effect"].sum()
    assert np.abs(per_unit).max() < 1e-12
    data = json.loads(r.to_json())
    for key in ("effect", "ci_low", "ci_high", "p_value", "placebo_effect", "p_value_vs_placebo", "flip_rate",
                "placebo_flip_rate", "heterogeneity", "variants", "adjusted", "equivalence", "inputs"):
        assert key in data
    assert data["inputs"]["spec"]["name"] == "toy" and data["inputs"]["n"] == 60
    again = audit(weather_spec(), backend=HashBackend(), **kwargs)
    assert again.to_dict()["contrasts"] == data["contrasts"]


def test_null_model_pvalues_uniform_over_full_audits() -> None:
    """Full audits of a model whose average effect is exactly zero (per-unit effects vary): the pooled
    p-values of 150 audits are close to uniform (KS) and reject at about the nominal 5%."""
    spec = null_spec()
    ps = []
    for seed in range(150):
        r = audit(spec, cause="t", values=("a", "b"), outcome="y", variants=2, n=30, seed=seed, placebo=False,
                  n_boot=20, n_perm=20)
        ps.append(r.p_value)
    assert sps.kstest(ps, "uniform").pvalue > 0.01
    assert 0.01 < np.mean(np.array(ps) < 0.05) < 0.10


def test_single_phrasing_cause_reports_no_placebo() -> None:
    """A cause with one phrasing has no placebo (said in the notes, fields None) unless a re-wording is
    given; a given re-wording must keep exactly one {value} slot."""
    spec = planted_spec(race_phrasings=["The patient is {value}."])
    r = audit(spec, cause="race", values=("white", "black"), outcome="pain", variants=2, n=20, **FAST)
    assert any("no placebo possible" in note for note in r.notes)
    assert r.primary["placebo_effect"] is None and "placebo_change" not in r.units.columns
    r2 = audit(spec, cause="race", values=(0, 1), outcome="pain", variants=2, n=20,
               placebo_phrasing="Race recorded as {value}.", **FAST)
    assert r2.primary["placebo_effect"] == 0.0
    assert r2.arms[0].placebo_phrasing == "Race recorded as {value}."
    with pytest.raises(QueryError, match="slot"):
        audit(spec, cause="race", values=(0, 1), outcome="pain", placebo_phrasing="no slot here")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(cause="rac", values=("white", "black"), outcome="pain"), "unknown cause variable 'rac'"),
        (dict(cause="race", values=("white", "black"), outcome="pian"), "unknown outcome variable 'pian'"),
        (dict(cause="race", values=("white", "purple"), outcome="pain"), "'purple' is not a value of 'race'"),
        (dict(cause="race", values=("white", "white"), outcome="pain"), "same value"),
        (dict(cause="race", values=("white",), outcome="pain"), "two values"),
        (dict(cause="race", values=None, outcome="pain"), "say which two"),
        (dict(cause="race", values=("white", "black"), outcome="pain", outcome_value="aspirin"), "not a value of 'pain'"),
        (dict(cause="pain", values=("opioid", "nsaid"), outcome="pain"), "same variable"),
        (dict(cause="race", values=("white", "black"), outcome="pain", n=1), "at least 2"),
        (dict(cause="race", values=("white", "black"), outcome="pain", margin=-0.1), "margin"),
        (dict(cause="race", values=("white", "black"), outcome="pain", variants=0), "variants"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    """Unknown variables or values and impossible settings raise a QueryError naming the problem."""
    with pytest.raises(QueryError, match=message):
        audit(planted_spec(), **kwargs)
