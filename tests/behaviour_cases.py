"""Seeded runs on every engine, recorded once and compared bit for bit after every change to the walk.

``python -m tests.behaviour_cases`` records ``tests/data/behaviour.json`` (run it only when a change
of results is intended, and say why in the changelog); ``tests/test_behaviour.py`` runs every case
again and compares counts, per-shot memory and every saved value exactly (floats by their repr).
States stay below 14 qubits, where no kernel sums in parallel (a parallel sum's rounding depends on
the thread count).

Single precision is the exception (:data:`APPROXIMATE`): its sums (probabilities, expectation
values) round differently in code that Numba compiled in another order (another process, another
cache), by a few parts in 10**7, which can move a sample. Those cases are compared to that precision.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Parameter
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Kraus, Pauli, SparsePauliOp

FIXTURES = Path(__file__).resolve().parent / "data" / "behaviour.json"
#: Cases compared to single precision, not bit for bit (see the module docs).
APPROXIMATE = frozenset({"statevector-single"})


def _random_layer(num_qubits: int, seed: int) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(num_qubits)
    for q in range(num_qubits):
        qc.u(*rng.uniform(0, 2 * np.pi, 3), q)
    return qc


def _dynamic(num_qubits: int = 6, pershot: bool = False) -> QuantumCircuit:
    """Mid-circuit measurements, a reset, conditions, a loop and saves of every kind."""
    qc = QuantumCircuit(num_qubits, num_qubits)
    qc.compose(_random_layer(num_qubits, 3), inplace=True)
    for q in range(num_qubits - 1):
        qc.cx(q, q + 1)
    qc.save_statevector(label="sv0", pershot=False)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
        qc.h(2)
    qc.reset(3)
    qc.ry(0.7, range(num_qubits))
    qc.measure(1, 1)
    with qc.while_loop((qc.clbits[1], 1)):
        qc.h(1)
        qc.measure(1, 1)
    qc.save_probabilities([2, 4], label="p")
    qc.save_probabilities_dict(label="pd")
    qc.save_expectation_value(Pauli("ZX"), [2, 5], label="ev")
    qc.save_expectation_value_variance(SparsePauliOp(["XX", "ZI"], [0.5, 1.5]), [3, 4], label="evv")
    qc.save_amplitudes([0, 5, 17], label="amps")
    qc.save_amplitudes_squared([1, 9], label="amps2")
    qc.save_density_matrix([0, 2], label="rho")
    if pershot:
        qc.save_statevector(label="svs", pershot=True)
    qc.measure(range(num_qubits), range(num_qubits))
    return qc


def _noise_model():
    from aerdask.noise import NoiseModel

    paulis = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]
    one = Kraus([np.sqrt(0.91) * paulis[0]] + [np.sqrt(0.03) * p for p in paulis[1:]])
    two = Kraus([np.sqrt(0.9) * np.kron(paulis[0], paulis[0]), np.sqrt(0.1) * np.kron(paulis[1], paulis[3])])
    damping = Kraus([np.array([[1, 0], [0, np.sqrt(0.8)]]), np.array([[0, np.sqrt(0.2)], [0, 0]])])
    model = NoiseModel()
    model.add_all_qubit_quantum_error(one, ["h", "u", "ry"])
    model.add_all_qubit_quantum_error(two, ["cx"])
    model.add_all_qubit_quantum_error(damping, ["x", "rx"])
    model.add_all_qubit_readout_error([[0.95, 0.05], [0.1, 0.9]])
    return model


def _noisy(num_qubits: int = 5) -> QuantumCircuit:
    qc = QuantumCircuit(num_qubits)
    qc.compose(_random_layer(num_qubits, 5), inplace=True)
    for layer in range(3):
        qc.h(range(num_qubits))
        qc.rx(0.3 + layer, range(num_qubits))
        for q in range(num_qubits - 1):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc


def _noisy_dynamic(num_qubits: int = 4) -> QuantumCircuit:
    qc = QuantumCircuit(num_qubits, num_qubits)
    qc.h(range(num_qubits))
    qc.cx(0, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(2)
    qc.rx(0.4, range(num_qubits))
    qc.measure(range(num_qubits), range(num_qubits))
    return qc


def _clifford_dynamic(num_qubits: int = 6) -> QuantumCircuit:
    """A Clifford circuit with mid-circuit measurements, a reset, a condition and the stabilizer's saves."""
    qc = QuantumCircuit(num_qubits, num_qubits)
    qc.h(range(num_qubits))
    for q in range(num_qubits - 1):
        qc.cx(q, q + 1)
        qc.s(q)
    qc.save_clifford(label="clifford")
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
        qc.h(2)
    qc.reset(3)
    qc.sx(range(num_qubits))
    qc.save_probabilities([2, 4], label="p")
    qc.save_expectation_value(Pauli("ZX"), [2, 5], label="ev")
    qc.save_stabilizer(label="stab")
    qc.measure(range(num_qubits), range(num_qubits))
    return qc


