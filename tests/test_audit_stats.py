"""Audit statistics on hand-checkable cases, and their calibration under simulated nulls."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from sdscm.audit import stats


def test_mean_and_se_by_hand() -> None:
    """Mean and SE = sd(ddof=1)/sqrt(n) of [1, 2, 3, 4]: 2.5 and sqrt(5/3)/2."""
    mean, se = stats.mean_and_se([1, 2, 3, 4])
    assert mean == 2.5
    assert se == pytest.approx(math.sqrt(5 / 3) / 2)


def test_bootstrap_ci_constant_reproducible_and_close_to_normal() -> None:
    """A constant sample gives [c, c]; a seed fixes the interval; for a large sample the percentile
    interval is close to mean +/- 1.96 SE."""
    assert stats.bootstrap_ci([0.25] * 10) == (0.25, 0.25)
    x = np.random.default_rng(1).normal(0.3, 1.0, 400)
    a = stats.bootstrap_ci(x, n_boot=2000, seed=7)
    assert a == stats.bootstrap_ci(x, n_boot=2000, seed=7)
    mean, se = stats.mean_and_se(x)
    assert a[0] < mean < a[1]
    assert a[0] == pytest.approx(mean - 1.96 * se, abs=0.25 * se)
    assert a[1] == pytest.approx(mean + 1.96 * se, abs=0.25 * se)


def test_wilcoxon_by_hand() -> None:
    """[1..5] all positive: exact two-sided p = 2/2^5 = 0.0625; all zeros: p = 1."""
    assert stats.wilcoxon_p([1, 2, 3, 4, 5]) == pytest.approx(0.0625)
    assert stats.wilcoxon_p([0.0, 0.0, 0.0]) == 1.0


def test_sign_flip_exact_by_hand_and_monte_carlo() -> None:
    """[1, 2, 3]: of the 8 sign patterns, 2 reach |sum| >= 6, so p = 0.25. Monte Carlo agrees with the
    exact test on a larger sample, and all zeros give p = 1."""
    assert stats.sign_flip_p([1, 2, 3]) == pytest.approx(0.25)
    assert stats.sign_flip_p([0, 0, 0, 0]) == 1.0
    x = np.random.default_rng(3).normal(0.4, 1.0, 16)
    exact = stats.sign_flip_p(x, exact_max_n=16)
    mc = stats.sign_flip_p(x, n_perm=20_000, seed=1, exact_max_n=0)
    assert mc == pytest.approx(exact, abs=0.01)


def test_fisher_and_mcnemar_by_hand() -> None:
    """Fisher's tea-tasting table [[3,1],[1,3]]: p = 34/70; McNemar with 0 vs 5 discordant pairs: p = 2/32."""
    assert stats.fisher_p(3, 4, 1, 4) == pytest.approx(34 / 70)
    assert stats.fisher_p(0, 0, 1, 3) == 1.0
    assert stats.mcnemar_p(0, 5) == pytest.approx(2 / 32)
    assert stats.mcnemar_p(0, 0) == 1.0


def test_tost_by_hand() -> None:
    """Estimate 0, SE 1, margin 2 (normal): both one-sided p = Phi(-2) = 0.02275, so equivalent at 5%,
    and the 90% CI is +/-1.645. Estimate 1.5 with margin 2: p = Phi(-0.5) = 0.3085, not equivalent.
    With t (df 10) the p-value is the t tail. With SE 0 it is exact."""
    r = stats.tost(0.0, 1.0, 2.0)
    assert r.p_lower == pytest.approx(0.0227501, abs=1e-6)
    assert r.p_value == pytest.approx(0.0227501, abs=1e-6)
    assert r.equivalent
    assert (r.ci_low, r.ci_high) == (pytest.approx(-1.6448536), pytest.approx(1.6448536))
    r2 = stats.tost(1.5, 1.0, 2.0)
    assert r2.p_value == pytest.approx(0.3085375, abs=1e-6) and not r2.equivalent
    r3 = stats.tost(0.0, 1.0, 2.0, df=10)
    assert r3.p_value == pytest.approx(float(sps.t(10).sf(2.0)))
    assert stats.tost(0.01, 0.0, 0.05).equivalent and not stats.tost(0.06, 0.0, 0.05).equivalent
    with pytest.raises(ValueError):
        stats.tost(0.0, 1.0, 0.0)


def test_random_effects_meta_by_hand() -> None:
    """DerSimonian-Laird on y = (0, 0.5, 0.2), v = (0.01, 0.01, 0.04), worked by hand:
    w = (100, 100, 25), fixed mean 55/225, Q = 12.5556, C = 225 - 20625/225, tau^2 = (Q - 2)/C,
    I^2 = (Q - 2)/Q, pooled = sum(y/(v + tau^2)) / sum(1/(v + tau^2)); matches statsmodels too."""
    y, v = [0.0, 0.5, 0.2], [0.01, 0.01, 0.04]
    r = stats.random_effects_meta(y, v, hksj=False)
    y_fixed = 55 / 225
    q = 100 * y_fixed**2 + 100 * (0.5 - y_fixed) ** 2 + 25 * (0.2 - y_fixed) ** 2
    c = 225 - (100**2 + 100**2 + 25**2) / 225
    tau2 = (q - 2) / c
    w = [1 / (0.01 + tau2), 1 / (0.01 + tau2), 1 / (0.04 + tau2)]
    pooled = (0.5 * w[1] + 0.2 * w[2]) / sum(w)
    se = math.sqrt(1 / sum(w))
    assert q == pytest.approx(12.5555556, rel=1e-6)
    assert r.q == pytest.approx(q)
    assert r.tau2 == pytest.approx(tau2) and tau2 == pytest.approx(0.0791667, rel=1e-5)
    assert r.i2 == pytest.approx((q - 2) / q)
    assert r.estimate == pytest.approx(pooled)
    assert r.se == pytest.approx(se)
    assert r.ci_low == pytest.approx(pooled - 1.959964 * se, rel=1e-5)
    assert r.p_value == pytest.approx(2 * sps.norm.sf(pooled / se))
    assert r.q_p_value == pytest.approx(sps.chi2.sf(q, 2))
    from statsmodels.stats.meta_analysis import combine_effects

    sm = combine_effects(np.array(y), np.array(v), method_re="dl")
    assert r.estimate == pytest.approx(float(sm.mean_effect_re))
    assert r.se == pytest.approx(float(sm.sd_eff_w_re))
    assert r.tau2 == pytest.approx(float(sm.tau2))


