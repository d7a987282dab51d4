"""device="GPU": the numba.cuda path, run on numba-cuda's simulator here (see conftest.py).

The simulator runs each GPU thread as a Python thread, so states are small; the tiles
are made small too (``tiles.TILE_BITS``), so that a state has many tiles and passes
pick high qubits into their tiles, as 30-qubit states do on a GPU with 10-bit tiles.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import UnitaryGate
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Operator, SparsePauliOp, Statevector, random_unitary
from qiskit.synthesis import synth_qft_full

from aerdask import AerSimulator
from aerdask.errors import AerdaskInputError
from aerdask_kernels import run_program
from aerdask_kernels.gpu import devices, tiles
from aerdask_kernels.gpu.walk import run_program_gpu
from aerdask_kernels.opcodes import COL_OPCODE, OP_DIAG, OP_MATRIX

from .clusters import ROOT

pytestmark = pytest.mark.skipif(not devices(), reason="numba-cuda is not installed here (pip install -e '.[test]')")


@pytest.fixture(autouse=True)
def _simulator_speed(monkeypatch):
    """Small tiles, and short GIL slices: the simulator's threads take turns with its polling loop."""
    monkeypatch.setattr(tiles, "TILE_BITS", 3)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(5e-5)
    yield
    sys.setswitchinterval(previous)


def _random_input(qc: QuantumCircuit, seed: int) -> QuantumCircuit:
    """``qc`` after a seeded random layer of one-qubit unitaries (the oracle's input)."""
    rng = np.random.default_rng(seed)
    out = QuantumCircuit(*qc.qregs, *qc.cregs)
    for q in range(qc.num_qubits):
        out.append(UnitaryGate(random_unitary(2, seed=int(rng.integers(1 << 30)))), [q])
    return out.compose(qc)


def _unitary_on(n: int, qubits: list[int]) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.append(UnitaryGate(random_unitary(1 << len(qubits), seed=3)), qubits)
    return qc


def _dynamic(n: int, seed: int) -> QuantumCircuit:
    """Gates, a mid-circuit measurement, a condition, a reset and every kind of save."""
    qc = random_circuit(n, 4, max_operands=3, seed=seed)
    qc.add_register(*QuantumCircuit(n, n).cregs)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(n - 1)
    qc.reset(1)
    qc.compose(random_circuit(n, 3, max_operands=2, seed=seed + 1), inplace=True)
    qc.save_statevector(label="sv", pershot=True)
    qc.save_probabilities([0, n - 1], label="p")
    qc.save_probabilities_dict(label="pd")
    qc.save_density_matrix([1, 2], label="rho")
    qc.save_expectation_value(SparsePauliOp(["XYZ" + "I" * (n - 3), "Z" * n], [0.5, 2.0]), range(n), label="e")
    qc.save_amplitudes_squared([0, 3, 5], label="a2")
    qc.measure(range(n), range(n))
    return qc


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize(
    "circuit",
    [
        pytest.param(lambda: synth_qft_full(6), id="qft"),
        pytest.param(lambda: random_circuit(6, 6, max_operands=3, seed=11), id="random"),
        pytest.param(lambda: _unitary_on(6, [5, 1, 3]), id="unitary"),
    ],
)
def test_amplitudes_match_the_statevector_oracle(circuit, precision):
    qc = _random_input(circuit(), seed=7)
    expected = Statevector(qc).data
    qc.save_statevector()
    result = AerSimulator(device="GPU", precision=precision).run(qc, shots=1).result()
    got = np.asarray(result.get_statevector())
    tol = 1e-5 if precision == "single" else 1e-12
    np.testing.assert_allclose(got, expected, atol=tol)
    assert result.results[0].metadata["device"] == "GPU"
    assert result.results[0].metadata["precision"] == precision


