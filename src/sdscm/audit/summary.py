"""From per-unit audit numbers to the answer: per-variant tests, pooled estimates, adjustments, verdict.

One *contrast* is one outcome value y: per-unit effect e_i = P_B(y) - P_A(y) and placebo change
c_i = P_A'(y) - P_A(y). Per variant: mean effect with a bootstrap CI, Wilcoxon and sign-flip tests
against zero; the effect against the placebo as the paired per-unit difference |e_i| - |c_i| ("does
the swap move the model more than a re-wording does?"), and flip rate vs placebo flip rate (Fisher's
exact test; the paired McNemar test too). Pooled over variants: DerSimonian-Laird random effects
(variant = random effect) with the Hartung-Knapp-Sidik-Jonkman t-interval, for the effect, the placebo
change and the excess |e| - |c|. Across
contrasts: Holm and Benjamini-Hochberg. Optional TOST against a margin.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sdscm.audit import stats
from sdscm.audit.arms import VariantArm, units_frame
from sdscm.audit.formatting import fmt_p, p_text
from sdscm.audit.report import write_reports
from sdscm.audit.setup import AuditSetup
from sdscm.version import __version__


def _seed(setup: AuditSetup, *parts: int) -> list[int]:
    """A resampling seed tied to the audit's seed, so bootstrap/permutation results are reproducible."""
    return [int(setup.seed) & 0xFFFFFFFF, *[int(p) for p in parts]]


def _variant_row(setup: AuditSetup, arm: VariantArm, position: int, j: int) -> dict[str, Any]:
    effect = arm.probs_b[:, j] - arm.probs_a[:, j]
    flips = arm.outcome_a != arm.outcome_b
    mean, se = stats.mean_and_se(effect)
    lo, hi = stats.bootstrap_ci(effect, setup.level, setup.n_boot, seed=_seed(setup, position, j, 0))
    row: dict[str, Any] = {
        "variant": arm.variant,
        "n": arm.n,
        "cause_phrasing": arm.cause_phrasing,
        "placebo_phrasing": arm.placebo_phrasing,
        "effect": mean,
        "se": se,
        "ci_low": lo,
        "ci_high": hi,
        "p_wilcoxon": stats.wilcoxon_p(effect),
        "p_sign_flip": stats.sign_flip_p(effect, setup.n_perm, seed=_seed(setup, position, j, 1)),
        "mean_abs_effect": float(np.mean(np.abs(effect))),
        "flips": int(flips.sum()),
        "flip_rate": float(flips.mean()),
    }
    if arm.has_placebo:
        change = arm.probs_placebo[:, j] - arm.probs_a[:, j]
        pflips = arm.outcome_placebo != arm.outcome_a
        pmean, pse = stats.mean_and_se(change)
        plo, phi = stats.bootstrap_ci(change, setup.level, setup.n_boot, seed=_seed(setup, position, j, 2))
        excess = np.abs(effect) - np.abs(change)
        emean, ese = stats.mean_and_se(excess)
        row.update({
            "placebo_effect": pmean,
            "placebo_se": pse,
            "placebo_ci_low": plo,
            "placebo_ci_high": phi,
            "placebo_p_sign_flip": stats.sign_flip_p(change, setup.n_perm, seed=_seed(setup, position, j, 3)),
            "mean_abs_placebo": float(np.mean(np.abs(change))),
            "excess_abs_effect": emean,
            "excess_se": ese,
            "p_vs_placebo_wilcoxon": stats.wilcoxon_p(excess),
            "p_vs_placebo_sign_flip": stats.sign_flip_p(excess, setup.n_perm, seed=_seed(setup, position, j, 4)),
            "placebo_flips": int(pflips.sum()),
            "placebo_flip_rate": float(pflips.mean()),
            "p_flip_fisher": stats.fisher_p(int(flips.sum()), arm.n, int(pflips.sum()), arm.n),
        })
    return row


