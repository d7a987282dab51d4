"""Every instruction against qiskit.quantum_info: exact amplitudes after a random layer."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Gate
from qiskit.circuit.library import (
    DiagonalGate,
    HGate,
    MCPhaseGate,
    MCXGate,
    QFTGate,
    RYGate,
    StatePreparation,
    UnitaryGate,
    get_standard_gate_name_mapping,
)
from qiskit.quantum_info import Operator, Statevector, random_unitary

from aerdask import AerSimulator, UnsupportedInstructionError

from .conftest import random_u_layer, simulate_statevector

NUM_QUBITS = 5
_NON_UNITARY = {"measure", "reset", "delay", "global_phase"}
STANDARD = sorted(name for name in get_standard_gate_name_mapping() if name not in _NON_UNITARY)


def bound_gate(name, rng):
    gate = get_standard_gate_name_mapping()[name]
    if gate.params:
        gate = gate.copy()
        gate.params = list(rng.uniform(-np.pi, np.pi, len(gate.params)))
    return gate


def check_gate_at_random_positions(gate, rng, precision="double"):
    qubits = [int(q) for q in rng.permutation(NUM_QUBITS)[: gate.num_qubits]]
    prep = random_u_layer(NUM_QUBITS, rng)
    qc = prep.copy()
    qc.append(gate, qubits)
    got = simulate_statevector(qc, precision=precision)
    expected = Statevector(prep).evolve(Operator(gate), qargs=qubits).data
    np.testing.assert_allclose(got, expected, atol=1e-10 if precision == "double" else 2e-5)


@pytest.mark.parametrize("name", STANDARD)
def test_standard_gate_matches_operator(name, rng):
    for _ in range(3):
        check_gate_at_random_positions(bound_gate(name, rng), rng)


@pytest.mark.parametrize("name", ["cu", "rxx", "ccx", "xx_plus_yy"])
def test_standard_gate_single_precision(name, rng):
    check_gate_at_random_positions(bound_gate(name, rng), rng, precision="single")


def test_every_standard_name_is_covered():
    assert len(get_standard_gate_name_mapping()) == 54
    assert set(STANDARD) | _NON_UNITARY == set(get_standard_gate_name_mapping())


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: MCXGate(3),
        lambda rng: MCXGate(4, ctrl_state=5),
        lambda rng: MCPhaseGate(0.7, 3),
        lambda rng: HGate().control(2, ctrl_state=1, annotated=False),
        lambda rng: RYGate(0.3).control(3, annotated=False),
        lambda rng: HGate().control(2, ctrl_state=2, annotated=True),
        lambda rng: UnitaryGate(random_unitary(4, seed=1)).inverse(annotated=True).control(1, annotated=True),
        lambda rng: UnitaryGate(random_unitary(8, seed=3)),
        lambda rng: DiagonalGate(list(np.exp(1j * rng.uniform(0, 6, 4)))),
        lambda rng: QFTGate(3),
    ],
    ids=[
        "mcx",
        "mcx_ctrl_state",
        "mcphase",
        "cch_open",
        "c3ry",
        "annotated_ch",
        "annotated_inverse_control",
        "unitary",
        "diagonal",
        "qft_definition",
    ],
)
def test_extended_gates_match_operator(make, rng):
    gate = make(rng)
    for _ in range(2):
        check_gate_at_random_positions(gate, rng)


def test_global_phase_gate_and_circuit_phase(rng):
    prep = random_u_layer(3, rng)
    qc = prep.copy()
    qc.global_phase = 0.4
    qc.append(get_standard_gate_name_mapping()["global_phase"].__class__(1.1), [])
    np.testing.assert_allclose(simulate_statevector(qc), Statevector(qc).data, atol=1e-12)


def test_barrier_delay_id_leave_state_alone(rng):
    prep = random_u_layer(3, rng)
    qc = prep.copy()
    qc.barrier()
    qc.delay(100, 0)
    qc.id(1)
    np.testing.assert_allclose(simulate_statevector(qc), Statevector(prep).data, atol=1e-12)


def test_custom_gate_with_definition_is_inlined(rng):
    sub = QuantumCircuit(7, name="wide")
    sub.h(0)
    for q in range(6):
        sub.cx(q, q + 1)
    sub.rz(0.3, 6)
    qc = random_u_layer(8, rng)
    qc.append(sub.to_gate(), list(range(1, 8)))
    np.testing.assert_allclose(simulate_statevector(qc), Statevector(qc).data, atol=1e-10)


def test_state_preparation_and_initialize(rng):
    psi = rng.normal(size=8) + 1j * rng.normal(size=8)
    psi /= np.linalg.norm(psi)
    qc = QuantumCircuit(4)
    qc.initialize(psi, [0, 2, 3])  # fresh qubits: no reset needed
    np.testing.assert_allclose(simulate_statevector(qc), Statevector(qc).data, atol=1e-10)
    qc2 = random_u_layer(3, rng)
    qc2.append(StatePreparation(psi[:4] / np.linalg.norm(psi[:4])), [2, 0])  # on a non-|0> input
    np.testing.assert_allclose(simulate_statevector(qc2), Statevector(qc2).data, atol=1e-10)
    qc3 = QuantumCircuit(2)
    qc3.prepare_state("1+")
    np.testing.assert_allclose(simulate_statevector(qc3), Statevector(qc3).data, atol=1e-12)


def test_initialize_on_entangled_qubit_resets_it():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.initialize([0, 1], [1])
    probs = AerSimulator().run(_with_probs(qc), shots=2000, seed_simulator=5).result().data(0)["probabilities"]
    # qubit 1 is |1>, qubit 0 is still a 50/50 mixture after the reset branched the shots
    np.testing.assert_allclose(probs, [0, 0, 0.5, 0.5], atol=0.05)


def _with_probs(qc):
    out = qc.copy()
    out.save_probabilities()
    return out


class _NoMatrix(Gate):
    def __init__(self):
        super().__init__("opaque_thing", 1, [])


def test_gate_without_matrix_or_definition_names_it_and_the_circuit():
    qc = QuantumCircuit(1, name="mycirc")
    qc.append(_NoMatrix(), [0])
    with pytest.raises(UnsupportedInstructionError, match="opaque_thing.*|mycirc"):
        AerSimulator().run(qc)
    with pytest.raises(UnsupportedInstructionError) as info:
        AerSimulator().run(qc)
    assert "opaque_thing" in str(info.value) and "mycirc" in str(info.value)
