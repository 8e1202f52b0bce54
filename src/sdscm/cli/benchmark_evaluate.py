"""`sdscm benchmark evaluate` and `sdscm benchmark report`: score estimators, then tabulate and plot.

The bodies import their subsystem when they run (heavy libraries; see :mod:`sdscm.cli.app`).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from sdscm.cli.common import ExecutorOpt, RayAddressOpt, check_seed, console, run_guarded
from sdscm.results.io import check_output_path
from sdscm.errors import SDSCMError

VIEW_CHOICES = {"all": ("all",), "hidden": ("hidden",), "both": ("all", "hidden")}


def evaluate_command(
    sources: Optional[List[str]] = typer.Argument(
        None, help="Folders from `benchmark generate` or of CSVs in the paper's layout "
        "(detected); several at once, each optionally LABEL=DIR (the label names its group in reports, e.g. "
        "gpt2=csvs/gpt2 llama=csvs/llama). Required unless --list."),
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
    datasets_sel: Optional[str] = typer.Option(None, "--datasets", help="Datasets to use, per source: comma-separated "
                                               "names, globs or 0-based index ranges (end excluded), e.g. "
                                               "'0:100' or 'gpt2_bcancer_1*,7'. Chosen from the file names, "
                                               "so unchosen files are never read."),
    max_datasets: Optional[int] = typer.Option(None, "--max-datasets", help="Use only the first N (selected) datasets "
                                               "per source, in natural name order; the others are never read."),
    test_fraction: Optional[float] = typer.Option(None, "--test-fraction", help="Score CATE/ITE out of sample: fit on "
                                                  "a per-dataset random share and score the held-out units (e.g. "
                                                  "0.3). Default: the paper's in-sample protocol."),
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
            missing = [what for what, given in (("a SOURCE folder", sources), ("--out FILE", out)) if not given]
            if missing:
                raise SDSCMError(f"benchmark evaluate needs {' and '.join(missing)} (only --list works without them)")
            check_output_path(out, (".parquet", ".pq"))
            absent = []
            for given in sources:  # LABEL=DIR or DIR
                folder = Path(given)
                if not folder.exists() and "=" in given:
                    folder = Path(given.split("=", 1)[1])
                if not folder.exists():
                    absent.append(str(folder))
            if absent:
                raise SDSCMError(f"{', '.join(absent)}: no such folder or file; give folders from `sdscm benchmark "
                                 "generate` or CSVs in the paper's layout (optionally as LABEL=DIR)")
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
        for c in configs:  # a bad parameter is a clear error now, not a failed row per dataset
            c.build(seed)
        datasets = load_benchmark(sources, VIEW_CHOICES[view], max_datasets, datasets=datasets_sel)
        console.print(f"{len(datasets)} dataset view(s) x {len(configs)} estimator(s) "
                      f"({preset_name} preset) -> {out}", highlight=False)
        results = evaluate(datasets, configs, out=out, jobs=jobs, time_limit=time_limit, seed=seed,
                           retry_failed=retry_failed, progress=True, executor=executor, ray_address=ray_address,
                           test_fraction=test_fraction)
        ok = results[results["status"] == "ok"]
        failed = results[results["status"] != "ok"]
        console.print(f"{len(ok)} fit(s) ok, {len(failed)} failed: {out}", highlight=False)
        for _, r in failed.drop_duplicates(["estimator", VIEW_COLUMN]).head(10).iterrows():
            console.print(f"  {r['estimator']} ({r[VIEW_COLUMN]}, {r['dataset']}): {r['status']}: "
                          f"{str(r['error'])[:200]}", highlight=False)
        console.print(f"next: sdscm benchmark report {out} --out REPORT_DIR", highlight=False)

    run_guarded(body)


def _names(text: Optional[str]) -> Optional[list]:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def report_command(
    results: Path = typer.Argument(..., help="Results Parquet file from `benchmark evaluate`."),
    out: Path = typer.Option(..., "--out", help="Folder for report.md, CSV tables and figures/."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Also draw the PNG figures."),
    source: Optional[str] = typer.Option(None, "--source", "--group", help="Only these sources (groups), comma-separated; globs work."),
    setting: Optional[str] = typer.Option(None, "--setting", "--view", help="Only these views: all, hidden (comma-separated)."),
    estimators: Optional[str] = typer.Option(None, "--estimators", help="Only these estimators (comma-separated; globs work)."),
    datasets_sel: Optional[str] = typer.Option(None, "--datasets", help="Only these datasets: names, globs or 0-based index "
                                               "ranges over the file's dataset names in natural order (e.g. 0:100)."),
    common: bool = typer.Option(False, "--common", help="Keep only the datasets every estimator finished (per source and "
                                "view), so every cell compares the same datasets."),
) -> None:
    """Paper-style tables (markdown + CSV) and figures from evaluation results."""

    def body() -> None:
        from sdscm.evaluation import write_report
        from sdscm.evaluation.report import filter_results, load_results

        check_output_path(out, folder=True)
        frame = load_results(results)
        chosen = filter_results(frame, groups=_names(source), settings=_names(setting),
                                estimators=_names(estimators), datasets=datasets_sel)
        filters = [f"{k} {v}" for k, v in (("--source", source), ("--setting", setting),
                                           ("--estimators", estimators), ("--datasets", datasets_sel)) if v]
        note = f"Filtered ({'; '.join(filters)}): {len(chosen)} of {len(frame)} fits." if filters else ""
        paths = write_report(chosen, out, figures=figures, common=common, note=note)
        console.print(f"report: {paths['report_md']}", highlight=False)
        for name, path in paths.items():
            if name != "report_md":
                console.print(f"  {path}", highlight=False)

    run_guarded(body)


def reproduce_paper_command(
    sources: List[str] = typer.Argument(..., help="The paper's released CSVs: the folder holding gpt2/ and "
                                        "llama-3-8b/ (or the released repository), or LABEL=DIR per language model."),
    out: Path = typer.Option(..., "--out", help="Working folder: results.parquet (resumable), table1.md, table1.csv."),
    datasets_sel: Optional[str] = typer.Option(None, "--datasets", help="Subset per model: names, globs or index ranges "
                                               "(natural order, end excluded), e.g. 0:100."),
    max_datasets: Optional[int] = typer.Option(None, "--max-datasets", help="Only the first N datasets per model."),
    estimators: Optional[str] = typer.Option(None, "--estimators", help="Comma-separated (default: Table 1's eight)."),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes (0: in this process)."),
    time_limit: float = typer.Option(600.0, "--time-limit", help="Seconds per fit before it is recorded as a timeout."),
) -> None:
    """Run the paper's Table 1 protocol (8 estimators, both settings, every model) on its released
    CSVs and print our ATE R^2 and RMSE, with bootstrap intervals, beside the published values.
    Re-run the same command to resume."""

    def body() -> None:
        import time

        from sdscm.benchmark import load_benchmark
        from sdscm.evaluation.paper import find_sources, reproduce

        check_output_path(out, folder=True)
        if time_limit <= 0:
            raise SDSCMError("--time-limit must be a positive number of seconds")
        found = find_sources(sources)
        data = load_benchmark([f"{k}={v}" for k, v in found.items()], ("all", "hidden"), max_datasets,
                              datasets=datasets_sel)
        console.print(f"{len(data)} dataset view(s) from {', '.join(f'{k} ({v})' for k, v in found.items())} "
                      f"-> {out}", highlight=False)
        wall, cpu = time.perf_counter(), time.process_time()
        got = reproduce(data, out, estimators=_names(estimators), jobs=jobs, time_limit=time_limit)
        typer.echo(got["markdown"])  # plain: a markdown table must not be wrapped to the terminal
        fits = got["results"]
        console.print(f"this call: {time.perf_counter() - wall:.0f} s wall; the table's {len(fits)} fits: "
                      f"{fits['seconds'].sum():.0f} s wall, {fits['cpu_seconds'].sum():.0f} s CPU in total "
                      "(including fits resumed from earlier calls)", highlight=False)
        console.print(f"table: {got['paths']['table_md']}", highlight=False)

    run_guarded(body)