def _contrast(setup: AuditSetup, arms: Sequence[VariantArm], value: str) -> dict[str, Any]:
    j = list(setup.spec.variable(setup.outcome).values).index(value)
    rows = [_variant_row(setup, arm, pos, j) for pos, arm in enumerate(arms)]
    meta = stats.random_effects_meta([r["effect"] for r in rows], [r["se"] ** 2 for r in rows], setup.level)
    effect_all = np.concatenate([arm.probs_b[:, j] - arm.probs_a[:, j] for arm in arms])
    flips = np.concatenate([arm.outcome_a != arm.outcome_b for arm in arms])
    out: dict[str, Any] = {
        "outcome_value": value,
        "effect": meta.estimate,
        "se": meta.se,
        "ci_low": meta.ci_low,
        "ci_high": meta.ci_high,
        "p_value": meta.p_value,
        "pooling": {"method": meta.method, "df": meta.df, "se_z": meta.se_z, "p_value_z": meta.p_value_z},
        "heterogeneity": {"tau2": meta.tau2, "i2": meta.i2, "q": meta.q, "q_df": meta.q_df,
                          "q_p_value": meta.q_p_value, "k": meta.k},
        "mean_abs_effect": float(np.mean(np.abs(effect_all))),
        "flip_rate": float(flips.mean()),
        "flips": int(flips.sum()),
        "n_units": int(len(flips)),
        "placebo_effect": None, "placebo_ci_low": None, "placebo_ci_high": None, "placebo_p_value": None,
        "mean_abs_placebo": None, "excess_abs_effect": None, "excess_ci_low": None, "excess_ci_high": None,
        "p_value_vs_placebo": None, "placebo_flip_rate": None, "placebo_flips": None,
        "p_flip_vs_placebo": None, "p_flip_mcnemar": None, "abs_effect_to_placebo_ratio": None,
    }
    with_placebo = [arm for arm in arms if arm.has_placebo]
    if with_placebo and len(with_placebo) == len(arms):
        pmeta = stats.random_effects_meta([r["placebo_effect"] for r in rows],
                                          [r["placebo_se"] ** 2 for r in rows], setup.level)
        emeta = stats.random_effects_meta([r["excess_abs_effect"] for r in rows],
                                          [r["excess_se"] ** 2 for r in rows], setup.level)
        change_all = np.concatenate([arm.probs_placebo[:, j] - arm.probs_a[:, j] for arm in arms])
        pflips = np.concatenate([arm.outcome_placebo != arm.outcome_a for arm in arms])
        mean_abs_p = float(np.mean(np.abs(change_all)))
        out.update({
            "placebo_effect": pmeta.estimate,
            "placebo_ci_low": pmeta.ci_low,
            "placebo_ci_high": pmeta.ci_high,
            "placebo_p_value": pmeta.p_value,
            "mean_abs_placebo": mean_abs_p,
            "excess_abs_effect": emeta.estimate,
            "excess_ci_low": emeta.ci_low,
            "excess_ci_high": emeta.ci_high,
            "p_value_vs_placebo": emeta.p_value,
            "placebo_flip_rate": float(pflips.mean()),
            "placebo_flips": int(pflips.sum()),
            "p_flip_vs_placebo": stats.fisher_p(int(flips.sum()), len(flips), int(pflips.sum()), len(pflips)),
            "p_flip_mcnemar": stats.mcnemar_p(int(np.sum(flips & ~pflips)), int(np.sum(pflips & ~flips))),
            "abs_effect_to_placebo_ratio": (out["mean_abs_effect"] / mean_abs_p) if mean_abs_p > 0 else None,
        })
    out["equivalence"] = (stats.tost(meta.estimate, meta.se, setup.margin, setup.alpha, df=meta.df).to_dict()
                          if setup.margin is not None else None)
    out["variants"] = rows
    return out


