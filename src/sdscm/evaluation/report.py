"""Paper-style tables (markdown + CSV) and figures from evaluation results.

Tables, per group (e.g. generating language model), view (all covariates / hidden confounding) and
estimator:

- ATE: R^2 and RMSE of ATE estimates against SATE across datasets
  (``r2_score(y_true=SATE, y_pred=estimate)``), mean absolute error, share of datasets whose ATE
  interval covers the SATE, fits that failed;
- CATE/ITE: mean and median CATE R^2 (true ITE as ``y_true``), median standardized PEHE, interval
  coverage and mean width (SD(y) units) for CATE intervals and ITE predictive intervals, and the
  reference code's ``paper_cate_r2`` (Table 2 comparison only, never the primary number).

Figures: estimated vs true ATE per estimator, CATE R^2 distributions, coverage/width bars.
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
from sdscm.results.figures import pyplot, save_figure
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


def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Lay the figure out, write it atomically, and free it."""
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def plot_ate(results: pd.DataFrame, path: Path) -> Path:
    """Estimated vs true ATE, one panel per estimator; off-scale estimates are pinned to the edge."""
    plt = pyplot()
    ok = _ok(results)
    ok = ok[np.isfinite(pd.to_numeric(ok["ate"], errors="coerce").astype(float))] if "ate" in ok else ok.iloc[:0]
    names = [e for e in _estimator_order(results) if e in set(ok["estimator"])]
    cols = min(5, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.0 * rows), squeeze=False)
    sate = ok["sate"].to_numpy(float) if len(ok) else np.array([0.0])
    lo, hi = float(np.min(sate)), float(np.max(sate))
    pad = max(hi - lo, 1e-6)
    lim = (lo - 1.5 * pad, hi + 1.5 * pad)
    colors = {"all": "tab:blue", "hidden": "tab:orange"}
    for ax, name in zip(axes.flat, names):
        sub = ok[ok["estimator"] == name]
        off = 0
        for view, s in sub.groupby(VIEW_COLUMN):
            est = s["ate"].to_numpy(float)
            off += int(np.sum((est < lim[0]) | (est > lim[1])))
            ax.scatter(s["sate"], np.clip(est, *lim), s=10, alpha=0.7, label=VIEW_TITLES.get(view, view),
                       color=colors.get(view))
        ax.plot(lim, lim, color="grey", lw=0.8)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_title(name + (f" ({off} off-scale)" if off else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if names:
        axes.flat[0].legend(fontsize=7)
    fig.supxlabel("true SATE")
    fig.supylabel("estimated ATE")
    return _save(plt, fig, path)


def plot_cate_r2(results: pd.DataFrame, path: Path) -> Path:
    """Distributions of per-dataset CATE R^2 per estimator and view (clipped to [-1, 1])."""
    plt = pyplot()
    ok = _ok(results)
    names = [e for e in _estimator_order(results)
             if "cate_r2" in ok and np.isfinite(ok.loc[ok["estimator"] == e, "cate_r2"].astype(float)).any()]
    views = [s for s in ("all", "hidden") if s in set(ok[VIEW_COLUMN])] or sorted(set(ok[VIEW_COLUMN]))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(names) * max(1, len(views))), 4.0))
    width = 0.8 / max(1, len(views))
    for k, view in enumerate(views):
        data, pos = [], []
        for i, name in enumerate(names):
            v = ok[(ok["estimator"] == name) & (ok[VIEW_COLUMN] == view)]["cate_r2"].astype(float).to_numpy()
            v = np.clip(v[np.isfinite(v)], -1, 1)
            if len(v):
                data.append(v)
                pos.append(i + (k - (len(views) - 1) / 2) * width)
        if data:
            bp = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False)
            for box in bp["boxes"]:
                box.set_facecolor("tab:blue" if view == "all" else "tab:orange")
                box.set_alpha(0.6)
            ax.plot([], [], color="tab:blue" if view == "all" else "tab:orange", lw=6, alpha=0.6,
                    label=VIEW_TITLES.get(view, view))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("CATE R^2 per dataset (clipped to [-1, 1])")
    if names:
        ax.legend(fontsize=8)
    return _save(plt, fig, path)


def plot_coverage(cate: pd.DataFrame, path: Path) -> Path:
    """Interval coverage of the true ITE (nominal 0.95 line) and mean width, per estimator."""
    plt = pyplot()
    rows = []
    several = cate["group"].nunique() > 1
    for _, r in cate.iterrows():
        for kind in ("cate", "ite"):
            cov = r[f"{kind}_interval_coverage"]
            if isinstance(cov, float) and not math.isnan(cov):
                where = f"{r['group']}: " if several else ""
                rows.append((f"{where}{r['estimator']} ({kind.upper()})", r[VIEW_COLUMN], cov,
                             r[f"{kind}_interval_width_sd"]))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, max(3.0, 0.3 * len(rows) + 1)))
    frame = pd.DataFrame(rows, columns=["label", VIEW_COLUMN, "coverage", "width"])
    labels = list(dict.fromkeys(frame["label"]))
    views = list(dict.fromkeys(frame[VIEW_COLUMN]))
    h = 0.8 / max(1, len(views))
    for k, view in enumerate(views):
        s = frame[frame[VIEW_COLUMN] == view].set_index("label")
        ys = np.arange(len(labels)) + (k - (len(views) - 1) / 2) * h
        color = "tab:blue" if view == "all" else "tab:orange"
        a1.barh(ys, [s["coverage"].get(lbl, np.nan) for lbl in labels], height=h, color=color,
                label=VIEW_TITLES.get(view, view))
        widths = np.array([s["width"].get(lbl, np.nan) for lbl in labels], dtype=float)
        a2.barh(ys, np.where(np.isfinite(widths), widths, np.nan), height=h, color=color)
    for ax in (a1, a2):
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
    a1.axvline(NOMINAL, color="red", lw=1, ls="--")
    a1.set_xlim(0, 1)
    a1.set_xlabel("coverage of true ITE")
    a2.set_xlabel("mean width (SD(y) units, log scale)")
    if np.isfinite(frame["width"].astype(float)).any() and (frame["width"].astype(float) > 0).any():
        a2.set_xscale("log")
    a2.set_yticklabels([])
    if labels:
        a1.legend(fontsize=8, loc="lower left")
    return _save(plt, fig, path)


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
