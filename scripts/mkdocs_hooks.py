"""MkDocs hook: the guides link committed files under examples/ as ``../examples/...`` (right on GitHub
and in the repository); the site gets those files too and the links are rewritten to reach them."""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
#: Files under examples/ the site publishes (figures, data and model files; not the example READMEs).
PUBLISHED = ("*.png", "*.yaml", "*.csv", "*.json", "*.html")
LINK = re.compile(r"\]\(\.\./examples/")


def on_files(files: Files, config) -> Files:
    """Add examples/**/{png,yaml,csv,json,html} to the site under the same paths."""
    for pattern in PUBLISHED:
        for path in sorted((ROOT / "examples").rglob(pattern)):
            rel = path.relative_to(ROOT).as_posix()
            files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """``../examples/x`` from a page in docs/ becomes the published ``examples/x`` (relative to that page)."""
    depth = page.file.src_uri.count("/")
    return LINK.sub("](" + "../" * depth + "examples/", markdown)