def _heterogeneity_sentence(setup: AuditSetup, c: dict[str, Any]) -> str:
    """When phrasing variants disagree (I^2 > 50%), say how many are individually significant, and which way."""
    i2 = c["heterogeneity"]["i2"]
    if i2 is None or i2 <= 0.5:
        return ""
    rows = c["variants"]
    sig = [r for r in rows if r["p_sign_flip"] < setup.alpha]
    if not sig:
        return ""
    up = sum(r["effect"] > 0 for r in sig)
    down = len(sig) - up
    what = "its direction" if up and down else "its size"
    return (f" The phrasing variants disagree (I² = {i2:.0%}): the effect is individually significant in "
            f"{len(sig)} of {len(rows)} variants ({up} positive, {down} negative; sign-flip tests, "
            f"unadjusted), so {what} depends on how the story is worded.")


def _verdict(setup: AuditSetup, c: dict[str, Any]) -> str:
    """Plain-language sentences that a reader can check against the numbers."""
    return _main_verdict(setup, c) + ("" if not setup.upstream else _heterogeneity_sentence(setup, c))


def _main_verdict(setup: AuditSetup, c: dict[str, Any]) -> str:
    a, b = setup.values
    what = f"P({setup.outcome} = {c['outcome_value']})"
    if not setup.upstream:
        return (f"'{setup.cause}' is not upstream of '{setup.outcome}': by the DAG the model cannot encode an "
                "effect, and every per-unit effect is exactly zero.")
    p = c.get("p_holm", c["p_value"])
    sig = p is not None and p < setup.alpha
    direction = "raises" if c["effect"] > 0 else "lowers"
    if sig:
        text = (f"Changing '{setup.cause}' from '{a}' to '{b}' {direction} {what} by "
                f"{abs(c['effect']):.4f} on average ({p_text(p, 'adjusted p')}).")
        pv = c.get("p_vs_placebo_holm", c["p_value_vs_placebo"])
        if pv is not None:
            if pv < setup.alpha and c["excess_abs_effect"] > 0:
                text += f" It moves the model more than re-wording the same sentence does ({p_text(pv)})."
            elif pv < setup.alpha:
                text += (f" Re-wording the same sentence moves the model even more ({p_text(pv)}): the "
                         "effect is within wording noise.")
            else:
                text += (f" But re-wording the same sentence moves the model about as much ({p_text(pv)}): "
                         "the effect is not distinguishable from wording sensitivity.")
        return text
    eq = c.get("equivalence")
    if eq is not None and eq["equivalent"]:
        return (f"No effect of '{setup.cause}' ('{a}' -> '{b}') on {what} beyond +/-{eq['margin']:g}: "
                f"equivalence shown by TOST ({p_text(eq['p_value'])}).")
    tail = ("" if eq is not None else " Absence of evidence is not evidence of absence: set a margin to test "
            "equivalence.")
    if eq is not None:
        tail = f" Equivalence within +/-{eq['margin']:g} is not shown either (TOST {p_text(eq['p_value'])})."
    return (f"No significant effect of '{setup.cause}' ('{a}' -> '{b}') on {what} "
            f"(estimate {c['effect']:+.4f}, {p_text(p, 'adjusted p')}).{tail}")


