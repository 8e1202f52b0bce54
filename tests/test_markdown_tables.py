"""Every table a markdown report (or guide) means to have is a table once parsed.

A CommonMark parser with the GFM table extension (markdown-it-py) renders each report; the number of
tables must equal the number of table blocks in the text (a header row, a delimiter row, body rows), and
every row of a block must split into as many cells as its header. An unescaped `|` in a header or a cell
(e.g. `|effect| / |placebo|`) breaks one of the two: the table degrades into a paragraph, or a row grows
a cell that renderers drop.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
_MD = MarkdownIt("commonmark").enable("table")
_DELIMITER = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$")


def cells(row: str) -> list[str]:
    """A table row's cells: split on `|` not escaped by a backslash, outer pipes removed."""
    row = row.strip()
    parts = re.split(r"(?<!\\)\|", row)
    if row.startswith("|"):
        parts = parts[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        parts = parts[:-1]
    return parts


def table_blocks(markdown: str) -> list[list[str]]:
    """The table blocks of a text outside code fences: a `|` row followed by a delimiter row, and its body."""
    lines, blocks, i, fence = markdown.splitlines(), [], 0, None
    while i < len(lines):
        stripped = lines[i].strip()
        if fence is None and re.match(r"^(`{3,}|~{3,})", stripped):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and stripped.startswith("|") and i + 1 < len(lines) \
                and _DELIMITER.match(lines[i + 1].strip()):
            block = [lines[i], lines[i + 1]]
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i])
                i += 1
            blocks.append(block)
            continue
        i += 1
    return blocks


def table_problems(markdown: str, name: str) -> list[str]:
    """Why the text's tables do not all render as the tables it writes (empty when they do)."""
    blocks = table_blocks(markdown)
    rendered = len(re.findall(r"<table>", _MD.render(markdown)))
    problems = []
    if rendered != len(blocks):
        problems.append(f"{name}: {len(blocks)} table blocks in the text, {rendered} tables rendered")
    for block in blocks:
        width = len(cells(block[0]))
        if len(cells(block[1])) != width:
            problems.append(f"{name}: header has {width} cells, delimiter row {len(cells(block[1]))}: {block[0]!r}")
        for row in block[2:]:
            if len(cells(row)) != width:
                problems.append(f"{name}: row has {len(cells(row))} cells, header {width}: {row[:120]!r}")
    return problems


def test_the_check_catches_unescaped_pipes() -> None:
    """A header with bare pipes (the audit report's old `|effect| / |placebo|`) and a body cell with one
    are reported; the same text escaped is not."""
    bad_header = "| a | |effect| / |placebo| |\n| --- | --- |\n| 1 | 2 |\n"
    bad_cell = "| a | b |\n| --- | --- |\n| 1 | x | y |\n"
    good = "| a | \\|effect\\| / \\|placebo\\| |\n| --- | --- |\n| 1 | `x \\| y` |\n"
    assert table_problems(bad_header, "h") and table_problems(bad_cell, "c")
    assert table_problems(good, "g") == []
    assert len(table_blocks("```text\n| a |\n|---|\n```\n" + good)) == 1  # fenced tables are not tables


COMMITTED = sorted((ROOT / "examples").rglob("*.md"))


@pytest.mark.parametrize("path", COMMITTED, ids=[p.relative_to(ROOT).as_posix() for p in COMMITTED])
def test_committed_example_reports(path: Path) -> None:
    """Committed reports (audits, benchmark summaries, estimator reports) and their READMEs."""
    text = path.read_text(encoding="utf-8")
    assert not table_problems(text, path.name), "\n".join(table_problems(text, path.name))


def test_committed_examples_have_reports() -> None:
    """The parametrised test above sees every kind of report (so none can silently drop out)."""
    names = {p.relative_to(ROOT).as_posix() for p in COMMITTED}
    assert {"examples/audits/triage/report.md", "examples/benchmark_family/summary/summary.md",
            "examples/estimator_reports/statin-paper-report/report.md"} <= names


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_guides_tables(path: Path) -> None:
    """The guides' own tables render whole (a `|` in a cell must be written `\\|`)."""
    text = path.read_text(encoding="utf-8")
    assert not table_problems(text, path.name), "\n".join(table_problems(text, path.name))


def test_audit_report_tables(tmp_path: Path) -> None:
    """A fresh audit report.md: summary, headline, per-variant, phrasing and input tables all render."""
    from sdscm.audit import audit
    from sdscm.audit.report import _variant_tables
    from sdscm.spec.schema import ModelFile

    from test_audit_models import planted_dict

    result = audit(ModelFile.model_validate(planted_dict()), cause="race", values=("white", "black"),
                   outcome="pain", outcome_value=None, variants=2, n=20, margin=0.05, n_boot=50, n_perm=50)
    text = (result.write(tmp_path)["report.md"]).read_text(encoding="utf-8")
    assert not table_problems(text, "report.md"), "\n".join(table_problems(text, "report.md"))
    # summary + (headline + per-variant tables) per contrast + phrasings + inputs
    expected = 1 + sum(1 + len(_variant_tables(c)) for c in result.contrasts) + 2
    assert len(re.findall(r"<table>", _MD.render(text))) == expected


def test_benchmark_summary_tables(tmp_path: Path) -> None:
    """A fresh `describe` summary.md: its per-dataset table renders with every row whole."""
    from conftest import weather_spec
    from fake_backend import HashBackend
    from sdscm.benchmark import describe, generate

    generate(weather_spec(), tmp_path / "bench", variants=1, datasets_per_variant=2, n=30, seed=3,
             backend=HashBackend())
    text = describe(tmp_path / "bench", tmp_path / "summary").summary.read_text(encoding="utf-8")
    assert not table_problems(text, "summary.md"), "\n".join(table_problems(text, "summary.md"))
    assert len(table_blocks(text)) >= 1


def test_evaluation_report_tables(tmp_path: Path) -> None:
    """A fresh evaluation report.md, failures table included: every table renders whole."""
    from sdscm.estimators.base import EstimatorConfig
    from sdscm.evaluation import evaluate
    from sdscm.evaluation.report import write_report

    from test_estimators_data import confounded_dataset

    data = []
    for s in range(2):
        ds = confounded_dataset(80, seed=s, view="all", name=f"d{s}")
        ds.metadata = {"group": "g"}
        data.append(ds)
    configs = [EstimatorConfig("T-only OLS"), EstimatorConfig("ForestT", {"n_estimators": -1}, label="broken")]
    text = write_report(evaluate(data, configs, jobs=0, progress=False), tmp_path,
                        figures=False)["report_md"].read_text(encoding="utf-8")
    assert not table_problems(text, "report.md"), "\n".join(table_problems(text, "report.md"))
    assert len(table_blocks(text)) >= 4
