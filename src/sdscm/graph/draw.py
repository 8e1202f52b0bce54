"""A layered top-to-bottom picture of the DAG (roots on top), written as PNG/SVG/PDF.

Layout (pure functions, tested apart from drawing): nodes go to topological layers (longest path from a
root), a layer wider than :data:`MAX_PER_ROW_WAYPOINTS` split into rows of its own; an edge that skips rows
gets a waypoint in each row it passes (Sugiyama's dummy nodes), so it has its own slot there instead of
running behind a box; the order within each row is chosen by barycenter sweeps that reduce edge crossings,
and each node's edges leave and enter at points spread along its border. Graphs too dense for waypoints
(more than :data:`MAX_WAYPOINTS_PER_NODE` per node, e.g. a complete DAG, or a layout wider than
:data:`MAX_WIDTH`) draw those edges as arcs curved around the boxes instead, layers wider than
:data:`MAX_PER_ROW` folded into staggered sub-rows. Drawing measures every wrapped label with the renderer,
sizes each node box to its label and the canvas to the layout (axes in inches, so nothing is scaled after
measuring), draws edges behind the boxes ending at their borders, and adds a legend of the node roles.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from sdscm.graph.dag import build_graph
from sdscm.results.figures import new_figure, save_figure
from sdscm.spec.schema import ModelFile

MAX_PER_ROW = 10  # nodes per drawn row; wider layers fold into staggered sub-rows
MAX_PER_ROW_WAYPOINTS = 7  # with waypoints, a wider layer is split into rows of its own (edges get slots)
WRAP = 16  # characters per label line
FONT_SIZE = 9
GAP_X, GAP_Y, MARGIN = 0.35, 0.75, 0.25  # inches between boxes, between rows, around the drawing
PAD = 0.09  # inches between a label and its box
# arc3 curvatures tried per edge in the dense layout, straightest first
CURVES = (0.0, 0.12, -0.12, 0.25, -0.25, 0.4, -0.4, 0.6, -0.6, 0.8, -0.8, 1.0, -1.0)
DPI = 120
PORT_SPACING = 0.1  # inches between the ends of edges on a box border
WAYPOINT_W, WAYPOINT_GAP = 0.12, 0.2  # inches: the slot an edge takes in a layer it passes through
MAX_WAYPOINTS_PER_NODE = 3.0  # denser graphs (e.g. a complete DAG) get curved edges instead of waypoints
MAX_WIDTH = 14.0  # inches: a layout with waypoints wider than this uses curved edges instead

ROLE_COLORS = {  # role -> (fill colour, legend text)
    "treatment": ("#f4a261", "treatment"),
    "outcome": ("#2a9d8f", "outcome"),
    "exogenous": ("#d9d9d9", "exogenous (hidden in the hidden view)"),
    "endogenous": ("#a8dadc", "endogenous"),
}


def ordered_layers(graph: nx.DiGraph, sweeps: int = 8, depth: dict[Any, int] | None = None) -> list[list[Any]]:
    """Nodes by topological layer (layer = longest path from a root, or `depth` when given), each layer
    ordered to reduce crossings.

    Starts from the file's order and alternates down and up sweeps in which each node moves to the mean
    position of its neighbours in the layer above (below); keeps the order with the fewest crossings."""
    file_order = {n: i for i, n in enumerate(graph.nodes)}
    if depth is None:
        rows = [sorted(g, key=file_order.__getitem__) for g in nx.topological_generations(graph)]
    else:
        rows = [[] for _ in range(1 + max(depth.values(), default=-1))]
        for n in sorted(graph.nodes, key=file_order.__getitem__):
            rows[depth[n]].append(n)
    best, best_crossings = [list(r) for r in rows], crossings(graph, rows)
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        indices = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        for i in indices:
            ref = rows[i - 1] if down else rows[i + 1]
            where = {n: k for k, n in enumerate(ref)}
            current = {n: k for k, n in enumerate(rows[i])}

            def centre(node: str) -> float:
                near = graph.predecessors(node) if down else graph.successors(node)
                ks = [where[m] for m in near if m in where]
                return sum(ks) / len(ks) if ks else current[node] * max(1, len(ref)) / max(1, len(rows[i]))

            rows[i] = sorted(rows[i], key=lambda n: (centre(n), current[n]))
        count = crossings(graph, rows)
        if count < best_crossings:
            best, best_crossings = [list(r) for r in rows], count
    return best


def crossings(graph: nx.DiGraph, rows: list[list[str]]) -> int:
    """Crossings between edges joining adjacent layers (edges over several layers count by their ends)."""
    pos = {n: (i, k) for i, row in enumerate(rows) for k, n in enumerate(row)}
    edges = [(pos[u], pos[v]) for u, v in graph.edges]
    total = 0
    for a in range(len(edges)):
        (ru, ku), (rv, kv) = edges[a]
        for b in range(a + 1, len(edges)):
            (su, lu), (sv, lv) = edges[b]
            if (ru, rv) == (su, sv) and (ku - lu) * (kv - lv) < 0:
                total += 1
    return total


def fold(row: list[str], per_row: int = MAX_PER_ROW) -> list[list[str]]:
    """Split a long layer into sub-rows, dealing nodes in turn so each sub-row keeps the left-to-right order."""
    count = -(-len(row) // per_row)
    return [row[k::count] for k in range(count)] if count > 1 else [row]


def node_roles(spec: ModelFile, graph: nx.DiGraph) -> dict[str, str]:
    """Role of each node for its colour: the benchmark's treatment and outcome, else the file's exogenous flag."""
    roles = {n: "exogenous" if graph.nodes[n].get("exogenous") else "endogenous" for n in graph.nodes}
    if spec.benchmark is not None:
        roles[spec.benchmark.treatment] = "treatment"
        roles[spec.benchmark.outcome] = "outcome"
    return roles


def wrap_label(name: str, width: int = WRAP) -> str:
    """The whole name on lines of at most `width` characters (long words are split, never cut off)."""
    return "\n".join(textwrap.wrap(name.replace("_", "_\u200b"), width, break_on_hyphens=True)).replace("\u200b", "") or name


@dataclass
class Box:
    """A node's box in inches: centre and size."""

    x: float
    y: float
    w: float
    h: float


