"""The sampling path: counts against exact probabilities; seeds; memory; key format."""

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Statevector
from scipy.stats import chisquare

from aerdask import AerSimulator

from .conftest import random_u_layer


def assert_counts_match(counts: dict, probs: dict, shots: int, min_p_value=1e-4):
    """Chi-square goodness of fit over outcomes with non-negligible probability."""
    keys = sorted(k for k, p in probs.items() if p * shots >= 5)
    observed = np.array([counts.get(k, 0) for k in keys], dtype=float)
    expected = np.array([probs[k] * shots for k in keys])
    observed = np.append(observed, shots - observed.sum())
    expected = np.append(expected, shots - expected.sum())
    mask = expected > 0
    assert chisquare(observed[mask], expected[mask] * observed[mask].sum() / expected[mask].sum()).pvalue > min_p_value
    assert set(counts) <= {k for k, p in probs.items() if p > 0}


@pytest.mark.parametrize("num_qubits", [2, 5, 8])
@pytest.mark.parametrize("memory", [False, True])
def test_terminal_counts_follow_probabilities(num_qubits, memory, rng):
    qc = random_u_layer(num_qubits, rng).compose(random_circuit(num_qubits, 4, seed=num_qubits))
    probs = Statevector(qc).probabilities_dict()
    qc.measure_all()
    shots = 20000
    result = AerSimulator().run(qc, shots=shots, seed_simulator=11, memory=memory).result()
    assert_counts_match(result.get_counts(), probs, shots)
    if memory:
        mem = result.get_memory()
        assert len(mem) == shots
        assert {k: mem.count(k) for k in set(mem)} == result.get_counts()


def test_partial_and_permuted_measurement(rng):
    qc = random_u_layer(4, rng)
    qc.cx(0, 3)
    probs_full = Statevector(qc).probabilities([2, 0])  # little-endian over (q2, q0)
    qc.add_register(ClassicalRegister(2))
    qc.measure(2, 0)
    qc.measure(0, 1)
    counts = AerSimulator().run(qc, shots=20000, seed_simulator=3).result().get_counts()
    probs = {format(i, "02b"): p for i, p in enumerate(probs_full)}
    assert_counts_match(counts, probs, 20000)


def test_seed_gives_identical_counts_and_memory(rng):
    qc = random_u_layer(5, rng)
    qc.measure_all()
    backend = AerSimulator(seed_simulator=42, memory=True)
    first, second = backend.run(qc).result(), backend.run(qc).result()
    assert first.get_counts() == second.get_counts()
    assert first.get_memory() == second.get_memory()
    other = AerSimulator().run(qc, seed_simulator=43, memory=True).result()
    assert other.get_memory() != first.get_memory()
    assert first.results[0].seed_simulator == 42


def test_unseeded_run_reports_a_seed_that_reproduces_it(rng):
    qc = random_u_layer(4, rng)
    qc.measure_all()
    first = AerSimulator().run(qc, memory=True).result()
    seed = first.results[0].seed_simulator
    again = AerSimulator().run(qc, memory=True, seed_simulator=seed).result()
    assert again.get_memory() == first.get_memory()


def test_register_spacing_and_memory_format():
    qr = QuantumRegister(3)
    a, b = ClassicalRegister(2, "a"), ClassicalRegister(1, "b")
    qc = QuantumCircuit(qr, a, b, name="regs")
    qc.x(0)
    qc.x(2)
    qc.measure(0, a[0])
    qc.measure(1, a[1])
    qc.measure(2, b[0])
    result = AerSimulator().run(qc, shots=10, memory=True).result()
    assert result.get_counts() == {"1 01": 10}
    assert result.get_memory() == ["1 01"] * 10
    assert result.results[0].header["name"] == "regs"
    assert result.data(0)["counts"] == {"0x5": 10}


def test_huge_shot_count_uses_one_pass():
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    shots = 2**62
    counts = AerSimulator().run(qc, shots=shots, seed_simulator=1).result().get_counts()
    assert sum(counts.values()) == shots
    assert abs(counts["0"] / shots - 0.5) < 1e-6


