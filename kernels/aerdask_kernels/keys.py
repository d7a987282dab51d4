"""Two keys over this package's sources: what a cluster must agree on, and what keys compiled code.

* :func:`compatibility_key`: the program format version and the code of every module that
  decides results (all but :data:`NOT_BEHAVIOUR`). A client and its workers compare it
  (``aerdask_worker.versions``): equal keys, equal results.
* :func:`cache_key`: the code of exactly the modules Numba compiles (those that define a
  kernel, and the package modules those import at module level, transitively). It names
  the on-disk cache of compiled kernels (:mod:`._jit`).

Both hash each module's *code*: its tokens without comments, blank lines, line numbers
or bare string statements (docstrings). Editing a comment or a docstring, or moving a
function, changes neither key, so no worker's compiled cache is thrown away and no
cluster refuses its clients for it. The keys are computed on first use (when Numba
loads, or a cluster's versions are compared), not at import.

Why tokens and not syntax trees: these run in worker threads, and CPython 3.11's
``ast`` conversion is not thread-safe (gh-106905: "AST constructor recursion depth
mismatch" when another thread parses at the same time, as a traceback being formatted
does); ``tokenize`` is plain Python.
"""

from __future__ import annotations

import functools
import hashlib
import io
import pathlib
import re
import tokenize

__all__ = ["compatibility_key", "cache_key", "NOT_BEHAVIOUR", "code_digest", "compiled_modules", "keys_of"]

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent

#: Modules that decide nothing about results: the warm-up and the readiness bookkeeping.
NOT_BEHAVIOUR = frozenset({"warmup.py", "readiness.py", "_moved.py"})

_KERNEL = re.compile(r"^@njit\b", re.MULTILINE)  # kernels are module-level functions


def _logical_lines(source: str):
    """``(depth, [(type, string), ...])`` per logical line: comments and blank lines dropped."""
    depth, line = 0, []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING):
            continue
        if tok.type == tokenize.INDENT:
            depth += 1
        elif tok.type == tokenize.DEDENT:
            depth -= 1
        elif tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if line:
                yield depth, line
            line = []
        else:
            line.append((tok.type, tok.string))


def code_digest(source: str) -> bytes:
    """The code of a module's (or a function's) source: tokens, without comments, positions or docstrings."""
    out = []
    for depth, line in _logical_lines(source):
        if all(kind == tokenize.STRING for kind, _ in line):
            continue  # a bare string statement (a docstring) does nothing
        out.append(f"{depth}|" + " ".join(text for _, text in line))
    return "\n".join(out).encode()


def _modules(root: pathlib.Path) -> dict[str, str]:
    """Relative path (posix) -> source, for every module of the package at ``root``."""
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*.py"))}


def _relative_imports(source: str) -> list[tuple[int, str, list[str]]]:
    """``(level, module, names)`` of each module-level ``from .module import names``."""
    found = []
    for depth, line in _logical_lines(source):
        texts = [text for _, text in line]
        if depth or texts[:1] != ["from"] or "import" not in texts:
            continue
        cut = texts.index("import")
        head = "".join(texts[1:cut])
        level = len(head) - len(head.lstrip("."))
        if not level:
            continue
        names, skip = [], False
        for text in texts[cut + 1 :]:
            if text == "as":
                skip = True
            elif text not in "(),":
                if not skip:
                    names.append(text)
                skip = False
        found.append((level, head[level:], names))
    return found


def _imported(path: str, source: str, modules: dict) -> set[str]:
    """The package modules ``path`` imports from at module level (relative imports: the package's only kind)."""
    here = pathlib.PurePosixPath(path).parent
    found = set()
    for level, module, names in _relative_imports(source):
        base = here
        for _ in range(level - 1):
            base = base.parent
        for name in [module] if module else names:
            stem = base.joinpath(*name.split("."))
            for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
                candidate = str(pathlib.PurePosixPath(candidate)).lstrip("./")
                if candidate in modules:
                    found.add(candidate)
    return found


def compiled_modules(root: pathlib.Path = _PACKAGE_DIR) -> list[str]:
    """The modules whose code Numba compiles: those defining a kernel, and what they import, transitively."""
    modules = _modules(root)
    seen = {path for path, src in modules.items() if _KERNEL.search(src)}
    seen |= {"_jit.py", "settings.py"}  # how kernels compile, and the settings compiled into them
    todo = sorted(seen)
    while todo:
        path = todo.pop()
        for dep in _imported(path, modules[path], modules):
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
    match = re.search(r"^FORMAT_VERSION = (\d+)", (_PACKAGE_DIR / "format" / "program.py").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError("FORMAT_VERSION not found in the program module")
    return int(match.group(1))


@functools.cache
def _keys() -> tuple[str, str]:
    return keys_of(_PACKAGE_DIR, _format_version())


def compatibility_key() -> str:
    """What a client and its workers must share for equal results (see the module docs)."""
    return _keys()[0]


def cache_key() -> str:
    """What names the cache of compiled kernels (see the module docs)."""
    return _keys()[1]
