"""Layering: what each package may import, checked in fresh interpreters."""

import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return {line.split(".")[0] for line in out.stdout.split()}


def test_kernels_import_only_numpy():
    # Numba too is loaded only by the first compiled call (see aerdask_kernels._jit.Kernel).
    loaded = _modules_after("import aerdask_kernels")
    for forbidden in ("qiskit", "dask", "distributed", "aerdask", "psutil", "numba"):
        assert forbidden not in loaded
    assert {"numpy", "aerdask_kernels"} <= loaded


def test_worker_side_compile_imports_only_numpy_and_numba():
    loaded = _modules_after(
        "import aerdask_kernels.passes.prepare, aerdask_kernels.format.packing, aerdask_kernels.format.expressions"
    )
    for forbidden in ("qiskit", "dask", "distributed", "aerdask"):
        assert forbidden not in loaded


def test_aerdask_import_does_not_load_distributed():
    loaded = _modules_after("import aerdask, aerdask.primitives; aerdask.AerSimulator()")
    assert "aerdask" in loaded and "qiskit" in loaded
    assert "distributed" not in loaded
    assert "dask" not in loaded


def test_every_kernel_module_imports_only_numpy_and_numba():
    """Not only the package root: each module a worker may load (the Dask preload aside)."""
    import pathlib

    import aerdask_kernels

    names = sorted(p.stem for p in pathlib.Path(aerdask_kernels.__file__).parent.glob("*.py"))
    modules = [f"aerdask_kernels.{n}" for n in names if n != "__init__"]
    loaded = _modules_after("import " + ", ".join(modules))
    for forbidden in ("qiskit", "dask", "distributed", "aerdask", "psutil"):
        assert forbidden not in loaded


def test_no_top_level_kernels_module(tmp_path):
    """Installed, the source folder ``kernels/`` does not import as ``kernels`` (a PyPI package's name).

    Checked from a neutral directory: under pytest the repository root is on ``sys.path``, where the
    folder is a namespace package.
    """
    import pathlib

    ours = (pathlib.Path(__file__).resolve().parents[1] / "kernels").as_posix()
    code = (
        "import importlib.util, pathlib; s = importlib.util.find_spec('kernels'); "
        "print([pathlib.Path(p).resolve().as_posix() for p in "
        "([s.origin] if s and s.origin else []) + list(s.submodule_search_locations or [] if s else [])])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ours not in out.stdout
    assert "aerdask_kernels" in subprocess.run(
        [sys.executable, "-c", "import aerdask_kernels; print(aerdask_kernels.__name__)"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    ).stdout  # fmt: skip
