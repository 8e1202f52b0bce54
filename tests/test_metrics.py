"""Metric functions on hand-computed cases, including the R^2 orientation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sdscm.estimators import EffectEstimate
from sdscm.evaluation import metrics as m


def test_ate_r2_uses_sate_as_y_true() -> None:
    """ATE R^2 = 1 - SS_res / SS_tot with SS_tot from the SATEs (y_true), not the estimates.

    SATE = [1, 2, 3] (mean 2, SS_tot = 2); estimates [1, 2, 5]: SS_res = 4, R^2 = 1 - 4/2 = -1.
    The swapped orientation would give SS_tot(estimates) = 8.667, R^2 = 1 - 4/8.667 = 0.538.
    """
    sate = np.array([1.0, 2.0, 3.0])
    est = np.array([1.0, 2.0, 5.0])
    assert m.ate_r2(sate, est) == pytest.approx(-1.0)
    assert m.r2(est, sate) == pytest.approx(1 - 4 / (26 / 3))
    assert m.ate_rmse(sate, est) == pytest.approx(math.sqrt(4 / 3))


def test_cate_r2_and_paper_cate_r2_orientations() -> None:
    """CATE R^2 takes the true ITE as y_true; paper_cate_r2 swaps them (the reference code).

    ite = [0, 1, 2, 3] (SS_tot 5), cate = [0, 1, 2, 5]: SS_res = 4, R^2 = 0.2;
    swapped: SS_tot(cate) = 14, 1 - 4/14 = 0.714..."""
    ite = np.array([0.0, 1.0, 2.0, 3.0])
    cate = np.array([0.0, 1.0, 2.0, 5.0])
    assert m.cate_r2(ite, cate) == pytest.approx(0.2)
    assert m.paper_cate_r2(ite, cate) == pytest.approx(1 - 4 / 14)


def test_constant_estimates_follow_sklearn_convention_exactly() -> None:
    """A constant CATE (e.g. LinReg) gives paper_cate_r2 = 0 exactly (scikit-learn's convention for a
    constant y_true), not a float-residue number like -1e32; a perfect constant match gives 1."""
    ite = np.array([0.1, 0.2, 0.4])
    cate = np.full(3, 0.1 + 0.2)  # 0.30000000000000004: mean() has float residue
    assert m.paper_cate_r2(ite, cate) == 0.0
    assert m.r2(np.full(3, 0.3), np.full(3, 0.3)) == 1.0
    assert math.isnan(m.cate_r2(ite, np.array([0.1, np.nan, 0.2])))
    assert math.isnan(m.r2(np.array([1.0]), np.array([1.0])))


def test_pehe_and_standardized_pehe() -> None:
    """PEHE = sqrt(mean((cate - ite)^2)); standardized by SD(y) with ddof 0.

    errors [0, 0, 3, 4] -> PEHE = sqrt(25/4) = 2.5; y = [0, 2] has SD 1 (ddof 0) -> 2.5."""
    ite = np.zeros(4)
    cate = np.array([0.0, 0.0, 3.0, 4.0])
    assert m.pehe(ite, cate) == pytest.approx(2.5)
    assert m.standardized_pehe(ite, cate, np.array([0.0, 2.0])) == pytest.approx(2.5)
    assert m.standardized_pehe(ite, cate, np.array([0.0, 0.0, 4.0, 4.0])) == pytest.approx(1.25)


def test_coverage_is_strict_and_width_is_in_sd_units() -> None:
    """Coverage counts lower < ite < upper only (a value on an endpoint is not covered); mean
    width is divided by SD(y) (ddof 0); infinite intervals are counted apart."""
    ite = np.array([0.0, 1.0, 2.0, 3.0])
    lower = np.array([-1.0, 1.0, 1.0, 2.5])
    upper = np.array([1.0, 2.0, 2.0, 3.5])
    # covered: 0 in (-1,1) yes; 1 in (1,2) no (endpoint); 2 in (1,2) no; 3 in (2.5,3.5) yes
    assert m.coverage(ite, lower, upper) == pytest.approx(0.5)
    y = np.array([1.0, 3.0])  # SD 1
    assert m.mean_width(lower, upper, y) == pytest.approx((2 + 1 + 1 + 1) / 4)
    assert m.mean_width(lower, upper, 2 * y) == pytest.approx(1.25 / 2)
    upper_inf = upper.copy()
    upper_inf[3] = np.inf
    assert m.mean_width(lower, upper_inf) == pytest.approx(4 / 3)
    assert m.infinite_share(lower, upper_inf) == pytest.approx(0.25)
    assert m.coverage(ite, lower, upper_inf) == pytest.approx(0.5)


def test_dataset_metrics_from_an_estimate() -> None:
    """All per-dataset metrics of one estimate, hand-computed: SATE = 1.5, ATE 2 -> error 0.5,
    the ATE interval (1, 3) covers SATE, the CATE interval covers 2 of 4 units."""
    ite = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0.0, 2.0, 0.0, 2.0])  # SD 1
    est = EffectEstimate(ate=2.0, ate_lower=1.0, ate_upper=3.0, cate=np.array([0.0, 1.0, 2.0, 5.0]),
                         cate_lower=np.array([-1.0, 1.0, 1.0, 2.5]), cate_upper=np.array([1.0, 2.0, 2.0, 3.5]))
    out = m.dataset_metrics(ite, y, est)
    assert out["ate_error"] == pytest.approx(0.5) and out["ate_abs_error"] == pytest.approx(0.5)
    assert out["ate_covered"] == 1.0 and out["ate_width_sd"] == pytest.approx(2.0)
    assert out["cate_r2"] == pytest.approx(0.2)
    assert out["pehe"] == pytest.approx(1.0) and out["std_pehe"] == pytest.approx(1.0)
    assert out["cate_coverage"] == pytest.approx(0.5) and out["cate_width_sd"] == pytest.approx(1.25)
    assert math.isnan(out["ite_coverage"])
    ate_only = m.dataset_metrics(ite, y, EffectEstimate(ate=1.0))
    assert ate_only["ate_abs_error"] == pytest.approx(0.5)
    assert math.isnan(ate_only["ate_covered"]) and math.isnan(ate_only["cate_r2"])
