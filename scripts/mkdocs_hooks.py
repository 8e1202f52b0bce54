"""MkDocs hook: the guides link committed files under examples/, scripts/ and benchmarks/ as
``../examples/...`` (right on GitHub and in the repository); the site gets those files too and the
links are rewritten to reach them."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
#: Files the site publishes, per folder: figures, data and model files of examples/ (not the example
#: READMEs), the scripts, and the benchmark scripts with their results.
PUBLISHED = {
    "examples": ("*.png", "*.yaml", "*.csv", "*.json", "*.html"),
    "scripts": ("*.sh", "*.py"),
    "benchmarks": ("*.py", "*.json", "*.jsonl", "*.md", "*.log"),
}
LINK = re.compile(r"\]\(\.\./(examples|scripts|benchmarks)/")


def on_files(files: Files, config) -> Files:
    """Add the PUBLISHED files to the site under the same paths."""
    for folder, patterns in PUBLISHED.items():
        for path in sorted(p for pattern in patterns for p in (ROOT / folder).rglob(pattern)):
            rel = path.relative_to(ROOT).as_posix()
            files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """``../examples/x`` from a page in docs/ becomes the published ``examples/x`` (relative to that
    page); the same for scripts/ and benchmarks/."""
    depth = page.file.src_uri.count("/")
    return LINK.sub(lambda m: "](" + "../" * depth + m.group(1) + "/", markdown)