def place(rows: list[list[Any]], sizes: dict[Any, tuple[float, float]], top: float,
          narrow: frozenset = frozenset()) -> dict[Any, Box]:
    """Boxes row by row from `top` down, each drawn row centred at x = 0; folded sub-rows are staggered.
    Items in `narrow` (edge waypoints) sit closer to their neighbours; rows with waypoints are not folded
    (a waypoint's edge must stay within its own layer's row)."""
    boxes: dict[Any, Box] = {}
    y = top
    for row in rows:
        parts = [row] if narrow else fold(row)
        for j, part in enumerate(parts):
            height = max(sizes[n][1] for n in part)
            gaps = [WAYPOINT_GAP if a in narrow or b in narrow else GAP_X for a, b in zip(part, part[1:])]
            total = sum(sizes[n][0] for n in part) + sum(gaps)
            shift = (j - (len(parts) - 1) / 2) * 0.5 * (total / max(1, len(part))) if len(parts) > 1 else 0.0
            x = -total / 2 + shift
            for n, gap in zip(part, gaps + [0.0]):
                w, h = sizes[n]
                boxes[n] = Box(x + w / 2, y - height / 2, w, height if n in narrow else h)
                x += w + gap
            y -= height + GAP_Y * (0.6 if j < len(parts) - 1 else 1.0)
    return boxes


