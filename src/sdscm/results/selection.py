"""Choosing datasets by name: natural order, and selections of names, globs and index ranges.

Used by ``benchmark evaluate --datasets`` (on file names, before any file is read) and by
``benchmark report --datasets`` (on the dataset names of a results file), so both read a
selection the same way.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Sequence

from sdscm.errors import SDSCMError

_RANGE = re.compile(r"^(\d*)(?::|\.\.)(\d*)$")


def natural_key(name: str) -> list[Any]:
    """Sort key that orders embedded numbers by value (``x_2`` before ``x_10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _match(names: Sequence[str], item: str) -> list[int]:
    """Indices of the names one selection item picks."""
    n = len(names)
    if item.isdigit():
        return [int(item)] if int(item) < n else []
    m = _RANGE.match(item)
    if m and (m.group(1) or m.group(2)):
        lo = int(m.group(1)) if m.group(1) else 0
        hi = int(m.group(2)) if m.group(2) else n
        return list(range(lo, min(hi, n)))
    pattern = item
    for suffix in (".csv", ".parquet"):
        if pattern.lower().endswith(suffix):
            pattern = pattern[: -len(suffix)]
    return [k for k, name in enumerate(names) if fnmatch.fnmatchcase(name, pattern)]


def select_names(names: Sequence[str], selection: str | Sequence[str] | None = None,
                 max_count: int | None = None, where: str = "the source", strict: bool = True) -> list[int]:
    """Indices (in the given order) of the names a selection picks, then the first `max_count`.

    `selection` is a comma-separated string (or a list) of items: a 0-based index (``7``), an
    index range with its end excluded (``0:100``, ``:50``, ``100:``), or a name or glob
    (``gpt2_bcancer_1*``; a ``.csv``/``.parquet`` suffix is ignored). An item that picks nothing
    is an error naming it and showing what there is (skipped with ``strict=False``, for one of
    several sources).
    """
    if max_count is not None and max_count < 0:
        raise SDSCMError(f"--max-datasets must be 0 or more, got {max_count}")
    chosen = list(range(len(names)))
    if selection is not None:
        items = [x.strip() for x in (selection.split(",") if isinstance(selection, str) else selection)]
        items = [x for x in items if x]
        if not items:
            raise SDSCMError("--datasets is empty; give names, globs or index ranges such as 0:100")
        picked: set[int] = set()
        for item in items:
            hit = _match(names, item)
            if not hit and strict:
                examples = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
                raise SDSCMError(
                    f"--datasets item {item!r} selects no dataset of {where} ({len(names)} datasets"
                    f"{': ' + examples if names else ''}); give a name, a glob such as 'gpt2_*', "
                    "an index such as 7 or a range such as 0:100 (end excluded)")
            picked.update(hit)
        chosen = sorted(picked)
    return chosen if max_count is None else chosen[:max_count]
