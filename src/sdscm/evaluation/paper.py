"""The paper's Table 1 protocol on its released CSVs, with our numbers beside the published ones.

Table 1 of Bynum & Cho scores 8 ATE estimators on the 1,000 released breast-cancer datasets of
each language model (GPT-2, Llama-3-8B) in two settings (all covariates; hidden confounding:
X0-X3 dropped): R^2 and RMSE of the estimated ATEs against the true SATEs across datasets.
:func:`reproduce` runs that protocol (the ``paper`` preset: integer covariates, library
defaults) on a local copy of the CSVs, or a subset, resumably, and tabulates our R^2 and RMSE
with bootstrap intervals over datasets next to the published values.

The published values (``sdscm/data/paper_table1.csv``) are those printed by the authors'
released ``benchmark.ipynb`` (github.com/lbynum/sequence-driven-scms), computed on all 1,000
datasets per model; ``<0`` is how it prints a negative R^2. Our BART is stochtree's, not R's
bartCause (see docs/estimators.md).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from sdscm.errors import SDSCMError
from sdscm.estimators import preset, select
from sdscm.evaluation.report import ate_table, markdown_table, _fmt
from sdscm.evaluation.runner import VIEW_COLUMN, evaluate
from sdscm.results.io import write_frame, write_text

TABLE1_ESTIMATORS: tuple[str, ...] = ("T-only OLS", "BART", "ForestDML", "ForestDRLearner", "LinReg",
                                      "LinearDML", "LinearDRLearner", "RF")
"""Table 1's rows, in its order, by our names (ForestDR = ForestDRLearner, LinearDR = LinearDRLearner)."""

MODELS: tuple[str, ...] = ("gpt2", "llama-3-8b")
"""The released data's language models: the folder names under ``data/cancer_example``."""


def published_table() -> pd.DataFrame:
    """The published Table 1: model, setting, estimator, ate_r2 (text: a number or ``<0``), ate_rmse."""
    text = resources.files("sdscm").joinpath("data/paper_table1.csv").read_text(encoding="utf-8")
    from io import StringIO

    return pd.read_csv(StringIO(text), dtype={"ate_r2": str})


def find_sources(paths: Sequence[str | Path]) -> dict[str, Path]:
    """Label -> folder of CSVs. One path holding the language models' folders (the released
    repository, its ``data/cancer_example``, or a folder with ``gpt2/`` and ``llama-3-8b/``) gives
    both; otherwise every path is ``LABEL=DIR`` (or a folder labelled by its name)."""
    if len(paths) == 1 and "=" not in str(paths[0]):
        root = Path(paths[0])
        for base in (root, root / "data" / "cancer_example", root / "cancer_example"):
            found = {m: base / m for m in MODELS if (base / m).is_dir()}
            if found:
                return found
    out: dict[str, Path] = {}
    for raw in paths:
        label, sep, rest = str(raw).partition("=")
        path = Path(rest) if sep else Path(raw)
        label = label if sep else path.resolve().name
        if not path.is_dir():
            raise SDSCMError(f"{path}: no such folder; give the folder of the released CSVs "
                             "(holding gpt2/ and llama-3-8b/) or LABEL=DIR per language model")
        if label in out:
            raise SDSCMError(f"two sources are labelled {label!r}; give LABEL=DIR")
        out[label] = path
    if not out:
        raise SDSCMError("give the folder of the paper's released CSVs")
    return out


def _published_model(label: str, models: Sequence[str]) -> str | None:
    """The published model a source label stands for (exact, or a unique prefix such as 'llama')."""
    if label in models:
        return label
    hits = [m for m in models if m.startswith(label) or label.startswith(m)]
    return hits[0] if len(hits) == 1 else None


