"""The import graph of the sdscm package, from the source alone (standard library `ast`; nothing is imported).

Every `import sdscm...` / `from sdscm... import ...` in src/sdscm is an edge, wherever it stands: at
module level, inside a function (a lazy import), or under `if TYPE_CHECKING:`. Relative imports are
resolved. The script prints the modules, the edges between packages (the top-level folders and
modules of sdscm), and every cycle: first between modules, then between packages.

    python scripts/import_graph.py              # packages, their edges, cycles
    python scripts/import_graph.py --modules    # also every module-to-module edge
    python scripts/import_graph.py --json       # the same as JSON (modules, edges, cycles)

Exit code 0 always (this is a report); tests/test_architecture.py turns the same graph into checks.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "sdscm"


@dataclass(frozen=True)
class Edge:
    """`source` imports `target` (both dotted module names) at `line`, as `kind`."""

    source: str
    target: str
    line: int
    kind: str  # "module" (top level), "function" (inside a def: lazy) or "typing" (under TYPE_CHECKING)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str, known: set[str]) -> str:
    """The longest known module that `name` (a module or a module.attribute) starts with."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return name


def imports_of(module: str, path: Path, known: set[str]) -> list[Edge]:
    """The sdscm modules `module` imports, each with where and how."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    edges: list[Edge] = []

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_stmt(stmt, "typing")
                for stmt in child.orelse:
                    visit_stmt(stmt, kind)
                continue
            visit_stmt(child, kind)

    def visit_stmt(node: ast.AST, kind: str) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    edges.append(Edge(module, _resolve(alias.name, known), node.lineno, kind))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base == PACKAGE or base.startswith(PACKAGE + "."):
                for alias in node.names:
                    target = _resolve(f"{base}.{alias.name}", known)
                    edges.append(Edge(module, target, node.lineno, kind))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and kind == "module":
            kind = "function"
        visit(node, kind)

    visit(tree, "module")
    return [e for e in edges if e.target != module]


def graph(root: Path = ROOT) -> tuple[dict[str, Path], list[Edge]]:
    """All modules and all import edges between them."""
    mods = modules(root)
    known = set(mods)
    edges: list[Edge] = []
    for name, path in mods.items():
        edges.extend(imports_of(name, path, known))
    return mods, edges


def package_of(module: str) -> str:
    """`sdscm.backends.base` -> `backends`; a top-level module is its own package (`model`); the
    package's `__init__` is `sdscm`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(nodes: list[str], edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in sorted(edges):
        if a != b and a in succ and b in succ:
            succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        # iterative Tarjan (no recursion limit on large graphs)
        work = [(v, iter(succ[v]))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ[w])))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))

    for n in nodes:
        if n not in index:
            strongconnect(n)
    return sorted(out)


def package_edges(edges: list[Edge]) -> dict[tuple[str, str], list[Edge]]:
    """Edges between different packages, with the module edges behind each."""
    out: dict[tuple[str, str], list[Edge]] = {}
    for e in edges:
        a, b = package_of(e.source), package_of(e.target)
        if a != b and a != PACKAGE:  # sdscm/__init__ re-exports from everything: it is the top, not a layer
            out.setdefault((a, b), []).append(e)
    return out


def report(show_modules: bool = False, root: Path = ROOT) -> dict:
    mods, edges = graph(root)
    module_pairs = {(e.source, e.target) for e in edges}
    pkg = package_edges(edges)
    packages = sorted({package_of(m) for m in mods} - {PACKAGE})
    return {
        "modules": sorted(mods),
        "packages": packages,
        "module_edges": sorted({(e.source, e.target, e.kind) for e in edges}) if show_modules else None,
        "package_edges": {f"{a} -> {b}": sorted({e.kind for e in es}) for (a, b), es in sorted(pkg.items())},
        "lazy_imports": sorted({f"{e.source}:{e.line} -> {e.target}" for e in edges if e.kind == "function"}),
        "module_cycles": cycles(sorted(mods), module_pairs),
        "package_cycles": cycles(packages, set(pkg)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="also list every module-to-module edge")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    data = report(args.modules)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{len(data['modules'])} modules in {len(data['packages'])} packages: {', '.join(data['packages'])}")
    print(f"\npackage edges ({len(data['package_edges'])}; kinds: module = top-level import, "
          "function = lazy import inside a function, typing = under TYPE_CHECKING):")
    for edge, kinds in data["package_edges"].items():
        print(f"  {edge}  [{', '.join(kinds)}]")
    if args.modules:
        print(f"\nmodule edges ({len(data['module_edges'])}):")
        for a, b, kind in data["module_edges"]:
            print(f"  {a} -> {b}" + ("" if kind == "module" else f"  [{kind}]"))
    print(f"\nlazy sdscm imports inside functions ({len(data['lazy_imports'])}):")
    for line in data["lazy_imports"]:
        print(f"  {line}")
    for label in ("module", "package"):
        found = data[f"{label}_cycles"]
        print(f"\n{label} cycles: {len(found) or 'none'}")
        for c in found:
            print("  " + " <-> ".join(c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
