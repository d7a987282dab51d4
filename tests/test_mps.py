"""The matrix_product_state method: exact against Statevector, truncation, saves, sampling, noise, admission."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import DensityMatrix, SparsePauliOp, Statevector, partial_trace, random_unitary

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError, CircuitTooLargeError, UnsupportedInstructionError
from aerdask.noise import NoiseModel

from .noise_cases import amplitude_damping, depolarizing

MPS = "matrix_product_state"


def _input_layer(qc: QuantumCircuit, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for q in range(qc.num_qubits):
        qc.u(*rng.uniform(0, 2 * np.pi, 3), q)


def _long_range(n: int, seed: int, layers: int = 3) -> QuantumCircuit:
    """A seeded input layer, brickwork of random two-qubit unitaries, distant CX/RZZ and three-qubit gates."""
    qc = QuantumCircuit(n)
    _input_layer(qc, seed)
    rng = np.random.default_rng(seed + 1)
    for layer in range(layers):
        for q in range(layer % 2, n - 1, 2):
            qc.unitary(random_unitary(4, seed=int(rng.integers(1 << 30))), [q, q + 1])
        a, b, c = rng.choice(n, 3, replace=False).tolist()
        qc.cx(a, b)
        qc.rzz(float(rng.uniform(0, np.pi)), c, a)
        qc.ccx(c, b, a)
        qc.unitary(random_unitary(8, seed=int(rng.integers(1 << 30))), [b, c, a])
    return qc


@pytest.mark.parametrize("swap", ["mps_swap_left", "mps_swap_right"])
@pytest.mark.parametrize("n", [3, 9, 20])
def test_exact_against_statevector_without_truncation(n, swap):
    qc = _long_range(n, seed=n)
    expected = Statevector(qc).data
    qc.save_statevector()
    result = AerSimulator(method=MPS, mps_swap_direction=swap).run(qc).result()
    got = np.asarray(result.get_statevector())
    np.testing.assert_allclose(got, expected, atol=1e-10)
    meta = result.results[0].metadata
    assert meta["method"] == MPS and meta["matrix_product_state_discarded_weight"] < 1e-20


def test_a_bond_limit_truncates_and_reports_what_it_discarded():
    """The state's infidelity is what the splits discarded (to first order), as Aer's log reports it."""
    qc = _long_range(10, seed=4, layers=2)
    expected = Statevector(qc).data
    qc.save_statevector()
    result = AerSimulator(method=MPS, matrix_product_state_max_bond_dimension=8, mps_log_data=True).run(qc).result()
    meta = result.results[0].metadata
    got = np.asarray(result.get_statevector())
    fidelity = abs(np.vdot(expected, got)) ** 2
    discarded = meta["matrix_product_state_discarded_weight"]
    assert meta["matrix_product_state_max_bond_dimension"] == 8
    assert meta["matrix_product_state_max_bond_dimension_reached"] == 8
    assert 0.9 < fidelity < 0.999 and discarded > 0
    assert 1 - fidelity == pytest.approx(discarded, rel=0.1)  # small discards: 1 - F ~ their sum
    assert "discarded_value=" in meta["MPS_log_data"] and "BD=[" in meta["MPS_log_data"]
    np.testing.assert_allclose(np.linalg.norm(got), 1.0, atol=1e-12)


def test_saves_read_from_the_chain():
    qc = _long_range(7, seed=7)
    psi = Statevector(qc)
    obs = SparsePauliOp(["XYZ", "ZZI"], [0.5, -1.0])
    qc.save_probabilities([4, 1], label="p")
    qc.save_probabilities_dict([6, 0, 2], label="pd")
    qc.save_density_matrix([3, 0], label="rho")
    qc.save_expectation_value(obs, [0, 5, 2], label="e")
    qc.save_expectation_value_variance(obs, [0, 5, 2], label="ev")
    qc.save_amplitudes([0, 5, 117], label="a")
    qc.save_amplitudes_squared([3, 64], label="a2")
    data = AerSimulator(method=MPS).run(qc).result().data(0)
    np.testing.assert_allclose(data["p"], psi.probabilities([4, 1]), atol=1e-12)
    expected_pd = psi.probabilities_dict([6, 0, 2])
    assert {int(k, 2): v for k, v in expected_pd.items() if v > 1e-10} == pytest.approx(
        {int(k, 16): v for k, v in data["pd"].items()}, abs=1e-12
    )
    rho = partial_trace(DensityMatrix(psi), [1, 2, 4, 5, 6])  # qubits 0 (low bit), 3
    swap = np.array([0, 2, 1, 3])  # the save lists qubit 3 first: it is the low bit
    np.testing.assert_allclose(np.asarray(data["rho"]), rho.data[np.ix_(swap, swap)], atol=1e-12)
    mean = psi.expectation_value(obs, [0, 5, 2]).real
    assert data["e"] == pytest.approx(mean, abs=1e-12)
    square = psi.expectation_value((obs @ obs).simplify(), [0, 5, 2]).real
    assert data["ev"] == pytest.approx([mean, square - mean**2], abs=1e-12)
    np.testing.assert_allclose(data["a"], psi.data[[0, 5, 117]], atol=1e-12)
    np.testing.assert_allclose(data["a2"], np.abs(psi.data[[3, 64]]) ** 2, atol=1e-12)


def test_save_and_set_matrix_product_state_round_trip_in_aers_form():
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.save_matrix_product_state(label="mps")
    pairs, lambdas = AerSimulator(method=MPS).run(qc).result().data(0)["mps"]
    # Aer's own example: qubit 0 ([[1, 0]], [[0, 1]]), qubit 1 ([[1], [0]], [[0], [1]]), bonds [1/sqrt2]*2, [1].
    np.testing.assert_allclose(np.abs(pairs[0][0]), [[1, 0]], atol=1e-12)
    np.testing.assert_allclose(np.abs(pairs[1][1]), [[0], [1]], atol=1e-12)
    np.testing.assert_allclose(lambdas[0], [2**-0.5, 2**-0.5], atol=1e-12)
    np.testing.assert_allclose(lambdas[1], [1.0], atol=1e-12)

    wide = _long_range(8, seed=2)
    expected = Statevector(wide).data
    wide.save_matrix_product_state(label="mps")
    state = AerSimulator(method=MPS).run(wide).result().data(0)["mps"]
    again = QuantumCircuit(8)
    again.set_matrix_product_state(state)
    again.save_statevector()
    result = AerSimulator().run(again).result()  # automatic: the set names the method
    assert result.results[0].metadata["method"] == MPS
    np.testing.assert_allclose(np.asarray(result.get_statevector()), expected, atol=1e-10)


def test_set_matrix_product_state_is_refused_elsewhere_and_checked():
    qc = QuantumCircuit(2)
    qc.set_matrix_product_state(([([[0]], [[1]]), ([[0]], [[1]])], [[1]]))
    qc.measure_all()
    with pytest.raises(UnsupportedInstructionError, match="set_matrix_product_state.*method='matrix_product_state'"):
        AerSimulator(method="statevector").run(qc)
    assert AerSimulator(method=MPS).run(qc, shots=50).result().get_counts() == {"11": 50}
    bad = QuantumCircuit(2)
    bad.set_matrix_product_state(([([[0]], [[1]]), ([[0, 1]], [[1, 0]])], [[1]]))
    with pytest.raises(UnsupportedInstructionError, match="does not chain"):
        AerSimulator(method=MPS).run(bad)


@pytest.mark.parametrize("algorithm", ["mps_apply_measure", "mps_probabilities", "mps_heuristic"])
def test_sampling_algorithms_draw_the_born_distribution(algorithm):
    qc = _long_range(6, seed=12)
    probs = Statevector(qc).probabilities_dict([0, 2, 5])
    qc.measure_all(add_bits=True)
    shots = 20000
    sim = AerSimulator(method=MPS, mps_sample_measure_algorithm=algorithm, seed_simulator=5)
    result = sim.run(qc, shots=shots, memory=True).result()
    counts = result.get_counts()
    assert sum(counts.values()) == shots and len(result.get_memory()) == shots
    marginal: dict[str, float] = {}
    for key, c in counts.items():
        sub = key[-1] + key[-3] + key[-6]  # qubits 0, 2, 5 (the key is big-endian)
        marginal[sub[::-1]] = marginal.get(sub[::-1], 0) + c / shots
    for key, p in probs.items():
        assert marginal.get(key, 0.0) == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / shots) + 1e-3)


def test_kraus_noise_and_mid_circuit_feedback_match_the_density_matrix():
    noise = NoiseModel()  # aerdask's: importing qiskit-aer here would replace the circuit methods
    noise.add_all_qubit_quantum_error(amplitude_damping(0.3), ["x", "h"])
    noise.add_all_qubit_quantum_error(depolarizing(0.1, 2), ["cx"])
    qc = QuantumCircuit(3, 4)
    qc.x(0)
    qc.h(1)
    qc.cx(0, 2)
    qc.measure(1, 3)
    with qc.if_test((qc.clbits[3], 1)):
        qc.x(2)
    qc.cx(2, 1)
    qc.measure([0, 1, 2], [0, 1, 2])
    shots = 8000
    ours = AerSimulator(method=MPS).run(qc, shots=shots, noise_model=noise, seed_simulator=3).result().get_counts()
    exact = AerSimulator(method="density_matrix").run(qc, shots=200000, noise_model=noise, seed_simulator=3)
    reference = {k: v / 200000 for k, v in exact.result().get_counts().items()}
    for key, p in reference.items():
        assert ours.get(key, 0) / shots == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / shots) + 2e-3), key


def test_a_hundred_qubits_on_every_executor(executor):
    """A 100-qubit QAOA-style ring: far past a statevector, run where the job says."""
    n = 100
    qc = QuantumCircuit(n)
    qc.h(range(n))
    for q in range(n):
        qc.rzz(0.4, q, (q + 1) % n)
    qc.rx(0.7, range(n))
    qc.save_expectation_value(SparsePauliOp("ZZ"), [0, 1], label="zz")
    qc.measure_all()
    sim = AerSimulator(method=MPS, executor=executor, matrix_product_state_max_bond_dimension=16)
    result = sim.run(qc, shots=200, seed_simulator=9).result()
    assert result.success and sum(result.get_counts().values()) == 200
    assert all(len(key) == n for key in result.get_counts())
    # One layer of a ring: <Z0 Z1> of the uniform state after RZZ and RX, by a light cone on 4 qubits.
    cone = QuantumCircuit(4)
    cone.h(range(4))
    for q in range(3):
        cone.rzz(0.4, q, q + 1)
    cone.rx(0.7, range(4))
    expected = Statevector(cone).expectation_value(SparsePauliOp("ZZ"), [1, 2]).real
    assert result.data(0)["zz"] == pytest.approx(expected, abs=1e-9)


def test_automatic_runs_a_wide_circuit_as_a_chain():
    n = 80
    qc = QuantumCircuit(n)
    qc.h(0)
    qc.t(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.measure_all()
    result = AerSimulator().run(qc, shots=100, seed_simulator=1).result()
    assert result.results[0].metadata["method"] == MPS
    assert set(result.get_counts()) == {"0" * n, "1" * n}


def test_admission_bounds_the_bonds_and_refuses_what_cannot_fit():
    n = 60
    qc = QuantumCircuit(n)
    _input_layer(qc, 1)
    for layer in range(4):  # every bond crossed by ten gates: it could reach 2**20
        for q in range(n):
            qc.cx(q, (q + layer + 1) % n)
    qc.measure_all()
    sim = AerSimulator(method=MPS)
    with pytest.raises(CircuitTooLargeError, match="matrix_product_state_max_bond_dimension"):
        sim.run(qc, shots=10)
    assert sim.run(qc, shots=10, matrix_product_state_max_bond_dimension=8).result().success


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("mps_swap_direction", "up"),
        ("mps_sample_measure_algorithm", "exact"),
        ("matrix_product_state_max_bond_dimension", 0),
        ("matrix_product_state_truncation_threshold", 2.0),
    ],
)
def test_bad_mps_options_are_refused_naming_what_is_allowed(option, value):
    with pytest.raises(AerdaskInputError, match=option):
        AerSimulator(method=MPS, **{option: value})


def test_refused_saves_name_what_the_method_offers():
    qc = QuantumCircuit(2)
    qc.save_unitary()
    with pytest.raises(UnsupportedInstructionError, match="save_matrix_product_state"):
        AerSimulator(method=MPS).run(qc)
    wide = QuantumCircuit(40)
    wide.h(0)
    wide.save_statevector()
    with pytest.raises(UnsupportedInstructionError, match="at most 30 qubits"):
        AerSimulator(method=MPS).run(wide)
