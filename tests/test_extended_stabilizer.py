"""The extended_stabilizer method: sums of stabilizer states, exact and sampled, against Statevector."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Kraus, Operator, Statevector, random_clifford

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError, UnsupportedInstructionError
from aerdask.noise import NoiseModel

from .noise_cases import amplitude_damping

ES = "extended_stabilizer"
ONE = ("x", "y", "z", "h", "s", "sdg", "sx", "sxdg", "t", "tdg")
TWO = ("cx", "cz", "cy", "swap", "ecr")


def clifford_t(n: int, gates: int, seed: int, three: bool = True) -> QuantumCircuit:
    """A seeded random circuit of the method's gates (Cliffords, T, phases, CCX, CCZ)."""
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for q in range(n):  # a random Clifford input layer
        qc.h(q)
        getattr(qc, ("s", "sdg", "x", "z")[int(rng.integers(4))])(q)
    for _ in range(gates):
        r = rng.random()
        if r < 0.45:
            getattr(qc, ONE[int(rng.integers(len(ONE)))])(int(rng.integers(n)))
        elif r < 0.55:
            qc.p(float(rng.uniform(-7, 7)), int(rng.integers(n)))
        elif r < 0.6:
            qc.rz(float(rng.uniform(-3, 3)), int(rng.integers(n)))
        elif three and n >= 3 and r < 0.66:
            a, b, c = rng.choice(n, 3, replace=False).tolist()
            (qc.ccx if r < 0.63 else qc.ccz)(a, b, c)
        else:
            a, b = rng.choice(n, 2, replace=False).tolist()
            getattr(qc, TWO[int(rng.integers(len(TWO)))])(a, b)
    return qc


@pytest.mark.parametrize("seed", range(6))
def test_exact_sums_equal_statevector(seed):
    qc = clifford_t(3 + seed % 3, 18, seed)
    expected = Statevector(qc).data
    qc.save_statevector()
    result = AerSimulator(method=ES).run(qc).result()
    assert result.results[0].metadata["extended_stabilizer_exact"]
    np.testing.assert_allclose(abs(np.vdot(expected, np.asarray(result.get_statevector()))) ** 2, 1.0, atol=1e-10)


def test_two_qubit_clifford_matrices_and_pauli_products_run():
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.t(0)
    qc.cx(0, 2)
    qc.unitary(Operator(random_clifford(2, seed=4)), [2, 1])
    qc.pauli("XZY", [0, 1, 2])
    expected = Statevector(qc).data
    qc.save_statevector()
    got = np.asarray(AerSimulator(method=ES).run(qc).result().get_statevector())
    assert abs(np.vdot(expected, got)) ** 2 == pytest.approx(1.0, abs=1e-10)


def test_a_sampled_sum_is_within_the_approximation_error():
    """Twelve T gates: the exact sum (4096 terms) is larger than Aer's sampled one, so it is sampled."""
    qc = QuantumCircuit(4)
    qc.h(range(4))
    for layer in range(3):
        for q in range(4):
            qc.t(q)
        for q in range(3):
            qc.cx(q, q + 1)
        qc.h(layer)
    expected = Statevector(qc).data
    qc.save_statevector()
    result = AerSimulator(method=ES, extended_stabilizer_approximation_error=0.05, seed_simulator=3).run(qc).result()
    meta = result.results[0].metadata
    assert not meta["extended_stabilizer_exact"] and meta["extended_stabilizer_terms_bound"] > 400
    fidelity = abs(np.vdot(expected, np.asarray(result.get_statevector()))) ** 2
    assert 1 - fidelity < 4 * 0.05**2


def _marginal(counts: dict, shots: int) -> dict:
    return {int(k.replace(" ", ""), 2): v / shots for k, v in counts.items()}


@pytest.mark.parametrize(
    ("n", "sampling"), [(4, "resampled_metropolis"), (18, "resampled_metropolis"), (18, "metropolis")]
)
def test_measurements_draw_the_born_distribution(n, sampling):
    """Up to 16 qubits the amplitudes are enumerated; past that, Metropolis chains (Aer's)."""
    qc = QuantumCircuit(n)  # every basis state has weight: single-bit moves connect them
    qc.h(range(n))
    qc.t(0)
    qc.tdg(2)
    for q in range(n - 1):
        qc.cz(q, q + 1)
    qc.h([0, 1, 2])
    qc.t(1)
    qc.h(1)
    probs = Statevector(qc).probabilities_dict([0, 1, 2])
    qc.measure_all()
    shots = 3000
    sim = AerSimulator(method=ES, extended_stabilizer_sampling_method=sampling)
    counts = (
        sim.run(qc, shots=shots, seed_simulator=7, extended_stabilizer_metropolis_mixing_time=300).result().get_counts()
    )
    assert sum(counts.values()) == shots
    got: dict[str, float] = {}
    for key, c in counts.items():
        low = key[-3:]
        got[low] = got.get(low, 0) + c / shots
    # Enumerated: exact draws. Chains: mixed estimates; one chain's consecutive shots are correlated (Aer's too).
    tolerance = 0.03 if n <= 16 else (0.06 if sampling == "resampled_metropolis" else 0.12)
    for key, p in probs.items():
        assert got.get(key, 0.0) == pytest.approx(p, abs=tolerance), (key, got)


