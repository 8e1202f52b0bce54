"""Text from a model file made safe for Markdown reports (report.md, summary.md).

Phrasings, values and variable names are written by whoever wrote the model file, and estimator
errors may quote them. Before any of it goes into a Markdown report, :func:`md_text` removes link
syntax (``[text](url)`` and ``![alt](url)`` keep only their text, so a ``javascript:`` URL never
becomes a link) and escapes every character that Markdown or HTML would read as markup: the
backslash, `` ` ``, ``*``, ``_`` (unless between letters or digits), ``[``, ``]``, ``|``, ``~``, ``#`` and ``!`` by a backslash, ``<``,
``>`` and ``&`` as HTML entities; line breaks become spaces, so a cell stays in its table row.
The text still reads the same once rendered.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["md_text", "strip_links"]

# [text](url "title") and ![alt](url); the url may hold one level of balanced parentheses
# (`javascript:alert(1)`), as CommonMark allows.
_LINK = re.compile(r"!?\[([^\[\]]*)\]\(\s*(?:<[^<>\n]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)"
                   r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)")
_MARKUP = re.compile(r"([\\`*\[\]|~#!])")
# A run of underscores is inert between two letters or digits (`variant001_dataset0001`):
# CommonMark never opens or closes emphasis there, so only the other runs are escaped.
_UNDERSCORES = re.compile(r"_+")


def _underscores(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    inside = start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()
    return match.group() if inside else "\\_" * (end - start)


def strip_links(text: str) -> str:
    """`[text](url)` and `![alt](url)` replaced by their text, repeatedly (links built of links)."""
    while True:
        stripped = _LINK.sub(r"\1", text)
        if stripped == text:
            return text
        text = stripped


def md_text(value: Any) -> str:
    """`value` as inert Markdown text for a table cell, heading or paragraph (one line)."""
    text = strip_links(str(value))
    text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    text = _MARKUP.sub(r"\\\1", text)
    text = _UNDERSCORES.sub(_underscores, text)
    return html.escape(text, quote=False)
