"""The two keys: what a cluster agrees on, and what names compiled code; neither moves for a docstring."""

import shutil

from aerdask_kernels import keys

from .clusters import ROOT

PACKAGE = ROOT / "kernels" / "aerdask_kernels"


def _copy(tmp_path):
    root = tmp_path / "aerdask_kernels"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_docstrings_comments_and_moves_keep_both_keys(tmp_path):
    root = _copy(tmp_path)
    before = keys.keys_of(root, 5)
    gates = root / "kernels" / "gates.py"
    _edit(gates, '"""', '"""A changed first line of the module docstring.\n\n')  # a docstring
    _edit(gates, "\nimport ", "\n# a new comment, and the code below moved down by lines\n\n\nimport ")
    assert keys.keys_of(root, 5) == before


def test_a_code_edit_changes_the_keys_it_should():
    assert keys.compiled_modules(PACKAGE)  # the kernels are found
    compiled = keys.compiled_modules(PACKAGE)
    assert "kernels/gates.py" in compiled and "warmup.py" not in compiled and "runtime/walker.py" not in compiled


def test_compiled_code_changes_both_keys_and_other_code_only_compatibility(tmp_path):
    root = _copy(tmp_path)
    compatibility, cache = keys.keys_of(root, 5)
    _edit(root / "kernels" / "gates.py", "PARALLEL_MIN_SIZE = 1 << ", "PARALLEL_MIN_SIZE = 2 << ")
    after = keys.keys_of(root, 5)
    assert after[0] != compatibility and after[1] != cache
    root = _copy(tmp_path / "other")
    compiled = set(keys.compiled_modules(root))
    candidates = [p for p in sorted(root.rglob("*.py")) if p.relative_to(root).as_posix() not in compiled]
    candidates = [p for p in candidates if p.relative_to(root).as_posix() not in keys.NOT_BEHAVIOUR]
    not_compiled = next(p for p in candidates if "\ndef " in p.read_text())
    _edit(not_compiled, "\ndef ", "\ndef _unused_helper():\n    return 1\n\n\ndef ")
    again = keys.keys_of(root, 5)
    assert again[0] != compatibility and again[1] == cache
    assert keys.keys_of(root, 6)[0] != again[0]  # and the format version is part of what a cluster shares
