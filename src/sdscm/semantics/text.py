"""Rendering and context construction (DESIGN.md section 1, "Context").

A variable's context is the rendered sentences of its parents only, in topological order,
joined by one space, then one space, then the phrasing's text before `{value}`.
"""

from __future__ import annotations

from typing import Sequence

from sdscm.spec.schema import SLOT


def split_phrasing(phrasing: str) -> tuple[str, str]:
    """Return (text before `{value}`, text after it). The phrasing has exactly one slot."""
    before, sep, after = phrasing.partition(SLOT)
    if not sep or SLOT in after:
        raise ValueError(f"phrasing {phrasing!r} must contain exactly one {SLOT!r} slot")
    return before, after


def render(phrasing: str, value: str) -> str:
    """The sentence a variable contributes to a unit's text when it takes `value`."""
    before, after = split_phrasing(phrasing)
    return before + value + after


def context_text(phrasing: str, parent_sentences: Sequence[str]) -> str:
    """The prompt under which a variable's candidates are scored."""
    before, _ = split_phrasing(phrasing)
    if not parent_sentences:
        return before
    return " ".join(parent_sentences) + " " + before


def continuation_text(phrasing: str, value: str, score_suffix: bool) -> str:
    """The scored continuation: the value, plus the text after the slot when `score_suffix`."""
    if not score_suffix:
        return value
    return value + split_phrasing(phrasing)[1]


def story(sentences: Sequence[str]) -> str:
    """A unit's rendered text: every variable's sentence in topological order."""
    return " ".join(sentences)
