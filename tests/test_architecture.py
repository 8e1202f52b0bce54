"""The package's import graph: no cycles, and every import points down the layers of docs/architecture.md.

The graph comes from scripts/import_graph.py (standard library `ast`, nothing imported), and it
counts every import of an sdscm module: at module level, inside functions (lazy) and under
TYPE_CHECKING, so a lazy import cannot hide a cycle or an upward dependency.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
assert _spec is not None and _spec.loader is not None
import_graph = importlib.util.module_from_spec(_spec)
sys.modules["import_graph"] = import_graph
_spec.loader.exec_module(import_graph)

LAYERS: list[set[str]] = [
    {"cli"},
    {"demo"},
    {"audit", "benchmark", "evaluation", "queries"},
    {"estimators"},
    {"model"},
    {"engine"},
    {"backends"},
    {"graph", "semantics"},
    {"spec"},
    {"results"},
    {"effects", "executors", "progress", "version"},
    {"errors"},
]
"""Top to bottom. A package imports only packages in lower layers (never its own layer's others)."""

LAZY_IMPORTS_ALLOWED = {
    # command bodies import heavy subsystems (estimators, pyarrow, matplotlib) when they run
    "sdscm.cli.app",
    "sdscm.cli.audit",
    "sdscm.cli.benchmark_evaluate",
    "sdscm.cli.benchmark_generate",
    # the transformers backend (torch) is imported when a model section asks for it
    "sdscm.backends.factory",
}
"""Modules allowed to import sdscm modules inside functions: only to defer heavy libraries."""


def _layer_of(package: str) -> int:
    for depth, layer in enumerate(LAYERS):
        if package in layer:
            return depth
    raise AssertionError(f"package '{package}' has no layer: add it to LAYERS here and to docs/architecture.md")


def test_no_import_cycles() -> None:
    """No module imports itself through others, and no package does."""
    report = import_graph.report()
    assert report["module_cycles"] == []
    assert report["package_cycles"] == []


def test_imports_point_down_the_layers() -> None:
    """cli -> demo -> (audit, benchmark, evaluation, queries) -> estimators / model -> engine -> backends
    -> (graph, semantics) -> spec -> results -> leaves; spec and results import nothing above them."""
    _, edges = import_graph.graph()
    wrong = []
    for (a, b), behind in import_graph.package_edges(edges).items():
        if _layer_of(a) >= _layer_of(b):
            first = behind[0]
            wrong.append(f"{a} -> {b} ({first.source}:{first.line} imports {first.target})")
    assert wrong == []
    every = {import_graph.package_of(m) for m in import_graph.modules()} - {"sdscm"}
    for package in every:
        _layer_of(package)


def test_lazy_imports_only_defer_heavy_libraries() -> None:
    """Imports of sdscm modules inside functions stand only where they defer heavy libraries."""
    _, edges = import_graph.graph()
    lazy = {e.source for e in edges if e.kind == "function"}
    assert lazy <= LAZY_IMPORTS_ALLOWED, sorted(lazy - LAZY_IMPORTS_ALLOWED)


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The parser finds top-level, relative, lazy and TYPE_CHECKING imports, and reports a cycle."""
    pkg = tmp_path / "sdscm"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from . import x\n")
    (pkg / "a" / "x.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sdscm.b import y\n")
    (pkg / "b.py").write_text("def f():\n    import sdscm.a.x\n")
    mods, edges = import_graph.graph(tmp_path)
    kinds = {(e.source, e.target, e.kind) for e in edges}
    assert ("sdscm.a", "sdscm.a.x", "module") in kinds
    assert ("sdscm.a.x", "sdscm.b", "typing") in kinds
    assert ("sdscm.b", "sdscm.a.x", "function") in kinds
    assert import_graph.cycles(sorted(mods), {(e.source, e.target) for e in edges}) == [["sdscm.a.x", "sdscm.b"]]
