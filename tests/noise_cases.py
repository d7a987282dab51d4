"""Noise channels, models and the exact distribution they give: shared by the noise tests."""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import DensityMatrix, Kraus, Operator
from scipy.stats import chisquare

from aerdask.noise import NoiseModel

SHOTS = 40_000


def depolarizing(p: float, n: int) -> Kraus:
    paulis = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]
    ops = [np.eye(1)]
    for _ in range(n):
        ops = [np.kron(a, b) for a in ops for b in paulis]
    count = len(ops)
    weights = [1 - p + p / count] + [p / count] * (count - 1)
    return Kraus([np.sqrt(w) * o for w, o in zip(weights, ops, strict=True)])


def amplitude_damping(gamma: float) -> Kraus:
    return Kraus([np.array([[1, 0], [0, np.sqrt(1 - gamma)]]), np.array([[0, np.sqrt(gamma)], [0, 0]])])


def reset_error(p: float) -> Kraus:
    """Reset to |0> with probability p (a mixture of a unitary and a non-unitary channel)."""
    k0 = np.sqrt(1 - p) * np.eye(2)
    return Kraus([k0, np.sqrt(p) * np.array([[1, 0], [0, 0]]), np.sqrt(p) * np.array([[0, 1], [0, 0]])])


def exact_probabilities(qc: QuantumCircuit, model: NoiseModel, readout: dict | None = None) -> np.ndarray:
    """The clbit distribution of ``qc`` (gates, then final measurements q -> c) under ``model``."""
    rho = DensityMatrix.from_label("0" * qc.num_qubits)
    finals = []
    for inst in qc.data:
        qargs = [qc.find_bit(q).index for q in inst.qubits]
        if inst.name == "measure":
            finals.append((qargs[0], qc.find_bit(inst.clbits[0]).index))
            continue
        if inst.name == "barrier":
            continue
        rho = rho.evolve(Operator(inst.operation), qargs)
        for channel in model.errors_for(inst.name, tuple(qargs)):
            weights = np.sqrt(channel.probabilities) if channel.kind == 0 else np.ones(len(channel.matrices))
            rho = rho.evolve(Kraus([w * m for w, m in zip(weights, channel.matrices, strict=True)]), qargs)
    probs = rho.probabilities()
    out = np.zeros(1 << qc.num_clbits)
    for index, p in enumerate(probs):
        value = 0
        for qubit, clbit in finals:
            value |= ((index >> qubit) & 1) << clbit
        out[value] += p
    for clbit, flips in (readout or {}).items():  # flips [P(1|0), P(0|1)] on a recorded bit
        new = np.zeros_like(out)
        for value, p in enumerate(out):
            bit = (value >> clbit) & 1
            new[value] += p * (1 - flips[bit])
            new[value ^ (1 << clbit)] += p * flips[bit]
        out = new
    return out


def assert_fits(counts: dict, probs: np.ndarray, num_clbits: int, shots: int = SHOTS) -> None:
    observed = np.array([counts.get(format(v, f"0{num_clbits}b"), 0) for v in range(probs.size)])
    assert observed.sum() == shots
    assert not np.any(observed[probs < 1e-12]), "an impossible outcome was sampled"
    keep = probs > 1e-12
    expected = probs[keep] / probs[keep].sum() * shots
    assert chisquare(observed[keep], expected).pvalue > 1e-3, (observed, expected.round(1))


def model_of(kind: str) -> NoiseModel:
    model = NoiseModel()
    gates_1q = ["h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "u", "u1", "u2", "u3", "p"]
    gates_2q = ["cx", "cz", "cy", "swap", "ch", "crx", "cry", "crz", "cu1", "cu3", "rzz", "cp", "cs", "csx", "iswap"]
    gates_2q += ["ecr", "dcx", "rxx", "ryy", "rzx", "cu", "csdg"]
    if kind == "depolarizing":
        model.add_all_qubit_quantum_error(depolarizing(0.08, 1), gates_1q)
        model.add_all_qubit_quantum_error(depolarizing(0.15, 2), gates_2q)
    elif kind == "amplitude_damping":
        model.add_all_qubit_quantum_error(amplitude_damping(0.2), gates_1q)
    elif kind == "reset_and_local":
        model.add_all_qubit_quantum_error(reset_error(0.1), gates_1q)
        model.add_quantum_error(depolarizing(0.5, 1), gates_1q, [0])  # replaces the all-qubit error on q0
    elif kind == "readout":
        model.add_all_qubit_quantum_error(depolarizing(0.05, 1), gates_1q)
        model.add_all_qubit_readout_error([[0.9, 0.1], [0.25, 0.75]])
        model.add_readout_error([[0.99, 0.01], [0.02, 0.98]], [1])
    return model
