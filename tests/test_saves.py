"""Aer's save instructions, from aerdask.library and by name, against Statevector."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Instruction
from qiskit.quantum_info import Pauli, SparsePauliOp, Statevector

from aerdask import AerSimulator
from aerdask.library import SaveExpectationValue, SaveStatevector

from .conftest import random_u_layer


@pytest.fixture
def state_circuit(rng):
    qc = random_u_layer(3, rng)
    qc.cx(0, 2)
    return qc


def run(qc, **options):
    return AerSimulator().run(qc, **options).result()


def test_save_statevector_and_get_statevector(state_circuit):
    qc = state_circuit.copy()
    qc.save_statevector()
    result = run(qc)
    np.testing.assert_allclose(result.get_statevector().data, Statevector(state_circuit).data, atol=1e-12)
    np.testing.assert_allclose(result.data(0)["statevector"].data, Statevector(state_circuit).data, atol=1e-12)


def test_probabilities_amplitudes_and_dicts(state_circuit):
    sv = Statevector(state_circuit)
    qc = state_circuit.copy()
    qc.save_probabilities([2, 0], label="p")
    qc.save_probabilities_dict(label="pd")
    qc.save_amplitudes([0, 5, 7], label="amps")
    qc.save_amplitudes_squared(["011", "0x6"], label="amps2")
    qc.save_statevector_dict(label="svd")
    data = run(qc).data(0)
    np.testing.assert_allclose(data["p"], sv.probabilities([2, 0]), atol=1e-12)
    expected_pd = {hex(i): p for i, p in enumerate(sv.probabilities()) if p > 1e-10}
    assert data["pd"].keys() == expected_pd.keys()
    np.testing.assert_allclose([data["pd"][k] for k in expected_pd], list(expected_pd.values()), atol=1e-12)
    np.testing.assert_allclose(data["amps"], sv.data[[0, 5, 7]], atol=1e-12)
    np.testing.assert_allclose(data["amps2"], np.abs(sv.data[[3, 6]]) ** 2, atol=1e-12)
    np.testing.assert_allclose(data["svd"]["0x5"], sv.data[5], atol=1e-12)


@pytest.mark.parametrize(
    "operator",
    [Pauli("XZ"), SparsePauliOp(["ZZ", "XY", "IX"], [0.5, -1.2, 2.0])],
    ids=["pauli", "sparse"],
)
def test_save_expectation_value(state_circuit, operator):
    qc = state_circuit.copy()
    qc.save_expectation_value(operator, [2, 1], label="ev")
    sv = Statevector(state_circuit)
    expected = sv.expectation_value(operator, [2, 1]).real
    assert run(qc).data(0)["ev"] == pytest.approx(expected, abs=1e-12)


def test_average_and_conditional_saves_over_branches():
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.save_probabilities(label="avg")
    qc.save_probabilities(label="cond", conditional=True)
    qc.save_expectation_value(Pauli("Z"), [0], label="zs", pershot=True)
    data = run(qc, shots=4000, seed_simulator=2).data(0)
    counts = run(qc, shots=4000, seed_simulator=2).get_counts()
    ones = counts.get("1", 0) / 4000
    np.testing.assert_allclose(data["avg"], [1 - ones, ones], atol=1e-12)
    np.testing.assert_allclose(data["cond"]["0x0"], [1, 0])
    np.testing.assert_allclose(data["cond"]["0x1"], [0, 1])
    zs = np.array(data["zs"])
    assert len(zs) == 4000
    np.testing.assert_allclose(np.sort(zs)[[0, -1]], [-1.0, 1.0], atol=1e-12)
    assert np.sum(zs < 0) == counts.get("1", 0)


def test_instructions_made_elsewhere_are_read_by_name(state_circuit):
    """An instruction with Aer's name and fields, as qiskit-aer makes it, is honoured."""
    qc = state_circuit.copy()
    foreign = Instruction("save_expval", 2, 0, [("ZX", (0.75, 0.0))])
    foreign._label, foreign._subtype = "foreign", "average"
    qc.append(foreign, [0, 2])
    value = run(qc).data(0)["foreign"]
    assert value == pytest.approx(0.75 * Statevector(state_circuit).expectation_value(Pauli("ZX"), [0, 2]).real)


def test_qiskit_aer_save_instructions(state_circuit):
    import qiskit_aer.library as qiskit_aer

    qc = state_circuit.copy()
    qc.append(qiskit_aer.SaveStatevector(3, label="aer_sv"), qc.qubits)
    qc.append(qiskit_aer.SaveExpectationValue(Pauli("YY"), label="aer_ev"), [0, 1])
    data = run(qc).data(0)
    np.testing.assert_allclose(data["aer_sv"].data, Statevector(state_circuit).data, atol=1e-12)
    assert data["aer_ev"] == pytest.approx(Statevector(state_circuit).expectation_value(Pauli("YY"), [0, 1]).real)


def test_own_classes_without_circuit_methods(state_circuit):
    qc = state_circuit.copy()
    qc.append(SaveStatevector(3, label="mine"), qc.qubits)
    qc.append(SaveExpectationValue(SparsePauliOp("ZZ")), [0, 1])
    data = run(qc).data(0)
    assert "mine" in data and "expectation_value" in data


def test_statevector_is_not_returned_unless_asked(state_circuit):
    qc = state_circuit.copy()
    qc.measure_all()
    assert "statevector" not in run(qc).data(0)


def test_duplicate_labels_are_refused(state_circuit):
    qc = state_circuit.copy()
    qc.save_statevector(label="x")
    qc.save_probabilities(label="x")
    with pytest.raises(ValueError, match="label 'x'"):
        run(qc)
