"""`sdscm benchmark evaluate` and `sdscm benchmark report`: score estimators, then tabulate and plot.

The bodies import their subsystem when they run (heavy libraries; see :mod:`sdscm.cli.app`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sdscm.cli.common import ExecutorOpt, RayAddressOpt, check_seed, console, run_guarded
from sdscm.results.io import check_output_path
from sdscm.errors import SDSCMError

VIEW_CHOICES = {"all": ("all",), "hidden": ("hidden",), "both": ("all", "hidden")}


def evaluate_command(
    source: Optional[Path] = typer.Argument(None, help="A folder from `benchmark generate`, or CSVs in the paper's "
                                            "layout (detected). Required unless --list."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results Parquet file (re-run the same command to "
                                       "resume). Required unless --list."),
    estimators: Optional[str] = typer.Option(None, "--estimators", help="Comma-separated names (default: the whole preset)."),
    preset_name: str = typer.Option("paper", "--preset", help="paper (integer covariates, library defaults) or recommended."),
    view: str = typer.Option("both", "--view", "--setting", help="Views of every dataset: all, hidden (exogenous "
                             "covariates dropped) or both. --setting is the former name."),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes (0: in this process, without a hard time limit)."),
    executor: str = ExecutorOpt,
    ray_address: Optional[str] = RayAddressOpt,
    time_limit: float = typer.Option(600.0, "--time-limit", help="Seconds per fit before it is stopped and recorded as a timeout."),
    seed: int = typer.Option(0, "--seed", help="Seed of every estimator (fixed, so runs are reproducible)."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Override the preset's covariate encoding: index or onehot."),
    max_datasets: Optional[int] = typer.Option(None, "--max-datasets", help="Use only the first N datasets (quick runs)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Re-run fits recorded as failed in --out."),
    list_only: bool = typer.Option(False, "--list", help="List the preset's estimators and exit."),
) -> None:
    """Fit the estimator suite on every dataset and score it against the exact potential outcomes."""

    def body() -> None:
        from dataclasses import replace

        from sdscm.estimators import preset, registry, select
        from sdscm.evaluation import evaluate
        from sdscm.evaluation.runner import VIEW_COLUMN
        from sdscm.benchmark import load_benchmark

        # Every argument is checked before any dataset is read or estimator fitted.
        if not list_only:
            missing = [what for what, given in (("the SOURCE folder", source), ("--out FILE", out)) if given is None]
            if missing:
                raise SDSCMError(f"benchmark evaluate needs {' and '.join(missing)} (only --list works without them)")
            check_output_path(out, (".parquet", ".pq"))
            if not source.exists():
                raise SDSCMError(f"{source}: no such folder or file; give a folder from `sdscm benchmark generate` "
                                 "or CSVs in the paper's layout")
        check_seed(seed)
        if view not in VIEW_CHOICES:
            raise SDSCMError(f"--view (--setting) must be one of {', '.join(VIEW_CHOICES)}, got {view!r}")
        if time_limit <= 0:
            raise SDSCMError("--time-limit must be a positive number of seconds")
        if jobs < 0:
            raise SDSCMError(f"--jobs must be 0 (in this process) or a positive number of processes, got {jobs}")
        if max_datasets is not None and max_datasets < 1:
            raise SDSCMError(f"--max-datasets must be at least 1, got {max_datasets}")
        if encoding is not None and encoding not in ("index", "onehot"):
            raise SDSCMError(f"--encoding must be index or onehot, got {encoding!r}")
        configs = preset(preset_name)
        names = None if estimators is None else [x.strip() for x in estimators.split(",") if x.strip()]
        if estimators is not None and not names:
            raise SDSCMError("--estimators is empty; give comma-separated names (see --list)")
        known = {c.display for c in configs} | set(registry())
        unknown = [x for x in dict.fromkeys(names or []) if x not in known]
        if unknown:
            raise SDSCMError(f"unknown estimator{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; known: "
                             f"{', '.join(sorted(known))} (see `sdscm benchmark evaluate --list`)")
        configs = select(configs, names)
        if encoding is not None:
            configs = [replace(c, encoding=encoding) for c in configs]
        if list_only:
            reg = registry()
            for c in configs:
                console.print(f"{c.display:18s} {c.encoding:7s} {dict(c.params)}  {reg[c.name].description}",
                              highlight=False)
            return
        datasets = load_benchmark(source, VIEW_CHOICES[view], max_datasets)
        console.print(f"{len(datasets)} dataset view(s) x {len(configs)} estimator(s) "
                      f"({preset_name} preset) -> {out}", highlight=False)
        results = evaluate(datasets, configs, out=out, jobs=jobs, time_limit=time_limit, seed=seed,
                           retry_failed=retry_failed, progress=True, executor=executor, ray_address=ray_address)
        ok = results[results["status"] == "ok"]
        failed = results[results["status"] != "ok"]
        console.print(f"{len(ok)} fit(s) ok, {len(failed)} failed: {out}", highlight=False)
        for _, r in failed.drop_duplicates(["estimator", VIEW_COLUMN]).head(10).iterrows():
            console.print(f"  {r['estimator']} ({r[VIEW_COLUMN]}, {r['dataset']}): {r['status']}: "
                          f"{str(r['error'])[:200]}", highlight=False)
        console.print(f"next: sdscm benchmark report {out} --out REPORT_DIR", highlight=False)

    run_guarded(body)


def report_command(
    results: Path = typer.Argument(..., help="Results Parquet file from `benchmark evaluate`."),
    out: Path = typer.Option(..., "--out", help="Folder for report.md, CSV tables and figures/."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Also draw the PNG figures."),
) -> None:
    """Paper-style tables (markdown + CSV) and figures from evaluation results."""

    def body() -> None:
        from sdscm.evaluation import write_report

        check_output_path(out, folder=True)
        paths = write_report(results, out, figures=figures)
        console.print(f"report: {paths['report_md']}", highlight=False)
        for name, path in paths.items():
            if name != "report_md":
                console.print(f"  {path}", highlight=False)

    run_guarded(body)
