"""Pure statistics for audits: paired tests on per-unit effects, meta-analysis, multiplicity, equivalence.

Every function takes plain numbers or arrays and returns plain numbers or small dataclasses, so each
can be checked by hand. Conventions: p-values are two-sided unless a name says otherwise; a sample
whose values are all exactly zero has p = 1 (there is nothing to test), never NaN.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats as sps

ArrayLike = Sequence[float] | np.ndarray


def _as_1d(x: ArrayLike) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError("per-unit values must be finite")
    return arr


# ----------------------------------------------------------------------------- one sample
def mean_and_se(x: ArrayLike) -> tuple[float, float]:
    """Sample mean and its standard error sd/sqrt(n) (ddof=1; SE 0 for n < 2)."""
    arr = _as_1d(x)
    if len(arr) == 0:
        raise ValueError("empty sample")
    mean = float(arr.mean())
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else 0.0
    return mean, se


def bootstrap_ci(x: ArrayLike, level: float = 0.95, n_boot: int = 2000, seed: int | Sequence[int] = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (resampling units with replacement).

    Deterministic for a given seed; a constant sample gives the degenerate interval [c, c].
    """
    arr = _as_1d(x)
    n = len(arr)
    if n == 0:
        raise ValueError("empty sample")
    if np.all(arr == arr[0]):
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(n, 1))  # bound memory: chunk x n indices at a time
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = arr[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def wilcoxon_p(x: ArrayLike) -> float:
    """Wilcoxon signed-rank test of symmetry about zero (two-sided; zeros dropped, as Wilcoxon did).

    Exact distribution for small samples without ties, normal approximation otherwise (scipy's
    choice); p = 1 when every value is zero.
    """
    arr = _as_1d(x)
    if len(arr) == 0 or np.all(arr == 0):
        return 1.0
    res = sps.wilcoxon(arr, zero_method="wilcox", alternative="two-sided")
    p = float(res.pvalue)
    return 1.0 if not math.isfinite(p) else min(1.0, p)


def sign_flip_p(x: ArrayLike, n_perm: int = 10_000, seed: int | Sequence[int] = 0, exact_max_n: int = 16) -> float:
    """Sign-flip permutation test of mean zero (two-sided, statistic |mean|).

    Under H0 (per-unit values symmetric about zero) every sign pattern is equally likely. Exact
    enumeration of all 2^n patterns when n <= `exact_max_n`; otherwise `n_perm` random patterns and
    p = (1 + #{|T*| >= |T|}) / (1 + n_perm), which is a valid (never anti-conservative) p-value.
    """
    arr = _as_1d(x)
    n = len(arr)
    if n == 0 or np.all(arr == 0):
        return 1.0
    observed = abs(arr.sum())
    tol = 1e-12 * max(1.0, float(np.abs(arr).sum()))
    if n <= exact_max_n:
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
        sums = np.abs(signs @ arr)
        return float(np.mean(sums >= observed - tol))
    rng = np.random.default_rng(seed)
    hits = 0
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_perm, chunk):
        m = min(chunk, n_perm - start)
        signs = rng.integers(0, 2, size=(m, n)) * 2.0 - 1.0
        hits += int(np.sum(np.abs(signs @ arr) >= observed - tol))
    return (1.0 + hits) / (1.0 + n_perm)


