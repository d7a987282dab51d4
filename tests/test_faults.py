"""Bad input is refused at run() by name; nothing runs silently wrong (issue 14's list)."""

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
