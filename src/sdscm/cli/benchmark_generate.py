"""`sdscm benchmark generate` and `sdscm benchmark describe`: build and summarise benchmark datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sdscm.cli.benchmark import benchmark_app
from sdscm.cli.common import cache_option, console, run_guarded


@benchmark_app.command("generate")
def generate_command(
    family: Path = typer.Argument(..., help="Model file with several phrasings per variable (a family)."),
    out: Path = typer.Option(..., "--out", help="Output folder (re-run the same command to resume)."),
    variants: int = typer.Option(1, "--variants", help="Number of phrasing variants (SD-SCMs) drawn from the family."),
    datasets_per_variant: int = typer.Option(1, "--datasets-per-variant", help="Datasets per variant."),
    n: int = typer.Option(1000, "-n", "--n", help="Units per dataset."),
    seed: int = typer.Option(0, "--seed", help="Base seed; dataset d of variant k uses a seed derived from (seed, k, d)."),
    jobs: int = typer.Option(1, "--jobs", help="Datasets generated in parallel processes (each loads the model once)."),
    treatment: Optional[str] = typer.Option(None, "--treatment", help="Treatment variable (default: the file's benchmark section)."),
    control: Optional[str] = typer.Option(None, "--control", help="Control value of the treatment (label or 0-based index)."),
    treated: Optional[str] = typer.Option(None, "--treated", help="Treated value of the treatment (label or 0-based index)."),
    outcome: Optional[str] = typer.Option(None, "--outcome", help="Outcome variable."),
    outcome_value: Optional[str] = typer.Option(None, "--outcome-value", help="Outcome value whose probability is y (default: the first)."),
    quantity: Optional[str] = typer.Option(None, "--quantity", help="probability (default), log_score (the paper's logP) or category."),
    formats: list[str] = typer.Option([], "--format", help="'reference': also write the paper's CSV layout (Parquet is always written)."),
    model: Optional[str] = typer.Option(None, "--model", help="Override the model section: a local path or offline model name."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="float32 (default) or bfloat16."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Score-cache folder (default: the user cache dir)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the persistent score cache."),
) -> None:
    """Generate benchmark datasets with exact potential outcomes (resumable)."""

    def body() -> None:
        from rich.table import Table

        from sdscm.benchmark import generate

        result = generate(
            family, out, variants=variants, datasets_per_variant=datasets_per_variant, n=n, seed=seed,
            treatment=treatment, control=control, treated=treated, outcome=outcome,
            outcome_value=outcome_value, quantity=quantity, formats=[f for f in formats if f != "parquet"],
            jobs=jobs, model=model, dtype=dtype, cache=cache_option(cache, no_cache), progress=True,
        )
        d = result.manifest["design"]
        table = Table(title=f"{d['outcome']}={d['outcome_value']} ({d['quantity']}): "
                            f"{d['treatment']} = {d['treated']} vs {d['control']}")
        for col in ("dataset", "SATE", "naive difference", "treated share", "e range"):
            table.add_column(col, justify="left" if col == "dataset" else "right", no_wrap=col == "dataset")
        for rec in result.datasets[:20]:
            naive = rec["naive_difference"]
            table.add_row(rec["name"], f"{rec['sate']:+.6g}", "n/a" if naive is None else f"{naive:+.6g}",
                          f"{rec['treated_share']:.3f}",
                          f"{rec['propensity_min']:.3f}-{rec['propensity_max']:.3f}")
        console.print(table)
        if len(result.datasets) > 20:
            console.print(f"... {len(result.datasets) - 20} more in {out / 'manifest.json'}", highlight=False)
        console.print(f"{result.generated} dataset(s) generated, {result.skipped} already present, "
                      f"in {result.seconds:.1f} s: {out}", highlight=False)

    run_guarded(body)


@benchmark_app.command("describe")
def describe_command(
    source: Path = typer.Argument(..., help="A folder from `benchmark generate`, or CSVs in the paper's layout."),
    out: Path = typer.Option(..., "--out", help="Folder for the PNG figures and summary.md."),
    view: str = typer.Option("all", "--view", help="all, or hidden (exogenous covariates dropped)."),
) -> None:
    """Summary figures (SATE vs naive, overlap, ITEs, outcomes) and a markdown summary."""

    def body() -> None:
        from sdscm.benchmark import describe

        result = describe(source, out, view=view)
        console.print(f"described {len(result.table)} dataset(s): {result.summary}", highlight=False)
        for path in result.figures.values():
            console.print(f"  {path}", highlight=False)

    run_guarded(body)
