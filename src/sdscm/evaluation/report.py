"""Paper-style tables (markdown + CSV) and figures from evaluation results.

Tables, per group (e.g. generating language model), view (all covariates / hidden confounding) and
estimator:

- ATE: R^2 and RMSE of ATE estimates against SATE across datasets
  (``r2_score(y_true=SATE, y_pred=estimate)``), mean absolute error, share of datasets whose ATE
  interval covers the SATE, fits that failed;
- CATE/ITE: mean and median CATE R^2 (true ITE as ``y_true``), median standardized PEHE, interval
  coverage and mean width (SD(y) units) for CATE intervals and ITE predictive intervals, and the
  reference code's ``paper_cate_r2`` (Table 2 comparison only, never the primary number).

Figures: estimated vs true ATE per estimator, CATE R^2 distributions (symlog below -1), coverage and
width bars (linear widths).
"""

from __future__ import annotations

import math
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sdscm.errors import SDSCMError
from sdscm.evaluation.metrics import ate_r2, ate_rmse, bootstrap_interval
from sdscm.evaluation.runner import VIEW_COLUMN, ResultStore
from sdscm.results.figures import new_figure, plain_ticks, power_of_ten, save_figure, scale_note, shorten
from sdscm.results.io import write_frame, write_text
from sdscm.results.markdown import md_text
from sdscm.results.selection import natural_key, select_names

VIEW_TITLES = {"all": "all covariates", "hidden": "hidden confounding"}
NOMINAL = 0.95


METRIC_COLUMNS = ("ate", "ate_lower", "ate_upper", "ate_error", "ate_abs_error", "ate_covered", "ate_width_sd",
                  "cate_r2", "paper_cate_r2", "pehe", "std_pehe", "cate_coverage", "cate_width_sd",
                  "ite_coverage", "ite_width_sd", "ite_infinite_share", "seconds", "cpu_seconds")


def normalise(results: pd.DataFrame) -> pd.DataFrame:
    """Add metric columns missing from a results frame (e.g. when every fit failed) and a group."""
    missing: dict[str, Any] = {c: np.nan for c in METRIC_COLUMNS if c not in results.columns}
    if "group" not in results.columns:
        missing["group"] = "all"
    if "scope" not in results.columns:
        missing["scope"] = "in-sample"
    results = results.assign(**missing) if missing else results
    scopes = results["scope"].fillna("in-sample").astype(str)
    if scopes.nunique() > 1:  # in-sample and held-out rows of one estimator are different cells
        results = results.assign(estimator=[e if sc == "in-sample" or str(e).endswith(f"({sc})") else f"{e} ({sc})"
                                            for e, sc in zip(results["estimator"], scopes)])
    return results


def _estimator_order(results: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(results["estimator"]))


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["status"] == "ok"]


def _nanmean(x: pd.Series) -> float:
    x = pd.to_numeric(x, errors="coerce").astype(float)
    x = x[~np.isnan(x)]
    return float(np.mean(x)) if len(x) else math.nan


def _nanmedian(x: pd.Series) -> float:
    x = pd.to_numeric(x, errors="coerce").astype(float)
    x = x[~np.isnan(x)]
    return float(np.median(x)) if len(x) else math.nan


def _groups(results: pd.DataFrame) -> list[tuple[tuple[str, str, str], pd.DataFrame]]:
    order = {e: k for k, e in enumerate(_estimator_order(results))}
    keyed = sorted(results.groupby(["group", VIEW_COLUMN, "estimator"], sort=False),
                   key=lambda kv: (str(kv[0][0]), str(kv[0][1]), order[kv[0][2]]))
    return keyed


def _gives_ate(results: pd.DataFrame) -> dict[str, bool]:
    """Per estimator: whether any of its fits gave a finite ATE (methods without an ATE, such as
    conformal ITE intervals, are not counted as non-finite)."""
    finite = np.isfinite(pd.to_numeric(results["ate"], errors="coerce").astype(float))
    return {str(k): bool(v) for k, v in finite.groupby(results["estimator"]).any().items()}


def _finite_ate(frame: pd.DataFrame) -> np.ndarray:
    return np.isfinite(pd.to_numeric(frame["ate"], errors="coerce").astype(float).to_numpy())