def test_mid_circuit_measurement_reset_and_feedback():
    qc = QuantumCircuit(3, 4)
    qc.h(0)
    qc.t(0)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure(0, 3)
    qc.reset(0)
    with qc.if_test((qc.clbits[3], 1)):
        qc.x(2)
    qc.h(1)
    qc.tdg(1)
    qc.h(1)
    qc.measure([0, 1, 2], [0, 1, 2])
    shots = 4000
    ours = AerSimulator(method=ES).run(qc, shots=shots, seed_simulator=2).result().get_counts()
    exact = AerSimulator(method="statevector").run(qc, shots=100000, seed_simulator=2).result().get_counts()
    for key, c in exact.items():
        p = c / 100000
        assert ours.get(key, 0) / shots == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / shots) + 2e-3), key


def test_pauli_noise_on_every_executor(executor):
    noise = NoiseModel()  # aerdask's: importing qiskit-aer here would replace the circuit methods
    noise.add_all_qubit_quantum_error(
        Kraus([np.sqrt(0.8) * np.eye(2), np.sqrt(0.2) * np.array([[0, 1], [1, 0]])]), ["t"]
    )
    qc = QuantumCircuit(2)
    qc.t(0)
    qc.cx(0, 1)
    qc.measure_all()
    result = AerSimulator(method=ES, executor=executor).run(qc, shots=2000, noise_model=noise, seed_simulator=5)
    counts = result.result().get_counts()
    assert set(counts) == {"00", "11"} and counts["11"] / 2000 == pytest.approx(0.2, abs=0.04)


def test_what_the_method_does_not_run_is_refused_at_run():
    qc = QuantumCircuit(2)
    qc.rx(0.3, 0)
    with pytest.raises(UnsupportedInstructionError, match="'rx' is not in the extended stabilizer"):
        AerSimulator(method=ES).run(qc)
    probs = QuantumCircuit(2)
    probs.save_probabilities()
    with pytest.raises(UnsupportedInstructionError, match="save_statevector, save_amplitudes_sq"):
        AerSimulator(method=ES).run(probs)
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(amplitude_damping(0.1), ["h"])
    noisy = QuantumCircuit(1)
    noisy.h(0)
    noisy.measure_all()
    with pytest.raises(UnsupportedInstructionError, match="Kraus"):
        AerSimulator(method=ES).run(noisy, noise_model=noise)


def test_the_target_advertises_the_methods_gates_and_bad_options_are_refused():
    target = AerSimulator(method=ES).target
    assert "t" in target and "ccx" in target and "rx" not in target and target.num_qubits == 63
    with pytest.raises(AerdaskInputError, match="extended_stabilizer_approximation_error"):
        AerSimulator(method=ES, extended_stabilizer_approximation_error=0.0)
    with pytest.raises(AerdaskInputError, match="extended_stabilizer_sampling_method"):
        AerSimulator(method=ES, extended_stabilizer_sampling_method="exact")


def test_the_engine_contract():
    """The walker's contract (tests/test_engines.py's), on a circuit of the method's gates."""
    from aerdask_kernels.cpu import ExtendedStabilizerEngine
    from aerdask_kernels.format.options import ProgramOptions
    from aerdask_kernels.passes.prepare import prepare_point

    from .test_engines import assert_engine_contract

    qc = QuantumCircuit(5, 1)
    qc.h(range(5))
    qc.t(0)
    qc.ccx(0, 1, 4)
    qc.measure(4, 0)  # mid-circuit: a gate follows
    qc.h(4)
    program = AerSimulator(method=ES, enable_truncation=False).compile([qc], shots=50, seed_simulator=1)
    exp = prepare_point(program.experiments[0], 0, False)
    flag = np.zeros(1, dtype=np.uint8)
    engine = ExtendedStabilizerEngine(exp, np.complex128, flag, ProgramOptions.from_dict(program.options))
    # Qubit 4 started in |+>: the Toffoli keeps its outcome at 1/2 whatever qubits 0 and 1 hold.
    state = engine.fresh()
    engine.run_segment(state, np.zeros(1, dtype=np.int8), 0)
    assert engine.probability_one(state, 4) == pytest.approx(0.5, abs=1e-12)
    assert_engine_contract(engine, exp, flag)
