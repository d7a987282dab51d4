"""Two keys over this package's sources: what a cluster must agree on, and what keys compiled code.

* :func:`compatibility_key`: the program format version and the code of every module that
  decides results (all but :data:`NOT_BEHAVIOUR`). A client and its workers compare it
  (``aerdask_worker.versions``): equal keys, equal results.
* :func:`cache_key`: the code of exactly the modules Numba compiles (those that define a
  kernel, and the package modules those import at module level, transitively). It names
  the on-disk cache of compiled kernels (:mod:`._jit`).

Both hash each module's *code*: its syntax tree without docstrings, comments or line
numbers. Editing a comment or a docstring, or moving a function, changes neither key, so
no worker's compiled cache is thrown away and no cluster refuses its clients for it.
Parsing the sources takes a tenth of a second, so the keys are computed on first use
(when Numba loads, or a cluster's versions are compared), not at import.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import pathlib

__all__ = ["compatibility_key", "cache_key", "NOT_BEHAVIOUR", "code_digest", "compiled_modules", "keys_of"]

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent

#: Modules that decide nothing about results: the warm-up and the readiness bookkeeping.
NOT_BEHAVIOUR = frozenset({"runtime/warmup.py", "runtime/readiness.py", "warmup.py", "readiness.py"})


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(source: str) -> bytes:
    """The code of a module's source: its syntax tree without docstrings, comments or positions."""
    tree = _strip_docstrings(ast.parse(source))
    return ast.dump(tree, annotate_fields=True, include_attributes=False).encode()


def _modules(root: pathlib.Path) -> dict[str, str]:
    """Relative path (posix) -> source, for every module of the package at ``root``."""
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*.py"))}


def _defines_kernel(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if isinstance(target, ast.Name) and target.id == "njit":
                    return True
    return False


def _imported(path: str, tree: ast.AST, modules: dict) -> set[str]:
    """The package modules ``path`` imports from (relative imports only: the package imports no other way)."""
    here = pathlib.PurePosixPath(path).parent
    found = set()
    for node in tree.body:  # module-level imports: what a kernel can see at compile time
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here
            for _ in range(node.level - 1):
                base = base.parent
            names = [node.module] if node.module else [alias.name for alias in node.names]
            for name in names:
                stem = base.joinpath(*name.split("."))
                for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
                    candidate = str(pathlib.PurePosixPath(candidate)).lstrip("./")
                    if candidate in modules:
                        found.add(candidate)
    return found


def compiled_modules(root: pathlib.Path = _PACKAGE_DIR) -> list[str]:
    """The modules whose code Numba compiles: those defining a kernel, and what they import, transitively."""
    modules = _modules(root)
    trees = {path: ast.parse(src) for path, src in modules.items()}
    seen = {path for path, tree in trees.items() if _defines_kernel(tree)}
    seen |= {"_jit.py", "settings.py"}  # how kernels compile, and the settings compiled into them
    todo = sorted(seen)
    while todo:
        path = todo.pop()
        for dep in _imported(path, trees[path], modules):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(seen)


def _digest(codes: dict, paths, prefix: bytes = b"") -> str:
    digest = hashlib.sha256(prefix)
    for path in sorted(paths):
        digest.update(path.encode() + b"\0")
        digest.update(codes[path])
    return digest.hexdigest()[:16]


def keys_of(root: pathlib.Path, format_version: int) -> tuple[str, str]:
    """``(compatibility key, cache key)`` of the package at ``root`` (tests pass an edited copy)."""
    codes = {path: code_digest(src) for path, src in _modules(root).items()}
    behaviour = [path for path in codes if path not in NOT_BEHAVIOUR]
    compatibility = _digest(codes, behaviour, f"format {format_version}\0".encode())
    return compatibility, _digest(codes, compiled_modules(root))


def _format_version() -> int:
    # Read from the source, not imported: the program module imports this one's users.
    for path in ("format/program.py", "program.py"):
        source = _PACKAGE_DIR / path
        if source.exists():
            for node in ast.parse(source.read_text()).body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "FORMAT_VERSION" for t in node.targets):
                    return int(ast.literal_eval(node.value))
    raise RuntimeError("FORMAT_VERSION not found in the program module")


@functools.cache
def _keys() -> tuple[str, str]:
    return keys_of(_PACKAGE_DIR, _format_version())


def compatibility_key() -> str:
    """What a client and its workers must share for equal results (see the module docs)."""
    return _keys()[0]


def cache_key() -> str:
    """What names the cache of compiled kernels (see the module docs)."""
    return _keys()[1]
