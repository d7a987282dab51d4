"""Read circuits from files: OpenQASM 2 and 3, QPY, and Python files that define one."""

from __future__ import annotations

import runpy
from pathlib import Path

from qiskit.circuit import QuantumCircuit

from .errors import AerdaskInputError

__all__ = ["load_circuits", "CircuitFileError"]


class CircuitFileError(AerdaskInputError):
    """A circuit file is missing or cannot be parsed; the message gives the file and, for QASM, line and column."""


def _qasm_version(text: str) -> int:
    for line in text.splitlines():
        stripped = line.split("//", 1)[0].strip()
        if stripped.upper().startswith("OPENQASM"):
            return 3 if stripped.split()[1].startswith("3") else 2
        if stripped:
            break
    return 3  # OpenQASM 3 makes the version line optional


def _load_qasm(path: Path) -> list[QuantumCircuit]:
    text = path.read_text()
    try:
        if _qasm_version(text) == 2:
            from qiskit import qasm2

            circuit = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
        else:
            from qiskit import qasm3

            circuit = qasm3.loads(text)
    except Exception as exc:  # the parsers' messages carry the line and column
        raise CircuitFileError(f"{path}: {_one_line(exc)}") from exc
    circuit.name = path.stem
    return [circuit]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _load_python(path: Path) -> list[QuantumCircuit]:
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:
        raise CircuitFileError(f"{path}: running it failed: {type(exc).__name__}: {_one_line(exc)}") from exc
    found = namespace.get("circuit")
    if found is None and callable(namespace.get("build")):
        found = namespace["build"]()
    if found is None:
        found = namespace.get("circuits")
    circuits = [found] if isinstance(found, QuantumCircuit) else list(found or [])
    if not circuits or not all(isinstance(c, QuantumCircuit) for c in circuits):
        raise CircuitFileError(
            f"{path}: define 'circuit' (a QuantumCircuit), 'circuits' (a list of them) or 'build()' returning one"
        )
    return circuits


def load_circuits(path: str | Path) -> list[QuantumCircuit]:
    """The circuits in ``path`` by its suffix: ``.qasm`` (OpenQASM 2 or 3), ``.qpy``, ``.py``.

    Raises:
        CircuitFileError: missing file, unknown suffix, or a parse error (with line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise CircuitFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".qasm", ".qasm2", ".qasm3", ".oq3"):
        return _load_qasm(path)
    if suffix == ".qpy":
        from qiskit import qpy

        try:
            with path.open("rb") as fh:
                return list(qpy.load(fh))
        except Exception as exc:
            raise CircuitFileError(f"{path}: not a readable QPY file: {_one_line(exc)}") from exc
    if suffix == ".py":
        return _load_python(path)
    raise CircuitFileError(f"{path}: unknown file type {suffix!r}; use .qasm (OpenQASM 2 or 3), .qpy or .py")