def ate_table(results: pd.DataFrame, resamples: int = 2000) -> pd.DataFrame:
    """Across-dataset ATE accuracy per (group, view, estimator), with its counts.

    ``datasets`` rows in the cell; ``failed`` fits (error/timeout); ``nonfinite`` fits that ran but
    gave a NaN/infinite ATE; ``used`` = datasets behind R^2 and RMSE (the rest). R^2 and RMSE get a
    percentile bootstrap 95% interval over those datasets (``*_lo``/``*_hi``).
    """
    results = normalise(results)
    gives = _gives_ate(results)
    rows = []
    for (group, view, estimator), sub in _groups(results):
        ok = _ok(sub)
        finite = _finite_ate(ok)
        has_ate = ok[finite]
        sate, est = has_ate["sate"].to_numpy(float), has_ate["ate"].to_numpy(float)
        used = len(has_ate)
        r2_lo, r2_hi = bootstrap_interval(sate, est, "r2", resamples=resamples) if used else (math.nan,) * 2
        rm_lo, rm_hi = bootstrap_interval(sate, est, "rmse", resamples=resamples) if used else (math.nan,) * 2
        rows.append({
            "group": group, VIEW_COLUMN: view, "estimator": estimator,
            "datasets": int(len(sub)), "failed": int((sub["status"] != "ok").sum()),
            "gives_ate": bool(gives.get(estimator, False)),
            "nonfinite": int((~finite).sum()) if gives.get(estimator, False) else 0, "used": int(used),
            "ate_r2": ate_r2(sate, est) if used else math.nan, "ate_r2_lo": r2_lo, "ate_r2_hi": r2_hi,
            "ate_rmse": ate_rmse(sate, est) if used else math.nan, "ate_rmse_lo": rm_lo, "ate_rmse_hi": rm_hi,
            "ate_mean_abs_error": _nanmean(has_ate["ate_abs_error"]) if used else math.nan,
            "ate_interval_coverage": _nanmean(ok["ate_covered"]) if "ate_covered" in ok else math.nan,
            "mean_seconds": _nanmean(ok["seconds"]) if len(ok) else math.nan,
            "mean_cpu_seconds": _nanmean(ok["cpu_seconds"]) if len(ok) else math.nan,
        })
    return pd.DataFrame(rows)


