"""Benchmark health: does a dataset's ground truth measure something an estimator can get right?

A benchmark is only as good as its effects. If the true effects are no larger than the
backend's numerical error, every estimator is scored against noise; if almost every unit is
treated (or almost none), effects cannot be estimated without extrapolation; if the outcome
barely varies, nothing can be learned from it. Each dataset gets the numbers that show this
and a verdict with named reasons; a family gets the union of its datasets' reasons.

Pure functions over arrays, stored frames and manifest records; the numerical floor itself is
measured with the model in :mod:`sdscm.benchmark.floor`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from sdscm.effects import naive_difference, sample_ate

NUMERICAL_FLOOR = "numerical_floor"
"""Dataset metadata key of the measured numerical floor (None: the outcome is not scored by the model)."""

OVERLAP_BAND = (0.05, 0.95)
"""Propensities outside this band count as poor overlap."""

OK = "ok"
NEAR_NULL = "near-null effect"
POOR_OVERLAP = "poor overlap"
DEGENERATE = "degenerate outcome"
REASONS = (NEAR_NULL, POOR_OVERLAP, DEGENERATE)


@dataclass(frozen=True)
class HealthThresholds:
    """When a dataset is called unhealthy (defaults documented in docs/benchmarks.md).

    - near-null effect: both |SATE| and ITE SD below `effect_to_floor` x the numerical floor, or,
      for outcomes on the probability scale, below `min_effect` (an effect of a thousandth of a
      probability point is no basis for ranking estimators, however exact);
    - poor overlap: more than `max_outside_band` of the units have a propensity outside
      :data:`OVERLAP_BAND`, or fewer than `min_arm_share` of the units are in one arm;
    - degenerate outcome: the outcome's SD is below `effect_to_floor` x the floor, or, for
      outcomes on the probability scale, below `min_outcome_sd`.
    """

    effect_to_floor: float = 10.0
    min_effect: float = 1e-3
    max_outside_band: float = 0.10
    min_arm_share: float = 0.05
    min_outcome_sd: float = 1e-3


DEFAULT_THRESHOLDS = HealthThresholds()


@dataclass(frozen=True)
class DatasetHealth:
    """One dataset's health numbers and verdict."""

    n: int
    sate: float
    ite_sd: float
    outcome_sd: float
    naive_difference: float | None
    confounding_bias: float | None
    treated_share: float
    propensity_min: float | None
    propensity_max: float | None
    outside_overlap_share: float | None
    numerical_floor: float | None
    reasons: tuple[str, ...]

    @property
    def verdict(self) -> str:
        """`ok`, or the reasons joined by ', '."""
        return ", ".join(self.reasons) if self.reasons else OK

    @property
    def ok(self) -> bool:
        return not self.reasons

    def as_record(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None), with the verdict."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[key] = list(value) if isinstance(value, tuple) else value
        out["verdict"] = self.verdict
        return out


def dataset_health(
    t: np.ndarray,
    y: np.ndarray,
    mu0: np.ndarray,
    mu1: np.ndarray,
    e: np.ndarray | None,
    numerical_floor: float | None,
    *,
    probability_scale: bool = True,
    thresholds: HealthThresholds = DEFAULT_THRESHOLDS,
) -> DatasetHealth:
    """Health numbers and verdict of one dataset from its arrays.

    `numerical_floor` is the backend's measured error on this dataset's outcome quantity (None
    when unknown, e.g. for the paper's CSVs: the near-null check is then skipped).
    `probability_scale` says whether y is a probability or an indicator (then the absolute
    bounds `min_effect` and `min_outcome_sd` apply too; raw log-scores are judged by the floor).
    """
    t = np.asarray(t).astype(bool)
    y = np.asarray(y, dtype=float)
    ite = np.asarray(mu1, dtype=float) - np.asarray(mu0, dtype=float)
    n = len(t)
    sate = sample_ate(mu0, mu1) if n else math.nan
    ite_sd = float(np.std(ite)) if n else math.nan
    outcome_sd = float(np.std(y)) if n else math.nan
    naive = naive_difference(t, y)
    bias = None if naive is None else naive - sate
    treated_share = float(t.mean()) if n else math.nan
    outside = e_min = e_max = None
    if e is not None and n:
        e = np.asarray(e, dtype=float)
        outside = float(np.mean((e < OVERLAP_BAND[0]) | (e > OVERLAP_BAND[1])))
        e_min, e_max = float(e.min()), float(e.max())
    floor = None if numerical_floor is None else float(numerical_floor)

    reasons = []
    effect_bound = near_null_bound(floor, probability_scale, thresholds)
    if (sate == 0.0 and ite_sd == 0.0) or not (abs(sate) >= effect_bound or ite_sd >= effect_bound):
        reasons.append(NEAR_NULL)
    arm_share = min(treated_share, 1.0 - treated_share) if n else 0.0
    if arm_share < thresholds.min_arm_share or (outside is not None and outside > thresholds.max_outside_band):
        reasons.append(POOR_OVERLAP)
    sd_bound = thresholds.effect_to_floor * floor if floor is not None else 0.0
    if probability_scale:
        sd_bound = max(sd_bound, thresholds.min_outcome_sd)
    if not outcome_sd > sd_bound or outcome_sd == 0.0:
        reasons.append(DEGENERATE)
    return DatasetHealth(
        n=n, sate=sate, ite_sd=ite_sd, outcome_sd=outcome_sd, naive_difference=naive, confounding_bias=bias,
        treated_share=treated_share, propensity_min=e_min, propensity_max=e_max,
        outside_overlap_share=outside, numerical_floor=floor, reasons=tuple(reasons),
    )


