"""DataFrame layout of query results.

Columns of one world (see docs/results.md):
- `unit_id`, `seed`: identify each unit's recorded noise (generated units only);
- one column per variable holding the value label;
- `text`: the unit's story;
- `P(var=value)` for every variable and value: the exact distribution the value was drawn from.
Noise frames (`sdscm.noise_samples`, `noise_data=`) hold `noise(var=value)`: the Gumbel noise of
each value.
Counterfactual and interventional worlds add the same columns with a suffix `|do(...)`.

This module names the columns; :mod:`sdscm.engine.frames` fills them from the engine's worlds.
"""

from __future__ import annotations


def prob_column(variable: str, value: str, suffix: str = "") -> str:
    """Name of the probability column of one value."""
    return f"P({variable}={value}){suffix}"


def score_column(variable: str, value: str, suffix: str = "") -> str:
    """Name of the raw candidate-score column of one value (lm mechanisms)."""
    return f"score({variable}={value}){suffix}"


def noise_column(variable: str, value: str) -> str:
    """Name of the Gumbel-noise column of one value (noise frames, `noise_data=`)."""
    return f"noise({variable}={value})"