def _clifford_noisy(num_qubits: int = 5) -> tuple[QuantumCircuit, object]:
    """Mid-circuit measurements and Pauli noise without feedback: the stabilizer's Pauli frames."""
    from aerdask.noise import NoiseModel

    qc = QuantumCircuit(num_qubits, 2 * num_qubits)
    qc.h(range(num_qubits))
    for q in range(num_qubits - 1):
        qc.cx(q, q + 1)
    qc.measure(range(num_qubits), range(num_qubits))
    qc.reset(0)
    qc.s(range(num_qubits))
    qc.h(range(num_qubits))
    qc.measure(range(num_qubits), range(num_qubits, 2 * num_qubits))
    paulis = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]
    model = NoiseModel()
    model.add_all_qubit_quantum_error(
        Kraus([np.sqrt(0.91) * paulis[0]] + [np.sqrt(0.03) * p for p in paulis[1:]]), ["h"]
    )
    model.add_all_qubit_readout_error([[0.95, 0.05], [0.1, 0.9]])
    return qc, model


def _operator_circuit(save: str) -> QuantumCircuit:
    qc = _random_layer(3, 9)
    qc.cx(0, 2)
    qc.rzz(0.4, 1, 2)
    if save == "superop":
        qc.reset(1)
    getattr(qc, f"save_{save}")()
    return qc


def _sweep() -> tuple[QuantumCircuit, dict]:
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(5)
    for q in range(5):
        qc.ry(a * (q + 1), q)
    for q in range(4):
        qc.cx(q, q + 1)
    qc.rz(b, range(5))
    qc.measure_all()
    return qc, {a: [0.1, 0.5, 1.3], b: [0.2, -0.7, 2.0]}


def _batch() -> list[QuantumCircuit]:
    circuits = []
    for i in range(4):
        qc = random_circuit(9, 6, max_operands=3, seed=40 + i)
        qc.measure_all()
        circuits.append(qc)
    return circuits


def _with_state_saves(qc: QuantumCircuit) -> QuantumCircuit:
    qc = qc.copy()
    qc.save_statevector(label="final")
    qc.save_probabilities(label="probs")
    return qc


def _qft_like(num_qubits: int = 10) -> QuantumCircuit:
    qc = _random_layer(num_qubits, 11)
    for j in reversed(range(num_qubits)):
        qc.h(j)
        for k in range(j):
            qc.cp(np.pi / 2 ** (j - k), k, j)
    qc.measure_all()
    return qc


def _mid(num_qubits: int = 8, measurements: int = 4) -> QuantumCircuit:
    qc = QuantumCircuit(QuantumRegister(num_qubits), ClassicalRegister(measurements, "m"))
    qc.add_register(ClassicalRegister(num_qubits, "f"))
    qc.compose(_random_layer(num_qubits, 9), qubits=range(num_qubits), inplace=True)
    for i in range(measurements):
        qc.cx(i, i + 1)
        qc.measure(i, qc.cregs[0][i])
        qc.ry(0.3 * (i + 1), range(num_qubits))
    qc.measure(range(num_qubits), qc.cregs[1])
    return qc


