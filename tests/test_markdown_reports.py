"""Markdown reports (audit report.md, evaluation report.md, benchmark summary.md) keep model text inert.

Each report is rendered twice, from a clean model and from one whose phrasings, values and names carry
backticks, `**bold**`, pipes and a `[click](javascript:alert(1))` link; parsed with a CommonMark parser
(markdown-it-py, tables on), both have the same structure, no link or `javascript:` survives, and the
hostile text still reads as itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from sdscm.results.markdown import md_text, strip_links

HOSTILE = "`tick` **bold** | pipe [click](javascript:alert(1)) <b>x</b>"
READS_AS = "`tick` **bold** | pipe click <b>x</b>"  # what a reader sees once rendered


def render(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def structure(html: str) -> dict[str, int]:
    """How many tables, rows, cells and inline-markup elements the rendered HTML has."""
    return {tag: len(re.findall(f"<{tag}[ >]", html)) for tag in ("table", "tr", "td", "th", "code", "strong",
                                                                  "em", "a", "img", "b")}


def assert_inert(clean_md: str, hostile_md: str) -> str:
    clean, hostile = render(clean_md), render(hostile_md)
    assert structure(hostile) == structure(clean)  # links included: only the report's own figure links
    assert "javascript:" not in hostile and "<b>" not in hostile
    return hostile


def test_md_text_in_a_table_cell() -> None:
    cell = md_text(HOSTILE + "\nsecond line")
    html = render(f"| h |\n|---|\n| {cell} |\n")
    assert structure(html)["table"] == 1 and structure(html)["td"] == 1
    assert "<a " not in html and "javascript:" not in html and "<code>" not in html
    text = re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert READS_AS + " second line" in text


@pytest.mark.parametrize(("text", "expected"), [
    ("[click](javascript:alert(1))", "click"),
    ("![img](http://x/y.png \"title\") and [a](<u v>)", "img and a"),
    ("[[nested](x)](javascript:y)", "nested"),
    ("no link [just brackets] (here)", "no link [just brackets] (here)"),
])
def test_strip_links(text: str, expected: str) -> None:
    assert strip_links(text) == expected


def test_identifiers_stay_readable() -> None:
    assert md_text("variant001_dataset0001") == "variant001_dataset0001"
    assert md_text("_x_ *y*") == r"\_x\_ \*y\*"


def test_audit_report_md(tmp_path: Path) -> None:
    from sdscm.audit import audit
    from sdscm.spec.schema import ModelFile

    from test_audit_models import planted_dict

    def report(race_phrasings: list[str], name: str, out: Path) -> str:
        data = planted_dict(race_phrasings=race_phrasings)
        data["name"] = name
        result = audit(ModelFile.model_validate(data), cause="race", values=("white", "black"), outcome="pain",
                       variants=2, n=40, placebo_phrasing="Race: {value} " + name, margin=0.05, n_boot=50,
                       n_perm=50)
        result.write(out)
        return (out / "report.md").read_text()

    clean = report(["The patient is {value}.", "Race: {value}."], "plain", tmp_path / "clean")
    hostile = report(["The patient is {value}. " + HOSTILE, HOSTILE + " {value}."], "model " + HOSTILE,
                     tmp_path / "hostile")
    html = assert_inert(clean, hostile)
    assert structure(html)["table"] >= 3
    assert "**bold**" in html and "click" in html


def test_evaluation_report_md(tmp_path: Path) -> None:
    from sdscm.estimators.base import EstimatorConfig
    from sdscm.evaluation import evaluate
    from sdscm.evaluation.report import write_report

    from test_estimators_data import confounded_dataset

    def report(label: str, group: str, out: Path) -> str:
        data = []
        for s in range(2):
            ds = confounded_dataset(80, seed=s, view="all", name=f"{group}-{s}")
            ds.metadata = {"group": group}
            data.append(ds)
        configs = [EstimatorConfig("T-only OLS", label=label),
                   EstimatorConfig("ForestT", {"n_estimators": -1}, label=label + " broken")]
        results = evaluate(data, configs, jobs=0, progress=False)
        return write_report(results, out, figures=False)["report_md"].read_text()

    clean = report("plain", "g", tmp_path / "clean")
    hostile = report(HOSTILE, HOSTILE, tmp_path / "hostile")
    html = assert_inert(clean, hostile)
    assert structure(html)["table"] >= 4 and "**bold**" in html


def test_benchmark_summary_md(tmp_path: Path) -> None:
    from conftest import weather_spec
    from fake_backend import HashBackend
    from sdscm.benchmark import describe, generate
    from sdscm.spec.schema import ModelFile

    def summary(treated: str, out: Path) -> str:
        spec = weather_spec().model_dump()
        spec["name"] = "toy " + treated
        spec["variables"][2]["values"] = ["the gym", treated]
        spec["benchmark"]["treated"] = treated
        generate(ModelFile.model_validate(spec), out / "bench", variants=1, datasets_per_variant=2, n=30, seed=3,
                 backend=HashBackend())
        return describe(out / "bench", out / "summary").summary.read_text()

    clean = summary("a run", tmp_path / "clean")
    hostile = summary("a run " + HOSTILE, tmp_path / "hostile")
    html = assert_inert(clean, hostile)
    assert structure(html)["table"] == 1 and "**bold**" in html
