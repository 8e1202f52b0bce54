"""`sdscm audit`: the causal effect a language model encodes, with paired counterfactuals and a placebo arm.

The bodies import their subsystem when they run (heavy libraries; see :mod:`sdscm.cli.app`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import typer

from sdscm.cli.common import (
    CacheOpt,
    DtypeOpt,
    ExecutorOpt,
    FileArg,
    ModelOpt,
    NoCacheOpt,
    RayAddressOpt,
    check_seed,
    check_units,
    console,
    err_console,
    load_model,
    run_guarded,
)
from sdscm.errors import QueryError
from sdscm.results.io import check_output_path
from sdscm.spec.values import value_index


def split_values(text: str, domain: Sequence[str], variable: str) -> tuple[str, str]:
    """`A,B` into two values of `variable`. Labels may contain commas: the split point is the comma
    at which both sides are labels (or 0-based indices)."""
    def ok(part: str) -> bool:
        return value_index(domain, part.strip()) is not None

    pieces = text.split(",")
    candidates = [(",".join(pieces[:i]).strip(), ",".join(pieces[i:]).strip()) for i in range(1, len(pieces))]
    good = [c for c in candidates if ok(c[0]) and ok(c[1])]
    if len(good) == 1:
        return good[0]
    if len(good) > 1:
        raise QueryError(f"--values {text!r} can be split in several ways; use 0-based indices, e.g. --values 0,1")
    if len(candidates) == 1:
        # Exactly one comma: let the audit name the side that is not a value.
        return candidates[0]
    raise QueryError(f"--values {text!r}: write two values of '{variable}' separated by a comma, e.g. "
                     f"--values '{domain[0]},{domain[-1]}' (labels or 0-based indices); its values are {list(domain)}")


def parse_variants(text: str) -> int | list[int] | None:
    """`K` (variants 0..K-1), `i,j,...` (those variants) or `first` (the first phrasing of every variable)."""
    text = text.strip()
    if text.lower() == "first":
        return None
    try:
        if "," in text:
            return [int(p) for p in text.split(",") if p.strip()]
        k = int(text)
    except ValueError:
        raise QueryError(f"--variants {text!r}: give a count K, a list like 0,3,7, or 'first'") from None
    if k < 1:
        raise QueryError(f"--variants must be at least 1, got {k}")
    return k


def audit_command(
    file: Path = FileArg,
    cause: str = typer.Option(..., "--cause", help="The variable whose effect is audited."),
    values: Optional[str] = typer.Option(None, "--values", help="A,B: the two values of the cause to contrast "
                                         "(labels or 0-based indices; default: the benchmark's control,treated "
                                         "or a binary cause's values)."),
    outcome: str = typer.Option(..., "--outcome", help="The outcome variable."),
    outcome_value: list[str] = typer.Option([], "--outcome-value", help="Outcome value whose probability is "
                                            "compared; repeatable (Holm/BH-adjusted). Default: every value "
                                            "(a binary outcome: its first)."),
    variants: str = typer.Option("5", "--variants", help="K phrasing draws (variants 0..K-1), a list 0,3,7, "
                                 "or 'first' (the first phrasing of every variable)."),
    n: int = typer.Option(200, "-n", help="Units per variant."),
    seed: int = typer.Option(0, "--seed", help="Noise seed: units are keyed by (seed, unit id)."),
    placebo: bool = typer.Option(True, "--placebo/--no-placebo", help="Also re-word the cause's sentence at "
                                 "value A (same units, same noise) to measure wording sensitivity."),
    placebo_phrasing: Optional[str] = typer.Option(None, "--placebo-phrasing", help="The placebo wording: a "
                                                   "template with {value}, or the 0-based index of one of the "
                                                   "cause's phrasings (default: the next phrasing in the file)."),
    margin: Optional[float] = typer.Option(None, "--margin", help="Equivalence margin (probability units) for "
                                           "a TOST test of no effect."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples per variant."),
    n_perm: int = typer.Option(10_000, "--n-perm", help="Sign-flip permutations per test."),
    out: Path = typer.Option(..., "--out", help="Output folder: results.json, units.parquet, report.md, "
                             "report.html, forest.png, histogram.png."),
    model: Optional[str] = ModelOpt,
    dtype: Optional[str] = DtypeOpt,
    length_normalize: Optional[bool] = typer.Option(None, "--length-normalize/--no-length-normalize",
                                                    help="Override the model section: score candidates by "
                                                    "their mean token log-prob (the reference code's choice) "
                                                    "or by the sum (default: the model file's setting)."),
    cache: Optional[Path] = CacheOpt,
    no_cache: bool = NoCacheOpt,
    jobs: int = typer.Option(1, "--jobs", help="With --executor ray: variants computed on this many Ray actors "
                             "(each loads the model once). The local executor runs them in this process."),
    executor: str = ExecutorOpt,
    ray_address: Optional[str] = RayAddressOpt,
) -> None:
    """Audit the causal effect of CAUSE (A -> B) on OUTCOME that the language model encodes.

    Per variant, n units are sampled; each unit's shared-noise counterfactual worlds under do(cause=A) and
    do(cause=B) give its exact change in P(outcome value) and whether the sampled decision flips. A placebo
    arm re-words the cause at value A. Reports per-variant tests, a random-effects pooled estimate, the
    comparison with the placebo, multiplicity-adjusted p-values and (with --margin) an equivalence test.
    """

    def body() -> None:
        from sdscm.audit import audit

        check_seed(seed)
        check_units(n, "-n", minimum=2, split=" into several audits with different --seed values")
        check_output_path(out, folder=True)
        m = load_model(file, None, model, dtype, cache, no_cache, length_normalize=length_normalize)
        m.variable(cause)  # unknown variable -> clear error before anything else
        m.variable(outcome)
        pair = split_values(values, m.domains[cause], cause) if values is not None else None
        phr: str | int | None = placebo_phrasing
        if placebo_phrasing is not None and placebo_phrasing.strip().isdigit():
            phr = int(placebo_phrasing)
        result = audit(m, cause=cause, values=pair, outcome=outcome, outcome_value=outcome_value or None,
                       variants=parse_variants(variants), n=n, seed=seed, placebo=placebo, margin=margin,
                       placebo_phrasing=phr, alpha=alpha, n_boot=n_boot, n_perm=n_perm, progress=True,
                       jobs=jobs, executor=executor, ray_address=ray_address)
        if not result.upstream:
            err_console.print(f"[bold yellow]note:[/] '{cause}' is not upstream of the outcome '{outcome}' "
                              "(no directed path in the DAG): every per-unit effect is exactly zero.",
                              highlight=False, markup=True)
        for note in result.notes:
            if result.upstream or "not upstream" not in note:
                err_console.print(f"note: {note}", highlight=False, markup=False)
        paths = result.write(out)
        console.print(result.summary(), highlight=False, markup=False, soft_wrap=True)
        console.print(result.primary["verdict"], highlight=False, markup=False, soft_wrap=True)
        console.print(f"wrote {', '.join(str(p) for p in paths.values())} "
                      f"({result.runtime['seconds']:.1f} s)", highlight=False, markup=False)

    run_guarded(body)
