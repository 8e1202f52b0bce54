"""`sdscm benchmark generate` and `sdscm benchmark describe`: build and summarise benchmark datasets.

The bodies import their subsystem when they run (heavy libraries; see :mod:`sdscm.cli.app`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sdscm.cli.common import (
    CacheOpt,
    DtypeOpt,
    ExecutorOpt,
    ModelOpt,
    NoCacheOpt,
    RayAddressOpt,
    cache_option,
    check_seed,
    check_units,
    console,
    err_console,
    run_guarded,
)
from sdscm.cli.tables import print_table
from sdscm.results.io import check_output_path


def generate_command(
    family: Path = typer.Argument(..., help="Model file with several phrasings per variable (a family)."),
    out: Path = typer.Option(..., "--out", help="Output folder (re-run the same command to resume)."),
    variants: int = typer.Option(1, "--variants", help="Number of phrasing variants (SD-SCMs) drawn from the family."),
    datasets_per_variant: int = typer.Option(1, "--datasets-per-variant", help="Datasets per variant."),
    n: int = typer.Option(1000, "-n", help="Units per dataset."),
    seed: int = typer.Option(0, "--seed", help="Base seed; dataset d of variant k uses a seed derived from (seed, k, d)."),
    jobs: int = typer.Option(1, "--jobs", help="Datasets generated in parallel workers (each loads the model once)."),
    executor: str = ExecutorOpt,
    ray_address: Optional[str] = RayAddressOpt,
    treatment: Optional[str] = typer.Option(None, "--treatment", help="Treatment variable (default: the file's benchmark section)."),
    control: Optional[str] = typer.Option(None, "--control", help="Control value of the treatment (label or 0-based index)."),
    treated: Optional[str] = typer.Option(None, "--treated", help="Treated value of the treatment (label or 0-based index)."),
    outcome: Optional[str] = typer.Option(None, "--outcome", help="Outcome variable."),
    outcome_value: Optional[str] = typer.Option(None, "--outcome-value", help="Outcome value whose probability is y (default: the first)."),
    quantity: Optional[str] = typer.Option(None, "--quantity", help="probability (default), log_score (the paper's logP) or category."),
    formats: list[str] = typer.Option([], "--format", help="'reference': also write the paper's CSV layout (Parquet is always written)."),
    model: Optional[str] = ModelOpt,
    dtype: Optional[str] = DtypeOpt,
    cache: Optional[Path] = CacheOpt,
    no_cache: bool = NoCacheOpt,
    stop_if_unhealthy: bool = typer.Option(
        False, "--stop-if-unhealthy",
        help="Stop at the first dataset whose health verdict is not ok (near-null effect, poor overlap, "
             "degenerate outcome); its file is kept and a re-run resumes."),
) -> None:
    """Generate benchmark datasets with exact potential outcomes (resumable), with a health verdict."""

    def body() -> None:
        from sdscm.benchmark import generate
        from sdscm.benchmark.describe import short_name
        from sdscm.benchmark.health import explain

        check_seed(seed)
        check_units(n, split=" over more datasets (--datasets-per-variant) of fewer units")
        check_output_path(out, folder=True)

        def warn_unhealthy(record: dict) -> None:
            health = record.get("health") or {}
            if health.get("reasons"):
                err_console.print(f"[yellow]warning[/]: {record['name']} is unhealthy: {health['verdict']}",
                                  highlight=False)
                for line in explain(health):
                    err_console.print(f"  {line}", highlight=False, markup=False)

        result = generate(
            family, out, variants=variants, datasets_per_variant=datasets_per_variant, n=n, seed=seed,
            treatment=treatment, control=control, treated=treated, outcome=outcome,
            outcome_value=outcome_value, quantity=quantity, formats=[f for f in formats if f != "parquet"],
            jobs=jobs, model=model, dtype=dtype, cache=cache_option(cache, no_cache), progress=True,
            on_dataset=warn_unhealthy, stop_if_unhealthy=stop_if_unhealthy, executor=executor,
            ray_address=ray_address,
        )
        d = result.manifest["design"]
        title = (f"{d['outcome']}={d['outcome_value']} ({d['quantity']}): "
                 f"{d['treatment']} = {d['treated']} vs {d['control']}")
        rows = []
        for rec in result.datasets[:20]:
            naive = rec["naive_difference"]
            health = rec.get("health") or {}
            floor = health.get("numerical_floor")
            rows.append([short_name(rec["name"]), f"{rec['sate']:+.4f}",
                         "n/a" if naive is None else f"{naive:+.4f}", f"{health.get('ite_sd', float('nan')):.4f}",
                         "n/a" if floor is None else f"{floor:.1e}", f"{rec['treated_share']:.3f}",
                         f"{rec['propensity_min']:.2f}-{rec['propensity_max']:.2f}", health.get("verdict", "?")])
        caption = "dataset: variant/index; floor: the backend's measured numerical error on y"
        headers = ("dataset", "SATE", "naive", "ITE SD", "floor", "treated", "e range", "verdict")
        # numbers are never cut: a table whose number columns keep their width, or one block per dataset
        print_table(console, headers, rows, numeric=[h not in ("dataset", "verdict") for h in headers],
                    title=title, caption=caption)
        if len(result.datasets) > 20:
            console.print(f"... {len(result.datasets) - 20} more in {out / 'manifest.json'}", highlight=False)
        console.print(f"{result.generated} dataset(s) generated, {result.skipped} already present, "
                      f"in {result.seconds:.1f} s: {out}", highlight=False)
        verdict = result.manifest["health"]["verdict"]
        colour = "green" if verdict == "ok" else "yellow"
        console.print(f"benchmark health: [{colour}]{verdict}[/]", highlight=False)

    run_guarded(body)


def describe_command(
    source: Path = typer.Argument(..., help="A folder from `benchmark generate`, or CSVs in the paper's layout."),
    out: Path = typer.Option(..., "--out", help="Folder for the PNG figures and summary.md."),
    view: str = typer.Option("all", "--view", help="all, or hidden (exogenous covariates dropped)."),
) -> None:
    """Summary figures (SATE vs naive, overlap, ITEs, outcomes) and a markdown summary."""

    def body() -> None:
        from sdscm.benchmark import describe

        check_output_path(out, folder=True)
        result = describe(source, out, view=view)
        console.print(f"described {len(result.table)} dataset(s): {result.summary}", highlight=False)
        for path in result.figures.values():
            console.print(f"  {path}", highlight=False)

    run_guarded(body)
