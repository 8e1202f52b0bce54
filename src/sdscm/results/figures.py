"""Figures: matplotlib figures on the Agg canvas (no display needed), laid out to fit, saved atomically.

Figures are built by functions that return a :class:`matplotlib.figure.Figure` (so tests can check the
drawn texts) and saved at their own size: no ``bbox_inches="tight"``, which would hide a text that
leaves the canvas by growing the image instead of fixing the layout.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from sdscm.results.io import atomic_path

DPI = 110


def shorten(text: str, width: int) -> str:
    """`text` cut to at most `width` characters with a trailing ellipsis, for titles and tick labels
    that must fit their place in a figure."""
    return text if len(text) <= width else text[: width - 1] + "…"


def new_figure(layout: str | None = "constrained", **kwargs: Any) -> Any:
    """A Figure on its own Agg canvas (not registered with pyplot, so it is freed with its last reference
    and needs no display). matplotlib is imported here, when a figure is drawn: it takes about half a
    second to import, which commands that draw nothing should not pay. Constrained layout keeps panels,
    titles, labels and legends apart and inside the canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kwargs.setdefault("dpi", DPI)  # checks on the figure then see the saved size
    fig = Figure(layout=layout, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """Save a matplotlib figure atomically; the format is the file's suffix unless `format=` says."""
    path = Path(path)
    savefig.setdefault("format", path.suffix.lstrip(".").lower() or "png")
    savefig.setdefault("dpi", DPI)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig)
    return path


def power_of_ten(values: Sequence[float]) -> int:
    """The exponent k to show `values` as multiples of 10^k when they are very small or very large (else 0).

    Used instead of matplotlib's offset text ("1e-5" above the axis), which collides with titles."""
    finite = [abs(float(v)) for v in values if math.isfinite(float(v)) and float(v) != 0.0]
    if not finite:
        return 0
    top = max(finite)
    k = math.floor(math.log10(top))
    return k if k < -2 or k > 3 else 0


def scale_note(k: int) -> str:
    """Axis-label suffix for values shown as multiples of 10^k (empty for k = 0)."""
    return "" if k == 0 else f" (×1e{k:+d})".replace("e+", "e")


def plain_ticks(ax: Any, which: str = "both", nbins: int = 5) -> None:
    """Ticks without an offset or a scale text, at most `nbins` of them (few enough to stay apart)."""
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    axes = [ax.xaxis, ax.yaxis] if which == "both" else [ax.xaxis if which == "x" else ax.yaxis]
    for axis in axes:
        if axis.get_scale() != "linear":
            continue
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        axis.set_major_formatter(formatter)
        axis.set_major_locator(MaxNLocator(nbins=nbins))