def test_a_dense_five_qubit_block_and_controlled_rows_run_as_one_pass_against_the_operator(monkeypatch):
    monkeypatch.setattr(tiles, "TILE_BITS", 5)  # four tiles of 7 qubits, each holding the five targets
    qc = QuantumCircuit(7)
    qc.append(UnitaryGate(random_unitary(32, seed=5)), [6, 0, 4, 2, 5])
    qc.mcx([0, 3], 6, ctrl_state="01")
    qc.cp(0.7, 2, 5)
    qc.cry(0.3, 6, 1)
    expected = Operator(qc).data[:, 0]
    qc.save_statevector()
    result = AerSimulator(device="GPU").run(qc, shots=1, fusion_enable=False).result()
    np.testing.assert_allclose(np.asarray(result.get_statevector()), expected, atol=1e-12)


@pytest.mark.parametrize("precision", ["double", "single"])
def test_shots_saves_and_control_flow_equal_the_cpu_path(precision):
    """Same tree of branches, same random numbers: the same counts, memory and saves as the CPU."""
    qc = _dynamic(6, seed=5)
    program = AerSimulator().run(qc, shots=40, seed_simulator=9, memory=True, precision=precision).qobj()
    cpu, gpu = run_program(program)[0], run_program_gpu(program)[0]
    for key in ("outcomes", "counts", "memory"):
        np.testing.assert_array_equal(cpu[key], gpu[key])
    tol = 2e-5 if precision == "single" else 1e-12
    for label in ("p", "rho", "e", "a2"):
        np.testing.assert_allclose(np.asarray(gpu["saves"][label]), np.asarray(cpu["saves"][label]), atol=tol)
    assert cpu["saves"]["pd"].keys() == gpu["saves"]["pd"].keys()
    assert len(gpu["saves"]["sv"]) == 40
    for a, b in zip(cpu["saves"]["sv"], gpu["saves"]["sv"], strict=True):
        np.testing.assert_allclose(a, b, atol=tol)
    assert gpu["kernels"] == "cuda-simulator"


def test_branch_replays_past_the_copy_cap_give_the_same_counts():
    qc = QuantumCircuit(5, 5)
    qc.h(range(5))
    for q in range(4):
        qc.measure(q, q)
        qc.cx(q, q + 1)
    qc.measure(4, 4)
    program = AerSimulator().run(qc, shots=64, seed_simulator=2).qobj()
    capped = program.replace(options={**program.options, "max_branch_copies": 1})
    free, replayed = run_program_gpu(program)[0], run_program_gpu(capped)[0]
    np.testing.assert_array_equal(free["counts"], replayed["counts"])
    assert replayed["branch_replays"] > 0 and replayed["branch_copies"] <= 1


def test_sampling_many_shots_in_chunks_keeps_the_distribution(monkeypatch):
    """Past the sorted-sampling limit, counts come from chunked uniforms: check them against |psi|^2."""
    from aerdask_kernels.gpu import walk

    monkeypatch.setattr(walk, "MAX_SORTED_SHOTS", 5000)
    monkeypatch.setattr(walk, "HOST_SAMPLING_FACTOR", 1 << 20)  # keep the draws on the GPU
    qc = _random_input(QuantumCircuit(4), seed=3)
    qc.measure_all()
    shots = 20000
    counts = AerSimulator(device="GPU").run(qc, shots=shots, seed_simulator=4).result().get_counts()
    assert sum(counts.values()) == shots
    probs = Statevector(qc.remove_final_measurements(inplace=False)).probabilities_dict()
    for key, p in probs.items():
        # 5 standard deviations of a binomial count
        assert abs(counts.get(key, 0) - shots * p) <= 5 * np.sqrt(shots * p * (1 - p)) + 1, key


def test_the_tile_plan_puts_each_dense_rows_targets_in_its_tile():
    qc = random_circuit(9, 8, max_operands=3, seed=2)
    exp = AerSimulator().run(qc, shots=1, fusion_enable=False).qobj().experiments[0]
    from aerdask_kernels.passes.prepare import prepare_point

    exp = prepare_point(exp, 0, False)
    start = int(np.flatnonzero(np.isin(exp.ops[:, COL_OPCODE], (OP_MATRIX, OP_DIAG)))[0])
    batches, end = tiles.plan_batches(exp.ops, exp.qubits, start, exp.num_qubits, tile_bits=5)
    assert [pc for b in batches for pc in b.pcs] == list(range(start, end))
    for batch in batches:
        positions = sorted(set(range(exp.num_qubits)) - set(batch.free.tolist()))
        assert len(positions) == batch.tile_bits == 5
        assert len(set(batch.offsets.tolist())) == 1 << 5  # distinct amplitudes
        for pc in batch.pcs:
            if exp.ops[pc, COL_OPCODE] == OP_MATRIX:
                qoff, nctrl, ntarg = exp.ops[pc, 1:4]
                targets = exp.qubits[qoff + nctrl : qoff + nctrl + ntarg]
                assert set(targets.tolist()) <= set(positions)
    assert len(batches) < end - start  # passes hold several rows


