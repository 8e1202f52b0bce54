"""`sdscm benchmark ...`: the command group for benchmark datasets and estimator evaluation.

Commands live in their own modules and attach themselves to `benchmark_app`; they are imported
at the bottom of this file.
"""

from __future__ import annotations

import typer

benchmark_app = typer.Typer(
    help="Benchmark datasets with exact potential outcomes, and estimator evaluation.",
    no_args_is_help=True,
)

# Command modules (each imports `benchmark_app` from here and registers its commands):
from sdscm.cli import benchmark_generate  # noqa: E402,F401
from sdscm.cli import benchmark_evaluate  # noqa: E402,F401
