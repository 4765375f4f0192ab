"""No import cycles between files: the layers (import-linter, `test_code_health.py`) keep packages
pointing one way; this keeps every file pointing one way too, inside a package as well.

What counts as an import of file B by file A: every `import` / `from ... import` statement in A
that names B, wherever it stands: at the top of the file, inside a function (a lazy import still
ties the two files together: each needs the other to work, and the cycle only waits for the call
order that trips it) and inside `if TYPE_CHECKING:` (a type in a signature is a dependency of the
design even if it never runs: the extension's preparing -> snapshot -> runtime circle closed
through one). Not counted: the implicit execution of a parent package's `__init__.py` when a
submodule is imported (a package that re-exports its own modules would otherwise be a circle with
each of them); `from pkg import name` counts as an import of `pkg/__init__.py` unless `pkg.name` is
itself a module. Scanned: `generator_service/`,
`expotion_blender/` and `wheels/expotion_protocol/expotion_protocol/`, by `ast` (nothing imported).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (directory on sys.path, top-level package) for each scanned tree
TREES = (
    (ROOT, "generator_service"),
    (ROOT, "expotion_blender"),
    (ROOT / "wheels" / "expotion_protocol", "expotion_protocol"),
)


@dataclass(frozen=True)
class Edge:
    """File `source` imports module `target` at `line`."""

    source: str
    target: str
    line: int


def module_names(trees: tuple[tuple[Path, str], ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the scanned packages."""
    modules: dict[str, Path] = {}
    for base, package in trees:
        for path in sorted((base / package).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, at any depth."""
    for child in ast.walk(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child


def _resolve_from(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a `from X import ...` names (relative levels resolved from `module`)."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every import between two scanned files (see the module docstring for what counts)."""
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _import_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve_from(module, path, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            edges += [Edge(module, t, node.lineno) for t in dict.fromkeys(targets) if t in modules and t != module]
    return edges


def cycles(edges: list[Edge]) -> list[tuple[list[str], list[Edge]]]:
    """Each strongly connected group of files (Tarjan), with one concrete cycle through it."""
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
        graph.setdefault(edge.target, {})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the number of files (a few hundred)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [(group, _cycle_through(group, graph)) for group in sorted(groups)]


def _cycle_through(group: list[str], graph: dict[str, dict[str, Edge]]) -> list[Edge]:
    """The shortest cycle from the group's first file back to itself, inside the group (BFS)."""
    members = set(group)
    start = group[0]
    came_from: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt, edge in sorted(graph[node].items()):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [edge]
                    while path[0].source != start:
                        path.insert(0, came_from[path[0].source])
                    return path
                if nxt not in came_from:
                    came_from[nxt] = edge
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle inside the group {group}")  # Tarjan's group always holds one


def describe(group: list[str], cycle: list[Edge]) -> str:
    path = cycle[0].source + "".join(f" -> {e.target} (line {e.line} of {e.source})" for e in cycle)
    return f"{path}\n    (the circle holds {len(group)} files: {', '.join(group)})"


def test_no_file_imports_itself_back() -> None:
    modules = module_names(TREES)
    assert len(modules) > 100, "the scan found too few files: the trees moved?"
    found = cycles(import_edges(modules))
    assert not found, "import cycles between files:\n" + "\n".join(describe(g, c) for g, c in found)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_scan_finds_lazy_relative_and_type_checking_cycles(tmp_path: Path) -> None:
    """The checker itself, on a small tree: a lazy relative import closes a circle, so does one under
    `if TYPE_CHECKING:`; `from pkg import name` reaches the package's `__init__`, which is not
    counted as imported by its submodules."""
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "VALUE = 1\n",
            "pkg/a.py": "from . import b\n",
            "pkg/b.py": "def f():\n    from .c import g\n    return g\n",
            "pkg/c.py": "import pkg.a\n",
            "pkg/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n",
            "pkg/e.py": "from pkg.d import x\n",
            "pkg/f.py": "from pkg import VALUE\n",
            "pkg/g/__init__.py": "from .h import H\n",
            "pkg/g/h.py": "H = 1\n",
        },
    )
    modules = module_names(((tmp_path, "pkg"),))
    edges = import_edges(modules)
    assert Edge("pkg.f", "pkg", 1) in edges
    assert Edge("pkg.b", "pkg.c", 2) in edges
    found = cycles(edges)
    assert [[(e.source, e.target) for e in c] for _, c in found] == [
        [("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")],
        [("pkg.d", "pkg.e"), ("pkg.e", "pkg.d")],
    ]
