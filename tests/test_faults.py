"""Bad input is refused at run() by name; nothing runs silently wrong (issue 14's list)."""

import re

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ClassicalRegister, Gate, Parameter
from qiskit.circuit.classical import expr

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError


class _NanGate(Gate):
    def __init__(self):
        super().__init__("nan_gate", 1, [])

    def __array__(self, dtype=None, copy=None):
        return np.array([[np.nan, 0], [0, 1]], dtype=complex)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda qc: qc.rx(np.nan, 0), "rx has parameter nan"),
        (lambda qc: qc.u(0.1, np.inf, 0.2, 0), "u has parameter inf"),
        (lambda qc: qc.append(_NanGate(), [0]), "matrix of 'nan_gate' holds a NaN"),
        (lambda qc: setattr(qc, "global_phase", np.inf), "global_phase has parameter nan"),
    ],
)
def test_non_finite_angles_matrices_and_phases_are_refused_by_name(build, message):
    for num_qubits in (1, 5):  # one qubit once failed only at result(), five ran silently wrong
        qc = QuantumCircuit(num_qubits)
        build(qc)
        qc.measure_all()
        with pytest.raises(AerdaskInputError, match=message):
            AerSimulator().run(qc, shots=100)


@pytest.mark.parametrize("value", ["0.5", 1j, None, [None], ["0.5"], [1j], [2**1100], [np.nan]])
def test_bad_bind_values_name_the_parameter(value):
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    with pytest.raises(AerdaskInputError, match="parameter 'theta'|theta"):
        AerSimulator().run(qc, parameter_binds=[{theta: value}])


def test_condition_constants_wider_than_their_register_are_constant_comparisons():
    qc = QuantumCircuit(2)
    cr = ClassicalRegister(3)
    qc.add_register(cr)
    with qc.if_test((cr, 2**70)):  # never equal to three bits
        qc.x(0)
    with qc.if_test(expr.logic_not(expr.equal(cr, 7))):
        qc.x(1)
    qc.measure([0, 1], [0, 1])
    assert AerSimulator().run(qc, shots=10).result().get_counts() == {"010": 10}


def test_duplicate_experiment_numbers_raise_at_submit(bell):
    backend = AerSimulator()
    program = backend.compile([bell, bell], indices=[0, 0])
    with pytest.raises(AerdaskInputError, match="experiment number 0"):
        backend.submit(program)


def test_huge_finite_angles_still_run():
    qc = QuantumCircuit(1)
    qc.rz(1e308, 0)
    qc.rz(1e308, 0)  # their sum overflows; each is a finite angle
    qc.measure_all()
    assert AerSimulator().run(qc, shots=10).result().get_counts() == {"0": 10}


# -- values that claim to be unitary or CPTP and are not (issue 30) ---------------------------
class _SkewGate(Gate):
    def __init__(self):
        super().__init__("skew", 1, [])

    def __array__(self, dtype=None, copy=None):
        return np.array([[1, 1], [0, 1]], dtype=complex)


def _non_unitary_multiplexer():
    # Aer's multiplexer instruction, built around Qiskit's own check (UCGate refuses this).
    from qiskit.circuit import Instruction

    return Instruction("multiplexer", 2, 0, [np.eye(2, dtype=complex), np.array([[1, 0], [0, 2]], dtype=complex)])


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda qc: qc.append(_SkewGate(), [0]), "skew"),
        (lambda qc: qc.append(_unchecked_unitary(np.diag([1, 2])), [0]), "unitary"),
        (lambda qc: qc.append(_unchecked_unitary(np.array([[1, 1], [1, 1]]) / 2), [0]), "unitary"),
        (lambda qc: qc.append(_non_unitary_multiplexer(), [0, 1]), "multiplexer (matrix 1)"),
    ],
)
def test_non_unitary_gates_are_refused_at_run(build, name):
    qc = QuantumCircuit(2)
    build(qc)
    qc.measure_all()
    with pytest.raises(AerdaskInputError, match=rf"matrix of '{re.escape(name)}' is not unitary"):
        AerSimulator().run(qc)


def _unchecked_unitary(matrix):
    from qiskit.circuit.library import UnitaryGate

    return UnitaryGate(np.asarray(matrix, dtype=complex), check_input=False)