def test_hksj_interval_by_hand() -> None:
    """Hartung-Knapp-Sidik-Jonkman on the same studies: SE^2 = q* / sum w* with
    q* = sum w* (y - pooled)^2 / (k - 1), Student t with k - 1 = 2 df; DL's point estimate is unchanged.
    Identical studies have q* = 0 and so an exact (zero-width) interval."""
    y, v = np.array([0.0, 0.5, 0.2]), np.array([0.01, 0.01, 0.04])
    dl = stats.random_effects_meta(y, v, hksj=False)
    r = stats.random_effects_meta(y, v)
    w = 1 / (v + dl.tau2)
    q_star = float(np.sum(w * (y - dl.estimate) ** 2) / 2)
    se = math.sqrt(q_star / w.sum())
    assert r.estimate == pytest.approx(dl.estimate) and r.df == 2 and r.se_z == pytest.approx(dl.se)
    assert r.se == pytest.approx(se)
    assert r.ci_high == pytest.approx(r.estimate + 4.302653 * se, rel=1e-6)
    assert r.p_value == pytest.approx(2 * sps.t(2).sf(r.estimate / se))
    homo = stats.random_effects_meta([0.1, 0.1, 0.1], [0.01, 0.02, 0.04])
    assert homo.se == 0.0 and homo.df == 2 and homo.se_z > 0
    # DL underestimates tau^2 when one variant is far off and the others very precise; HKSJ widens.
    wide = stats.random_effects_meta([0.025, 0.020, 0.012, 0.129, 0.013],
                                     np.array([0.0015, 0.0006, 0.0004, 0.0082, 0.0003]) ** 2)
    assert wide.i2 > 0.95 and wide.se > 5 * wide.se_z and wide.p_value > 0.05 > wide.p_value_z


def test_meta_edge_cases() -> None:
    """Homogeneous studies: tau^2 = 0, I^2 = 0, pooled = fixed effect; one study: no heterogeneity stats;
    all-zero exact studies: estimate 0, p = 1, CI [0, 0]."""
    r = stats.random_effects_meta([0.1, 0.1, 0.1], [0.01, 0.02, 0.04])
    assert r.tau2 == 0.0 and r.i2 == 0.0 and r.estimate == pytest.approx(0.1)
    one = stats.random_effects_meta([0.2], [0.01])
    assert one.i2 is None and one.q_p_value is None and one.se == pytest.approx(0.1) and one.df is None
    zero = stats.random_effects_meta([0.0, 0.0], [0.0, 0.0])
    assert (zero.estimate, zero.p_value, zero.ci_low, zero.ci_high) == (0.0, 1.0, 0.0, 0.0)


def test_holm_and_bh_by_hand() -> None:
    """p = (0.01, 0.04, 0.03): Holm (0.03, 0.06, 0.06); Benjamini-Hochberg (0.03, 0.04, 0.04);
    a single p-value is left as it is."""
    assert stats.adjust_pvalues([0.01, 0.04, 0.03], "holm") == pytest.approx([0.03, 0.06, 0.06])
    assert stats.adjust_pvalues([0.01, 0.04, 0.03], "bh") == pytest.approx([0.03, 0.04, 0.04])
    assert stats.adjust_pvalues([0.2], "holm") == [0.2]
    with pytest.raises(ValueError):
        stats.adjust_pvalues([0.1], "bonferroni")


def test_null_pvalues_uniform_and_power() -> None:
    """Under H0 (per-unit effects symmetric about 0) the sign-flip, Wilcoxon and meta-analysis p-values
    are close to uniform (KS test over 300 simulated audits of 3 variants x 25 units); under a shift
    they are small."""
    rng = np.random.default_rng(2024)
    p_flip, p_wil, p_meta = [], [], []
    for _ in range(300):
        samples = [rng.normal(0.0, 0.1, 25) for _ in range(3)]
        p_flip.append(stats.sign_flip_p(samples[0], n_perm=499, seed=int(rng.integers(1 << 30))))
        p_wil.append(stats.wilcoxon_p(samples[0]))
        ms = [stats.mean_and_se(s) for s in samples]
        p_meta.append(stats.random_effects_meta([m for m, _ in ms], [se**2 for _, se in ms]).p_value)
    for ps in (p_flip, p_wil, p_meta):
        assert sps.kstest(ps, "uniform").pvalue > 0.01
        assert 0.01 < np.mean(np.array(ps) < 0.05) < 0.10
    shifted = rng.normal(0.15, 0.1, 40)
    assert stats.sign_flip_p(shifted) < 0.01 and stats.wilcoxon_p(shifted) < 0.01
