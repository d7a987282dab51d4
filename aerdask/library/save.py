"""Save instructions with Aer's names, fields and circuit methods."""

from __future__ import annotations

import copy

import numpy as np
from qiskit.circuit import Instruction, QuantumCircuit, QuantumRegister
from qiskit.quantum_info import (
    Clifford,
    DensityMatrix,
    Operator,
    Pauli,
    SparsePauliOp,
    StabilizerState,
    Statevector,
    SuperOp,
)

_SUBTYPES = ("single", "c_single", "list", "c_list", "average", "c_average", "accum", "c_accum")


class SaveData(Instruction):
    """A directive that saves simulator data under ``label`` in the result.

    Args:
        name: Aer's instruction name (``save_statevector``, ``save_expval``, ...).
        num_qubits: Qubits the instruction spans.
        label: Key of the saved data in ``result.data(i)``.
        subtype: One of Aer's subtypes: ``single``, ``list``, ``average``,
            ``accum`` and their ``c_`` (conditional) forms.
        params: Instruction parameters (amplitude indices or Pauli terms).

    Raises:
        TypeError: if ``label`` is not a string or ``subtype`` is unknown.

    """

    _directive = True

    def __init__(self, name: str, num_qubits: int, label: str, subtype: str = "single", params=None):
        if subtype not in _SUBTYPES:
            raise TypeError(f"invalid subtype {subtype!r}; allowed {_SUBTYPES}")
        if not isinstance(label, str):
            raise TypeError(f"label must be a string, got {label!r}")
        super().__init__(name, num_qubits, 0, list(params or []))
        self._label = label
        self._subtype = subtype

    def inverse(self, annotated: bool = False):
        """Saving is not undone: the inverse is the instruction itself (as in Aer)."""
        return copy.copy(self)


def _subtype(average: bool, pershot: bool, conditional: bool, unnormalized: bool = False) -> str:
    if pershot:
        base = "list"
    elif average:
        base = "accum" if unnormalized else "average"
    else:
        base = "single"
    return "c_" + base if conditional else base


class SaveStatevector(SaveData):
    """Save the statevector (one value, from the first branch of shots)."""

    def __init__(self, num_qubits, label="statevector", pershot=False, conditional=False):
        super().__init__("save_statevector", num_qubits, label, _subtype(False, pershot, conditional))


class SaveStatevectorDict(SaveData):
    """Save the non-zero amplitudes as ``{hex index: complex}``."""

    def __init__(self, num_qubits, label="statevector_dict", pershot=False, conditional=False):
        super().__init__("save_statevector_dict", num_qubits, label, _subtype(False, pershot, conditional))


class SaveProbabilities(SaveData):
    """Save outcome probabilities of the qubits it acts on (float64 array, averaged over shots)."""

    def __init__(self, num_qubits, label="probabilities", unnormalized=False, pershot=False, conditional=False):
        super().__init__("save_probabilities", num_qubits, label, _subtype(True, pershot, conditional, unnormalized))


class SaveProbabilitiesDict(SaveData):
    """Save non-zero outcome probabilities as ``{hex outcome: float}``."""

    def __init__(self, num_qubits, label="probabilities_dict", unnormalized=False, pershot=False, conditional=False):
        super().__init__(
            "save_probabilities_dict", num_qubits, label, _subtype(True, pershot, conditional, unnormalized)
        )


def _amplitude_indices(params, num_qubits) -> list[int]:
    if len(params) == 0:
        raise ValueError("save_amplitudes needs at least one basis state")
    if isinstance(params[0], str):
        params = [int(p, 16) if p.startswith("0x") else int(p, 2) for p in params]
    params = [int(p) for p in params]
    if min(params) < 0 or max(params) >= 2**num_qubits:
        raise ValueError(f"amplitude indices must be in [0, 2**{num_qubits}), got {params}")
    return params