@pytest.mark.parametrize(
    "options, match",
    [
        ({"method": "density_matrix"}, "statevector method"),
        ({"shards": 2}, "shards=2 needs device='CPU'"),
    ],
)
def test_what_the_gpu_cannot_run_is_refused_at_run(options, match):
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.measure_all()
    with pytest.raises(AerdaskInputError, match=match):
        AerSimulator(device="GPU").run(qc, **options)


def test_noise_and_wide_unitaries_are_refused_at_run():
    # aerdask's NoiseModel: importing qiskit_aer here would put its save_* methods on QuantumCircuit.
    from aerdask.noise import NoiseModel

    from .noise_cases import depolarizing

    qc = QuantumCircuit(3)
    qc.h(0)
    qc.measure_all()
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing(0.1, 1), ["h"])
    with pytest.raises(AerdaskInputError, match="noiseless"):
        AerSimulator(device="GPU").run(qc, noise_model=noise)
    wide = QuantumCircuit(11)
    wide.append(UnitaryGate(np.roll(np.eye(1 << 11), 1, axis=0)), range(11))  # not diagonal
    with pytest.raises(AerdaskInputError, match="11-qubit unitary.*up to 10 qubits"):
        AerSimulator(device="GPU").run(wide)


def test_available_devices_lists_the_gpu_and_a_machine_without_one_gets_a_clear_error():
    assert AerSimulator().available_devices() == ("CPU", "GPU")
    script = (
        "from qiskit import QuantumCircuit\n"
        "from aerdask import AerSimulator\n"
        "qc = QuantumCircuit(1); qc.h(0); qc.measure_all()\n"
        "print(AerSimulator().available_devices())\n"
        "try:\n"
        "    AerSimulator(device='GPU').run(qc)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "('CPU',)" in out.stdout
    assert "AerdaskInputError device='GPU' is not available: this process has no usable GPU" in out.stdout


@pytest.mark.cluster
def test_dask_gpu_tasks_run_only_on_workers_with_a_gpu_resource():
    from distributed import Client, Nanny, Scheduler, SpecCluster, get_task_stream

    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}}
    nanny = {"host": "127.0.0.1", "nthreads": 1, "dashboard_address": "127.0.0.1:0"}
    workers = {
        "cpu": {"cls": Nanny, "options": nanny},
        "gpu": {"cls": Nanny, "options": {**nanny, "resources": {"GPU": 1}}},
    }
    qc = _random_input(QuantumCircuit(5), seed=1)
    expected = Statevector(qc).data
    qc.save_statevector()
    circuits = [qc] * 4
    with SpecCluster(workers=workers, scheduler=scheduler) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=60)
        backend = AerSimulator(executor=client, device="GPU")
        assert backend.available_devices() == ("CPU", "GPU")
        with get_task_stream(client) as stream:
            result = backend.run(circuits, shots=1, max_job_size=1).result()
        gpu_worker = next(a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "gpu")
        ran_on = {t["worker"] for t in stream.data if str(t["key"]).startswith("aerdask-")}
        assert ran_on == {gpu_worker}
        for i in range(4):
            np.testing.assert_allclose(np.asarray(result.get_statevector(i)), expected, atol=1e-12)
            assert result.results[i].metadata["device"] == "GPU"


@pytest.mark.cluster
def test_a_cluster_without_gpu_workers_says_how_to_start_them(local_cluster_client):
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.measure_all()
    backend = AerSimulator(executor=local_cluster_client, device="GPU")
    assert backend.available_devices() == ("CPU",)
    with pytest.raises(AerdaskInputError, match="no worker of the cluster has a 'GPU' resource.*--resources GPU=1"):
        backend.run(qc)
