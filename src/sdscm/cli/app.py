"""`sdscm` command line: validate, sample, counterfactual, exact, graph, demo (+ sub-commands).

Command bodies import the subsystems that pull in heavy libraries (the demo's estimators with
scikit-learn/EconML/stochtree, benchmark generation with pyarrow, audits, evaluation) inside the
body, so `sdscm --help` and the quick commands start without them; torch loads only when a
command scores with the language model (sdscm.backends.factory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

# The command runs offline and shares the cores politely; it sets these for its own process only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import typer  # noqa: E402

from sdscm.cli.audit import audit_command  # noqa: E402
from sdscm.cli.benchmark import benchmark_app  # noqa: E402
from sdscm.cli.cache import cache_app  # noqa: E402
from sdscm.cli.common import (  # noqa: E402
    HelpCommand,
    HelpGroup,
    CacheOpt,
    DtypeOpt,
    FileArg,
    ModelOpt,
    NoCacheOpt,
    ServedModelOpt,
    ServerUrlOpt,
    VariantOpt,
    cache_option,
    check_seed,
    check_units,
    check_units_fit,
    console,
    err_console,
    load_intervened_model,
    load_model,
    parse_assignments,
    parse_do,
    run_guarded,
    units_metadata,
)
from sdscm.cli.tables import print_table  # noqa: E402
from sdscm.errors import SDSCMError  # noqa: E402
from sdscm.graph.draw import draw_dag  # noqa: E402
from sdscm.model import NOISE_MODES  # noqa: E402
from sdscm.results.io import (  # noqa: E402
    FRAME_SUFFIXES,
    check_output_path,
    read_frame,
    read_frame_metadata,
    write_frame,
)
from sdscm.spec import dump_spec, load_spec, spec_warnings, validate_file, with_model_overrides  # noqa: E402

app = typer.Typer(
    cls=HelpGroup,
    name="sdscm",
    help="Sequence-driven SCMs: sample observational, interventional and counterfactual data "
    "from a language model plus a DAG.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)



@app.command(cls=HelpCommand)
def validate(file: Path = FileArg) -> None:
    """Check a model file and print every problem found (exit code 1 if any)."""

    def body() -> None:
        problems = validate_file(file)
        if problems:
            err_console.print(f"[bold red]{file}: {len(problems)} problem(s)[/]")
            for p in problems:
                err_console.print(f"  - {p}", highlight=False, markup=False)
            raise SystemExit(1)
        spec = load_spec(file)
        for warning in spec_warnings(spec):
            err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
        n_phr = sum(len(v.phrasings) for v in spec.variables)
        console.print(f"[green]OK[/] {file}: {len(spec.variables)} variables, {n_phr} phrasings"
                      + (f", treatment '{spec.benchmark.treatment}' -> outcome '{spec.benchmark.outcome}'"
                         if spec.benchmark else ""), highlight=False)

    run_guarded(body)


@app.command(cls=HelpCommand)
def sample(
    file: Path = FileArg,
    n: int = typer.Option(..., "-n", min=1, help="Number of units."),
    seed: int = typer.Option(0, "--seed", help="Noise seed: units are keyed by (seed, unit id)."),
    variant: Optional[int] = VariantOpt,
    do: list[str] = typer.Option([], "--do", metavar="VAR=VALUE", help="Hard intervention VAR=VALUE (label or 0-based index); repeatable."),
    soft: list[str] = typer.Option([], "--soft", metavar="VAR=DIST", help="Soft intervention VAR=uniform or VAR=a:0.3,b:0.7; repeatable."),
    out: Path = typer.Option(..., "--out", help="Output .parquet or .csv file."),
    scores: bool = typer.Option(False, "--scores", help="Also write raw candidate scores."),
    model: Optional[str] = ModelOpt,
    dtype: Optional[str] = DtypeOpt,
    cache: Optional[Path] = CacheOpt,
    no_cache: bool = NoCacheOpt,
    server_url: Optional[str] = ServerUrlOpt,
    served_model: Optional[str] = ServedModelOpt,
) -> None:
    """Draw units observationally, or under interventions."""

    def body() -> None:
        check_seed(seed)
        check_units(n)
        check_output_path(out, FRAME_SUFFIXES)
        target = load_intervened_model(file, variant, model, dtype, cache, no_cache, do, soft,
                                       server_url, served_model)
        frame = target.sample(n, seed=seed, scores=scores, progress=True)
        write_frame(frame, out, metadata=units_metadata(target, frame))
        console.print(f"wrote {len(frame)} units to {out}", highlight=False)

    run_guarded(body)


@app.command(cls=HelpCommand)
def counterfactual(
    file: Path = FileArg,
    units: Path = typer.Option(..., "--units", help="Factual units (.parquet/.csv), e.g. from `sdscm sample`."),
    do: list[str] = typer.Option(..., "--do", metavar="VAR=VALUE", help="Intervention VAR=VALUE; repeatable."),
    soft: list[str] = typer.Option([], "--soft", metavar="VAR=DIST", help="Soft intervention VAR=uniform or VAR=a:0.3,b:0.7."),
    noise: str = typer.Option("shared", "--noise", metavar="shared|fresh", help="shared (point counterfactuals) or fresh (the paper's)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of fresh noise / abduction (default: the units' seeds)."),
    variant: Optional[int] = VariantOpt,
    out: Path = typer.Option(..., "--out", help="Output .parquet or .csv file."),
    model: Optional[str] = ModelOpt,
    dtype: Optional[str] = DtypeOpt,
    cache: Optional[Path] = CacheOpt,
    no_cache: bool = NoCacheOpt,
    server_url: Optional[str] = ServerUrlOpt,
    served_model: Optional[str] = ServedModelOpt,
) -> None:
    """Counterfactual worlds of given units; units without recorded noise are abducted."""

    def body() -> None:
        check_seed(seed)
        if noise not in NOISE_MODES:
            raise SDSCMError(f"--noise must be one of {', '.join(NOISE_MODES)}, got {noise!r}")
        check_output_path(out, FRAME_SUFFIXES)
        frame = read_frame(units)
        m = load_model(file, variant, model, dtype, cache, no_cache, server_url, served_model)
        check_units_fit(m, frame, units, read_frame_metadata(units))
        interventions = parse_do(m, do, soft)
        result = m.counterfactual(frame, do=interventions, noise=noise, seed=seed, progress=True)
        write_frame(result, out)  # with its provenance (result.attrs): model, do, noise, seed, versions
        console.print(f"wrote {len(result)} units with their counterfactual world to {out}", highlight=False)

    run_guarded(body)


@app.command(cls=HelpCommand)
def exact(
    file: Path = FileArg,
    var: list[str] = typer.Option([], "--var", metavar="VAR", help="Variables to keep (default: all); repeatable."),
    do: list[str] = typer.Option([], "--do", metavar="VAR=VALUE", help="Hard intervention VAR=VALUE; repeatable."),
    soft: list[str] = typer.Option([], "--soft", metavar="VAR=DIST", help="Soft intervention."),
    evidence: list[str] = typer.Option(
        [], "--evidence", metavar="VAR=VALUE",
        help="Condition on VAR=VALUE (the table is P(vars | evidence), as pgmpy's query); repeatable."),
    variant: Optional[int] = VariantOpt,
    max_states: int = typer.Option(100_000, "--max-states", help="Refuse larger joint spaces."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the table (.csv/.parquet) instead of printing."),
    model: Optional[str] = ModelOpt,
    cache: Optional[Path] = CacheOpt,
    no_cache: bool = NoCacheOpt,
    server_url: Optional[str] = ServerUrlOpt,
    served_model: Optional[str] = ServedModelOpt,
) -> None:
    """Exact (interventional, conditional) distribution by enumeration, for small models."""

    def body() -> None:
        if out is not None:
            check_output_path(out, FRAME_SUFFIXES)
        given: dict[str, object] = dict(parse_assignments(evidence, "--evidence"))
        target = load_intervened_model(file, variant, model, None, cache, no_cache, do, soft,
                                       server_url, served_model)
        for name, value in list(given.items()):  # a digit string that is no label is a 0-based index
            labels = target.domains.get(name)
            if labels is not None and value not in labels and str(value).isdigit():
                given[name] = int(str(value))
        table = target.exact(var or None, max_states=max_states, evidence=given or None)
        if out is not None:
            write_frame(table, out)
            console.print(f"wrote {len(table)} states to {out}", highlight=False)
        else:
            rows = [[str(v) if c != "probability" else str(float(v)) for c, v in zip(table.columns, r)]
                    for r in table.itertuples(index=False)]
            print_table(console, [str(c) for c in table.columns], rows,
                        numeric=[c == "probability" for c in table.columns])

    run_guarded(body)


@app.command(cls=HelpCommand)
def graph(
    file: Path = FileArg,
    out: Path = typer.Option(Path("dag.png"), "--out", help="Picture file (.png, .svg, .pdf)."),
) -> None:
    """Draw the DAG top to bottom (roots on top)."""

    def body() -> None:
        check_output_path(out, (".png", ".svg", ".pdf"))
        draw_dag(load_spec(file), out)
        console.print(f"wrote {out}", highlight=False)

    run_guarded(body)


@app.command(cls=HelpCommand)
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for units.parquet and dag.png."),
    n: int = typer.Option(500, "-n", min=2, help="Number of units."),
    seed: int = typer.Option(0, "--seed", help="Noise seed of the units (the same seed gives the same units)."),
    variant: Optional[int] = typer.Option(
        1, "--variant", help="Phrasing draw K of the family (default 1: a variant of the statin family with "
                             "clear confounding bias)."),
    model_file: Optional[Path] = typer.Option(
        None, "--model-file",
        help="A model file with a `benchmark:` section (default: the packaged statin family, "
             "examples/statin_heart.yaml; examples/breast_cancer.yaml is the paper's)."),
    model: Optional[str] = ModelOpt,
    dtype: Optional[str] = DtypeOpt,
    cache: Optional[Path] = CacheOpt,
    no_cache: bool = NoCacheOpt,
) -> None:
    """The main job: one benchmark dataset, true vs naive vs adjusted ATE, with a health verdict."""

    def body() -> None:
        from sdscm.benchmark.health import explain
        from sdscm.demo import packaged_statin_heart, run_demo

        check_seed(seed)
        check_units(n, minimum=2)
        if variant is not None and variant < 0:
            raise SDSCMError(f"--variant must be 0 or more (a phrasing draw of the family), got {variant}")
        check_output_path(out, folder=True)
        source = model_file or packaged_statin_heart()
        if model is not None or dtype is not None:
            spec = with_model_overrides(load_spec(source), name=model, dtype=dtype)
            source = out / "model.yaml"
            dump_spec(spec, source)
        console.print(f"[bold]sdscm demo[/]: {load_spec(source).name}, variant {variant}, {n} units, seed {seed}",
                      highlight=False)
        s = run_demo(out, n=n, seed=seed, variant=variant, model_file=source, progress=True,
                     cache=cache_option(cache, no_cache))
        hidden = ", ".join(s.hidden_covariates) or "none"
        title = f"Effect of {s.treatment} = {s.treated} vs {s.control} on {s.outcome_label}, {s.n} units"
        tiny = max(abs(s.sample_ate), abs(s.naive_difference)) < 1e-3  # a near-null benchmark

        def num(x: float) -> str:  # tiny effects in scientific notation, so they do not read as 0
            return f"{x:+.2e}" if tiny else f"{x:+.4f}"

        cells = [("true sample ATE (exact)", num(s.sample_ate), "", "", "")]
        cells.append(("naive difference in means", num(s.naive_difference), num(s.bias), "", ""))
        for row in s.estimates:
            cells.append((row.label, num(row.ate_all), num(row.ate_all - s.sample_ate),
                          num(row.ate_hidden), num(row.ate_hidden - s.sample_ate)))
        headers = ("estimate of the ATE", "all covariates", "error", "U hidden", "error")
        print_table(console, headers, cells, title=title)
        h = s.health
        floor = "n/a" if h.numerical_floor is None else f"{h.numerical_floor:.1e}"
        console.print(f"U (hidden in the last columns): {hidden}", highlight=False)
        console.print(f"treated share {h.treated_share:.3f}; propensity {h.propensity_min:.2f} to "
                      f"{h.propensity_max:.2f}", highlight=False)
        console.print(f"ITE SD {h.ite_sd:.4f}; numerical floor {floor}", highlight=False)
        colour = "green" if h.ok else "yellow"
        console.print(f"benchmark health: [{colour}]{h.verdict}[/]", highlight=False)
        for line in explain(h.as_record()):
            console.print(f"  {line}", highlight=False, markup=False)
        console.print(f"data: {s.data_path}\nDAG:  {s.dag_path}\ntime: {s.seconds:.1f} s", highlight=False)

    run_guarded(body)


# Sub-command groups and commands that live in their own modules:
app.add_typer(benchmark_app, name="benchmark")
app.add_typer(cache_app, name="cache")
app.command("audit", cls=HelpCommand)(audit_command)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