class SaveAmplitudes(SaveData):
    """Save the complex amplitudes of the given basis states (ints, or bit/hex strings)."""

    def __init__(self, num_qubits, params, label="amplitudes", pershot=False, conditional=False):
        super().__init__(
            "save_amplitudes",
            num_qubits,
            label,
            _subtype(False, pershot, conditional),
            _amplitude_indices(params, num_qubits),
        )


class SaveAmplitudesSquared(SaveData):
    """Save the probabilities of the given basis states (averaged over shots)."""

    def __init__(
        self, num_qubits, params, label="amplitudes_squared", unnormalized=False, pershot=False, conditional=False
    ):
        super().__init__(
            "save_amplitudes_sq",
            num_qubits,
            label,
            _subtype(True, pershot, conditional, unnormalized),
            _amplitude_indices(params, num_qubits),
        )


def _pauli_terms(operator, variance: bool = False) -> list[tuple[str, tuple[float, float]]]:
    if isinstance(operator, Pauli):
        operator = SparsePauliOp(operator)
    elif not isinstance(operator, SparsePauliOp):
        operator = SparsePauliOp.from_operator(Operator(operator))
    if not np.allclose(operator.coeffs.imag, 0):
        raise ValueError("save_expectation_value needs a Hermitian operator (real Pauli coefficients)")
    # Aer's layout: (label, (coefficient in H, coefficient in H**2)); the second is
    # filled only for the variance, whose workers need <H**2>.
    terms: dict[str, list[float]] = {}
    for label, coeff in operator.label_iter():
        terms.setdefault(label, [0.0, 0.0])[0] += float(np.real(coeff))
    if variance:
        for label, coeff in operator.dot(operator).simplify(atol=0).label_iter():
            terms.setdefault(label, [0.0, 0.0])[1] += float(np.real(coeff))
    return [(label, (c1, c2)) for label, (c1, c2) in terms.items()]


class SaveExpectationValue(SaveData):
    """Save ``<psi|H|psi>`` of a Hermitian operator (Pauli, SparsePauliOp or matrix), averaged over shots."""

    def __init__(self, operator, label="expectation_value", unnormalized=False, pershot=False, conditional=False):
        terms = _pauli_terms(operator)
        num_qubits = len(terms[0][0])
        super().__init__("save_expval", num_qubits, label, _subtype(True, pershot, conditional, unnormalized), terms)


class SaveExpectationValueVariance(SaveData):
    """Save ``[<H>, <H**2> - <H>**2]`` of a Hermitian operator (float64 pair), averaged over shots."""

    def __init__(
        self, operator, label="expectation_value_variance", unnormalized=False, pershot=False, conditional=False
    ):
        terms = _pauli_terms(operator, variance=True)
        num_qubits = len(terms[0][0])
        subtype = _subtype(True, pershot, conditional, unnormalized)
        super().__init__("save_expval_var", num_qubits, label, subtype, terms)


class SaveDensityMatrix(SaveData):
    """Save the reduced density matrix of the qubits it acts on (the others traced out), averaged over shots."""

    def __init__(self, num_qubits, label="density_matrix", unnormalized=False, pershot=False, conditional=False):
        subtype = _subtype(True, pershot, conditional, unnormalized)
        super().__init__("save_density_matrix", num_qubits, label, subtype)


class SaveState(SaveData):
    """Save the simulator's state: for the statevector method, the statevector.

    The default label is the method's name (``"statevector"``), as in Aer.
    """

    def __init__(self, num_qubits, label=None, pershot=False, conditional=False):
        super().__init__("save_state", num_qubits, label or "statevector", _subtype(False, pershot, conditional))


class SaveUnitary(SaveData):
    """Save the circuit's unitary so far (the ``unitary`` method; ``result.get_unitary()`` reads it)."""

    def __init__(self, num_qubits, label="unitary", pershot=False):
        super().__init__("save_unitary", num_qubits, label, _subtype(False, pershot, False))


class SaveSuperOp(SaveData):
    """Save the circuit's superoperator so far (the ``superop`` method)."""

    def __init__(self, num_qubits, label="superop", pershot=False):
        super().__init__("save_superop", num_qubits, label, _subtype(False, pershot, False))


