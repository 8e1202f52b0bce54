"""A layered top-to-bottom picture of the DAG (roots on top), written as PNG/SVG/PDF."""

from __future__ import annotations

import textwrap
from pathlib import Path

import networkx as nx

from sdscm.graph.dag import build_graph, layers
from sdscm.results.figures import pyplot, save_figure
from sdscm.spec.schema import ModelFile


def layered_positions(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Node positions: one row per depth, roots on top, rows centred, order kept within a row."""
    depth = layers(graph)
    rows: dict[int, list[str]] = {}
    for node in graph.nodes:  # insertion order = the file's order
        rows.setdefault(depth[node], []).append(node)
    pos: dict[str, tuple[float, float]] = {}
    for level, nodes in rows.items():
        width = len(nodes)
        for i, node in enumerate(nodes):
            pos[node] = (i - (width - 1) / 2.0, -float(level))
    return pos


def draw_dag(spec: ModelFile, path: str | Path, title: str | None = None) -> Path:
    """Draw the DAG, exogenous variables shaded, treatment/outcome outlined when declared."""
    plt = pyplot()
    graph = build_graph(spec)
    pos = layered_positions(graph)
    n_rows = 1 + max((-y for _, y in pos.values()), default=0)
    n_cols = max((sum(1 for p in pos.values() if p[1] == y) for y in {p[1] for p in pos.values()}), default=1)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.3 * n_cols), max(4.0, 1.3 * n_rows + 1)))
    roles: dict[str, str] = {}
    if spec.benchmark is not None:
        roles[spec.benchmark.treatment] = "treatment"
        roles[spec.benchmark.outcome] = "outcome"
    colors = []
    for node in graph.nodes:
        if roles.get(node) == "treatment":
            colors.append("#f4a261")
        elif roles.get(node) == "outcome":
            colors.append("#2a9d8f")
        elif graph.nodes[node].get("exogenous"):
            colors.append("#d9d9d9")
        else:
            colors.append("#a8dadc")
    nx.draw_networkx_edges(
        graph, pos, ax=ax, arrows=True, arrowsize=14, edge_color="#555555",
        connectionstyle="arc3,rad=0.08", node_size=2600, width=0.9,
    )
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colors, node_size=2600, edgecolors="#333333")
    labels = {n: "\n".join(textwrap.wrap(n, 12)) for n in graph.nodes}
    nx.draw_networkx_labels(graph, pos, labels=labels, ax=ax, font_size=8)
    ax.set_title(title or spec.name)
    ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)
