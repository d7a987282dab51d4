"""The code's shape: no import circles, no reaching into another module's private names.

The layers inside ``aerdask_kernels`` are an import-linter contract (``pyproject.toml``,
run by ``lint-imports`` in CI); these are the properties a contract cannot state.
"""

import ast

import grimp
import pytest

from .clusters import ROOT

PACKAGES = ("aerdask", "aerdask_kernels", "aerdask_worker")
SOURCES = [ROOT / "aerdask", ROOT / "kernels" / "aerdask_kernels", ROOT / "kernels" / "aerdask_worker"]


def _cycles(graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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


def test_no_import_circles():
    graph = grimp.build_graph(*PACKAGES)  # lazy (function-level) imports included
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.z")
    graph.add_import(importer="a.z", imported="a.x")
    assert _cycles(graph) == [["a.x", "a.y", "a.z"]]


def _private_imports(path) -> list[str]:
    """``from M import _name`` (M one of ours) where ``_name`` is not a module: reaching into M's internals.

    Other packages' internals are theirs to judge (``_jit`` needs one of Numba's).
    """
    found = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if not node.level and (node.module or "").split(".")[0] not in PACKAGES:
            continue
        for alias in node.names:
            name = alias.name
            if not name.startswith("_") or name.startswith("__"):
                continue
            base = path.parent
            for _ in range(max(node.level - 1, 0)):
                base = base.parent
            if node.level:
                package = base.joinpath(*node.module.split(".")) if node.module else base
            else:
                top, *rest = node.module.split(".")
                package = {p.name: p for p in SOURCES}[top].joinpath(*rest)
            is_module = (package / f"{name}.py").exists() or (package / name).is_dir()
            if not is_module:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name} from {node.module or '.'}")
    return found


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_no_module_imports_another_modules_private_names(source):
    found = [line for path in sorted(source.rglob("*.py")) for line in _private_imports(path)]
    assert found == []
