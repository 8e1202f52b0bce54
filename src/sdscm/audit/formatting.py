"""How audit numbers and texts are written for people: p-values, effects, intervals, escaped text."""

from __future__ import annotations

import html
import math
from typing import Any

from sdscm.results.markdown import md_text


def fmt_p(p: float | None) -> str:
    """p-values for people: 3 significant digits, scientific below 0.001, a floor for underflow."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    if p < 1e-300:
        return "< 1e-300"
    if p < 1e-3:
        return f"{p:.2e}"
    return f"{p:.3g}"


def p_text(p: float | None, name: str = "p") -> str:
    """`p = 0.012` or `p < 1e-300`, for sentences."""
    text = fmt_p(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def fmt_num(x: float | None, signed: bool = True, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def fmt_ci(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return "–"
    return f"[{lo:+.4f}, {hi:+.4f}]"


def esc(text: Any) -> str:
    """HTML-escape any text (quotes too)."""
    return html.escape(str(text), quote=True)


def md_esc(text: Any) -> str:
    """Text for report.md (cells, headings, lines): links stripped, markup escaped, one line."""
    return md_text(text)
