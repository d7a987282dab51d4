"""What a gate becomes in the program: its controls and a dense matrix or a diagonal.

:class:`MatrixCache` computes each standard gate's form once per ``(name, params)``:
a batch of circuits repeats the same few gates, and computing matrices and
classifying them (diagonal? identity? controlled?) would otherwise dominate the
compile time of many small circuits.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from qiskit.circuit import ControlledGate
from qiskit.circuit.annotated_operation import AnnotatedOperation
from qiskit.circuit.exceptions import CircuitError
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.quantum_info import Operator, Statevector

__all__ = [
    "GateForm",
    "MatrixCache",
    "form_of",
    "householder",
    "target_state",
    "unitary_defect",
    "MAX_DENSE_DEFINITION_QUBITS",
    "UNITARY_ATOL",
]

#: How far from unitary a gate's matrix may be (largest entry of ``U^dagger U - I``, or of
#: ``|d| - 1`` for a diagonal), as qiskit's own ``is_unitary_matrix`` allows.
UNITARY_ATOL = 1e-8

#: Gates wider than this with no ``to_matrix`` are inlined from their definition
#: rather than turned into one dense matrix.
MAX_DENSE_DEFINITION_QUBITS = 5

_MISSING = object()
_STANDARD_CLASSES = {name: type(gate) for name, gate in get_standard_gate_name_mapping().items()}


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: shared forms are cache keys
class GateForm:
    """A gate as the kernels run it.

    Attributes:
        nctrl: Leading qubits that are controls.
        ctrl_val: Required control values (bit ``j`` for control ``j``).
        data: complex128; the ``2**k x 2**k`` matrix on the targets, or its
            diagonal (shape ``(2**k,)``) when ``diagonal``.
        diagonal: Whether ``data`` is a diagonal.
        identity: True if the gate does nothing (a diagonal of ones).
    """

    nctrl: int
    ctrl_val: int
    data: np.ndarray
    diagonal: bool
    identity: bool = False


def unitary_defect(data: np.ndarray, diagonal: bool = False) -> float:
    """How far a matrix (or a diagonal) is from unitary; ``inf`` for a NaN or infinite entry."""
    if not np.isfinite(data).all():
        return float("inf")
    if diagonal:
        return float(np.abs(np.abs(data) - 1).max(initial=0.0))
    return float(np.abs(data.conj().T @ data - np.eye(data.shape[0])).max())


def form_of(matrix: np.ndarray, nctrl: int = 0, ctrl_val: int = 0) -> GateForm:
    """Classify a matrix: keep only the diagonal when everything off it is exactly zero."""
    matrix = np.asarray(matrix, dtype=np.complex128)
    if matrix.shape == (2, 2):  # most gates of a batch: scalar tests beat numpy calls here
        if matrix[0, 1] == 0 and matrix[1, 0] == 0:
            d0, d1 = matrix[0, 0], matrix[1, 1]
            return GateForm(nctrl, ctrl_val, np.array([d0, d1]), True, bool(d0 == 1 and d1 == 1))
        return GateForm(nctrl, ctrl_val, matrix, False)
    diagonal = np.diagonal(matrix)
    if np.count_nonzero(matrix) == np.count_nonzero(diagonal):
        return GateForm(nctrl, ctrl_val, diagonal.copy(), True, bool(np.all(diagonal == 1)))
    return GateForm(nctrl, ctrl_val, matrix, False)


def _dense(op) -> np.ndarray | None:
    try:
        return np.asarray(op.to_matrix(), dtype=np.complex128)
    except (CircuitError, AttributeError, TypeError, NotImplementedError):
        pass
    has_definition = getattr(op, "definition", None) is not None or isinstance(op, AnnotatedOperation)
    if has_definition and op.num_qubits <= MAX_DENSE_DEFINITION_QUBITS:
        try:
            return np.asarray(Operator(op).data, dtype=np.complex128)
        except Exception:  # a definition with non-unitary parts: the caller inlines it
            return None
    return None


def _controlled_base(op: ControlledGate, full: np.ndarray | None) -> np.ndarray | None:
    nc = op.num_ctrl_qubits
    if full is not None:
        # Read the block off the full matrix: base_gate drops phases some gates
        # carry on the controlled subspace (CU's gamma).
        cbits = int(op.ctrl_state)
        idx = np.array([cbits | (t << nc) for t in range(1 << (op.num_qubits - nc))])
        block = full[np.ix_(idx, idx)]
        if type(op) is _STANDARD_CLASSES.get(op.name):
            return block  # Qiskit's own controlled gates are identity off the block
        rest = full.copy()
        rest[np.ix_(idx, idx)] = np.eye(idx.size)
        return block if np.allclose(rest, np.eye(full.shape[0]), atol=1e-12) else None
    try:
        return np.asarray(op.base_gate.to_matrix(), dtype=np.complex128)
    except (CircuitError, AttributeError, TypeError):
        return None


def _form(op) -> GateForm | None:
    if op.name == "diagonal":
        return GateForm(0, 0, np.asarray(op.params, dtype=np.complex128), True)
    if isinstance(op, ControlledGate) and op.num_ctrl_qubits > 0:
        full = _dense(op) if op.num_qubits <= 4 else None
        base = _controlled_base(op, full)
        if base is not None:
            return form_of(base, op.num_ctrl_qubits, int(op.ctrl_state))
        if full is not None:
            return form_of(full)
    matrix = _dense(op)
    return None if matrix is None else form_of(matrix)


class MatrixCache:
    """Forms and matrices of parameter-bound gates, keyed by ``(name, params)``.

    Only Qiskit's standard gate classes are cached (a user's gate may reuse a name
    with a different matrix).
    """

    def __init__(self):
        self._forms: dict[tuple, GateForm | None] = {}
        self._matrices: dict[tuple, np.ndarray | None] = {}
        self._standard: dict[tuple, GateForm | None] = {}

    def standard_form(self, inst) -> GateForm | None:
        """The form of a ``CircuitInstruction`` holding a standard gate, or ``None`` to take the slow path.

        Reads the name, parameters and matrix that Qiskit keeps natively, so no
        Python gate object is built: in a batch of small circuits that object alone
        cost more than simulating the gate.
        """
        params = inst.params
        key = (inst.name, *params)
        form = self._standard.get(key, _MISSING)
        if form is _MISSING:
            if inst.is_parameterized():
                return None  # an expression: the operation's own path handles it
            if inst.is_controlled_gate():
                form = self.form(inst.operation)  # keeps the controls apart
            else:
                matrix = inst.matrix
                form = None if matrix is None else form_of(matrix)
            self._standard[key] = form
        return form

    @staticmethod
    def _key(op) -> tuple | None:
        if type(op) is not _STANDARD_CLASSES.get(op.name):
            return None
        try:
            params = tuple(float(p) for p in op.params)
        except (TypeError, ValueError):
            return None
        return (op.name, op.num_qubits, params, int(getattr(op, "ctrl_state", 0) or 0))

    def _cached(self, store: dict, compute, op):
        key = self._key(op)
        if key is None:
            return compute(op)
        if key not in store:
            store[key] = compute(op)
        return store[key]

    def form(self, op) -> GateForm | None:
        """The :class:`GateForm` of ``op``, or ``None`` if it has no matrix."""
        return self._cached(self._forms, _form, op)

    def matrix(self, op) -> np.ndarray | None:
        """The dense matrix of ``op`` (complex128, ``(2**k, 2**k)``), or ``None`` if it has none."""
        return self._cached(self._matrices, _dense, op)


def target_state(op) -> np.ndarray:
    """The state a ``StatePreparation`` prepares from ``|0...0>`` (complex128)."""
    params = op.params
    if params and all(isinstance(p, str) for p in params):
        return Statevector.from_label("".join(params)).data
    if len(params) == 1 and getattr(op, "_from_int", False):
        vec = np.zeros(2**op.num_qubits, dtype=np.complex128)
        vec[int(np.real(params[0]))] = 1
        return vec
    vec = np.asarray(params, dtype=np.complex128)
    return vec / np.linalg.norm(vec)


def householder(psi: np.ndarray) -> np.ndarray:
    """A unitary whose first column is ``psi`` (normalised, complex128).

    From ``|0...0>`` any such unitary prepares ``psi``; a reflection is exact and
    costs ``O(4**k)`` to build, with no synthesis.
    """
    phase = psi[0] / abs(psi[0]) if abs(psi[0]) > 1e-15 else 1.0
    phi = psi * np.conj(phase)
    w = -phi
    w[0] += 1.0
    norm2 = np.vdot(w, w).real
    eye = np.eye(psi.size, dtype=np.complex128)
    if norm2 < 1e-30:
        return phase * eye
    return phase * (eye - 2.0 * np.outer(w, w.conj()) / norm2)
