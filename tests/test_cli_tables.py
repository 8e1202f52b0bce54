"""CLI tables never cut a number: a table whose number columns keep their full width, or, when that
is wider than the terminal, one block per row. Checked at 80 columns and at many other widths."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

import sdscm
from sdscm.cli.app import app
from sdscm.cli.tables import print_table

from test_cli import CATEGORICAL_MODEL

# The demo's table on a near-null benchmark (scientific notation) with long estimator labels.
HEADERS = ("estimate of the ATE", "all covariates", "error", "U hidden", "error")
ROWS = [
    ("true sample ATE (exact)", "+8.89525e-06", "", "", ""),
    ("naive difference in means", "-1.23456e-05", "-2.12409e-05", "", ""),
    ("doubly robust learner with a forest nuisance model", "+7.00001e-06", "-1.89524e-06",
     "+1.00000e-04", "+9.11047e-05"),
]


def render(width: int, headers=HEADERS, rows=ROWS) -> str:
    out = io.StringIO()
    print_table(Console(file=out, width=width, color_system=None), headers, rows, title="Effect of T on Y")
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 120, 100, 72, 60, 45, 30])
def test_every_number_is_printed_whole_at_any_width(width: int) -> None:
    text = render(width)
    for row in ROWS:
        for cell in row[1:]:
            if cell:
                assert cell in text, (width, cell, text)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width


def test_a_table_when_it_fits_and_blocks_when_it_does_not() -> None:
    wide = render(140)
    assert "───" in wide and "estimate of the ATE" in wide  # a table with a header rule
    narrow = render(60)
    assert "───" not in narrow
    assert "  U hidden: +1.00000e-04" in narrow  # the vertical layout: one `header: value` per line


def test_exact_prints_whole_probabilities_at_80_columns(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_text(yaml.safe_dump(CATEGORICAL_MODEL, sort_keys=False))
    res = CliRunner().invoke(app, ["exact", str(model)], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0, res.output
    # every probability with all the digits Python prints for the float
    for p in sdscm.load(model).exact()["probability"]:
        assert str(float(p)) in res.output
    assert "…" not in res.output
