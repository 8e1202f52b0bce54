"""Summary figures and a short markdown report of a set of benchmark datasets.

Figures (PNG, matplotlib's Agg canvas, no display needed): SATE vs naive difference per dataset,
propensity overlap per treatment arm, ITE histograms, outcome distributions by arm. The
markdown summary states what an estimator faces: the effect sizes, how far the naive
difference is from the truth (confounding bias), and how good the overlap is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from sdscm.benchmark.dataset import CausalDataset
from sdscm.benchmark.health import (
    DEFAULT_THRESHOLDS,
    OVERLAP_BAND,
    HealthThresholds,
    family_health,
    near_null_bound,
)
from sdscm.benchmark.storage import read_manifest
from sdscm.benchmark.views import open_datasets
from sdscm.errors import BenchmarkError
from sdscm.results.figures import new_figure, plain_ticks, power_of_ten, save_figure, scale_note, shorten
from sdscm.results.io import write_text
from sdscm.results.markdown import md_text

MAX_PANELS = 12


@dataclass
class _Pooled:
    """The arrays the figures need, kept per dataset (frames dropped to save memory)."""

    names: list[str] = field(default_factory=list)
    variants: list[int | None] = field(default_factory=list)
    t: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    ite: list[np.ndarray] = field(default_factory=list)
    mu0: list[np.ndarray] = field(default_factory=list)
    mu1: list[np.ndarray] = field(default_factory=list)
    e: list[np.ndarray | None] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)


@dataclass
class DescribeResult:
    """Where the summary and figures were written, and the per-dataset table."""

    out: Path
    summary: Path
    figures: dict[str, Path]
    table: pd.DataFrame


def dataset_row(ds: CausalDataset) -> dict:
    """One dataset's summary and health numbers (a row of summary.csv) and its verdict."""
    h = ds.health()
    nan = float("nan")
    row = {
        "dataset": ds.name, "variant": ds.metadata.get("variant"), "n": ds.n, "SATE": h.sate,
        "naive difference": nan if h.naive_difference is None else h.naive_difference,
        "bias": nan if h.confounding_bias is None else h.confounding_bias, "ITE SD": h.ite_sd,
        "outcome SD": h.outcome_sd, "treated share": h.treated_share,
    }
    if ds.e is not None:
        row.update({"e min": h.propensity_min, "e max": h.propensity_max,
                    "outside overlap": h.outside_overlap_share})
    row["numerical floor"] = nan if h.numerical_floor is None else h.numerical_floor
    row["near-null bound"] = near_null_bound(h.numerical_floor, ds.quantity != "log_score")
    row["verdict"] = h.verdict
    return row


def _datasets(source: str | Path | Sequence[CausalDataset], view: str) -> Iterable[CausalDataset]:
    return open_datasets(source, view) if isinstance(source, (str, Path)) else source


def _pool(datasets: Iterable[CausalDataset]) -> _Pooled:
    pooled = _Pooled()
    for ds in datasets:
        pooled.names.append(ds.name)
        pooled.variants.append(ds.metadata.get("variant"))
        pooled.t.append(ds.t.astype(bool))
        pooled.y.append(ds.y)
        pooled.ite.append(ds.ite)
        pooled.mu0.append(ds.mu0)
        pooled.mu1.append(ds.mu1)
        pooled.e.append(ds.e)
        pooled.rows.append(dataset_row(ds))
    if not pooled.names:
        raise BenchmarkError("no datasets to describe")
    return pooled


def _figure(**kwargs):
    return new_figure(**kwargs)  # constrained layout: panels, titles and labels never overlap


