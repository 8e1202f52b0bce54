"""The documentation runs: every ```python/```bash block of README.md and docs/*.md is executed
(tests/doc_blocks.py), fences follow the convention, and every relative link resolves in the repository."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

from doc_blocks import EXECUTED, NOT_EXECUTED, ROOT, SKIP_MARK, Block, DocRun, blocks, command_env, doc_files, \
    fences, scratch_copy

DOCS = doc_files()
BLOCKS: list[Block] = [b for path in DOCS for b in blocks(path)]
_RUNS: dict[Path, DocRun] = {}


@pytest.fixture(scope="session")
def doc_run(tmp_path_factory: pytest.TempPathFactory):
    """One scratch copy of the repository per document, created when its first block runs."""

    def get(path: Path) -> DocRun:
        if path not in _RUNS:
            base = tmp_path_factory.mktemp(path.stem)
            scratch = scratch_copy(base / "repo")
            own = [b for b in BLOCKS if b.fence.path == path]
            _RUNS[path] = DocRun(path, scratch, command_env(base / "bin"), own)
        return _RUNS[path]

    return get


@pytest.mark.integration
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block_runs(block: Block, doc_run) -> None:
    """The block runs without error from a scratch copy, after the earlier blocks of its document."""
    if block.fence.skip_reason is not None:
        pytest.skip(f"{block.id}: docs-test: skip ({block.fence.skip_reason})")
    doc_run(block.fence.path).run_through(block.index)


@pytest.mark.parametrize("path", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_fences_follow_the_convention(path: Path) -> None:
    """Every fence names a known language (so no command hides in an unlabelled block), and a skip
    mark is well formed, gives a reason and stands directly before an executed block."""
    problems = []
    for fence in fences(path):
        where = f"{path.relative_to(ROOT)}:{fence.line}"
        if fence.language not in EXECUTED + NOT_EXECUTED:
            problems.append(f"{where}: fence language {fence.language!r}; use one of {EXECUTED + NOT_EXECUTED}")
        if fence.preceding.startswith("<!-- docs-test") and fence.skip_reason is None:
            problems.append(f"{where}: malformed mark {fence.preceding!r}; write <!-- docs-test: skip (reason) -->")
        if fence.skip_reason is not None and (not fence.skip_reason.strip() or fence.language not in EXECUTED):
            problems.append(f"{where}: a skip mark needs a reason and a python/bash block")
    text = path.read_text(encoding="utf-8").splitlines()
    fence_prev = {f.line - 1 for f in fences(path)}
    inside = {i for f in fences(path) for i in range(f.line, f.end + 1)}
    for i, line in enumerate(text, start=1):
        if line.strip().startswith("<!-- docs-test") and i not in fence_prev | inside:
            problems.append(f"{path.relative_to(ROOT)}:{i}: skip mark not directly before a fence")
    assert not problems, "\n".join(problems)


def test_skip_mark_syntax() -> None:
    """The mark takes a reason in parentheses, itself possibly with parentheses; anything else is not a mark."""
    assert SKIP_MARK.match("<!-- docs-test: skip (needs a GPU) -->").group("reason") == "needs a GPU"
    assert SKIP_MARK.match("<!-- docs-test: skip (hours (2x3x1000 units)) -->").group("reason") == \
        "hours (2x3x1000 units)"
    assert SKIP_MARK.match("<!-- docs-test: skip -->") is None
    assert SKIP_MARK.match("<!-- skip: next -->") is None


def test_doc_blocks_are_found(tmp_path: Path) -> None:
    """The collector finds python and bash blocks, honours the skip mark and leaves text blocks alone."""
    doc = tmp_path / "x.md"
    doc.write_text(
        "# x\n\n```python\na = 1\n```\n\n<!-- docs-test: skip (slow) -->\n```bash\nsleep 999\n```\n\n"
        "```text\nnot run\n```\n\n```bash\necho ok\n```\n",
        encoding="utf-8",
    )
    found = blocks(doc)
    assert [(b.fence.language, b.fence.skip_reason) for b in found] == [
        ("python", None), ("bash", "slow"), ("bash", None)]
    run = DocRun(doc, tmp_path, command_env(tmp_path / "bin"), found)
    run.run_through(2)
    assert run.done == {0, 2}
    assert found[0].example.namespace["a"] == 1


def test_failing_doc_block_fails(tmp_path: Path) -> None:
    """A bash block that exits non-zero, or python that raises, fails the test with the block's text."""
    doc = tmp_path / "x.md"
    doc.write_text("```bash\necho before; false\n```\n", encoding="utf-8")
    run = DocRun(doc, tmp_path, command_env(tmp_path / "bin"), blocks(doc))
    with pytest.raises(AssertionError, match="exited with 1"):
        run.run_through(0)
    doc.write_text("```python\nraise ValueError('boom')\n```\n\n```python\nb = 2\n```\n", encoding="utf-8")
    run = DocRun(doc, tmp_path, command_env(tmp_path / "bin"), blocks(doc))
    with pytest.raises(ValueError, match="boom"):
        run.run_through(0)
    with pytest.raises(AssertionError, match="an earlier block failed"):
        run.run_through(1)


