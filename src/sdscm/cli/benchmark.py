"""`sdscm benchmark ...`: the command group for benchmark datasets and estimator evaluation.

The commands are plain functions in their own modules; this group registers them.
"""

from __future__ import annotations

import typer

from sdscm.cli.benchmark_evaluate import evaluate_command, report_command, reproduce_paper_command
from sdscm.cli.benchmark_generate import describe_command, generate_command
from sdscm.cli.common import HelpCommand, HelpGroup

benchmark_app = typer.Typer(
    cls=HelpGroup,
    help="Benchmark datasets with exact potential outcomes, and estimator evaluation.",
    no_args_is_help=True,
)
benchmark_app.command("generate", cls=HelpCommand)(generate_command)
benchmark_app.command("describe", cls=HelpCommand)(describe_command)
benchmark_app.command("evaluate", cls=HelpCommand)(evaluate_command)
benchmark_app.command("report", cls=HelpCommand)(report_command)
benchmark_app.command("reproduce-paper", cls=HelpCommand)(reproduce_paper_command)
