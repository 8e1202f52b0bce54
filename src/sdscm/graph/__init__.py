"""The DAG of an SD-SCM: construction, order, ancestry, drawing."""

from sdscm.graph.dag import build_graph, descendants_of, topological_order

__all__ = ["build_graph", "descendants_of", "topological_order"]
