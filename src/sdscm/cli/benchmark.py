"""`sdscm benchmark ...`: the command group for benchmark datasets and estimator evaluation.

The commands are plain functions in their own modules; this group registers them.
"""

from __future__ import annotations

import typer

from sdscm.cli.benchmark_evaluate import evaluate_command, report_command, reproduce_paper_command
from sdscm.cli.benchmark_generate import describe_command, generate_command

benchmark_app = typer.Typer(
    help="Benchmark datasets with exact potential outcomes, and estimator evaluation.",
    no_args_is_help=True,
)
benchmark_app.command("generate")(generate_command)
benchmark_app.command("describe")(describe_command)
benchmark_app.command("evaluate")(evaluate_command)
benchmark_app.command("report")(report_command)
benchmark_app.command("reproduce-paper")(reproduce_paper_command)
