"""Mid-circuit measurement, reset and classical control flow, against hand-derived distributions."""

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.classical import expr

from aerdask import AerSimulator

SHOTS = 8000


def counts_of(qc, **options):
    return AerSimulator().run(qc, shots=SHOTS, seed_simulator=9, **options).result().get_counts()


def fraction(counts, key):
    return counts.get(key, 0) / SHOTS


def test_mid_circuit_measurement_collapses_the_partner():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure(0, 0)
    qc.h(0)  # after the collapse, qubit 0 is random again but qubit 1 keeps the record
    qc.measure(1, 1)
    counts = counts_of(qc)
    assert set(counts) == {"00", "11"}
    assert fraction(counts, "00") == pytest.approx(0.5, abs=0.03)


def test_repeated_measurement_agrees_with_itself():
    qc = QuantumCircuit(1, 2)
    qc.ry(1.0, 0)
    qc.measure(0, 0)
    qc.measure(0, 1)
    counts = counts_of(qc)
    assert set(counts) <= {"00", "11"}
    assert fraction(counts, "11") == pytest.approx(np.sin(0.5) ** 2, abs=0.03)


def test_reset_returns_qubit_to_zero_and_keeps_the_rest():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.reset(0)
    qc.measure([0, 1], [0, 1])
    counts = counts_of(qc)
    assert set(counts) == {"00", "10"}
    assert fraction(counts, "10") == pytest.approx(0.5, abs=0.03)


def test_if_else_on_clbit_teleports_a_state():
    theta = 1.3
    qc = QuantumCircuit(3, 3)
    qc.ry(theta, 0)
    qc.h(1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.measure(1, 1)
    with qc.if_test((qc.clbits[1], 1)):
        qc.x(2)
    with qc.if_test((qc.clbits[0], 1)):
        qc.z(2)
    qc.measure(2, 2)
    counts = counts_of(qc)
    p1 = sum(v for k, v in counts.items() if k[0] == "1") / SHOTS
    assert p1 == pytest.approx(np.sin(theta / 2) ** 2, abs=0.03)


def test_if_else_branches_on_register_value():
    qr = QuantumRegister(3)
    cr = ClassicalRegister(2, "c")
    out = ClassicalRegister(1, "out")
    qc = QuantumCircuit(qr, cr, out)
    qc.h(0)
    qc.h(1)
    qc.measure([0, 1], cr)
    with qc.if_test((cr, 2)) as else_:
        qc.x(2)
    with else_:
        qc.id(2)
    qc.measure(2, out)
    counts = counts_of(qc)
    assert set(counts) == {"0 00", "0 01", "1 10", "0 11"}
    for key in counts:
        assert fraction(counts, key) == pytest.approx(0.25, abs=0.03)


def test_expression_condition_not_equal():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test(expr.logic_not(expr.equal(qc.clbits[0], True))):
        qc.x(1)
    qc.measure(1, 1)
    counts = counts_of(qc)
    assert set(counts) == {"10", "01"}


def test_switch_case_with_default():
    qr = QuantumRegister(3)
    cr = ClassicalRegister(2, "c")
    res = ClassicalRegister(1, "r")
    qc = QuantumCircuit(qr, cr, res)
    qc.h(0)
    qc.h(1)
    qc.measure([0, 1], cr)
    with qc.switch(cr) as case:
        with case(0, 3):
            qc.x(2)
        with case(case.DEFAULT):
            qc.id(2)
    qc.measure(2, res)
    counts = counts_of(qc)
    assert set(counts) == {"1 00", "0 01", "0 10", "1 11"}


def test_for_loop_binds_the_loop_parameter():
    qc = QuantumCircuit(1, 1)
    with qc.for_loop(range(4)) as i:
        qc.rx(i * np.pi / 6, 0)  # total 0+1+2+3 = 6 * pi/6 = pi
    qc.measure(0, 0)
    assert counts_of(qc) == {"1": SHOTS}


def test_while_loop_repeats_until_success():
    # Repeat-until-success: measure a |+> until it reads 1; always ends with 1.
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    with qc.while_loop((qc.clbits[0], 0)):
        qc.reset(0)
        qc.h(0)
        qc.measure(0, 0)
    assert counts_of(qc) == {"1": SHOTS}


def test_break_and_continue_in_loops():
    qc = QuantumCircuit(2, 2)
    with qc.for_loop(range(5)):
        qc.x(0)
        qc.measure(0, 0)
        with qc.if_test((qc.clbits[0], 0)):
            qc.break_loop()
        qc.x(1)  # runs once: first iteration reads 1, second reads 0 and breaks
    qc.measure(1, 1)
    assert counts_of(qc) == {"10": SHOTS}


def test_memory_with_branching_matches_counts():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.h(1)
    qc.measure(1, 1)
    result = AerSimulator().run(qc, shots=2000, memory=True, seed_simulator=4).result()
    mem = result.get_memory()
    assert {k: mem.count(k) for k in set(mem)} == result.get_counts()
    assert mem[:20] != sorted(mem[:20])  # shot order is shuffled, not grouped by branch
    again = AerSimulator().run(qc, shots=2000, memory=True, seed_simulator=4).result()
    assert again.get_memory() == mem


def test_unsupported_condition_is_named():
    qc = QuantumCircuit(1, 1)
    with qc.if_test(expr.less(expr.lift(1.5), expr.lift(2.5))):  # Float values cannot live on clbits
        qc.x(0)
    with pytest.raises(ValueError, match="classical expression.*type Float.*not supported"):
        AerSimulator().run(qc)
