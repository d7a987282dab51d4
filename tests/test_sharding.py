"""One statevector split into shards: equal to the unsharded run, on one process and on Dask workers."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time

import dask
import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import SparsePauliOp
from qiskit.synthesis.qft import synth_qft_full

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError, CircuitTooLargeError, JobFailedError
from aerdask_kernels.sharded.shard_ops import Layout, shard_assemble, shard_piece, shard_split

from .clusters import local_client, wait_until
from .conftest import random_u_layer

SEED = 11


def qft(n: int, rng) -> QuantumCircuit:
    qc = random_u_layer(n, rng)
    qc.compose(synth_qft_full(n), inplace=True)
    return qc


def random(n: int, rng) -> QuantumCircuit:
    qc = random_u_layer(n, rng)
    qc.compose(random_circuit(n, 6, max_operands=2, seed=int(rng.integers(1 << 30))), inplace=True)
    return qc


def ghz(n: int, rng) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    return qc


def mid_circuit(n: int, rng) -> QuantumCircuit:
    """Measurements, a reset and a condition on the highest qubits (global in every shard count)."""
    qc = random_u_layer(n, rng)
    qc.add_register(ClassicalRegister(3, "mid"))
    qc.cx(n - 1, 0)
    qc.measure(n - 1, 0)
    qc.reset(n - 2)
    qc.measure(1, 1)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(n - 1)
        qc.h(n - 2)
    qc.cp(0.3, n - 1, 2)
    qc.ry(0.7, n - 1)
    return qc


def initialized(n: int, rng) -> QuantumCircuit:
    """A state set from a random vector (a SET_STATE row names every qubit), then gates on the highest qubits."""
    vector = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    qc = QuantumCircuit(n)
    qc.h(0)
    qc.set_statevector(vector / np.linalg.norm(vector))
    qc.cx(n - 1, 0)
    qc.h(n - 1)
    return qc


CIRCUITS = {"qft": qft, "random": random, "ghz": ghz, "mid_circuit": mid_circuit, "initialized": initialized}


def with_outputs(qc: QuantumCircuit) -> QuantumCircuit:
    """``qc`` with a statevector save and every qubit measured into clbits of its own."""
    n = qc.num_qubits
    out = qc.copy()
    out.save_statevector()
    out.add_register(ClassicalRegister(n, "out"))
    out.measure(range(n), range(qc.num_clbits, qc.num_clbits + n))
    return out


def assert_same_run(circuit: QuantumCircuit, shards: int, executor=None, shots: int = 2000, **options):
    """The sharded run equals the unsharded one: statevector to 1e-12, identical seeded counts."""
    whole = AerSimulator(seed_simulator=SEED).run(circuit, shots=shots, **options).result()
    sim = AerSimulator(seed_simulator=SEED, shards=shards, executor=executor)
    split = sim.run(circuit, shots=shots, **options).result()
    np.testing.assert_allclose(split.get_statevector().data, whole.get_statevector().data, rtol=0, atol=1e-12)
    assert split.get_counts() == whole.get_counts()
    return split.results[0].metadata["sharding"]


# -- the exchange, in one process ------------------------------------------------------------
def test_layout_swap_for_swaps_only_the_bits_that_change():
    layout = Layout.identity(6, 4)
    moved, pairs = layout.swap_for(frozenset({0, 1, 4, 5}))
    assert pairs == ((2, 4), (3, 5))
    assert moved.order == (0, 1, 4, 5, 2, 3)
    assert moved.local == frozenset({0, 1, 4, 5})
    with pytest.raises(ValueError, match="holds 4 qubits"):
        layout.swap_for(frozenset({0, 1}))


def test_shard_pieces_reassemble_to_the_shard(rng):
    state = rng.normal(size=1 << 6) + 1j * rng.normal(size=1 << 6)
    bits = [4, 1]
    split = shard_split(state, bits)
    pieces = [shard_piece(split, v) for v in range(4)]
    assert all(p.size == 16 for p in pieces)
    tensor = state.reshape((2,) * 6)  # axis a is bit 5 - a: piece v has bit 4 = v & 1 and bit 1 = v >> 1
    for v in range(4):
        np.testing.assert_array_equal(pieces[v], tensor[:, v & 1, :, :, v >> 1, :].reshape(-1))
    pieces[1].flags.writeable = False  # as received from another worker
    np.testing.assert_array_equal(shard_assemble(pieces, bits), state)


@pytest.mark.parametrize("shards", [2, 4, 8])
@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_sharded_run_in_one_process_equals_the_whole_run(name, shards):
    qc = with_outputs(CIRCUITS[name](10, np.random.default_rng(shards)))
    stats = assert_same_run(qc, shards)
    assert stats["shards"] == shards and stats["num_local"] == 10 - shards.bit_length() + 1


def test_sharded_saves_and_memory_equal_the_whole_run(rng):
    n = 10
    qc = qft(n, rng)
    qc.save_probabilities([9, 0, 3], label="probs")
    qc.save_probabilities_dict([8, 2], label="probs_dict")
    qc.save_expectation_value(SparsePauliOp(["XIZYIIIIIX", "ZZIIIIIIII"], [0.5, 0.3]), list(range(n)), label="ev")
    qc.save_density_matrix([8, 1], label="rho")
    qc.save_amplitudes([0, 5, 1023, 700], label="amps")
    qc.save_amplitudes_squared([3, 1000], label="amps_sq")
    qc.save_statevector_dict(label="sv_dict")
    qc.measure_all()
    whole = AerSimulator(seed_simulator=SEED).run(qc, shots=500, memory=True).result()
    split = AerSimulator(seed_simulator=SEED, shards=8).run(qc, shots=500, memory=True).result()
    assert split.get_memory() == whole.get_memory()
    a, b = whole.data(0), split.data(0)
    for label in ("probs", "ev", "rho", "amps", "amps_sq"):
        np.testing.assert_allclose(np.asarray(b[label]), np.asarray(a[label]), atol=1e-12, err_msg=label)
    for label in ("probs_dict", "sv_dict"):
        assert b[label].keys() == a[label].keys()
        np.testing.assert_allclose(list(b[label].values()), list(a[label].values()), atol=1e-12)


def test_sharded_blocked_sampling_draws_the_same_counts(rng):
    """More shots than 8 per amplitude: counts come from block multinomials, shard by shard."""
    qc = qft(13, rng)
    qc.measure_all()
    whole = AerSimulator(seed_simulator=SEED).run(qc, shots=70_000).result().get_counts()
    assert AerSimulator(seed_simulator=SEED, shards=2).run(qc, shots=70_000).result().get_counts() == whole


def test_a_sharded_job_logs_its_plan(caplog, rng):
    qc = qft(10, rng)
    qc.measure_all()
    with caplog.at_level("INFO", logger="aerdask"):
        result = AerSimulator(shards=4).run(qc).result()
    sharding = result.results[0].metadata["sharding"]
    assert any(f"'exchanges': {sharding['exchanges']}" in r.getMessage() for r in caplog.records)


def test_a_saved_statevector_must_fit_the_client(monkeypatch, rng):
    import aerdask.admission

    qc = qft(12, rng)
    qc.save_statevector()
    monkeypatch.setattr(aerdask.admission, "client_memory", lambda: 1 << 16)
    with pytest.raises(CircuitTooLargeError, match="gathers it to this process"):
        AerSimulator(shards=2).run(qc)
    qc = qft(12, rng)
    qc.save_probabilities([0, 11])
    AerSimulator(shards=2).run(qc).result()  # other saves are reduced on the shards


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [3, 0, -2, 1.5, "4"])
def test_shards_must_be_a_power_of_two(value):
    with pytest.raises(AerdaskInputError, match="power of two"):
        AerSimulator(shards=value)


def test_sharding_refuses_what_it_cannot_run(rng):
    from aerdask.noise import NoiseModel

    qc = qft(6, rng)
    qc.measure_all()
    with pytest.raises(AerdaskInputError, match="a gate of it mixes 2; use at most 16 shards"):
        AerSimulator(shards=32).run(qc)
    with pytest.raises(AerdaskInputError, match="only the statevector method"):
        AerSimulator(shards=2, method="density_matrix").run(qc)
    noisy = NoiseModel()
    noisy.add_all_qubit_readout_error([[0.9, 0.1], [0.1, 0.9]])
    with pytest.raises(AerdaskInputError, match="without noise"):
        AerSimulator(shards=2, noise_model=noisy).run(qc)
    with pytest.raises(AerdaskInputError, match="max_shot_size=10 splits a job"):
        AerSimulator(shards=2, max_shot_size=10).run(qc)
    with pytest.raises(CircuitTooLargeError, match="have room for"):
        AerSimulator(shards=2, max_memory_mb=1).run(qft(18, rng))


# -- on Dask workers -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def four_workers():
    """``LocalCluster(processes=True)`` with four one-thread workers."""
    with local_client(n_workers=4) as client:
        yield client


def bytes_received(client) -> int:
    """Bytes the workers fetched from each other so far (Dask's transfer log)."""
    per_worker = client.run(lambda dask_worker: sum(e["total"] for e in dask_worker.transfer_incoming_log))
    return sum(per_worker.values())


@pytest.mark.cluster
@pytest.mark.parametrize(
    "name, n, shards",
    [
        ("qft", 16, 2),
        ("qft", 16, 4),
        ("qft", 16, 8),
        ("random", 18, 4),
        ("ghz", 20, 8),
        ("mid_circuit", 16, 4),
        ("mid_circuit", 18, 8),
        ("random", 20, 2),
        ("qft", 22, 4),
    ],
)
def test_sharded_run_on_four_workers_equals_the_whole_run(four_workers, name, n, shards):
    qc = with_outputs(CIRCUITS[name](n, np.random.default_rng(n + shards)))
    before = bytes_received(four_workers)
    stats = assert_same_run(qc, shards, four_workers)
    moved = bytes_received(four_workers) - before
    assert stats["shards"] == shards and stats["exchanges"] >= 1
    if shards <= 4:  # one shard per worker: every piece that changes shard crosses workers
        assert stats["network_bytes"] == stats["exchange_bytes"]
    # What the workers fetched: the planned pieces, plus the program and the sampler's uniforms.
    assert stats["network_bytes"] <= moved <= 1.02 * stats["network_bytes"] + (1 << 20)


@pytest.mark.cluster
def test_cancel_stops_a_sharded_job(four_workers):
    qc = QuantumCircuit(18)
    for _ in range(200):  # every layer mixes the global qubits: an exchange per layer
        qc.h(range(18))
    qc.measure_all()
    job = AerSimulator(executor=four_workers, shards=4).run(qc)
    assert wait_until(lambda: job.status().name == "RUNNING", timeout=30)
    time.sleep(0.5)
    assert job.cancel()
    assert job.status().name == "CANCELLED"
    with pytest.raises(concurrent.futures.CancelledError):
        job.result(timeout=30)
    assert wait_until(lambda: job.tasks_done() == 1, timeout=10)
    # The job object lives on; its shards do not stay on the cluster with it.
    prefix = f"{job._handles[0].key}-shard-"
    held = lambda dask_scheduler: [k for k in dask_scheduler.tasks if str(k).startswith(prefix)]  # noqa: E731
    assert wait_until(lambda: not four_workers.run_on_scheduler(held), timeout=10), four_workers.run_on_scheduler(held)


@pytest.mark.cluster
def test_only_sharding_runs_a_state_larger_than_any_worker():
    """Workers of 90 MiB: a 22-qubit task needs 96 MiB (state and sampling), its 4 shards 48 MiB each."""
    qc = with_outputs(qft(22, np.random.default_rng(5)))
    # The limits stand for small workers: Dask's own memory actions (spill, pause, kill) are off.
    off = {f"distributed.worker.memory.{k}": False for k in ("target", "spill", "pause", "terminate")}
    with dask.config.set(off), local_client(n_workers=4, memory_limit="90MiB") as client:
        with pytest.raises(CircuitTooLargeError, match="bytes are available per task"):
            AerSimulator(executor=client, shards=1).run(qc)
        with pytest.raises(CircuitTooLargeError, match="have room for 0"):
            AerSimulator(executor=client, shards=2).run(qc)
        whole = AerSimulator(seed_simulator=SEED).run(qc, shots=1000).result()
        split = AerSimulator(executor=client, seed_simulator=SEED).run(qc, shots=1000).result()
    assert split.results[0].metadata["sharding"]["shards"] == 4  # chosen: the fewest that fit
    assert split.get_counts() == whole.get_counts()
    np.testing.assert_allclose(split.get_statevector().data, whole.get_statevector().data, atol=1e-12)


@pytest.mark.cluster
def test_a_lost_shard_fails_the_job_and_says_there_is_no_retry():
    qc = QuantumCircuit(20)
    for _ in range(300):
        qc.h(range(20))
    qc.measure_all()
    with local_client(n_workers=2) as client:
        job = AerSimulator(executor=client, shards=2).run(qc)
        assert wait_until(lambda: job.status().name == "RUNNING", timeout=30)
        time.sleep(1.0)
        pids = client.run(os.getpid)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        with pytest.raises(JobFailedError, match="no retry"):
            job.result(timeout=120)
        assert job.status().name == "ERROR"