def test_experiments_keep_input_order(rng):
    circuits = []
    for i in range(5):
        qc = QuantumCircuit(3, 3, name=f"c{i}")
        for q in range(3):
            if (i >> q) & 1:
                qc.x(q)
        qc.measure(range(3), range(3))
        circuits.append(qc)
    result = AerSimulator().run(circuits, shots=7).result()
    assert [r.header["name"] for r in result.results] == [f"c{i}" for i in range(5)]
    assert [result.get_counts(i) for i in range(5)] == [{format(i, "03b"): 7} for i in range(5)]


def test_more_than_62_clbits():
    qc = QuantumCircuit(QuantumRegister(2), ClassicalRegister(70, "wide"))
    qc.x(1)
    qc.h(0)
    qc.measure(1, 69)
    qc.measure(0, 3)
    result = AerSimulator().run(qc, shots=400, seed_simulator=2, memory=True).result()
    counts = result.get_counts()
    assert set(counts) == {"1" + "0" * 69, "1" + "0" * 65 + "1000"}
    assert sum(counts.values()) == 400 and len(result.get_memory()) == 400


@pytest.mark.parametrize("shots", [10, 10**5])
def test_blocked_and_sorted_sampling_agree_in_distribution(shots, rng):
    from aerdask_kernels.kernels.sampling import sample_indices

    state = rng.normal(size=2**10) + 1j * rng.normal(size=2**10)
    state /= np.linalg.norm(state)
    gen = np.random.default_rng(5)
    idx, counts, per_shot = sample_indices(state, shots, gen, ordered=True)
    assert counts.sum() == shots and np.all(np.diff(idx) > 0)
    assert np.array_equal(np.sort(per_shot), np.repeat(idx, counts))
    if shots > 1000:
        probs = np.abs(state) ** 2
        big, big_counts, _ = sample_indices(state, 2**40, gen, ordered=False)  # the blocked path
        assert big_counts.sum() == 2**40
        np.testing.assert_allclose(big_counts / 2**40, probs[big], rtol=1e-3, atol=1e-9)
        tv = 0.5 * np.abs(np.bincount(idx, counts, minlength=probs.size) / shots - probs).sum()
        assert tv < 0.06


@pytest.mark.parametrize("shots", [1, 7, 5000])
def test_large_state_draws_the_same_shots_from_chunks_as_one_sweep(shots, rng):
    """Past 2**14 amplitudes the sampler reads chunk sums, then only the chunks drawn into.

    It must draw what one sweep over the whole state draws from the same uniforms,
    including chunks of zero probability (skipped) and the last ones (rounding).
    """
    from aerdask_kernels.kernels import sampling

    n = 17
    state = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    state[: 3 << sampling.CHUNK_BITS] = 0  # whole chunks without probability, first ones included
    state[-(1 << sampling.CHUNK_BITS) :] = 0  # and the last one
    state /= np.linalg.norm(state)
    assert state.size >= sampling.PARALLEL_MIN_SIZE and state.size > 1 << sampling.CHUNK_BITS
    idx, counts, per_shot = sampling.sample_indices(state, shots, np.random.default_rng(3), ordered=True)
    spacings = np.cumsum(np.random.default_rng(3).standard_exponential(shots + 1))
    one_sweep = sampling.sample_sorted(state, spacings[:-1] * (sampling.norm_squared(state) / spacings[-1]))
    assert np.array_equal(np.repeat(idx, counts), one_sweep)
    assert np.all(np.abs(state[idx]) > 0)
    # A uniform rounded past the total lands on the last amplitude with probability.
    prefix = np.cumsum(sampling.block_norms(state, sampling.CHUNK_BITS))
    last = sampling.sample_chunks(state, np.array([prefix[-1] * (1 + 1e-12)]), prefix, sampling.CHUNK_BITS)
    assert last[0] == np.flatnonzero(state)[-1]
