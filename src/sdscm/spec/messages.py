"""How problems of a model file are worded: the message collector and pydantic errors as messages.

Every message has the form ``SOURCE: variable 'NAME' (#I), field 'FIELD': PROBLEM; FIX.``
(or ``SOURCE: field 'FIELD': ...`` for fields outside the variables). :class:`Report` collects
them in file order; :func:`pydantic_problems` turns pydantic's errors into such messages;
:func:`did_you_mean` and :func:`choices` are the hints every message (and other modules' errors)
use for a misspelt or unknown name.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sdscm.spec.schema import (
    BenchmarkSection,
    CategoricalRow,
    ModelFile,
    ModelSection,
    VariableSpec,
)


# --------------------------------------------------------------------------- messages


def choices(items: Sequence[str], limit: int = 8) -> str:
    """A short, quoted listing of allowed names or values for a fix hint."""
    items = list(dict.fromkeys(items))
    shown = ", ".join(repr(x) for x in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> str | None:
    """'did you mean 'x'?' style hint for a misspelt name (up to `n` close names), or None when
    nothing is close."""
    pool = [c for c in candidates if isinstance(c, str) and not c.startswith("\x00")]
    close = difflib.get_close_matches(str(word), pool, n=n, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def variable_labels(data: Any) -> list[str]:
    """'variable 'age' (#0)' for each entry of a raw `variables` list (index only if no name)."""
    raw = data.get("variables") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    labels = []
    for i, var in enumerate(raw):
        name = var.get("name") if isinstance(var, dict) else None
        if isinstance(name, (str, int, float)) and not isinstance(name, bool) and str(name):
            labels.append(f"variable {str(name)!r} (#{i})")
        else:
            labels.append(f"variable #{i}")
    return labels


class Report:
    """Collects messages for one source, each naming where the problem is.

    `problems` lists them in file order: earlier problems (`add`), then the top-level
    sections, then the variables by index, then the benchmark section.
    """

    def __init__(self, source: str, labels: Sequence[str] = ()):
        self.source = source
        self.labels = list(labels)
        self._items: list[tuple[float, int, str]] = []

    @property
    def problems(self) -> list[str]:
        """Every message so far, in file order (stable within one place)."""
        return [message for _, _, message in sorted(self._items)]

    def add(self, messages: Iterable[str]) -> None:
        """Messages made elsewhere (while reading or normalising); they come first."""
        for message in messages:
            self._items.append((-math.inf, len(self._items), message))

    def label(self, i: int) -> str:
        """How variable number `i` is named in messages."""
        return self.labels[i] if i < len(self.labels) else f"variable #{i}"

    def var(self, i: int, field: str | None, text: str) -> None:
        """A problem of variable `i` (in `field`, if given)."""
        where = self.label(i) + (f", field {field!r}" if field else "")
        self._items.append((i, len(self._items), f"{self.source}: {where}: {_end(text)}"))

    def top(self, field: str | None, text: str, late: bool = False) -> None:
        """A problem outside the variables (the file as a whole, or a section's field).

        Listed before the variables' problems, or after them when `late` (or in `benchmark`).
        """
        where = f"field {field!r}: " if field else ""
        late = late or bool(field and field.startswith("benchmark"))
        key = math.inf if late else -1.0
        self._items.append((key, len(self._items), f"{self.source}: {where}{_end(text)}"))


def _end(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "?")) else text + "."


# --------------------------------------------------------------------------- pydantic errors


_EXPECTED = {
    "string_type": "a text string",
    "list_type": "a list",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "dict_type": "a mapping of name: value pairs",
    "model_type": "a mapping of field: value pairs",
    "model_attributes_type": "a mapping of field: value pairs",
}

_MISSING_HINTS = {
    ("variable", "name"): "the variable's name, e.g. name: weather",
    ("variable", "values"): "the list of its possible values, e.g. values: [sunny, rainy]",
    ("variable", "phrasings"): "a list of templates with one '{value}' slot, "
    "e.g. phrasings: ['The weather is {value}.'], or a single 'phrasing'",
    ("row", "parents"): "the parent values of this row, e.g. parents: {weather: sunny}, "
    "or parents: {} for the default row",
    ("row", "probabilities"): "one probability per value of the variable",
    ("file", "variables"): "the list of variables, in a topological order",
    ("benchmark", "treatment"): "the name of the treatment variable",
    ("benchmark", "control"): "the treatment value of the control arm",
    ("benchmark", "treated"): "the treatment value of the treated arm",
    ("benchmark", "outcome"): "the name of the outcome variable",
}

_MODELS: dict[str, type[BaseModel]] = {
    "file": ModelFile,
    "variable": VariableSpec,
    "row": CategoricalRow,
    "model": ModelSection,
    "benchmark": BenchmarkSection,
}


def _container(loc: tuple) -> str:
    """Which model holds the last element of `loc` ('file', 'variable', 'row', ...)."""
    if len(loc) <= 1:
        return "file"
    if loc[0] == "variables":
        return "row" if len(loc) >= 5 and loc[2] == "table" else "variable"
    return str(loc[0]) if loc[0] in ("model", "benchmark") else "file"


def format_field(loc: Sequence[Any]) -> str:
    """('table', 0, 'parents') -> 'table[0].parents'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def type_name(value: Any) -> str:
    if value is None:
        return "empty (null)"
    return {
        str: "a string",
        list: "a list",
        dict: "a mapping",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _pydantic_text(err: ErrorDetails) -> str:
    """The problem-and-fix part of the message for one pydantic error."""
    kind, loc, value = err["type"], tuple(err["loc"]), err.get("input")
    ctx = err.get("ctx") or {}
    field = str(loc[-1]) if loc else ""
    container = _container(loc)
    if kind == "missing":
        hint = _MISSING_HINTS.get((container, field))
        return "is missing; add it" + (f" ({hint})" if hint else "")
    if kind == "extra_forbidden":
        known = list(_MODELS[container].model_fields)
        if container == "variable":
            known.append("phrasing")
        guess = did_you_mean(field, known)
        if guess:
            return f"is not a known field; {guess}"
        return f"is not a known field; remove it (known fields: {choices(known, 12)})"
    if kind == "literal_error":
        return f"is {_short(value)}; use one of {ctx.get('expected', 'the allowed values')}"
    if kind in ("greater_than", "greater_than_equal"):
        bound = ctx.get("gt", ctx.get("ge"))
        return f"is {_short(value)}; use a number greater than {bound}"
    expected = _EXPECTED.get(kind)
    if expected:
        if value == {"value": None} and kind == "string_type":
            return (
                "is a mapping, probably because a text starting with '{value}' is not quoted; "
                "put the whole phrasing in quotes, e.g. '{value} is ...'"
            )
        if kind == "list_type" and isinstance(value, (str, int, float)):
            return f"is {_short(value)}, not a list; write it as a list, e.g. [{value}]"
        return f"is {_short(value)} ({type_name(value)}), not {expected}; write {expected}"
    return f"{err.get('msg', 'is invalid')} (got {_short(value)}); correct this value"


def pydantic_problems(error: ValidationError, report: Report, prefix: tuple[str, ...] = ()) -> None:
    """Add one message per pydantic error to `report`; `prefix` places a section validated on its
    own (e.g. `("model",)` for a ModelSection) where it sits in a model file."""
    for err in error.errors():
        loc = prefix + tuple(err["loc"])
        err = {**err, "loc": loc}  # type: ignore[typeddict-item]
        text = _pydantic_text(err)
        if loc and loc[0] == "variables" and len(loc) >= 2 and isinstance(loc[1], int):
            if len(loc) == 2:
                report.var(
                    loc[1],
                    None,
                    f"is {_short(err.get('input'))}, not a mapping; write each variable as a "
                    "mapping with at least 'name', 'values' and 'phrasings'",
                )
            else:
                report.var(loc[1], format_field(loc[2:]), text)
        elif not loc:
            report.top(None, f"the top level {text}")
        else:
            report.top(format_field(loc), text)