def sub_layers(graph: nx.DiGraph, per_row: int = MAX_PER_ROW_WAYPOINTS) -> dict[str, int]:
    """Row of each node: its topological layer, a layer wider than `per_row` split into consecutive rows
    (nodes dealt in turn in file order), so each row is one layer of the waypoint layout."""
    file_order = {n: i for i, n in enumerate(graph.nodes)}
    depth: dict[str, int] = {}
    row = 0
    for generation in nx.topological_generations(graph):
        nodes = sorted(generation, key=file_order.__getitem__)
        count = -(-len(nodes) // per_row)
        for i, n in enumerate(nodes):
            depth[n] = row + i % count
        row += count
    return depth


def with_waypoints(graph: nx.DiGraph) -> tuple[nx.DiGraph, dict[tuple[str, str], list[tuple]], dict[Any, int]]:
    """The graph with each edge that skips rows (:func:`sub_layers`) replaced by a chain through one
    waypoint per skipped row (so ordering and placement give the edge its own slot there, and it never runs
    through a box), and the row of every node and waypoint."""
    depth: dict[Any, int] = dict(sub_layers(graph))
    chained = nx.DiGraph()
    chained.add_nodes_from(graph.nodes)
    chains: dict[tuple[str, str], list[tuple]] = {}
    for u, v in graph.edges:
        chains[(u, v)] = [("waypoint", u, v, k) for k in range(depth[u] + 1, depth[v])]
        depth.update({w: w[3] for w in chains[(u, v)]})
        nx.add_path(chained, [u, *chains[(u, v)], v])
    return chained, chains, depth


def through(stations: list[tuple[float, float, float]]) -> Any:
    """The path of an edge through its waypoints: straight down through each row it crosses (station =
    x, top, bottom of its slot) and S-curves with vertical ends in the gaps between rows (an edge between adjacent rows is one S-curve), so any sideways
    travel happens between rows, never beside a box."""
    from matplotlib.path import Path as MplPath

    x, _, bottom = stations[0]
    verts, codes = [(x, bottom)], [MplPath.MOVETO]
    for nx_, top, nbottom in stations[1:]:
        k = (bottom - top) / 2
        verts += [(x, bottom - k), (nx_, top + k), (nx_, top)]
        codes += [MplPath.CURVE4] * 3
        if nbottom != top:
            verts.append((nx_, nbottom))
            codes.append(MplPath.LINETO)
        x, bottom = nx_, nbottom
    return MplPath(verts, codes)


def edge_ports(graph: nx.DiGraph, boxes: dict[Any, Box], chains: dict[tuple[str, str], list[tuple]],
               inset: float = 0.1) -> dict[tuple[str, str], tuple[float, float]]:
    """Where each edge leaves its parent's bottom border and enters its child's top border (x, inches):
    a node's edges are spread evenly along its border in the left-to-right order of where they go (come
    from), so arrowheads never land on one another and edges do not cross at the box."""
    def spread(box: Box, i: int, k: int) -> float:
        usable = max(box.w - 2 * inset, 0.0)
        return box.x - usable / 2 + usable * (i + 0.5) / k

    out_x: dict[tuple[str, str], float] = {}
    in_x: dict[tuple[str, str], float] = {}
    for n in graph.nodes:
        outs = sorted(graph.out_edges(n), key=lambda e: boxes[chains[e][0] if chains[e] else e[1]].x)
        for i, e in enumerate(outs):
            out_x[e] = spread(boxes[n], i, len(outs))
        ins = sorted(graph.in_edges(n), key=lambda e: boxes[chains[e][-1] if chains[e] else e[0]].x)
        for i, e in enumerate(ins):
            in_x[e] = spread(boxes[n], i, len(ins))
    return {e: (out_x[e], in_x[e]) for e in graph.edges}


def arc_points(a: tuple[float, float], b: tuple[float, float], rad: float, count: int = 48) -> list[tuple[float, float]]:
    """Points on matplotlib's ``arc3,rad=rad`` curve from a to b (a quadratic Bezier; equal x/y scales)."""
    (x1, y1), (x2, y2) = a, b
    cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
    out = []
    for i in range(count + 1):
        t = i / count
        out.append(((1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t ** 2 * x2,
                    (1 - t) ** 2 * y1 + 2 * t * (1 - t) * cy + t ** 2 * y2))
    return out


def boxes_hit(boxes: dict[str, Box], u: str, v: str, rad: float, margin: float = 0.06) -> int:
    """How many boxes other than u's and v's the edge u -> v drawn with curvature `rad` runs through."""
    points = arc_points((boxes[u].x, boxes[u].y), (boxes[v].x, boxes[v].y), rad)
    hits = 0
    for n, b in boxes.items():
        if n in (u, v):
            continue
        if any(abs(x - b.x) <= b.w / 2 + margin and abs(y - b.y) <= b.h / 2 + margin for x, y in points):
            hits += 1
    return hits


def route(boxes: dict[str, Box], u: str, v: str, side: int = 1) -> float:
    """The straightest curvature (of :data:`CURVES`) with which edge u -> v runs through the fewest other
    boxes; between equal ones, the one bowing to `side` (+1/-1), so alternating sides keeps arcs balanced."""
    return min(CURVES, key=lambda rad: (boxes_hit(boxes, u, v, rad), abs(rad), rad * side < 0))


def dag_figure(spec: ModelFile, title: str | None = None) -> Any:
    """The DAG of `spec` as a Figure sized to its layout (see the module docstring)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    graph = build_graph(spec)
    roles = node_roles(spec, graph)
    labels = {n: wrap_label(n) for n in graph.nodes}
    probe = new_figure(layout=None, dpi=DPI)
    renderer = probe.canvas.get_renderer()

    def size(text: str, **kw: Any) -> tuple[float, float]:
        t = probe.text(0, 0, text, fontsize=kw.get("fontsize", FONT_SIZE), **{k: v for k, v in kw.items() if k != "fontsize"})
        box = t.get_window_extent(renderer)
        t.remove()
        return box.width / DPI, box.height / DPI

    # a box is wide enough for its label and for its edges' ends to sit PORT_SPACING apart
    sizes = {n: (max(0.55, size(labels[n])[0] + 2 * PAD,
                     PORT_SPACING * max(graph.in_degree(n), graph.out_degree(n)) + 0.2),
                 size(labels[n])[1] + 2 * PAD) for n in graph.nodes}
    rows = ordered_layers(graph)
    used = [r for r in ROLE_COLORS if r in set(roles.values())]
    handles: list[Any] = [Patch(facecolor=ROLE_COLORS[r][0], edgecolor="#333333", label=ROLE_COLORS[r][1]) for r in used]
    handles.append(Line2D([], [], color="#555555", marker=">", markersize=5, label="causes (parent → child)"))
    legend = probe.legend(handles=handles, loc="lower left", ncols=len(handles), fontsize=8, frameon=False)
    legend_w, legend_h = (legend.get_window_extent(renderer).width / DPI, legend.get_window_extent(renderer).height / DPI)
    title = title or spec.name
    title_text = "\n".join(textwrap.wrap(title, 70)) or title
    title_w, title_h = size(title_text, fontsize=11)
    probe.clear()

    chained, chains, chained_depth = with_waypoints(graph)
    waypoints = frozenset(w for chain in chains.values() for w in chain)
    chained_rows = ordered_layers(chained, depth=chained_depth)
    boxes = {}
    if len(waypoints) <= MAX_WAYPOINTS_PER_NODE * graph.number_of_nodes():
        boxes = place(chained_rows, {**sizes, **{w: (WAYPOINT_W, 0.0) for w in waypoints}}, top=0.0, narrow=waypoints)
        if max(b.x + b.w / 2 for b in boxes.values()) - min(b.x - b.w / 2 for b in boxes.values()) > MAX_WIDTH:
            boxes = {}
    ports: dict[tuple[str, str], tuple[float, float]] = {}
    if boxes:
        rads = {edge: 0.0 for edge in graph.edges}
        ports = edge_ports(graph, boxes, chains)
    else:  # too dense for a slot per skipped layer: curve each edge around the boxes instead
        chains = {edge: [] for edge in graph.edges}
        boxes = place(rows, sizes, top=0.0)
        rads = {(u, v): route(boxes, u, v, 1 if k % 2 else -1) for k, (u, v) in enumerate(graph.edges)}
    left = min((b.x - b.w / 2 for b in boxes.values()), default=0.0)
    right = max((b.x + b.w / 2 for b in boxes.values()), default=0.0)
    bottom = min((b.y - b.h / 2 for b in boxes.values()), default=0.0)
    top = max((b.y + b.h / 2 for b in boxes.values()), default=0.0)
    for (u, v), rad in rads.items():  # curved edges may bow out past the boxes: the canvas takes them in
        if rad:
            points = arc_points((boxes[u].x, boxes[u].y), (boxes[v].x, boxes[v].y), rad)
            left, right = min(left, min(p[0] for p in points) - 0.1), max(right, max(p[0] for p in points) + 0.1)
            bottom, top = min(bottom, min(p[1] for p in points) - 0.1), max(top, max(p[1] for p in points) + 0.1)
    width = max(right - left, legend_w, title_w) + 2 * MARGIN
    height = (top - bottom) + title_h + legend_h + 4 * MARGIN
    fig = new_figure(layout=None, figsize=(width, height), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    dx = width / 2 - (left + right) / 2
    dy = height - 2 * MARGIN - title_h - top
    patches: dict[str, Any] = {}
    for n in graph.nodes:
        b = boxes[n]
        x, y = b.x + dx, b.y + dy
        patch = FancyBboxPatch((x - b.w / 2, y - b.h / 2), b.w, b.h, boxstyle="round,pad=0,rounding_size=0.08",
                               facecolor=ROLE_COLORS[roles[n]][0], edgecolor="#333333", lw=1.0, zorder=2,
                               gid=f"node:{n}")  # the gid names the node in SVG output (and for tests)
        ax.add_patch(patch)
        patches[n] = patch
        ax.text(x, y, labels[n], ha="center", va="center", fontsize=FONT_SIZE, zorder=3, linespacing=1.15)
    for (u, v), rad in rads.items():
        bu, bv = boxes[u], boxes[v]
        if ports:
            slots = [boxes[w] for w in chains[(u, v)]]
            xu, xv = ports[(u, v)]
            path = through([(xu + dx, bu.y + dy - bu.h / 2, bu.y + dy - bu.h / 2),
                            *[(b.x + dx, b.y + dy + b.h / 2, b.y + dy - b.h / 2) for b in slots],
                            (xv + dx, bv.y + dy + bv.h / 2, bv.y + dy + bv.h / 2)])
            ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=11, color="#555555", lw=0.9,
                                         zorder=1, gid=f"edge:{u}->{v}"))
            continue
        ax.add_patch(FancyArrowPatch((bu.x + dx, bu.y + dy), (bv.x + dx, bv.y + dy), patchA=patches[u],
                                     patchB=patches[v], shrinkA=0, shrinkB=0, arrowstyle="-|>", mutation_scale=11,
                                     connectionstyle=f"arc3,rad={rad}", color="#555555", lw=0.9, zorder=1,
                                     gid=f"edge:{u}->{v}"))
    ax.text(width / 2, height - MARGIN, title_text, ha="center", va="top", fontsize=11)
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, MARGIN / height), ncols=len(handles),
              fontsize=8, frameon=False, borderaxespad=0)
    return fig


def draw_dag(spec: ModelFile, path: str | Path, title: str | None = None) -> Path:
    """Draw the DAG of `spec` to `path` (format from the suffix): layered, labels whole, with a role legend."""
    return save_figure(dag_figure(spec, title), path, dpi=DPI)
