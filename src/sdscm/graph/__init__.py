"""The DAG of an SD-SCM: construction, ancestry, layers, drawing."""

from sdscm.graph.dag import build_graph, descendants_of

__all__ = ["build_graph", "descendants_of"]