def comparison_table(results: pd.DataFrame, published: pd.DataFrame | None = None,
                     resamples: int = 2000) -> pd.DataFrame:
    """Our ATE R^2 and RMSE (with bootstrap intervals and dataset counts) beside the published ones,
    one row per (model, setting, estimator)."""
    published = published_table() if published is None else published
    ours = ate_table(results, resamples=resamples)
    models = list(dict.fromkeys(published["model"]))
    pub = published.set_index(["model", "setting", "estimator"])
    rows = []
    for r in ours.itertuples():
        model = _published_model(str(r.group), models)
        key = (model, getattr(r, VIEW_COLUMN), r.estimator)
        has = model is not None and key in pub.index
        rows.append({
            "model": r.group, "setting": getattr(r, VIEW_COLUMN), "estimator": r.estimator,
            "datasets": r.used, "failed": r.failed, "nonfinite": r.nonfinite,
            "ate_r2": r.ate_r2, "ate_r2_lo": r.ate_r2_lo, "ate_r2_hi": r.ate_r2_hi,
            "published_ate_r2": pub.loc[key, "ate_r2"] if has else "",
            "ate_rmse": r.ate_rmse, "ate_rmse_lo": r.ate_rmse_lo, "ate_rmse_hi": r.ate_rmse_hi,
            "published_ate_rmse": float(pub.loc[key, "ate_rmse"]) if has else math.nan,
            "mean_seconds": r.mean_seconds, "mean_cpu_seconds": r.mean_cpu_seconds,
        })
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {e: k for k, e in enumerate(TABLE1_ESTIMATORS)}
    return (table.assign(_o=[order.get(e, len(order)) for e in table["estimator"]])
            .sort_values(["model", "setting", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True))


def _published_r2(value: Any) -> str:
    """The published R^2 as text; the notebook prints a negative R^2 as ``<0``."""
    text = str(value) if value else "–"
    return "negative" if text.strip() == "<0" else text


def _interval(v: float, lo: float, hi: float) -> str:
    return _fmt(v) if math.isnan(lo) else f"{_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}]"


def render_comparison(table: pd.DataFrame) -> str:
    """Markdown: per model and setting, our R^2 and RMSE with intervals beside the published ones."""
    shown = pd.DataFrame({
        "model": table["model"], "setting": table["setting"], "estimator": table["estimator"],
        "n": [f"{int(r.datasets)}" + (f" ({int(r.failed)} failed)" if r.failed else "")
              + (f" ({int(r.nonfinite)} non-finite)" if r.nonfinite else "") for r in table.itertuples()],
        "R^2 [95% bootstrap]": [_interval(r.ate_r2, r.ate_r2_lo, r.ate_r2_hi) for r in table.itertuples()],
        "published R^2": [_published_r2(v) for v in table["published_ate_r2"]],
        "RMSE [95% bootstrap]": [_interval(r.ate_rmse, r.ate_rmse_lo, r.ate_rmse_hi) for r in table.itertuples()],
        "published RMSE": table["published_ate_rmse"],
        "wall s/fit": table["mean_seconds"], "CPU s/fit": table["mean_cpu_seconds"],
    })
    return markdown_table(shown)


def reproduce(data: Sequence[Any], out_dir: str | Path, *, estimators: Sequence[str] | None = None,
              jobs: int = 1, time_limit: float | None = 600.0, seed: int = 0, progress: bool = True,
              resamples: int = 2000) -> dict[str, Any]:
    """Run Table 1's protocol on `data` (the released datasets in both views, each labelled by its
    language model in ``metadata['group']``, e.g. from ``load_benchmark(["gpt2=DIR", ...])``) into
    `out_dir` (resumable: ``results.parquet`` keeps every finished fit), and write ``table1.csv``
    and ``table1.md``. Returns the comparison frame, the results, the markdown and the paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    configs = select(preset("paper"), list(estimators) if estimators else list(TABLE1_ESTIMATORS))
    results = evaluate(data, configs, out=out / "results.parquet", jobs=jobs, time_limit=time_limit,
                       seed=seed, progress=progress)
    keys = {(d.name, d.view) for d in data}
    results = results[[k in keys for k in zip(results["dataset"], results[VIEW_COLUMN])]]
    results = results[results["estimator"].isin([c.display for c in configs])]
    table = comparison_table(results, resamples=resamples)
    n = len({d.name for d in data})
    md = ("# Table 1 of the paper, reproduced\n\n"
          f"{n} datasets x {len({d.view for d in data})} settings x {len(configs)} estimators "
          f"({len(results)} fits). Published values: the authors' released notebook, on all 1,000 "
          "datasets per model (shown as negative where it prints `<0`). Intervals: 95% percentile "
          "bootstrap over datasets. n: datasets behind each number.\n\n" + render_comparison(table) + "\n")
    paths = {"table_csv": write_frame(table, out / "table1.csv"), "table_md": write_text(out / "table1.md", md),
             "results": out / "results.parquet"}
    return {"table": table, "results": results, "paths": paths, "markdown": md}
