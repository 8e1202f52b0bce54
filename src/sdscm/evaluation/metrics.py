"""Metrics for effect estimates against exact ground truth (pure functions).

Per dataset: ATE estimate, interval and absolute error against the sample ATE (SATE = mean ITE);
CATE R^2 with the true ITE as ``y_true``; PEHE = sqrt(mean((tau_hat - ite)^2)); standardized
PEHE = PEHE / SD(y) (ddof 0); interval coverage = share of units with lower < ite < upper
(strict); mean width of the finite intervals in SD(y) units (and the share of infinite ones).
Across datasets: R^2 and RMSE of ATE estimates with ``r2_score(y_true=SATE, y_pred=estimate)``.

``paper_cate_r2`` reproduces the reference code's CATE R^2 (estimate as ``y_true``, true ITE as
``y_pred``, averaged without clipping), only for comparison with the paper's Table 2.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import r2_score


def _finite(*arrays: np.ndarray) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-learn's ``r2_score`` (so numbers match it exactly); NaN if an input is not finite or
    has fewer than two values; 0 for a constant ``y_true`` (1 if matched exactly), as scikit-learn
    intends."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if len(y_true) < 2 or not _finite(y_true, y_pred):
        return math.nan
    if np.ptp(y_true) == 0:
        # scikit-learn's own convention for a constant y_true (force_finite), applied exactly:
        # its float residue in mean(y_true) would otherwise give numbers like -1e32.
        return 1.0 if np.array_equal(y_true, y_pred) else 0.0
    return float(r2_score(y_true=y_true, y_pred=y_pred))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error."""
    d = np.asarray(y_pred, dtype=float) - np.asarray(y_true, dtype=float)
    return float(np.sqrt(np.mean(d * d))) if len(d) else math.nan


def ate_r2(sate: np.ndarray, estimate: np.ndarray) -> float:
    """Across datasets: R^2 of ATE estimates, ``r2_score(y_true=SATE, y_pred=estimate)``."""
    return r2(sate, estimate)


def ate_rmse(sate: np.ndarray, estimate: np.ndarray) -> float:
    """Across datasets: RMSE of ATE estimates against SATE."""
    return rmse(sate, estimate)


def cate_r2(ite: np.ndarray, cate: np.ndarray) -> float:
    """Per dataset: ``r2_score(y_true=ite, y_pred=cate)`` (the primary CATE R^2)."""
    return r2(ite, cate)


def paper_cate_r2(ite: np.ndarray, cate: np.ndarray) -> float:
    """The reference code's CATE R^2, ``r2_score(y_true=cate, y_pred=ite)`` (orientation swapped;
    a constant estimate scores 0). For comparison with the paper's Table 2 only."""
    return r2(cate, ite)


def pehe(ite: np.ndarray, cate: np.ndarray) -> float:
    """Precision in estimating heterogeneous effects: sqrt(mean((cate - ite)^2))."""
    return rmse(ite, cate)


def sd(y: np.ndarray) -> float:
    """Population standard deviation (ddof 0), the unit of standardized metrics."""
    return float(np.std(np.asarray(y, dtype=float)))


def standardized_pehe(ite: np.ndarray, cate: np.ndarray, y: np.ndarray) -> float:
    """PEHE / SD(y) (ddof 0): comparable across datasets whose outcome scales differ."""
    s = sd(y)
    return pehe(ite, cate) / s if s > 0 else math.nan


def coverage(truth: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of units with lower < truth < upper (strict, as the reference code)."""
    truth, lower, upper = (np.asarray(a, dtype=float) for a in (truth, lower, upper))
    return float(np.mean((lower < truth) & (truth < upper))) if len(truth) else math.nan


def mean_width(lower: np.ndarray, upper: np.ndarray, y: np.ndarray | None = None) -> float:
    """Mean width of the finite intervals, in SD(y) units when ``y`` is given.

    Infinite intervals (weighted conformal gives them where overlap is poor) are left out here
    and counted by :func:`infinite_share`; they still count as covering in :func:`coverage`.
    """
    widths = np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)
    widths = widths[np.isfinite(widths)]
    w = float(np.mean(widths)) if len(widths) else math.nan
    if y is None:
        return w
    s = sd(y)
    return w / s if s > 0 else math.nan


def infinite_share(lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of intervals that are unbounded."""
    widths = np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)
    return float(np.mean(~np.isfinite(widths))) if len(widths) else math.nan