def sate_vs_naive_figure(table: pd.DataFrame):
    """Each dataset's true SATE against its naive difference in means; the diagonal is no bias."""
    fig = _figure(figsize=(5.8, 5.2))
    ax = fig.subplots()
    sate = table["SATE"].to_numpy(dtype=float)
    naive = table["naive difference"].to_numpy(dtype=float)
    k = power_of_ten(np.concatenate([sate, naive]))
    sate, naive = sate / 10.0 ** k, naive / 10.0 ** k
    variants = table["variant"].fillna(-1).astype(int).to_numpy()
    for v in sorted(set(variants)):
        rows = variants == v
        ax.scatter(sate[rows], naive[rows], s=22, label=f"variant {v}" if v >= 0 else "datasets", alpha=0.8)
    both = np.concatenate([sate, naive])
    both = both[np.isfinite(both)]
    lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", lw=1, ls="--", label="no bias")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    plain_ticks(ax, nbins=5)
    ax.set_xlabel("true SATE (mean of mu1 - mu0)" + scale_note(k))
    ax.set_ylabel("naive difference in means" + scale_note(k))
    ax.set_title("True effect vs naive estimate, per dataset")
    ax.legend(fontsize=8, ncols=2 if len(set(variants)) > 4 else 1)
    return fig


def plot_sate_vs_naive(p: _Pooled, table: pd.DataFrame, path: Path) -> Path:
    """Write :func:`sate_vs_naive_figure` to `path`."""
    return save_figure(sate_vs_naive_figure(table), path)


def propensity_figure(p: _Pooled):
    """Histograms of the true propensity e among treated and control units (all datasets pooled);
    None when some dataset has no propensity."""
    if any(e is None for e in p.e):
        return None
    e = np.concatenate(p.e)  # type: ignore[arg-type]
    t = np.concatenate(p.t)
    fig = _figure(figsize=(6, 4))
    ax = fig.subplots()
    bins = np.linspace(0, 1, 41)
    ax.hist(e[~t], bins=bins, alpha=0.55, density=True, label=f"control (n={int((~t).sum())})")
    ax.hist(e[t], bins=bins, alpha=0.55, density=True, label=f"treated (n={int(t.sum())})")
    ax.set_xlabel("propensity e = P(treated | treatment's parents)")
    ax.set_ylabel("density")
    ax.set_title("Propensity overlap by treatment arm")
    ax.legend(fontsize=8)
    return fig


def plot_propensity(p: _Pooled, path: Path) -> Path | None:
    """Write :func:`propensity_figure` to `path` (None, and no file, without propensities)."""
    fig = propensity_figure(p)
    return None if fig is None else save_figure(fig, path)