def near_null_bound(floor: float | None, probability_scale: bool,
                    thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> float:
    """The size |SATE| or ITE SD must reach for an effect not to be near-null."""
    bound = thresholds.effect_to_floor * floor if floor is not None else 0.0
    return max(bound, thresholds.min_effect) if probability_scale else bound


@dataclass(frozen=True)
class FamilyHealth:
    """A family's verdict: `ok` when every dataset is, else each reason with its dataset count."""

    datasets: int
    unhealthy: int
    reason_counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.unhealthy == 0

    @property
    def verdict(self) -> str:
        if self.ok:
            return OK
        return ", ".join(f"{reason} ({count}/{self.datasets} datasets)"
                         for reason, count in self.reason_counts.items())

    def as_record(self) -> dict[str, Any]:
        return {"datasets": self.datasets, "unhealthy": self.unhealthy,
                "reasons": dict(self.reason_counts), "verdict": self.verdict}


def family_health(reasons_per_dataset: Iterable[Iterable[str]]) -> FamilyHealth:
    """Combine the datasets' reasons into the family's verdict (reasons in a fixed order)."""
    counts = {reason: 0 for reason in REASONS}
    total = unhealthy = 0
    for reasons in reasons_per_dataset:
        reasons = list(reasons)
        total += 1
        unhealthy += bool(reasons)
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    return FamilyHealth(total, unhealthy, {r: c for r, c in counts.items() if c})


def health_from_record(record: Mapping[str, Any]) -> list[str]:
    """The reasons stored in a manifest record's `health` entry (empty if healthy or absent)."""
    health = record.get("health") or {}
    return list(health.get("reasons") or [])


def explain(health: Mapping[str, Any], thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> list[str]:
    """One line per reason of a health record (:meth:`DatasetHealth.as_record`) with the numbers
    behind it and what to try."""
    lines = []
    reasons = health.get("reasons") or []
    floor = health.get("numerical_floor")
    if NEAR_NULL in reasons:
        floor_bound = thresholds.effect_to_floor * (floor or 0.0)
        why = (f"{thresholds.effect_to_floor:g} x the numerical floor {floor:.3g}, so the ground truth is "
               "numerical noise" if floor is not None and floor_bound >= thresholds.min_effect
               else f"{thresholds.min_effect:g} (the numerical floor is "
                    + ("unknown" if floor is None else f"{floor:.3g}") + ")")
        lines.append(
            f"{NEAR_NULL}: |SATE| {abs(health['sate']):.3g} and ITE SD {health['ite_sd']:.3g} are below {why}; "
            "shorten the outcome's parent set or use short values of equal length "
            "(docs/benchmarks.md#benchmark-health)"
        )
    if POOR_OVERLAP in reasons:
        share = health.get("outside_overlap_share")
        lines.append(
            f"{POOR_OVERLAP}: treated share {health['treated_share']:.3f}"
            + (f", {100 * share:.1f}% of units with propensity outside {list(OVERLAP_BAND)}"
               if share is not None else "")
            + "; estimators must extrapolate: reword the treatment so that both arms are plausible"
        )
    if DEGENERATE in reasons:
        lines.append(
            f"{DEGENERATE}: outcome SD {health['outcome_sd']:.3g}; the outcome barely varies: pick another "
            "outcome value or reword the outcome"
        )
    return lines


def frame_health(frame: pd.DataFrame, metadata: Mapping[str, Any]) -> DatasetHealth:
    """The health of a written dataset from its columns and metadata (floor, outcome quantity)."""
    quantity = metadata.get("design", {}).get("quantity", "probability")
    return dataset_health(
        frame["t"].to_numpy(), frame["y"].to_numpy(dtype=float), frame["mu0"].to_numpy(dtype=float),
        frame["mu1"].to_numpy(dtype=float), frame["e"].to_numpy(dtype=float) if "e" in frame else None,
        metadata.get(NUMERICAL_FLOOR), probability_scale=quantity != "log_score",
    )
