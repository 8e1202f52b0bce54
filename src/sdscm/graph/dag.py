"""Plain functions over the SD-SCM's networkx DAG."""

from __future__ import annotations

from typing import Iterable

import networkx as nx

from sdscm.spec.schema import ModelFile


def build_graph(spec: ModelFile) -> nx.DiGraph:
    """Directed graph with an edge parent -> child for every declared parent."""
    graph = nx.DiGraph()
    for var in spec.variables:
        graph.add_node(var.name, exogenous=var.exogenous, values=list(var.values))
    for var in spec.variables:
        for parent in var.parents:
            graph.add_edge(parent, var.name)
    return graph


def descendants_of(graph: nx.DiGraph, nodes: Iterable[str]) -> set[str]:
    """Strict descendants of any node in `nodes` (the nodes themselves excluded)."""
    nodes = set(nodes)
    out: set[str] = set()
    for node in nodes:
        out |= nx.descendants(graph, node)
    return out - nodes


def layers(graph: nx.DiGraph) -> dict[str, int]:
    """Depth of each node: the length of the longest path from a root to it."""
    depth: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        preds = list(graph.predecessors(node))
        depth[node] = 1 + max(depth[p] for p in preds) if preds else 0
    return depth