def filter_results(results: pd.DataFrame, *, groups: Sequence[str] | None = None,
                   settings: Sequence[str] | None = None, estimators: Sequence[str] | None = None,
                   datasets: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of chosen groups (sources), views, estimators and datasets.

    ``datasets`` is a selection as in ``benchmark evaluate --datasets``: names, globs or 0-based
    index ranges over the file's dataset names in natural order. A value that selects nothing is an
    error listing what the file holds.
    """
    results = normalise(results)
    for column, wanted, flag in (("group", groups, "--source"), (VIEW_COLUMN, settings, "--setting"),
                                 ("estimator", estimators, "--estimators")):
        if wanted is None:
            continue
        wanted = [w.strip() for w in wanted if w.strip()]
        have = list(dict.fromkeys(results[column].astype(str)))
        unknown = [w for w in wanted if not any(fnmatchcase(h, w) for h in have)]
        if unknown:
            raise SDSCMError(f"{flag} {', '.join(unknown)}: not in the results; they hold {', '.join(have)}")
        results = results[[any(fnmatchcase(str(h), w) for w in wanted) for h in results[column]]]
    if datasets is not None:
        names = sorted(set(results["dataset"].astype(str)), key=natural_key)
        keep = {names[k] for k in select_names(names, datasets, where="the results")}
        results = results[results["dataset"].astype(str).isin(keep)]
    if results.empty:
        raise SDSCMError("the filters leave no results")
    return results


def common_datasets(results: pd.DataFrame) -> pd.DataFrame:
    """Keep, per (group, view), only the datasets on which every estimator's fit finished with a
    finite ATE (or, for estimators that give no ATE, finished at all), so that all cells compare
    the same datasets."""
    results = normalise(results)
    ok = results["status"] == "ok"
    gives = _gives_ate(results)
    gives_ate = results["estimator"].astype(str).map(gives).fillna(False).astype(bool)
    done = ok & (~gives_ate | np.isfinite(pd.to_numeric(results["ate"], errors="coerce").astype(float)))
    keep = []
    for _, sub in results.assign(_done=done).groupby(["group", VIEW_COLUMN], sort=False):
        n_est = sub["estimator"].nunique()
        per = sub.groupby("dataset")["_done"].agg(["sum", "size"])
        good = set(per.index[(per["sum"] == n_est) & (per["size"] == n_est)])
        keep.append(sub[sub["dataset"].isin(good)])
    out = pd.concat(keep).drop(columns="_done") if keep else results.iloc[:0]
    return out


def cate_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per-dataset CATE/ITE metrics summarised per (group, view, estimator)."""
    results = normalise(results)
    rows = []
    for (group, view, estimator), sub in _groups(results):
        ok = _ok(sub)

        def col(name: str, how: Any = _nanmean) -> float:
            return how(ok[name]) if name in ok and len(ok) else math.nan

        n_cate = int(np.isfinite(pd.to_numeric(ok["cate_r2"], errors="coerce").astype(float)).sum()) if len(ok) else 0
        rows.append({
            "group": group, VIEW_COLUMN: view, "estimator": estimator, "datasets_ok": int(len(ok)),
            "datasets_cate": n_cate,
            "mean_cate_r2": col("cate_r2"), "median_cate_r2": col("cate_r2", _nanmedian),
            "median_std_pehe": col("std_pehe", _nanmedian),
            "cate_interval_coverage": col("cate_coverage"), "cate_interval_width_sd": col("cate_width_sd"),
            "ite_interval_coverage": col("ite_coverage"), "ite_interval_width_sd": col("ite_width_sd"),
            "ite_interval_infinite_share": col("ite_infinite_share"),
            "paper_cate_r2_table2_only": col("paper_cate_r2"),
        })
    return pd.DataFrame(rows)


def failures_table(results: pd.DataFrame) -> pd.DataFrame:
    """Failed fits per (view, estimator, status) with a count and the first error message."""
    bad = results[results["status"] != "ok"]
    if bad.empty:
        return pd.DataFrame(columns=[VIEW_COLUMN, "estimator", "status", "count", "first_error"])
    return (bad.groupby([VIEW_COLUMN, "estimator", "status"], sort=False)
            .agg(count=("dataset", "size"), first_error=("error", "first")).reset_index())


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return md_text(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:.4f}"


def markdown_table(frame: pd.DataFrame, columns: Sequence[str] | None = None,
                   headers: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table (no extra dependency)."""
    columns = list(columns or frame.columns)
    headers = list(headers or columns)
    lines = ["| " + " | ".join(md_text(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for rec in frame[columns].itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in rec) + " |")
    return "\n".join(lines)


def _paper_pivot(table: pd.DataFrame, metrics: dict[str, str], group: str) -> pd.DataFrame:
    """Estimators as rows, (metric, view) as columns, like the paper's tables."""
    sub = table[table["group"] == group]
    views = [s for s in ("all", "hidden") if s in set(sub[VIEW_COLUMN])] + \
        sorted(set(sub[VIEW_COLUMN]) - {"all", "hidden"})
    out = pd.DataFrame({"estimator": list(dict.fromkeys(sub["estimator"]))})
    for metric, title in metrics.items():
        for s in views:
            vals = sub[sub[VIEW_COLUMN] == s].set_index("estimator")[metric]
            out[f"{title} ({VIEW_TITLES.get(s, s)})"] = [vals.get(e, math.nan) for e in out["estimator"]]
    return out


def _with_interval(value: float, lo: float, hi: float) -> str:
    text = _fmt(value)
    return text if math.isnan(lo) or math.isnan(hi) else f"{text} [{_fmt(lo)}, {_fmt(hi)}]"


def ate_cells(ate: pd.DataFrame) -> pd.DataFrame:
    """The ATE table as printed: R^2 and RMSE with bootstrap intervals, the datasets behind each
    cell (``n``), and failed / non-finite fits where there are any."""
    def count(r: Any) -> str:
        extra = [f"{int(r[k])} {w}" for k, w in (("failed", "failed"), ("nonfinite", "non-finite")) if r[k]]
        return f"{int(r['used'])}" + (f" ({', '.join(extra)})" if extra else "")

    return ate.assign(
        r2_cell=[_with_interval(r.ate_r2, r.ate_r2_lo, r.ate_r2_hi) for r in ate.itertuples()],
        rmse_cell=[_with_interval(r.ate_rmse, r.ate_rmse_lo, r.ate_rmse_hi) for r in ate.itertuples()],
        n_cell=[count(r) for _, r in ate.iterrows()],
    )


def size_note(ate: pd.DataFrame) -> str:
    """A warning when the cells of a report rest on different numbers of datasets (empty if not)."""
    if ate.empty:
        return ""
    used = ate.loc[ate["gives_ate"].astype(bool), "used"].astype(int) if "gives_ate" in ate else ate["used"].astype(int)
    if used.nunique() <= 1:
        return ""
    lines = [f"**Cells rest on different numbers of datasets ({used.min()} to {used.max()})**: compare "
             "them with care (each cell's `n` says how many), or report with `--common` to keep only "
             "the datasets every estimator finished."]
    return "\n".join(lines)


def render_markdown(results: pd.DataFrame, ate: pd.DataFrame, cate: pd.DataFrame,
                    failures: pd.DataFrame, figures: Sequence[Path] = (), note: str = "") -> str:
    """The report's markdown: one ATE and one CATE table per group, failures, figure links."""
    n_datasets = results[["dataset", VIEW_COLUMN]].drop_duplicates().shape[0]
    nonfinite = int(ate["nonfinite"].sum()) if "nonfinite" in ate else 0
    warning = size_note(ate)
    parts = [
        "# Estimator evaluation",
        "",
        f"{len(results)} fits: {n_datasets} dataset-settings x {results['estimator'].nunique()} "
        f"estimators; {int((results['status'] != 'ok').sum())} failed; {nonfinite} finished with a "
        "non-finite ATE (left out of ATE R^2 and RMSE and counted in each cell).",
    ]
    scopes = sorted(set(results["scope"].fillna("in-sample").astype(str))) if "scope" in results else ["in-sample"]
    if scopes != ["in-sample"]:
        parts += ["", f"Scoring: {', '.join(scopes)}. Held-out rows are fitted on the other units of each "
                  "dataset and scored on the held-out ones only (CATE, ITE intervals, and the ATE over "
                  "the held-out units against their SATE)."]
    if note:
        parts += ["", note]
    if warning:
        parts += ["", warning]
    parts += [
        "",
        "ATE R^2 is `r2_score(y_true=SATE, y_pred=estimate)` across datasets, shown with a 95% "
        "percentile bootstrap interval over datasets (2000 resamples); `n` is the datasets behind "
        "a cell. CATE R^2 uses the "
        "true ITE as `y_true`; standardized PEHE = PEHE / SD(y); coverage counts units with "
        "lower < ITE < upper (nominal 0.95); widths are means over finite intervals in SD(y) units "
        "(weighted conformal can return unbounded intervals where overlap is poor; their share is in "
        "cate_table.csv). `paper_cate_r2` is the "
        "reference code's swapped-orientation R^2, shown only to compare with the paper's Table 2. "
        "Seconds are wall time per fit; CPU seconds count every thread of the fitting process.",
    ]
    cells = ate_cells(ate) if len(ate) else ate
    for group in list(dict.fromkeys(ate["group"])):
        title = "" if group == "all" else f" — {md_text(group)}"
        parts += ["", f"## ATE{title}", "",
                  markdown_table(_paper_pivot(cells, {"r2_cell": "R^2", "rmse_cell": "RMSE", "n_cell": "n"}, group)),
                  "", "Time per fit (mean seconds: wall, CPU):", "",
                  markdown_table(_paper_pivot(ate, {"mean_seconds": "wall s", "mean_cpu_seconds": "CPU s"}, group)),
                  "", f"## CATE and ITE{title}", "",
                  markdown_table(_paper_pivot(cate, {"mean_cate_r2": "mean CATE R^2",
                                                     "median_std_pehe": "median std. PEHE",
                                                     "datasets_cate": "n"}, group)),
                  "", "Intervals (coverage of the true ITE; width in SD(y)):", "",
                  markdown_table(_paper_pivot(cate, {"cate_interval_coverage": "CATE-int. coverage",
                                                     "cate_interval_width_sd": "CATE-int. width",
                                                     "ite_interval_coverage": "ITE-int. coverage",
                                                     "ite_interval_width_sd": "ITE-int. width",
                                                     "ite_interval_infinite_share": "ITE-int. unbounded"},
                                                    group)),
                  "", "For comparison with the paper's Table 2 only (not a primary metric):", "",
                  markdown_table(_paper_pivot(cate, {"paper_cate_r2_table2_only": "paper_cate_r2"}, group))]
    parts += ["", "## Failures", ""]
    parts.append(markdown_table(failures) if len(failures) else "None.")
    if figures:
        parts += ["", "## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in figures]
    return "\n".join(parts) + "\n"


VIEW_COLORS = {"all": "tab:blue", "hidden": "tab:orange"}
OFF_SCALE = 10.0  # an estimate further than this many core spans beyond the core range is drawn at the edge


def _view_color(view: str) -> str:
    return VIEW_COLORS.get(view, "tab:green")


def _ate_limits(sate: np.ndarray, est: np.ndarray) -> tuple[float, float]:
    """y-limits of one estimator's panel: every estimate unless some lie far beyond the bulk (then those
    are drawn as edge markers): the core is the SATE range plus the estimates' quartiles."""
    core = np.concatenate([sate, np.quantile(est, [0.25, 0.75])]) if len(est) else sate
    lo, hi = float(np.min(core)), float(np.max(core))
    span = max(hi - lo, 1e-12)
    inside = est[(est >= lo - OFF_SCALE * span) & (est <= hi + OFF_SCALE * span)]
    lo = min(lo, float(np.min(inside))) if len(inside) else lo
    hi = max(hi, float(np.max(inside))) if len(inside) else hi
    pad = 0.06 * max(hi - lo, 1e-12)
    return lo - pad, hi + pad


def ate_figure(results: pd.DataFrame):
    """Estimated vs true ATE, one panel per estimator, the diagonal marking a perfect estimate. Each panel's
    y-range covers its estimates; an estimate far outside the bulk is drawn as a red triangle at the edge
    (pointing the way it lies), counted in the panel's title, instead of being hidden or pinned unmarked."""
    from matplotlib.lines import Line2D  # matplotlib is imported only when a figure is drawn

    ok = _ok(results)
    ok = ok[np.isfinite(pd.to_numeric(ok["ate"], errors="coerce").astype(float))] if "ate" in ok else ok.iloc[:0]
    names = [e for e in _estimator_order(results) if e in set(ok["estimator"])]
    cols = min(4, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig = new_figure(figsize=(3.1 * cols + 1.2, 2.9 * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False)
    sate_all = ok["sate"].to_numpy(float) if len(ok) else np.array([0.0])
    k = power_of_ten(sate_all)  # estimates are shown in the truth's units
    scale = 10.0 ** k
    slo, shi = float(np.min(sate_all)) / scale, float(np.max(sate_all)) / scale
    spad = 0.06 * max(shi - slo, 1e-12)
    xlim = (slo - spad, shi + spad)
    views = list(dict.fromkeys(ok[VIEW_COLUMN])) if len(ok) else []
    any_off = False
    for ax, name in zip(axes.flat, names):
        sub = ok[ok["estimator"] == name]
        ylim = _ate_limits(sub["sate"].to_numpy(float) / scale, sub["ate"].to_numpy(float) / scale)
        off = 0
        for view, s in sub.groupby(VIEW_COLUMN, sort=False):
            x, est = s["sate"].to_numpy(float) / scale, s["ate"].to_numpy(float) / scale
            inside = (est >= ylim[0]) & (est <= ylim[1])
            ax.scatter(x[inside], est[inside], s=12, alpha=0.75, color=_view_color(view))
            for beyond, edge, marker in ((est > ylim[1], ylim[1], "^"), (est < ylim[0], ylim[0], "v")):
                if beyond.any():
                    off += int(beyond.sum())
                    ax.scatter(x[beyond], np.full(int(beyond.sum()), edge), marker=marker, s=40,
                               facecolors="none", edgecolors="tab:red", clip_on=False, zorder=3)
        any_off = any_off or off > 0
        lo, hi = max(xlim[0], ylim[0]), min(xlim[1], ylim[1])
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        plain_ticks(ax, nbins=4)
        ax.set_title(shorten(name, 30) + (f"\n({off} off scale)" if off else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    handles = [Line2D([], [], ls="", marker="o", color=_view_color(v), label=VIEW_TITLES.get(v, v)) for v in views]
    handles.append(Line2D([], [], color="grey", lw=0.8, label="estimate = truth"))
    if any_off:
        handles.append(Line2D([], [], ls="", marker="^", mfc="none", mec="tab:red", label="beyond the axis"))
    if names:
        fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    fig.supxlabel("true SATE" + scale_note(k), fontsize=10)
    fig.supylabel("estimated ATE" + scale_note(k), fontsize=10)
    return fig


def plot_ate(results: pd.DataFrame, path: Path) -> Path:
    """Write :func:`ate_figure` to `path`."""
    return save_figure(ate_figure(results), path)


def cate_r2_figure(results: pd.DataFrame):
    """Distributions of per-dataset CATE R^2 per estimator and view, one row per estimator. The axis is
    linear on [-1, 1] and logarithmic below -1 (symlog), so R^2 values far below -1 are shown where they
    are instead of being clipped to -1."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ok = _ok(results)
    names = [e for e in _estimator_order(results)
             if "cate_r2" in ok and np.isfinite(ok.loc[ok["estimator"] == e, "cate_r2"].astype(float)).any()]
    views = [s for s in ("all", "hidden") if s in set(ok[VIEW_COLUMN])] or sorted(set(ok[VIEW_COLUMN]))
    fig = new_figure(figsize=(7.5, 1.4 + 0.32 * max(1, len(names)) * max(1, len(views))))
    ax = fig.subplots()
    height = 0.8 / max(1, len(views))
    lowest = -1.0
    for j, view in enumerate(views):
        data, pos = [], []
        for i, name in enumerate(names):
            v = ok[(ok["estimator"] == name) & (ok[VIEW_COLUMN] == view)]["cate_r2"].astype(float).to_numpy()
            v = v[np.isfinite(v)]
            if len(v):
                data.append(v)
                pos.append(i + (j - (len(views) - 1) / 2) * height)
                lowest = min(lowest, float(v.min()))
        if data:
            bp = ax.boxplot(data, positions=pos, widths=height * 0.85, patch_artist=True, orientation="horizontal",
                            flierprops={"marker": ".", "markersize": 4}, manage_ticks=False)
            for box in bp["boxes"]:
                box.set_facecolor(_view_color(view))
                box.set_alpha(0.6)
            ax.plot([], [], color=_view_color(view), lw=6, alpha=0.6, label=VIEW_TITLES.get(view, view))
    ax.set_xscale("symlog", linthresh=1.0, linscale=1.5)
    ax.set_xlim(min(-1.2, lowest * 1.5), 1.05)
    marks = [-(10.0 ** e) for e in range(int(np.ceil(np.log10(-ax.get_xlim()[0]))), 0, -1)] + [-0.5, 0.0, 0.5, 1.0]
    ax.xaxis.set_major_locator(FixedLocator([m for m in marks if m >= ax.get_xlim()[0]]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([shorten(n, 40) for n in names], fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_ylabel("estimator")
    ax.set_xlabel("CATE R² per dataset (log scale below -1)")
    ax.set_title("CATE R² across datasets (1 = perfect, 0 = no better than the mean)", fontsize=10)
    if names:
        ax.legend(fontsize=8, loc="best")
    return fig


def plot_cate_r2(results: pd.DataFrame, path: Path) -> Path:
    """Write :func:`cate_r2_figure` to `path`."""
    return save_figure(cate_r2_figure(results), path)


def coverage_figure(cate: pd.DataFrame):
    """Interval coverage of the true ITE (nominal 0.95 line) and mean width on a linear scale from zero,
    per estimator, with each width written at its bar's end; an infinite width is written, not drawn."""
    rows = []
    several = cate["group"].nunique() > 1
    for _, r in cate.iterrows():
        for kind in ("cate", "ite"):
            cov = r[f"{kind}_interval_coverage"]
            if isinstance(cov, float) and not math.isnan(cov):
                where = f"{r['group']}: " if several else ""
                rows.append((f"{where}{shorten(str(r['estimator']), 34)} ({kind.upper()})", r[VIEW_COLUMN], cov,
                             r[f"{kind}_interval_width_sd"]))
    frame = pd.DataFrame(rows, columns=["label", VIEW_COLUMN, "coverage", "width"])
    labels = list(dict.fromkeys(frame["label"]))
    views = list(dict.fromkeys(frame[VIEW_COLUMN]))
    fig = new_figure(figsize=(11, 1.6 + 0.26 * max(1, len(labels)) * max(1, len(views))))
    a1, a2 = fig.subplots(1, 2, sharey=True)
    h = 0.8 / max(1, len(views))
    widths_all = frame["width"].astype(float).to_numpy()
    finite = widths_all[np.isfinite(widths_all)]
    top = float(finite.max()) if finite.size else 1.0
    for k, view in enumerate(views):
        s = frame[frame[VIEW_COLUMN] == view].set_index("label")
        ys = np.arange(len(labels)) + (k - (len(views) - 1) / 2) * h
        a1.barh(ys, [s["coverage"].get(lbl, np.nan) for lbl in labels], height=h, color=_view_color(view),
                label=VIEW_TITLES.get(view, view))
        widths = np.array([s["width"].get(lbl, np.nan) for lbl in labels], dtype=float)
        a2.barh(ys, np.where(np.isfinite(widths), widths, np.nan), height=h, color=_view_color(view))
        for y, w in zip(ys, widths):
            if np.isnan(w):
                continue
            text = "infinite" if not np.isfinite(w) else f"{w:.3g}"
            a2.text(w if np.isfinite(w) else 0.0, y, " " + text, va="center", ha="left", fontsize=7)
    a1.set_yticks(range(len(labels)))
    a1.set_yticklabels(labels, fontsize=8)
    a1.set_ylim(len(labels) - 0.5, -0.5)
    a2.tick_params(labelleft=False)
    a1.axvline(NOMINAL, color="red", lw=1, ls="--", label=f"nominal {NOMINAL:g}")
    a1.set_xlim(0, 1)
    a1.set_xlabel("coverage of the true ITE")
    a1.set_ylabel("estimator (interval kind)")
    a2.set_xlim(0, top * 1.25 if top > 0 else 1.0)
    a2.set_xlabel("mean interval width (SD(y) units)")
    a1.set_title("Coverage", fontsize=10)
    a2.set_title("Width", fontsize=10)
    if labels:
        fig.legend(handles=a1.get_legend_handles_labels()[0], loc="outside lower center",
                   ncols=len(views) + 1, fontsize=8)
    return fig


def plot_coverage(cate: pd.DataFrame, path: Path) -> Path:
    """Write :func:`coverage_figure` to `path`."""
    return save_figure(coverage_figure(cate), path)


def load_results(path: str | Path) -> pd.DataFrame:
    """Read an evaluation results Parquet file (merging a journal left by an interrupted run)."""
    path = Path(path)
    if not path.exists() and not path.with_name(path.name + ".journal.jsonl").exists():
        raise SDSCMError(f"{path}: no such results file; run `sdscm benchmark evaluate ... --out {path}` first")
    store = ResultStore(path)
    store.close()
    frame = store.frame()
    if frame.empty:
        raise SDSCMError(f"{path}: holds no results")
    missing = {"dataset", VIEW_COLUMN, "estimator", "status", "sate"} - set(frame.columns)
    if missing:
        raise SDSCMError(f"{path}: not an evaluation results file (missing columns {sorted(missing)})")
    return frame


def write_report(results: pd.DataFrame | str | Path, out_dir: str | Path, figures: bool = True, *,
                 common: bool = False, note: str = "") -> dict[str, Path]:
    """Write tables (markdown + CSV) and figures to ``out_dir``; return the paths by name.

    ``common`` keeps only the datasets every estimator finished (per group and view) so that all
    cells compare the same datasets; ``note`` is a line placed at the top of report.md (e.g. the
    filters applied).
    """
    if not isinstance(results, pd.DataFrame):
        results = load_results(results)
    results = normalise(results)
    if common:
        before = results[["group", VIEW_COLUMN, "dataset"]].drop_duplicates().shape[0]
        results = common_datasets(results)
        if results.empty:
            raise SDSCMError("--common leaves no dataset: no dataset was finished by every estimator; "
                             "report without --common, or filter out the estimator that fails")
        after = results[["group", VIEW_COLUMN, "dataset"]].drop_duplicates().shape[0]
        note = (note + " " if note else "") + (
            f"Restricted to the datasets every estimator finished (`--common`): {after} of {before} "
            "dataset-settings.")
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    ate, cate, fails = ate_table(results), cate_table(results), failures_table(results)
    paths = {
        "ate_csv": write_frame(ate, out / "ate_table.csv"),
        "cate_csv": write_frame(cate, out / "cate_table.csv"),
        "failures_csv": write_frame(fails, out / "failures.csv"),
    }
    figs: list[Path] = []
    if figures:
        figs = [plot_ate(results, out / "figures" / "ate_scatter.png"),
                plot_cate_r2(results, out / "figures" / "cate_r2.png"),
                plot_coverage(cate, out / "figures" / "coverage_width.png")]
        paths.update({p.stem: p for p in figs})
    paths["report_md"] = write_text(out / "report.md", render_markdown(results, ate, cate, fails, figs, note))
    return paths