def test_an_all_qubit_error_of_the_wrong_width_is_refused_never_dropped():
    from qiskit.quantum_info import Kraus

    from aerdask.noise import NoiseModel

    two_qubit = Kraus([np.sqrt(0.9) * np.eye(4), np.sqrt(0.1) * np.kron(np.eye(2), [[0, 1], [1, 0]])])
    with pytest.raises(AerdaskInputError, match="2-qubit error cannot follow the 1-qubit instruction 'x'"):
        NoiseModel().add_all_qubit_quantum_error(two_qubit, ["x"])
    model = NoiseModel()
    model.add_all_qubit_quantum_error(two_qubit, ["mine"])  # a name Qiskit does not know: checked where used
    qc = QuantumCircuit(2)
    qc.append(_one_qubit_mine(), [0])
    qc.measure_all()
    with pytest.raises(AerdaskInputError, match="2-qubit all-qubit error cannot follow 'mine' on 1 qubits"):
        AerSimulator(noise_model=model).run(qc)


def _one_qubit_mine():
    class Mine(Gate):
        def __init__(self):
            super().__init__("mine", 1, [])

        def __array__(self, dtype=None, copy=None):
            return np.eye(2, dtype=complex)

    return Mine()


@pytest.mark.parametrize(
    "kind, matrices, probabilities, message",
    [
        ("KRAUS", [np.eye(2) * 0.5], [], "not trace preserving"),
        ("MIXTURE", [np.eye(2), np.diag([1, 2])], [0.5, 0.5], "not unitary"),
        ("MIXTURE", [np.eye(2), np.eye(2)], [0.5, 0.7], "summing to 1"),
        ("KRAUS", [[[np.nan, 0], [0, 1]]], [], "NaN"),
        (7, [np.eye(2)], [], "channel kind 7"),
    ],
)
def test_hand_built_channels_are_checked_like_any_other(kind, matrices, probabilities, message):
    from aerdask import noise

    kind = getattr(noise, kind) if isinstance(kind, str) else kind
    channel = noise.Channel(kind, np.asarray(matrices, dtype=complex), np.asarray(probabilities, dtype=float))
    model = noise.NoiseModel()
    with pytest.raises(AerdaskInputError, match=message):
        model.add_all_qubit_quantum_error(channel, ["x"])
    with pytest.raises(AerdaskInputError, match=message):
        model.add_quantum_error(channel, ["x"], [0])


def test_a_non_cp_superoperator_is_refused_as_not_completely_positive():
    from qiskit.quantum_info import SuperOp

    from aerdask.noise import NoiseModel

    with pytest.raises(AerdaskInputError, match="not completely positive"):
        NoiseModel().add_all_qubit_quantum_error(SuperOp(-np.eye(4)), ["x"])


def _program_of(qc):
    return AerSimulator().run(qc).qobj()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda exp: exp.matrices.__setitem__(0, np.nan), "not unitary"),
        (lambda exp: exp.matrices.__setitem__(0, 3.0), "matrix is not unitary"),
    ],
)
def test_workers_check_matrix_values_not_only_indices(damage, message):
    from aerdask_kernels import QobjValidationError, run_program

    qc = QuantumCircuit(2)
    qc.unitary(np.array([[0, 1], [1, 0]]), [0])  # a fixed matrix: a MATRIX row
    qc.measure_all()
    program = _program_of(qc)
    damage(program.experiments[0])
    with pytest.raises(QobjValidationError, match=message):
        program.validate()
    with pytest.raises(QobjValidationError, match=message):
        run_program(program, np.zeros(1, dtype=np.uint8))


def test_workers_check_diagonals_states_and_channels():
    from qiskit.quantum_info import Kraus

    from aerdask.noise import NoiseModel
    from aerdask_kernels import QobjValidationError

    qc = QuantumCircuit(2)
    qc.append(_Diag(), [0])
    qc.measure_all()
    program = _program_of(qc)
    program.experiments[0].matrices[:] = [2.0, 1.0]
    with pytest.raises(QobjValidationError, match="diagonal is not unitary"):
        program.validate()
    state = QuantumCircuit(2)
    state.set_statevector([1, 0, 0, 0])
    state.measure_all()
    program = _program_of(state)
    program.experiments[0].matrices[:] *= 2
    with pytest.raises(QobjValidationError, match="state is not normalised"):
        program.validate()
    model = NoiseModel()
    model.add_all_qubit_quantum_error(Kraus([np.sqrt(0.9) * np.eye(2), np.sqrt(0.1) * np.diag([1, -1])]), ["x"])
    noisy = QuantumCircuit(1)
    noisy.x(0)
    noisy.measure_all()
    program = AerSimulator(noise_model=model).run(noisy).qobj()
    program.experiments[0].chan_matrices[:] *= 2
    with pytest.raises(QobjValidationError, match="not unitary|not trace preserving"):
        program.validate()


class _Diag(Gate):
    def __init__(self):
        super().__init__("phases", 1, [])

    def __array__(self, dtype=None, copy=None):
        return np.diag([1, 1j]).astype(complex)