def dataset_metrics(ite: np.ndarray, y: np.ndarray, estimate: Any) -> dict[str, float]:
    """Every per-dataset metric of one :class:`~sdscm.estimators.EffectEstimate` (NaN where the
    estimator does not give the needed output)."""
    ite = np.asarray(ite, dtype=float)
    sate = float(np.mean(ite))
    nan = math.nan
    out: dict[str, float] = {
        "ate": float(estimate.ate), "ate_lower": float(estimate.ate_lower),
        "ate_upper": float(estimate.ate_upper),
        "ate_error": float(estimate.ate) - sate, "ate_abs_error": abs(float(estimate.ate) - sate),
        "ate_covered": nan, "ate_width_sd": nan,
        "cate_r2": nan, "paper_cate_r2": nan, "pehe": nan, "std_pehe": nan,
        "cate_coverage": nan, "cate_width_sd": nan, "ite_coverage": nan, "ite_width_sd": nan,
        "ite_infinite_share": nan,
    }
    if not (math.isnan(estimate.ate_lower) or math.isnan(estimate.ate_upper)):
        out["ate_covered"] = float(estimate.ate_lower < sate < estimate.ate_upper)
        out["ate_width_sd"] = mean_width(np.array([estimate.ate_lower]), np.array([estimate.ate_upper]), y)
    if estimate.cate is not None:
        out["cate_r2"] = cate_r2(ite, estimate.cate)
        out["paper_cate_r2"] = paper_cate_r2(ite, estimate.cate)
        out["pehe"] = pehe(ite, estimate.cate)
        out["std_pehe"] = standardized_pehe(ite, estimate.cate, y)
    if estimate.cate_lower is not None and estimate.cate_upper is not None:
        out["cate_coverage"] = coverage(ite, estimate.cate_lower, estimate.cate_upper)
        out["cate_width_sd"] = mean_width(estimate.cate_lower, estimate.cate_upper, y)
    if estimate.ite_lower is not None and estimate.ite_upper is not None:
        out["ite_coverage"] = coverage(ite, estimate.ite_lower, estimate.ite_upper)
        out["ite_width_sd"] = mean_width(estimate.ite_lower, estimate.ite_upper, y)
        out["ite_infinite_share"] = infinite_share(estimate.ite_lower, estimate.ite_upper)
    return out


BOOTSTRAP_RESAMPLES = 2000


def _r2_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """R^2 of each row of two (B, n) arrays, with :func:`r2`'s convention for a constant y_true."""
    dev = y_true - y_true.mean(axis=1, keepdims=True)
    ss_tot = np.einsum("ij,ij->i", dev, dev)
    res = y_true - y_pred
    ss_res = np.einsum("ij,ij->i", res, res)
    constant = np.ptp(y_true, axis=1) == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - ss_res / ss_tot
    return np.where(constant, np.where(ss_res == 0, 1.0, 0.0), out)


def bootstrap_interval(sate: np.ndarray, estimate: np.ndarray, metric: str = "r2", *,
                       resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval over datasets for the across-dataset ATE ``r2`` or ``rmse``.

    Datasets are resampled with replacement (`resamples` times, a fixed seed so reports are
    reproducible); the interval shows how much the number rests on which datasets were drawn
    (one dataset can swing an R^2 over 10 datasets). NaN with fewer than 3 datasets or a
    non-finite input.
    """
    sate, estimate = np.asarray(sate, dtype=float), np.asarray(estimate, dtype=float)
    n = len(sate)
    if n < 3 or not _finite(sate, estimate):
        return math.nan, math.nan
    if metric not in ("r2", "rmse"):
        raise ValueError(f"metric must be 'r2' or 'rmse', got {metric!r}")
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    t, e = sate[idx], estimate[idx]
    values = _r2_rows(t, e) if metric == "r2" else np.sqrt(np.mean((e - t) ** 2, axis=1))
    tail = (1 - level) / 2
    lo, hi = np.quantile(values, [tail, 1 - tail])
    return float(lo), float(hi)