def fisher_p(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Fisher's exact test (two-sided) of equal rates hits_a/n_a vs hits_b/n_b."""
    table = [[hits_a, n_a - hits_a], [hits_b, n_b - hits_b]]
    if n_a == 0 or n_b == 0:
        return 1.0
    return float(sps.fisher_exact(table, alternative="two-sided").pvalue)


def mcnemar_p(a_only: int, b_only: int) -> float:
    """Exact McNemar test (two-sided binomial test on the discordant pairs); 1 when there are none."""
    total = a_only + b_only
    if total == 0:
        return 1.0
    return float(sps.binomtest(a_only, total, 0.5, alternative="two-sided").pvalue)


# ----------------------------------------------------------------------------- equivalence
@dataclass(frozen=True)
class TOSTResult:
    """Two one-sided tests of |effect| < margin: equivalent when `p_value` < alpha."""

    margin: float
    p_lower: float  # H0: effect <= -margin
    p_upper: float  # H0: effect >= +margin
    p_value: float  # max of the two
    alpha: float
    equivalent: bool
    ci_low: float  # the (1 - 2 alpha) interval: equivalence <=> it lies inside (-margin, margin)
    ci_high: float

    def to_dict(self) -> dict[str, float | bool]:
        return asdict(self)


def tost(estimate: float, se: float, margin: float, alpha: float = 0.05, df: float | None = None) -> TOSTResult:
    """Schuirmann's two one-sided tests for an estimate with standard error `se`.

    Uses Student's t with `df` degrees of freedom, or the normal distribution when df is None.
    With se = 0 the estimate is exact and equivalence holds iff |estimate| < margin.
    """
    if margin <= 0:
        raise ValueError(f"the equivalence margin must be > 0, got {margin}")
    dist = sps.norm() if df is None else sps.t(df)
    if se <= 0:
        p_lower = 0.0 if estimate > -margin else 1.0
        p_upper = 0.0 if estimate < margin else 1.0
        lo = hi = float(estimate)
    else:
        p_lower = float(dist.sf((estimate + margin) / se))
        p_upper = float(dist.cdf((estimate - margin) / se))
        q = float(dist.ppf(1.0 - alpha))
        lo, hi = estimate - q * se, estimate + q * se
    p = max(p_lower, p_upper)
    return TOSTResult(margin=float(margin), p_lower=p_lower, p_upper=p_upper, p_value=p, alpha=alpha,
                      equivalent=bool(p < alpha), ci_low=float(lo), ci_high=float(hi))


# ----------------------------------------------------------------------------- meta-analysis
@dataclass(frozen=True)
class MetaResult:
    """Random-effects pooled estimate (DerSimonian-Laird tau^2) and heterogeneity over k studies (variants).

    `se`, `ci_low`, `ci_high`, `p_value` use the Hartung-Knapp-Sidik-Jonkman correction with
    Student's t on `df` = k - 1 degrees of freedom when `method` says so, else the normal distribution
    (`df` None); `se_z` and `p_value_z` are always the plain DerSimonian-Laird normal-theory values.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: int | None
    method: str
    se_z: float
    p_value_z: float
    tau2: float  # between-variant variance of the true effects
    q: float  # Cochran's Q
    q_df: int
    q_p_value: float | None  # None for a single study
    i2: float | None  # share of variation due to heterogeneity, in [0, 1]; None for a single study
    k: int

    def to_dict(self) -> dict[str, float | int | str | None]:
        return asdict(self)


# Variances below this are treated as exact estimates (a variant whose per-unit values are all
# equal); flooring keeps inverse-variance weights finite without changing any realistic result.
VARIANCE_FLOOR = 1e-30


def random_effects_meta(estimates: ArrayLike, variances: ArrayLike, level: float = 0.95,
                        hksj: bool = True) -> MetaResult:
    """DerSimonian-Laird random-effects meta-analysis, with the Hartung-Knapp-Sidik-Jonkman CI.

    w_i = 1/v_i; Q = sum w_i (y_i - y_fixed)^2; tau^2 = max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w));
    pooled = sum w*_i y_i / sum w*_i with w*_i = 1/(v_i + tau^2), SE_z = sqrt(1 / sum w*_i);
    I^2 = max(0, (Q - (k-1)) / Q). Normal CI and p from SE_z when `hksj` is False or k = 1. Otherwise
    SE^2 = q* * SE_z^2 with q* = sum w*_i (y_i - pooled)^2 / (k - 1), and Student's t with k - 1 df:
    DL's z-interval is too narrow with few variants, and DL underestimates tau^2 when the variants' own
    variances differ a lot; the HKSJ interval keeps nominal coverage there (IntHout et al. 2014).
    """
    y = _as_1d(estimates)
    v = np.maximum(_as_1d(variances), VARIANCE_FLOOR)
    k = len(y)
    if k == 0 or len(v) != k:
        raise ValueError("need one variance per estimate and at least one estimate")
    w = 1.0 / v
    y_fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - y_fixed) ** 2))
    q_df = k - 1
    if k > 1:
        c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
        tau2 = max(0.0, (q - q_df) / c) if c > 0 else 0.0
        i2 = max(0.0, (q - q_df) / q) if q > 0 else 0.0
        q_p = float(sps.chi2.sf(q, q_df))
    else:
        tau2, i2, q_p = 0.0, None, None
    w_star = 1.0 / (v + tau2)
    est = float(np.sum(w_star * y) / np.sum(w_star))
    se_z = float(math.sqrt(1.0 / np.sum(w_star)))
    exact = se_z <= math.sqrt(VARIANCE_FLOOR / k) * 1.0000001 and tau2 == 0.0  # every study exact
    use_t = hksj and k > 1
    if use_t:
        q_star = float(np.sum(w_star * (y - est) ** 2) / (k - 1))
        se = se_z * math.sqrt(q_star)
        dist = sps.t(k - 1)
    else:
        se, dist = se_z, sps.norm()
    if exact:
        se = se_z = 0.0

    def two_sided(scale: float, d: Any) -> float:
        if np.all(y == 0):
            return 1.0
        if scale <= 0:  # an exact estimate (or studies that agree exactly): no sampling error
            return 0.0 if est != 0 else 1.0
        return float(2.0 * d.sf(abs(est) / scale))

    p, p_z = two_sided(se, dist), two_sided(se_z, sps.norm)
    crit = float(dist.ppf(0.5 + level / 2.0))
    return MetaResult(estimate=est, se=se, ci_low=est - crit * se, ci_high=est + crit * se, p_value=p,
                      df=k - 1 if use_t else None,
                      method="DerSimonian-Laird tau2, Hartung-Knapp-Sidik-Jonkman t-interval"
                      if use_t else "DerSimonian-Laird, normal interval",
                      se_z=se_z, p_value_z=p_z, tau2=tau2, q=q, q_df=q_df, q_p_value=q_p, i2=i2, k=k)


# ----------------------------------------------------------------------------- multiplicity
def adjust_pvalues(p_values: ArrayLike, method: str) -> list[float]:
    """Holm ("holm") or Benjamini-Hochberg ("bh") adjusted p-values, via statsmodels' multipletests."""
    from statsmodels.stats.multitest import multipletests

    names = {"holm": "holm", "bh": "fdr_bh"}
    if method not in names:
        raise ValueError(f"method must be one of {list(names)}, got {method!r}")
    p = _as_1d(p_values)
    if len(p) <= 1:  # nothing to adjust (and multipletests' Holm runs a full gc.collect() per call)
        return [float(x) for x in p]
    return [float(x) for x in multipletests(p, method=names[method])[1]]
