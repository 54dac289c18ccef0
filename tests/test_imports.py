"""The import graph of the installed packages: no module cycles, and dependencies pointing one way.

Every ``import`` and ``from ... import`` of every module under ``rayflink/``, ``operators/``,
``connectors/`` and ``apps/`` counts, including those inside functions (a function-local import
hides a cycle from the interpreter, not from a reader), and so does
``importlib.import_module("literal")``. Imports under ``if TYPE_CHECKING:`` do not count: they
never run and exist for annotations only.

The folders install as ``rayflink.operators``, ``rayflink.connectors`` and ``rayflink.apps``
(setup.py), so that is how their modules are named here. The direction is
``apps -> connectors, operators -> rayflink core``; the core's only ties to ``rayflink.connectors``
are the one-line re-exports at PyFlink's paths (``rayflink.datastream.connectors.*``,
``rayflink.datastream.formats.*``, ``rayflink.table`` connector factories), and nothing but the
CLI itself imports ``rayflink.cli``.
``rayflink.testing`` (test support) sits on top of everything and nothing else imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# folder -> the package it installs as
FOLDERS = {"rayflink": "rayflink", "operators": "rayflink.operators",
           "connectors": "rayflink.connectors", "apps": "rayflink.apps"}
OUTER = ("rayflink.operators", "rayflink.connectors", "rayflink.apps")
TESTING = "rayflink.testing"
REEXPORT_PACKAGES = ("rayflink.datastream.connectors", "rayflink.datastream.formats", "rayflink.table")

# (importer, imported) edges that break the rules and are being removed elsewhere; each says by what.
ALLOWED_EDGES: dict[tuple[str, str], str] = {
    # SQL, merged last before this test's first run on it: the planner, the result and the network's
    # column routing reach physical operators and the SQL connector factory directly, and Table and
    # TableEnvironment import each other. To go through the operator registry / a shared module.
    ("rayflink.sql.translate", "rayflink.operators.sql.keys"): "SQL planner -> operators, to the registry",
    ("rayflink.sql.translate", "rayflink.operators.sql.scan"): "SQL planner -> operators, to the registry",
    ("rayflink.sql.translate", "rayflink.connectors.table"): "SQL planner -> connector factory, to a registry",
    ("rayflink.table.table_result", "rayflink.operators.sql.rows"): "Table result -> SQL operator rows",
}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module


def _in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def modules() -> dict[str, Module]:
    """Every module of the distribution, by its installed name."""
    found = {}
    for folder, package in FOLDERS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join([package, *parts])
            found[name] = Module(name, path, is_package, ast.parse(path.read_text(), str(path)))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for orelse in child.orelse:
                yield orelse
                yield from _runtime_nodes(orelse)
            continue
        yield child
        yield from _runtime_nodes(child)


def imports_of(module: Module, known: dict[str, Module]) -> dict[str, int]:
    """``imported module -> line`` for the distribution's modules that ``module`` imports."""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    out: dict[str, int] = {}

    def add(name: str, line: int) -> None:
        if name in known and name != module.name:
            out.setdefault(name, line)

    for node in _runtime_nodes(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                source = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in known:  # from package import submodule
                    add(f"{source}.{alias.name}", node.lineno)
                else:
                    add(source, node.lineno)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            add(node.args[0].value, node.lineno)
    return out


def import_graph() -> tuple[dict[str, Module], dict[str, dict[str, int]]]:
    known = modules()
    return known, {name: imports_of(m, known) for name, m in known.items()}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _describe(component: list[str], graph: dict[str, dict[str, int]], known: dict[str, Module]) -> str:
    members = set(component)
    lines = [f"  {m} -> {target} ({known[m].path.relative_to(ROOT)}:{line})"
             for m in component for target, line in sorted(graph[m].items()) if target in members]
    return "cycle between " + ", ".join(component) + ":\n" + "\n".join(lines)


def _is_reexport(module: Module) -> bool:
    """A PyFlink-path module that only re-exports names of ``rayflink.connectors``: a docstring,
    explicit ``from rayflink.connectors.x import A, B`` lines (no ``*``) and ``__all__``."""
    for i, stmt in enumerate(module.tree.body):
        if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            if any(alias.name == "*" for alias in stmt.names):
                return False
            continue
        if isinstance(stmt, ast.Assign) and [getattr(t, "id", None) for t in stmt.targets] == ["__all__"]:
            continue
        return False
    return True


def test_modules_found():
    known = modules()
    for package in ("rayflink", "rayflink.runtime.task", *OUTER, TESTING):
        assert package in known, f"{package} not found under {ROOT}: the walk is wrong"


def test_no_module_cycles():
    known, graph = import_graph()
    graph = {name: {t: line for t, line in targets.items() if (name, t) not in ALLOWED_EDGES}
             for name, targets in graph.items()}
    found = cycles(graph)
    assert not found, ("module cycles (function-local imports included; move the shared piece to a "
                       "module both can import):\n" + "\n".join(_describe(c, graph, known) for c in found))


def test_dependencies_point_one_way():
    """``apps -> connectors, operators -> rayflink core``, and only the CLI imports the CLI."""
    known, graph = import_graph()
    wrong = []
    for name, targets in sorted(graph.items()):
        module = known[name]
        for target, line in sorted(targets.items()):
            if (name, target) in ALLOWED_EDGES:
                continue
            where = f"{name} -> {target} ({module.path.relative_to(ROOT)}:{line})"
            core = not any(_in_package(name, p) for p in (*OUTER, TESTING))
            if core and any(_in_package(target, p) for p in OUTER):
                reexport = (_in_package(target, "rayflink.connectors")
                            and any(_in_package(name, p) for p in REEXPORT_PACKAGES) and _is_reexport(module))
                if not reexport:
                    wrong.append(f"the core imports {target.split('.')[1]}: {where}")
            if _in_package(target, "rayflink.apps") and not _in_package(name, "rayflink.apps"):
                wrong.append(f"only apps import apps: {where}")
            if _in_package(target, TESTING) and not _in_package(name, TESTING):
                wrong.append(f"only tests import {TESTING}: {where}")
            if target == "rayflink.cli":
                wrong.append(f"only the command line imports rayflink.cli: {where}")
    assert not wrong, "dependencies against the direction apps -> connectors, operators -> core:\n  " + \
        "\n  ".join(wrong)


def test_allowed_edges_still_exist():
    """An exception for an edge that is gone must go too."""
    _, graph = import_graph()
    stale = [edge for edge in ALLOWED_EDGES if edge[1] not in graph.get(edge[0], {})]
    assert not stale, f"ALLOWED_EDGES lists edges that no longer exist: {stale}"


def test_reexports_are_explicit():
    """PyFlink-path modules re-export connectors one name at a time, never with ``import *``."""
    known = modules()
    stars = [f"{m.path.relative_to(ROOT)}:{node.lineno}" for m in known.values()
             for node in ast.walk(m.tree)
             if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)]
    assert not stars, f"'import *' in {stars}: import the names explicitly"


def test_cycle_finder_finds_a_cycle_hidden_in_a_function():
    """The checker itself: a function-local import that closes a loop is a cycle."""
    a = ast.parse("import rayflink.b\n")
    b = ast.parse("def f():\n    from rayflink import a\n")
    c = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import rayflink.a\n")
    known = {name: Module(name, Path(name), False, tree)
             for name, tree in (("rayflink.a", a), ("rayflink.b", b), ("rayflink.c", c))}
    graph = {name: imports_of(m, known) for name, m in known.items()}
    assert graph["rayflink.b"] == {"rayflink.a": 2}
    assert graph["rayflink.c"] == {}
    assert cycles(graph) == [["rayflink.a", "rayflink.b"]]