class SaveStabilizer(SaveData):
    """Save the stabilizer state as a ``StabilizerState`` (the ``stabilizer`` method)."""

    def __init__(self, num_qubits, label="stabilizer", pershot=False, conditional=False):
        super().__init__("save_stabilizer", num_qubits, label, _subtype(False, pershot, conditional))


class SaveClifford(SaveData):
    """Save the stabilizer state's tableau as a ``Clifford`` (the ``stabilizer`` method)."""

    def __init__(self, num_qubits, label="clifford", pershot=False):
        super().__init__("save_clifford", num_qubits, label, _subtype(False, pershot, False))


class SaveMatrixProductState(SaveData):
    """Save the matrix product state (the ``matrix_product_state`` method), in Aer's Vidal form.

    The value is ``([(Gamma_q[0], Gamma_q[1]) per qubit], [lambda per bond])``, qubits in order.
    """

    def __init__(self, num_qubits, label="matrix_product_state", pershot=False, conditional=False):
        super().__init__("save_matrix_product_state", num_qubits, label, _subtype(False, pershot, conditional))


class SetMatrixProductState(Instruction):
    """Set the matrix product state (the ``matrix_product_state`` method; Aer's ``set_matrix_product_state``).

    Args:
        state: ``([(Gamma_q[0], Gamma_q[1]) per qubit], [lambda per bond])``, as the save gives it.
    """

    _directive = True

    def __init__(self, state):
        super().__init__("set_matrix_product_state", len(state[0]), 0, [state])


class SetUnitary(Instruction):
    """Set the simulator's unitary (the ``unitary`` method; Aer's ``set_unitary``).

    Raises:
        ValueError: if the matrix is not unitary.
    """

    def __init__(self, state):
        op = Operator(state)
        if not op.is_unitary():
            raise ValueError("set_unitary needs a unitary matrix")
        super().__init__("set_unitary", op.num_qubits, 0, [op.data])


class SetDensityMatrix(Instruction):
    """Set the density matrix (the ``density_matrix`` method; Aer's ``set_density_matrix``).

    Raises:
        ValueError: if ``state`` is not a valid density matrix (Hermitian, positive, trace 1).
    """

    def __init__(self, state):
        rho = DensityMatrix(state)
        if not rho.is_valid():
            raise ValueError("set_density_matrix needs a valid density matrix (Hermitian, positive, trace 1)")
        super().__init__("set_density_matrix", rho.num_qubits, 0, [rho.data])


class SetSuperOp(Instruction):
    """Set the simulator's superoperator (the ``superop`` method; Aer's ``set_superop``)."""

    def __init__(self, state):
        op = SuperOp(state)
        super().__init__("set_superop", op.num_qubits, 0, [op.data])


class SetStabilizer(Instruction):
    """Set the stabilizer state (the ``stabilizer`` method; Aer's ``set_stabilizer``).

    Args:
        state: A ``StabilizerState`` or a ``Clifford`` (its stabilizers are the state's).
    """

    def __init__(self, state):
        clifford = state.clifford if isinstance(state, StabilizerState) else Clifford(state)
        super().__init__("set_stabilizer", clifford.num_qubits, 0, [clifford.to_dict()])  # as Aer's


class SetStatevector(Instruction):
    """Set the whole state to a normalised statevector (Aer's ``set_statevector``).

    Args:
        state: A ``Statevector`` or an array of ``2**n`` amplitudes.

    Raises:
        ValueError: if the amplitudes are not a normalised state of whole qubits.
    """

    def __init__(self, state):
        state = Statevector(state)
        if not np.isclose(np.linalg.norm(state.data), 1.0, atol=1e-8):
            raise ValueError(f"set_statevector needs a normalised state, got norm {np.linalg.norm(state.data)}")
        super().__init__("set_statevector", state.num_qubits, 0, [state.data])