def test_every_doc_is_collected() -> None:
    """README.md and every docs/*.md are collected (a new guide needs no change to the tests)."""
    assert {p.name for p in (ROOT / "docs").glob("*.md")} <= {p.name for p in DOCS}
    assert ROOT / "README.md" in DOCS


# --- links -------------------------------------------------------------------------------------------

_MD = MarkdownIt("commonmark").enable("table")


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, each space a dash."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def mkdocs_slug(heading: str) -> str:
    """MkDocs' (Python-Markdown toc) anchor: ASCII, punctuation dropped, runs of spaces and dashes one dash."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def anchors(path: Path) -> set[str]:
    """The anchors that a file's headings define on GitHub *and* on the site (duplicates get -1, -2, ...)."""
    tokens = _MD.parse(path.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {"github": set(), "mkdocs": set()}
    for slugify, out in ((github_slug, found["github"]), (mkdocs_slug, found["mkdocs"])):
        seen: dict[str, int] = {}
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open":
                inline = tokens[i + 1]
                text = "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))
                slug = slugify(text)
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                out.add(slug if n == 0 else f"{slug}-{n}")
    return found["github"] & found["mkdocs"]


def links(path: Path) -> list[str]:
    """Every link and image target of a markdown file (inline, reference-style and autolinks)."""
    out = []
    for tok in _MD.parse(path.read_text(encoding="utf-8")):
        for child in tok.children or []:
            if child.type == "link_open":
                out.append(child.attrGet("href"))
            elif child.type == "image":
                out.append(child.attrGet("src"))
    return [str(h) for h in out if h]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links of `path` whose file (or anchor) is not in the repository, or that leave it."""
    problems = []
    for href in links(path):
        parts = urlsplit(href)
        if parts.scheme or href.startswith("//"):
            continue  # external: http(s), mailto
        target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        where = f"{path.relative_to(root)}: link {href!r}"
        if not target.is_relative_to(root.resolve()):
            problems.append(f"{where} points outside the repository")
        elif not target.exists():
            problems.append(f"{where}: no such file {target.relative_to(root.resolve())}")
        elif parts.fragment and target.suffix == ".md" and parts.fragment not in anchors(target):
            problems.append(f"{where}: no heading with anchor #{parts.fragment} in {target.name}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_links_resolve(path: Path) -> None:
    """Every relative link of the document names a file (and heading) in the repository."""
    assert not broken_links(path), "\n".join(broken_links(path))


def test_link_check_catches_broken_links(tmp_path: Path) -> None:
    """Missing files, missing anchors and links out of the repository are reported; good ones are not."""
    (tmp_path / "a.md").write_text("# Title\n\n## The `model` section\n\n## Outputs (`--out DIR`)\n", encoding="utf-8")
    doc = tmp_path / "b.md"
    doc.write_text(
        "[ok](a.md) [ok2](a.md#the-model-section) [ok3](#here) [web](https://example.org/x)\n"
        "[gone](missing.md) [anchor](a.md#nope) [out](../outside.md)\n"
        "[differs on the site](a.md#outputs---out-dir)\n\n# Here\n",
        encoding="utf-8",
    )
    problems = broken_links(doc, root=tmp_path)
    assert len(problems) == 4, problems
    assert "missing.md" in problems[0] and "#nope" in problems[1] and "outside" in problems[2]
    assert "#outputs---out-dir" in problems[3]  # GitHub's anchor; MkDocs makes it outputs-out-dir


# --- the site ----------------------------------------------------------------------------------------


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    return []


def test_site_nav_lists_every_guide() -> None:
    """mkdocs.yml's nav names every docs/*.md and docs/api/*.md (a new guide must be added there), and
    nothing that does not exist."""
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = set(_nav_pages(config["nav"]))
    docs = ROOT / "docs"
    present = {p.relative_to(docs).as_posix() for p in [*docs.glob("*.md"), *docs.glob("api/*.md")]}
    assert not present - listed, f"add to nav in mkdocs.yml: {sorted(present - listed)}"
    assert not listed - present, f"nav names missing pages: {sorted(listed - present)}"


def test_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict` (what `make docs` runs) passes: every link of every guide reaches a
    page or a published file (scripts/mkdocs_hooks.py), and the API pages build from the docstrings."""
    import os
    import subprocess
    import sys

    pytest.importorskip("mkdocs", reason="the docs extra (pip install -e '.[docs]') builds the site")
    pytest.importorskip("material", reason="the docs extra (pip install -e '.[docs]') builds the site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    warnings = [line for line in run.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert run.returncode == 0, "\n".join(warnings) or run.stderr[-2000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "scripts" / "serve-vllm-cpu.sh").is_file()