def cases() -> dict:
    """Case name -> ``(circuits, backend options, run options)``."""
    noise = _noise_model()
    sweep, binds = _sweep()
    frames, pauli_noise = _clifford_noisy()
    return {
        "stabilizer-dynamic": ([_clifford_dynamic()], {"method": "stabilizer"}, {"shots": 300, "memory": True}),
        "stabilizer-frames": ([frames], {"method": "stabilizer", "noise_model": pauli_noise}, {"shots": 2000}),
        "unitary": ([_operator_circuit("unitary")], {"method": "unitary"}, {"shots": 1}),
        "superop": ([_operator_circuit("superop")], {"method": "superop", "noise_model": noise}, {"shots": 1}),
        "statevector-dynamic": ([_dynamic()], {}, {"shots": 300, "memory": True}),
        "statevector-single": ([_with_state_saves(_qft_like())], {"precision": "single"}, {"shots": 1000}),
        "statevector-pershot": ([_dynamic(pershot=True)], {}, {"shots": 12, "memory": True}),
        "statevector-batch": (_batch(), {}, {"shots": 500, "memory": True, "max_job_size": 2}),
        "statevector-qft-saves": ([_with_state_saves(_qft_like())], {}, {"shots": 1000}),
        "statevector-replays": ([_mid()], {"max_memory_mb": 1}, {"shots": 400, "memory": True}),
        "statevector-shot-chunks": ([_mid(6, 3)], {}, {"shots": 900, "memory": True, "max_shot_size": 250}),
        "statevector-sweep": ([sweep], {}, {"shots": 400, "parameter_binds": [binds]}),
        "noise-trajectories": ([_noisy()], {"noise_model": noise, "method": "statevector"}, {"shots": 600}),
        "noise-trajectories-dynamic": (
            [_noisy_dynamic()],
            {"noise_model": noise, "method": "statevector"},
            {"shots": 500, "memory": True},
        ),
        "noise-trajectories-replays": (
            [_noisy_dynamic()],
            {"noise_model": noise, "method": "statevector", "max_memory_mb": 1},
            {"shots": 500, "memory": True},
        ),
        "density-matrix": ([_noisy()], {"noise_model": noise, "method": "density_matrix"}, {"shots": 800}),
        "density-matrix-dynamic": (
            [_noisy_dynamic()],
            {"noise_model": noise, "method": "density_matrix"},
            {"shots": 300, "memory": True},
        ),
        "sharded-4": ([_with_state_saves(_qft_like())], {"shards": 4}, {"shots": 1000, "memory": True}),
        "sharded-dynamic": ([_mid(8, 3)], {"shards": 2}, {"shots": 300, "memory": True}),
        "gpu": ([_with_state_saves(_qft_like(6))], {"device": "GPU"}, {"shots": 300, "memory": True}),
        "gpu-dynamic": ([_mid(5, 2)], {"device": "GPU"}, {"shots": 200, "memory": True}),
    }


def _plain(value):
    """A saved value as JSON: complex numbers as ``[re, im]``, arrays as nested lists, floats exact."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if hasattr(value, "clifford"):  # StabilizerState
        value = value.clifford
    if hasattr(value, "tableau"):  # Clifford
        value = value.tableau.astype(np.uint8)
    if hasattr(value, "data") and not isinstance(value, np.ndarray | list | dict):  # Statevector, DensityMatrix
        value = value.data
    if isinstance(value, list) and value and hasattr(value[0], "data"):  # per-shot states
        value = np.stack([np.asarray(v.data) for v in value])
    array = np.asarray(value)
    if array.dtype == object:
        return [_plain(v) for v in value]
    if array.size > 64:  # large arrays by their exact bytes, compactly
        array = np.ascontiguousarray(array)
        return {"dtype": array.dtype.str, "shape": list(array.shape), "b64": base64.b64encode(array.tobytes()).decode()}
    if np.iscomplexobj(array):
        return [array.real.tolist(), array.imag.tolist()]
    return array.tolist()


def compiled_kernels() -> None:
    """Build (or load) every compiled kernel first: the cases run compiled, never as Python.

    Python kernels (what a small job runs while its compiled ones are not ready) round single
    precision differently, so a case must not depend on what this process compiled before it.
    """
    from aerdask_kernels import readiness

    readiness.ensure([(path, p) for p in readiness.PRECISIONS for path in (readiness.SMALL, readiness.LARGE)])


def run_case(name: str) -> list[dict]:
    """The case's results: per experiment its counts, memory and saved values, as plain data."""
    from aerdask import AerSimulator

    compiled_kernels()

    circuits, backend_options, run_options = cases()[name]
    result = AerSimulator(seed_simulator=20261205, **backend_options).run(circuits, **run_options).result()
    out = []
    for i, experiment in enumerate(result.results):
        data = result.data(i)
        measured = "counts" in data  # an operator method measures nothing
        entry = {"counts": dict(sorted(result.get_counts(i).items())) if measured else {}}
        if run_options.get("memory"):
            entry["memory"] = result.get_memory(i)
        entry["saves"] = {k: _plain(v) for k, v in sorted(data.items()) if k not in ("counts", "memory")}
        entry["method"] = experiment.metadata.get("method")
        entry["kernels"] = experiment.metadata.get("kernels")
        out.append(entry)
    return out


def record(names: list[str] | None = None) -> None:
    """Run the cases (every one, or ``names``: the others keep their fixtures) and write the fixtures.

    Re-record a case only when its change is understood (a fixed bug, a new case): the
    fixtures are what holds every engine to its results bit for bit.
    """
    recorded = json.loads(FIXTURES.read_text()) if names and FIXTURES.exists() else {}
    recorded |= {name: run_case(name) for name in (names or cases())}
    FIXTURES.write_text(json.dumps(recorded, sort_keys=True) + "\n")
    print(f"{len(names or recorded)} cases recorded in {FIXTURES}", file=sys.stderr)


if __name__ == "__main__":
    import os

    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")  # the GPU cases run on numba-cuda's simulator, as the tests
    record(sys.argv[1:] or None)
