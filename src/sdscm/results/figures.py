"""Figures: matplotlib's pyplot on the Agg canvas (no display needed), and atomic saving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdscm.results.io import atomic_path


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg canvas. Imported here, when a figure is drawn: matplotlib takes
    about half a second to import, which commands that draw nothing should not pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """Save a matplotlib figure atomically; the format is the file's suffix unless `format=` says."""
    path = Path(path)
    savefig.setdefault("format", path.suffix.lstrip(".").lower() or "png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig)
    return path