def _qubits(circuit: QuantumCircuit, qubits=None) -> list:
    if isinstance(qubits, QuantumRegister):
        qubits = qubits[:]
    if qubits is None:
        qubits = list(circuit.qubits)
    if not qubits:
        raise ValueError("a save instruction needs at least one qubit")
    return list(qubits)


def save_statevector(self, label="statevector", pershot=False, conditional=False):
    """Append :class:`SaveStatevector` on all qubits; returns the circuit's instruction set."""
    qubits = _qubits(self)
    return self.append(SaveStatevector(len(qubits), label, pershot, conditional), qubits)


def save_statevector_dict(self, label="statevector", pershot=False, conditional=False):
    """Append :class:`SaveStatevectorDict` on all qubits."""
    qubits = _qubits(self)
    return self.append(SaveStatevectorDict(len(qubits), label, pershot, conditional), qubits)


def save_probabilities(self, qubits=None, label="probabilities", unnormalized=False, pershot=False, conditional=False):
    """Append :class:`SaveProbabilities` on ``qubits`` (default: all)."""
    qubits = _qubits(self, qubits)
    return self.append(SaveProbabilities(len(qubits), label, unnormalized, pershot, conditional), qubits)


def save_probabilities_dict(
    self, qubits=None, label="probabilities", unnormalized=False, pershot=False, conditional=False
):
    """Append :class:`SaveProbabilitiesDict` on ``qubits`` (default: all)."""
    qubits = _qubits(self, qubits)
    return self.append(SaveProbabilitiesDict(len(qubits), label, unnormalized, pershot, conditional), qubits)


def save_amplitudes(self, params, label="amplitudes", pershot=False, conditional=False):
    """Append :class:`SaveAmplitudes` for the basis states ``params``."""
    qubits = _qubits(self)
    return self.append(SaveAmplitudes(len(qubits), params, label, pershot, conditional), qubits)


def save_amplitudes_squared(
    self, params, label="amplitudes_squared", unnormalized=False, pershot=False, conditional=False
):
    """Append :class:`SaveAmplitudesSquared` for the basis states ``params``."""
    qubits = _qubits(self)
    return self.append(SaveAmplitudesSquared(len(qubits), params, label, unnormalized, pershot, conditional), qubits)


def save_expectation_value(
    self, operator, qubits, label="expectation_value", unnormalized=False, pershot=False, conditional=False
):
    """Append :class:`SaveExpectationValue` of ``operator`` on ``qubits``."""
    instr = SaveExpectationValue(operator, label, unnormalized, pershot, conditional)
    return self.append(instr, list(qubits))


def save_expectation_value_variance(
    self, operator, qubits, label="expectation_value_variance", unnormalized=False, pershot=False, conditional=False
):
    """Append :class:`SaveExpectationValueVariance` of ``operator`` on ``qubits``."""
    instr = SaveExpectationValueVariance(operator, label, unnormalized, pershot, conditional)
    return self.append(instr, list(qubits))


def save_density_matrix(
    self, qubits=None, label="density_matrix", unnormalized=False, pershot=False, conditional=False
):
    """Append :class:`SaveDensityMatrix` on ``qubits`` (default: all)."""
    qubits = _qubits(self, qubits)
    return self.append(SaveDensityMatrix(len(qubits), label, unnormalized, pershot, conditional), qubits)


def save_state(self, label=None, pershot=False, conditional=False):
    """Append :class:`SaveState` on all qubits."""
    qubits = _qubits(self)
    return self.append(SaveState(len(qubits), label, pershot, conditional), qubits)


def set_statevector(self, state):
    """Append :class:`SetStatevector` on all qubits."""
    qubits = _qubits(self)
    instr = SetStatevector(state)
    if instr.num_qubits != len(qubits):
        raise ValueError(f"set_statevector needs a state of {len(qubits)} qubits, got {instr.num_qubits}")
    return self.append(instr, qubits)


def save_unitary(self, label="unitary", pershot=False):
    """Append :class:`SaveUnitary` on all qubits."""
    qubits = _qubits(self)
    return self.append(SaveUnitary(len(qubits), label, pershot), qubits)