def _clean(obj: Any) -> Any:
    """JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj


@dataclass
class AuditResult:
    """Everything an audit found. The headline attributes are those of the primary contrast (the first
    outcome value); `contrasts` holds one dict per outcome value, each with its per-variant rows."""

    setup: AuditSetup
    arms: list[VariantArm]
    contrasts: list[dict[str, Any]]
    runtime: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    # headline (primary contrast)
    @property
    def primary(self) -> dict[str, Any]:
        return self.contrasts[0]

    @property
    def effect(self) -> float:
        return self.primary["effect"]

    @property
    def ci(self) -> tuple[float, float]:
        return self.primary["ci_low"], self.primary["ci_high"]

    @property
    def p_value(self) -> float:
        return self.primary["p_value"]

    @property
    def upstream(self) -> bool:
        """Whether the cause has a directed path to the outcome (else every effect is zero)."""
        return self.setup.upstream

    @property
    def units(self) -> pd.DataFrame:
        """Per-unit effects and placebo changes, one row per (variant, unit, outcome value)."""
        return units_frame(self.setup, self.arms)

    def to_dict(self) -> dict[str, Any]:
        """The content of results.json (headline keys first, then every contrast and the inputs)."""
        c = self.primary
        head = {k: c[k] for k in ("outcome_value", "effect", "ci_low", "ci_high", "p_value", "placebo_effect",
                                  "placebo_ci_low", "placebo_ci_high", "p_value_vs_placebo", "flip_rate",
                                  "placebo_flip_rate", "p_flip_vs_placebo", "heterogeneity", "pooling",
                                  "equivalence")}
        head.update({"p_value_holm": c.get("p_holm"), "p_value_bh": c.get("p_bh"), "verdict": c["verdict"]})
        adjusted = {
            "p_value": {"holm": {x["outcome_value"]: x.get("p_holm") for x in self.contrasts},
                        "bh": {x["outcome_value"]: x.get("p_bh") for x in self.contrasts}},
            "p_value_vs_placebo": {"holm": {x["outcome_value"]: x.get("p_vs_placebo_holm") for x in self.contrasts},
                                   "bh": {x["outcome_value"]: x.get("p_vs_placebo_bh") for x in self.contrasts}},
        }
        return _clean({
            "sdscm_version": __version__,
            "cause": self.setup.cause,
            "values": list(self.setup.values),
            "outcome": self.setup.outcome,
            "upstream": self.setup.upstream,
            **head,
            "variants": c["variants"],
            "adjusted": adjusted,
            "contrasts": self.contrasts,
            "notes": self.notes,
            "runtime": self.runtime,
            "inputs": {**self.setup.to_dict(),
                       "variant_phrasings": [{"variant": arm.variant, "phrasings": arm.phrasings}
                                             for arm in self.arms]},
        })

    def to_json(self, indent: int | None = 2) -> str:
        """results.json as a string (strict JSON: no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write results.json, units.parquet, report.md, report.html and the figures into `out_dir`."""
        return write_reports(self, Path(out_dir))

    def summary(self) -> str:
        """A few lines for a terminal: one per contrast."""
        lines = []
        for c in self.contrasts:
            line = (f"{self.setup.outcome} = {c['outcome_value']}: effect {c['effect']:+.4f} "
                    f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], {p_text(c['p_value'])}")
            if c.get("p_holm") is not None and len(self.contrasts) > 1:
                line += f" (Holm {fmt_p(c['p_holm'])}, BH {fmt_p(c['p_bh'])})"
            if c["placebo_effect"] is not None:
                line += (f"; placebo {c['placebo_effect']:+.4f}; |effect| vs |placebo| "
                         f"{p_text(c['p_value_vs_placebo'])}")
            line += f"; flips {c['flip_rate']:.3f}"
            if c["placebo_flip_rate"] is not None:
                line += f" vs placebo {c['placebo_flip_rate']:.3f}"
            lines.append(line)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"AuditResult({self.setup.cause} {self.setup.values[0]!r}->{self.setup.values[1]!r} on "
                f"{self.setup.outcome}={self.primary['outcome_value']!r}: effect={self.effect:+.4g}, "
                f"CI=[{self.ci[0]:+.4g}, {self.ci[1]:+.4g}], p={self.p_value:.3g})")


def summarise(setup: AuditSetup, arms: Sequence[VariantArm], runtime: dict[str, Any]) -> AuditResult:
    """Compute every contrast's statistics, the multiplicity adjustments and the verdicts."""
    contrasts = [_contrast(setup, arms, value) for value in setup.outcome_values]
    for key, target in (("p_value", "p"), ("p_value_vs_placebo", "p_vs_placebo")):
        ps = [c[key] for c in contrasts]
        if any(p is None for p in ps):
            continue
        for method in ("holm", "bh"):
            for c, adj in zip(contrasts, stats.adjust_pvalues(ps, method)):
                c[f"{target}_{method}"] = adj
    for c in contrasts:
        c["verdict"] = _verdict(setup, c)
    return AuditResult(setup=setup, arms=list(arms), contrasts=contrasts, runtime=dict(runtime),
                       notes=list(setup.notes))
