"""The README's main job: one breast-cancer variant, observational units and both treatment arms."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sdscm.backends.base import ScoringBackend
from sdscm.graph.draw import draw_dag
from sdscm.model import SDSCM
from sdscm.results.frames import prob_column, world_columns, world_frame
from sdscm.results.io import write_frame
from sdscm.spec import load_spec


def packaged_breast_cancer() -> Path:
    """Path of the breast-cancer family shipped with the package (same file as examples/breast_cancer.yaml)."""
    return Path(str(resources.files("sdscm").joinpath("data", "breast_cancer.yaml")))


@dataclass
class DemoSummary:
    """What the demo measured and wrote."""

    n: int
    treatment: str
    control: str
    treated: str
    outcome_label: str
    treated_share: float
    naive_difference: float
    sample_ate: float
    seconds: float
    data_path: Path
    dag_path: Path


def run_demo(
    out_dir: str | Path = "demo-output",
    n: int = 200,
    seed: int = 0,
    variant: int | None = 0,
    model_file: str | Path | None = None,
    backend: ScoringBackend | None = None,
    progress: bool = False,
    cache: bool | str | Path = True,
) -> DemoSummary:
    """Sample n units, compute both treatment arms as shared-noise counterfactuals, write data and DAG.

    The outcome quantity is P(outcome = its first value), exact per unit in every world, so the
    sample ATE is exact for these units; the naive difference in means is what a
    confounding-blind analyst would report from the factual data.
    """
    started = time.perf_counter()
    spec = load_spec(model_file or packaged_breast_cancer())
    if spec.benchmark is None:
        raise ValueError("the demo model file needs a `benchmark:` section naming treatment and outcome")
    bench = spec.benchmark
    model = SDSCM(spec, variant=variant, backend=backend, source=str(model_file or "breast_cancer.yaml"),
                  cache=cache)
    outcome_value = bench.outcome_value or model.variable(bench.outcome).values[0]
    arms = [{bench.treatment: bench.control}, {bench.treatment: bench.treated}]
    ids = np.arange(n, dtype=np.int64)
    seeds = np.full(n, seed, dtype=np.int64)
    factual, worlds = model.potential_outcome_worlds(ids, seeds, arms, progress=progress)
    frame = world_frame(model.variables, factual, seeds)
    for arm, world in zip(arms, worlds):
        frame = pd.concat([frame, pd.DataFrame(world_columns(model.variables, world, model.world_suffix(arm)))],
                          axis=1)
    y_col = prob_column(bench.outcome, outcome_value)
    mu0 = frame[f"{y_col}|do({bench.treatment}={bench.control})"].to_numpy()
    mu1 = frame[f"{y_col}|do({bench.treatment}={bench.treated})"].to_numpy()
    treated = (frame[bench.treatment] == bench.treated).to_numpy()
    y = frame[y_col].to_numpy()
    naive = float(y[treated].mean() - y[~treated].mean()) if treated.any() and (~treated).any() else float("nan")
    out = Path(out_dir)
    data_path = write_frame(frame, out / "units.parquet")
    dag_path = draw_dag(spec, out / "dag.png", title=f"{spec.name} (variant {variant})")
    return DemoSummary(
        n=n, treatment=bench.treatment, control=bench.control, treated=bench.treated,
        outcome_label=f"P({bench.outcome}={outcome_value})", treated_share=float(treated.mean()),
        naive_difference=naive, sample_ate=float(np.mean(mu1 - mu0)),
        seconds=time.perf_counter() - started, data_path=data_path, dag_path=dag_path,
    )