def _grid(count: int, width: float = 3.0, height: float = 2.4):
    cols = min(4, count)
    rows = int(np.ceil(count / cols))
    fig = _figure(figsize=(width * cols, height * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes


def ite_figure(p: _Pooled):
    """ITE histograms of the first datasets (one panel each, short names), with the SATE marked."""
    count = min(MAX_PANELS, len(p.names))
    fig, axes = _grid(count)
    k = power_of_ten(np.concatenate([ite[np.isfinite(ite)] for ite in p.ite[:count]]))
    for ax, name, ite in zip(axes, p.names[:count], p.ite[:count]):
        ax.hist(ite / 10.0 ** k, bins=30, color="tab:purple", alpha=0.8)
        ax.axvline(float(np.mean(ite)) / 10.0 ** k, color="black", lw=1)
        ax.set_title(shorten(name, 34), fontsize=8)
        ax.tick_params(labelsize=7)
        plain_ticks(ax, nbins=4)
    fig.suptitle("Individual treatment effects mu1 - mu0 (line: SATE)"
                 + (f"; first {count} of {len(p.names)} datasets" if count < len(p.names) else ""), fontsize=10)
    fig.supxlabel("ITE = mu1 - mu0" + scale_note(k), fontsize=9)
    fig.supylabel("units", fontsize=9)
    return fig


def plot_ite(p: _Pooled, path: Path) -> Path:
    """Write :func:`ite_figure` to `path`."""
    return save_figure(ite_figure(p), path)


def outcomes_figure(p: _Pooled):
    """Factual outcome y by arm and the potential outcomes mu0, mu1 (all datasets pooled)."""
    t = np.concatenate(p.t)
    y = np.concatenate(p.y)
    mu0, mu1 = np.concatenate(p.mu0), np.concatenate(p.mu1)
    fig = _figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2, sharex=True)
    values = np.concatenate([y, mu0, mu1])
    values = values[np.isfinite(values)]
    k = power_of_ten(values)
    y, mu0, mu1, values = (a / 10.0 ** k for a in (y, mu0, mu1, values))
    hi = values.max() if values.max() > values.min() else values.min() + 1
    bins = np.linspace(values.min(), hi, 41)
    left.hist(y[~t], bins=bins, alpha=0.55, density=True, label="control")
    left.hist(y[t], bins=bins, alpha=0.55, density=True, label="treated")
    left.set_title("Factual outcome y by arm")
    left.legend(fontsize=8)
    right.hist(mu0, bins=bins, alpha=0.55, density=True, label="mu0 (everyone control)")
    right.hist(mu1, bins=bins, alpha=0.55, density=True, label="mu1 (everyone treated)")
    right.set_title("Potential outcomes")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.set_xlabel("outcome quantity, all datasets pooled" + scale_note(k))
        ax.set_ylabel("density")
        plain_ticks(ax, "x", nbins=6)
    return fig


def plot_outcomes(p: _Pooled, path: Path) -> Path:
    """Write :func:`outcomes_figure` to `path`."""
    return save_figure(outcomes_figure(p), path)


def short_name(name: str) -> str:
    """`variant003_dataset0012` -> `3/12` (other names unchanged)."""
    m = re.fullmatch(r"variant(\d+)_dataset(\d+)", name)
    return f"{int(m.group(1))}/{int(m.group(2))}" if m else name


def plot_health(table: pd.DataFrame, path: Path, thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> Path:
    """Write :func:`health_figure` to `path`."""
    return save_figure(health_figure(table, thresholds), path)


def health_figure(table: pd.DataFrame, thresholds: HealthThresholds = DEFAULT_THRESHOLDS):
    """Per dataset, on a log scale: |SATE|, ITE SD, outcome SD and |bias| against the near-null
    bound (effect_to_floor x the numerical floor, at least min_effect for probabilities) and the
    floor itself; unhealthy datasets are shaded."""
    fig = _figure(figsize=(max(6.0, 0.32 * len(table) + 2.5), 4.6))
    ax = fig.subplots()
    x = np.arange(len(table))
    series = [("|SATE|", table["SATE"].abs(), "o", "tab:blue"), ("ITE SD", table["ITE SD"], "s", "tab:purple"),
              ("outcome SD", table["outcome SD"], "^", "tab:green"), ("|bias|", table["bias"].abs(), "x", "tab:orange")]
    positive = []
    for label, values, marker, colour in series:
        v = values.to_numpy(dtype=float)
        keep = np.isfinite(v) & (v > 0)
        positive.append(v[keep])
        ax.scatter(x[keep], v[keep], marker=marker, s=24, color=colour, label=label, zorder=3)
    bound = table["near-null bound"].to_numpy(dtype=float)
    has_bound = np.isfinite(bound) & (bound > 0)
    if has_bound.any():
        ax.step(x[has_bound], bound[has_bound], where="mid", color="black", lw=1.2,
                label="near-null bound", zorder=2)
        positive.append(bound[has_bound])
    floor = table["numerical floor"].to_numpy(dtype=float)
    has_floor = np.isfinite(floor) & (floor > 0)
    if has_floor.any():
        ax.step(x[has_floor], floor[has_floor], where="mid", color="grey", lw=1, ls="--",
                label="numerical floor", zorder=2)
        positive.append(floor[has_floor])
    bad = (table["verdict"] != "ok").to_numpy()
    for i in np.flatnonzero(bad):
        ax.axvspan(i - 0.5, i + 0.5, color="tab:red", alpha=0.12, lw=0, zorder=1)
    values = np.concatenate(positive) if positive else np.array([1.0])
    if values.size:
        ax.set_ylim(values.min() / 3, values.max() * 3)
    ax.set_yscale("log")
    ax.set_xlim(-0.7, len(table) - 0.3)
    step = max(1, int(np.ceil(len(table) / 40)))
    ax.set_xticks(x[::step])
    ax.set_xticklabels([short_name(str(n)) for n in table["dataset"]][::step], rotation=90, fontsize=7)
    ax.set_xlabel("dataset (variant/index)" + ("; shaded: verdict not ok" if bad.any() else ""))
    ax.set_ylabel("size (outcome units, log scale)")
    note = "" if has_floor.any() else " (no numerical floor recorded)"
    ax.set_title("Benchmark health: effect sizes vs the numerical floor" + note, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig


SIGNED = ("SATE", "naive difference", "bias")


def _fmt(x: object, column: str) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, (float, np.floating)):
        if column == "n" or column == "variant":
            return str(int(x))
        return f"{x:+.4g}" if column in SIGNED else f"{x:.3g}"
    return md_text(x)


def _markdown(p: _Pooled, table: pd.DataFrame, figures: dict[str, Path], title: str,
              header: list[str]) -> str:
    sate = table["SATE"].to_numpy(dtype=float)
    bias = table["bias"].to_numpy(dtype=float)
    lines = [f"# Benchmark summary: {md_text(title)}", ""] + header + [
        f"- datasets: {len(table)}; units per dataset: {int(table['n'].min())}"
        + (f" to {int(table['n'].max())}" if table["n"].max() != table["n"].min() else ""),
        f"- true SATE across datasets: mean {sate.mean():+.6g}, SD {sate.std():.6g}, "
        f"range [{sate.min():+.6g}, {sate.max():+.6g}]",
        f"- naive difference minus SATE (confounding bias): mean {np.nanmean(bias):+.6g}, "
        f"mean absolute {np.nanmean(np.abs(bias)):.6g}",
        f"- treated share: mean {table['treated share'].mean():.3f} "
        f"(range {table['treated share'].min():.3f} to {table['treated share'].max():.3f})",
    ]
    if all(e is not None for e in p.e):
        e = np.concatenate(p.e)  # type: ignore[arg-type]
        outside = float(np.mean((e < OVERLAP_BAND[0]) | (e > OVERLAP_BAND[1])))
        lines.append(f"- propensity: range [{e.min():.4f}, {e.max():.4f}]; {100 * outside:.1f}% of units "
                     f"outside [{OVERLAP_BAND[0]}, {OVERLAP_BAND[1]}]")
    lines += ["", "## Benchmark health", ""] + _health_lines(table) + ["", "## Figures", ""]
    lines += [f"- [{key}]({path.name})" for key, path in figures.items()]
    lines += ["", "## Datasets", ""]
    shown = table.head(50)
    cols = list(shown.columns)
    lines.append("| " + " | ".join(md_text(c) for c in cols) + " |")
    lines.append("|" + "---|" * len(cols))
    for _, row in shown.iterrows():
        lines.append("| " + " | ".join(_fmt(row[c], c) for c in cols) + " |")
    if len(table) > len(shown):
        lines.append(f"\n({len(table) - len(shown)} more datasets in summary.csv)")
    return "\n".join(lines) + "\n"


def _health_lines(table: pd.DataFrame, thresholds: HealthThresholds = DEFAULT_THRESHOLDS) -> list[str]:
    """The family verdict, what it means, and the spread of effects across datasets."""
    family = family_health([] if v == "ok" else v.split(", ") for v in table["verdict"])
    floors = table["numerical floor"].to_numpy(dtype=float)
    known = floors[np.isfinite(floors)]
    lines = [
        f"**Verdict: {family.verdict}** ({family.datasets - family.unhealthy} of {family.datasets} datasets ok).",
        "",
        f"- near-null effect: |SATE| and ITE SD both below {thresholds.effect_to_floor:g} x the numerical floor "
        "(the backend's measured error on the outcome quantity: a seeded sample of units re-scored alone "
        f"through the plain scoring path, past every cache) or, for probability outcomes, below "
        f"{thresholds.min_effect:g};",
        f"- poor overlap: over {100 * thresholds.max_outside_band:g}% of units with propensity outside "
        f"[{OVERLAP_BAND[0]}, {OVERLAP_BAND[1]}], or under {100 * thresholds.min_arm_share:g}% of units in one arm;",
        f"- degenerate outcome: outcome SD below {thresholds.effect_to_floor:g} x the floor (probability "
        f"outcomes: or below {thresholds.min_outcome_sd:g}).",
        "",
        "- numerical floor: " + (f"median {np.median(known):.3g}, max {known.max():.3g}" if known.size
                                  else "not recorded (datasets not generated by sdscm, or no lm outcome)"),
        f"- within-dataset ITE SD: median {table['ITE SD'].median():.4g} "
        f"(range {table['ITE SD'].min():.4g} to {table['ITE SD'].max():.4g})",
        f"- SATE across datasets: SD {table['SATE'].std(ddof=0):.4g}",
        f"- |naive - SATE| (confounding bias): median {table['bias'].abs().median():.4g}; "
        f"{int((table['bias'].abs() >= 0.01).sum())} of {len(table)} datasets at 0.01 or more",
    ]
    if "outside overlap" in table:
        lines.append(f"- units with propensity outside [{OVERLAP_BAND[0]}, {OVERLAP_BAND[1]}]: "
                     f"{100 * table['outside overlap'].max():.1f}% in the worst dataset")
    return lines


def describe(source: str | Path | Sequence[CausalDataset], out: str | Path, view: str = "all") -> DescribeResult:
    """Write figures, `summary.md` and `summary.csv` about the datasets of `source` into `out`.

    `source` is a run folder from `sdscm benchmark generate`, a folder/file of CSVs in the
    paper's layout, or a list of :class:`CausalDataset`.
    """
    out = Path(out)
    pooled = _pool(_datasets(source, view))
    table = pd.DataFrame(pooled.rows)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Path] = {"SATE vs naive difference": plot_sate_vs_naive(pooled, table, out / "sate_vs_naive.png")}
    overlap = plot_propensity(pooled, out / "propensity_overlap.png")
    if overlap is not None:
        figures["propensity overlap"] = overlap
    figures["ITE histograms"] = plot_ite(pooled, out / "ite_histograms.png")
    figures["outcome distributions"] = plot_outcomes(pooled, out / "outcome_distributions.png")
    figures["benchmark health"] = plot_health(table, out / "health.png")
    header: list[str] = []
    title = str(source) if isinstance(source, (str, Path)) else f"{len(table)} datasets"
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        manifest = read_manifest(Path(source))
        if manifest is not None:
            d = manifest["design"]
            header += [
                f"- family: {md_text(manifest['family'].get('name'))} "
                f"({manifest['parameters']['variants']} variant(s)); "
                f"model: {md_text(manifest['model'].get('id') or 'none (no lm mechanisms)')}",
                f"- treatment: {md_text(d['treatment'])} = {md_text(d['treated'])} vs {md_text(d['control'])}; "
                f"outcome: {md_text(d['outcome'])} = {md_text(d['outcome_value'])} as {md_text(d['quantity'])}",
            ]
    header.append(f"- view: {md_text(view)}")
    write_text(out / "summary.csv", table.to_csv(index=False))
    summary = write_text(out / "summary.md", _markdown(pooled, table, figures, title, header))
    return DescribeResult(out=out, summary=summary, figures=figures, table=table)