def save_superop(self, label="superop", pershot=False):
    """Append :class:`SaveSuperOp` on all qubits."""
    qubits = _qubits(self)
    return self.append(SaveSuperOp(len(qubits), label, pershot), qubits)


def save_stabilizer(self, label="stabilizer", pershot=False, conditional=False):
    """Append :class:`SaveStabilizer` on all qubits."""
    qubits = _qubits(self)
    return self.append(SaveStabilizer(len(qubits), label, pershot, conditional), qubits)


def save_clifford(self, label="clifford", pershot=False):
    """Append :class:`SaveClifford` on all qubits."""
    qubits = _qubits(self)
    return self.append(SaveClifford(len(qubits), label, pershot), qubits)


def save_matrix_product_state(self, label="matrix_product_state", pershot=False, conditional=False):
    """Append :class:`SaveMatrixProductState` on all qubits."""
    qubits = _qubits(self)
    return self.append(SaveMatrixProductState(len(qubits), label, pershot, conditional), qubits)


def set_matrix_product_state(self, state):
    """Append :class:`SetMatrixProductState` on all qubits.

    Raises:
        ValueError: if ``state`` is not a pair of a list of matrix pairs and a list of bond vectors
            with one fewer entries (Aer's checks).
    """
    if not isinstance(state, tuple) or len(state) != 2 or not all(isinstance(part, list) for part in state):
        raise ValueError("a matrix product state is a tuple of two lists: matrix pairs per qubit, and bond vectors")
    if len(state[0]) != len(state[1]) + 1 or not all(isinstance(p, tuple) and len(p) == 2 for p in state[0]):
        raise ValueError("a matrix product state has a pair of matrices per qubit and one bond vector fewer")
    return _set_all(self, SetMatrixProductState(state), "set_matrix_product_state")


def _set_all(self, instr, name):
    qubits = _qubits(self)
    if instr.num_qubits != len(qubits):
        raise ValueError(f"{name} needs an operator of {len(qubits)} qubits, got {instr.num_qubits}")
    return self.append(instr, qubits)


def set_unitary(self, state):
    """Append :class:`SetUnitary` on all qubits."""
    return _set_all(self, SetUnitary(state), "set_unitary")


def set_density_matrix(self, state):
    """Append :class:`SetDensityMatrix` on all qubits."""
    return _set_all(self, SetDensityMatrix(state), "set_density_matrix")


def set_superop(self, state):
    """Append :class:`SetSuperOp` on all qubits."""
    return _set_all(self, SetSuperOp(state), "set_superop")


def set_stabilizer(self, state):
    """Append :class:`SetStabilizer` on all qubits."""
    return _set_all(self, SetStabilizer(state), "set_stabilizer")


_METHODS = {
    "save_matrix_product_state": save_matrix_product_state,
    "set_matrix_product_state": set_matrix_product_state,
    "save_unitary": save_unitary,
    "save_superop": save_superop,
    "save_stabilizer": save_stabilizer,
    "save_clifford": save_clifford,
    "set_unitary": set_unitary,
    "set_superop": set_superop,
    "set_density_matrix": set_density_matrix,
    "set_stabilizer": set_stabilizer,
    "save_statevector": save_statevector,
    "save_statevector_dict": save_statevector_dict,
    "save_probabilities": save_probabilities,
    "save_probabilities_dict": save_probabilities_dict,
    "save_amplitudes": save_amplitudes,
    "save_amplitudes_squared": save_amplitudes_squared,
    "save_expectation_value": save_expectation_value,
    "save_expectation_value_variance": save_expectation_value_variance,
    "save_density_matrix": save_density_matrix,
    "save_state": save_state,
    "set_statevector": set_statevector,
}

# Aer adds these methods to QuantumCircuit on import; do the same, but never replace
# Aer's own when qiskit-aer is also installed (both make equivalent instructions).
for _name, _method in _METHODS.items():
    if not hasattr(QuantumCircuit, _name):
        setattr(QuantumCircuit, _name, _method)
