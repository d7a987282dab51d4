"""The native reader (Qiskit's C API from compiled code) emits exactly what the Python compiler emits."""

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Gate, Parameter
from qiskit.circuit.library import UnitaryGate
from qiskit.circuit.random import random_circuit

from aerdask import compiler, native
from aerdask.compiler import compile_circuit

pytestmark = pytest.mark.skipif(not native.available(), reason="Qiskit before 2.6 has no C API to read circuits")


@pytest.fixture(autouse=True)
def native_for_every_size(monkeypatch):
    """The compiler reads natively even a small circuit (it would not in a process without Numba loaded)."""
    monkeypatch.setattr(compiler, "NATIVE_MIN_INSTRUCTIONS", 0)


FIELDS = ("ops", "qubits", "matrices", "params", "final_qubits", "final_clbits", "param_expr", "expr_code")


class Custom(Gate):
    def __init__(self):
        super().__init__("h", 1, [])  # a user's gate with a standard gate's name

    def _define(self):
        qc = QuantumCircuit(1)
        qc.x(0)
        self.definition = qc


def mixed() -> QuantumCircuit:
    """Everything the native loop reads and everything it leaves to Python, interleaved."""
    t = Parameter("t")
    qc = QuantumCircuit(4, 4, name="mixed")
    qc.h(0)
    qc.append(Custom(), [1])
    qc.cx(0, 1)
    qc.barrier()
    qc.delay(10, 2)
    qc.measure(1, 1)  # mid-circuit: q1 is used again
    qc.reset(3)  # q3 still |0>: dropped
    qc.rx(t * 2, 2)  # unbound: Python compiles the expression
    qc.append(UnitaryGate(np.array([[0, 1], [1, 0]])), [3])
    qc.global_phase = 0.3
    with qc.if_test((qc.clbits[1], 1)):
        qc.x(1)
    qc.u(0.1, 0.2, 0.3, 1)
    qc.ccx(0, 1, 2)
    qc.rzz(float("nan"), 0, 3)  # a NaN angle is left to Python too
    qc.measure([0, 1, 2, 3], [0, 1, 2, 3])
    return qc


@pytest.mark.parametrize(
    "circuit",
    [
        pytest.param(mixed(), id="mixed"),
        pytest.param(
            transpile(random_circuit(8, 12, max_operands=3, measure=True, seed=5), basis_gates=["u", "cx"]), id="u-cx"
        ),
        pytest.param(random_circuit(6, 10, max_operands=3, measure=True, reset=True, seed=9), id="random"),
    ],
)
def test_native_and_python_readers_emit_the_same_program(circuit):
    fast, slow = compile_circuit(circuit, use_native=True), compile_circuit(circuit, use_native=False)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)
    assert fast.saves == slow.saves and fast.header == slow.header


def test_native_reader_stops_where_python_must_take_over():
    from aerdask.emitter import Emitter

    circuit = mixed()
    reader = native.reader(circuit)
    assert reader.size == len(circuit.data)
    saved = mixed()
    saved.save_statevector()
    assert native.reader(saved).terminal() is None  # a save reads every qubit: Python decides
    plain = QuantumCircuit(3, 3)
    plain.h(0)
    plain.measure(0, 0)
    plain.cx(1, 2)
    plain.measure([1, 2], [1, 2])
    np.testing.assert_array_equal(native.reader(plain).terminal(), [False, True, False, True, True])
    emitter, dirty = Emitter(), np.zeros(4, dtype=np.bool_)
    stop = reader.read(0, emitter, np.zeros(reader.size, dtype=np.bool_), dirty)
    assert stop == 1 and circuit.data[stop].operation.__class__ is Custom  # the user's "h"
    assert emitter.n_rows == 1 and dirty.tolist() == [True, False, False, False]
