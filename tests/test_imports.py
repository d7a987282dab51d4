"""Layering: what each package may import, checked in fresh interpreters."""

import subprocess
import sys

import pytest


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return {line.split(".")[0] for line in out.stdout.split()}


def test_kernels_import_only_numpy_and_numba():
    loaded = _modules_after("import aerdask_kernels")
    for forbidden in ("qiskit", "dask", "distributed", "aerdask", "psutil"):
        assert forbidden not in loaded
    assert {"numpy", "numba", "aerdask_kernels"} <= loaded


def test_worker_side_compile_imports_only_numpy_and_numba():
    loaded = _modules_after("import aerdask_kernels.prepare, aerdask_kernels.packing, aerdask_kernels.expressions")
    for forbidden in ("qiskit", "dask", "distributed", "aerdask"):
        assert forbidden not in loaded


def test_aerdask_import_does_not_load_distributed():
    loaded = _modules_after("import aerdask, aerdask.primitives; aerdask.AerSimulator()")
    assert "aerdask" in loaded and "qiskit" in loaded
    assert "distributed" not in loaded
    assert "dask" not in loaded


@pytest.mark.parametrize("name", ["kernels"])
def test_no_top_level_kernels_module(name):
    import importlib.util

    spec = importlib.util.find_spec(name)
    assert spec is None or "aerdask" not in (spec.origin or "")
