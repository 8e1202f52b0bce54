"""Checks that a matplotlib figure reads: every drawn text whole (inside the canvas and not cut by its
clip box), not overlapping another text, and every axes labelled. Shared by the figure tests.

The texts checked are the ones the Agg renderer actually draws (recorded from ``draw_text`` during
``fig.canvas.draw()``), so tick labels of ticks outside the view, hidden axes and empty strings are not
counted, and nothing that is drawn is missed. Boxes are ``Text.get_window_extent`` in pixels, at the
figure's own size and dpi (figures are saved at that size, without ``bbox_inches="tight"``).
"""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

TOLERANCE_PX = 0.5  # boxes may touch; they may not overlap by more than this


def drawn_texts(fig: Figure) -> list[tuple[Text, Bbox]]:
    """Each text the renderer draws, once, with its box in pixels."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    seen: dict[int, Text] = {}
    original = renderer.draw_text

    def record(gc: Any, x: float, y: float, s: str, prop: Any, angle: float, ismath: Any = False,
               mtext: Text | None = None) -> Any:
        if mtext is not None and s.strip():
            seen.setdefault(id(mtext), mtext)
        return original(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = record
    try:
        fig.canvas.draw()
        assert fig.canvas.get_renderer() is renderer, "the canvas drew with another renderer; nothing recorded"
    finally:
        del renderer.draw_text
    return [(t, t.get_window_extent(renderer)) for t in seen.values()]


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return min(w, h)


def text_faults(fig: Figure) -> list[str]:
    """Texts outside the canvas or cut by their clip box (e.g. the axes), and pairs of texts whose boxes
    overlap (empty when the figure reads)."""
    texts = drawn_texts(fig)
    width, height = fig.bbox.width, fig.bbox.height
    faults = []
    for t, box in texts:
        if box.x0 < -TOLERANCE_PX or box.y0 < -TOLERANCE_PX or box.x1 > width + TOLERANCE_PX \
                or box.y1 > height + TOLERANCE_PX:
            faults.append(f"{t.get_text()!r} at {box.bounds} leaves the {width:.0f}x{height:.0f} canvas")
        clip = t.get_clip_box() if t.get_clip_on() else None
        if clip is not None and (box.x0 < clip.x0 - TOLERANCE_PX or box.y0 < clip.y0 - TOLERANCE_PX
                                 or box.x1 > clip.x1 + TOLERANCE_PX or box.y1 > clip.y1 + TOLERANCE_PX):
            faults.append(f"{t.get_text()!r} at {box.bounds} is cut off by its clip box {clip.bounds}")
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            if _overlap(box_a, box_b) > TOLERANCE_PX:
                faults.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
    return faults


def unlabelled_axes(fig: Figure) -> list[str]:
    """Visible axes (axis lines on) without an x or y label. A figure-wide supxlabel/supylabel labels every
    axes; an axis shared with a labelled axes is labelled by it."""
    sup_x, sup_y = bool(fig.get_supxlabel().strip()), bool(fig.get_supylabel().strip())
    faults = []
    axes = [ax for ax in fig.get_axes() if ax.get_visible() and ax.axison]
    for k, ax in enumerate(axes):
        name = ax.get_title() or ax.get_title(loc="left") or f"axes {k}"
        for which, sup, label, siblings in (
                ("x", sup_x, ax.get_xlabel(), ax.get_shared_x_axes().get_siblings(ax)),
                ("y", sup_y, ax.get_ylabel(), ax.get_shared_y_axes().get_siblings(ax))):
            shared = any((s.get_xlabel() if which == "x" else s.get_ylabel()).strip() for s in siblings)
            if not (sup or label.strip() or shared):
                faults.append(f"{name}: no {which} label")
    return faults


def assert_figure_reads(fig: Figure) -> None:
    """Fail with every fault at once: clipped or overlapping texts, unlabelled axes."""
    faults = text_faults(fig) + unlabelled_axes(fig)
    assert not faults, "figure does not read:\n  " + "\n  ".join(faults)
