"""How a value of a variable is named: by its label, or by its 0-based index (DESIGN.md section 1).

One rule for every place that takes a value from a user (interventions, benchmark designs, audit
contrasts, the CLI): a label always wins; otherwise an integer in range is an index, and so is a
string of digits where the caller accepts text from a command line or a file. Booleans are neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def value_index(values: Sequence[str], value: Any, *, digits: bool = True) -> int | None:
    """The index of `value` among `values` (a label, an index, or with `digits` a digit string),
    or None when it names no value."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, str):
        if value in values:
            return list(values).index(value)
        text = value.strip()
        if digits and text.isdigit() and int(text) < len(values):
            return int(text)
        return None
    if isinstance(value, (int, np.integer)) and 0 <= int(value) < len(values):
        return int(value)
    return None
