"""Noisy shots: aerdask against qiskit-aer, each method side by side in one run.

The circuit: ``random_circuit(n, 10)`` transpiled to ``u`` + ``cx``; the noise: depolarizing
errors (0.001 after ``u``, 0.01 after ``cx``) and a readout error (2% / 3%). Each row runs
both simulators with the same noise model (qiskit-aer's, which aerdask reads) after a
warm-up run, and prints the best of ``--repeats``: the statevector method (trajectories)
and, up to 14 qubits, the density-matrix method.

Run: ``python benchmarks/noise.py`` (``--rows 12`` for the 12-qubit rows only).
"""

from __future__ import annotations

import argparse
import time

from qiskit import transpile
from qiskit.circuit.random import random_circuit
from qiskit_aer import AerSimulator as Aer
from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

import aerdask


def noise_model() -> NoiseModel:
    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(0.001, 1), ["u"])
    model.add_all_qubit_quantum_error(depolarizing_error(0.01, 2), ["cx"])
    model.add_all_qubit_readout_error(ReadoutError([[0.98, 0.02], [0.03, 0.97]]))
    return model


def circuit(n: int):
    qc = transpile(random_circuit(n, 10, max_operands=2, seed=1234), basis_gates=["u", "cx"], optimization_level=0)
    qc.measure_all()
    return qc


def best(run, repeats: int) -> float:
    run()  # warm-up: compiles, fills caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[12, 20])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = noise_model()
    rows = {12: 2000, 20: 1000}
    print(f"{'qubits':>6} {'shots':>6} {'method':>15} {'aerdask s':>10} {'aer s':>9} {'ratio':>6}")
    for n in args.rows:
        qc, shots = circuit(n), rows.get(n, 1000)
        mine = aerdask.AerSimulator(noise_model=model)
        theirs = Aer(method="statevector", noise_model=model)
        repeats = args.repeats if n < 16 else 1
        t_mine = best(lambda: mine.run(qc, shots=shots, seed_simulator=1).result(), repeats)  # noqa: B023
        t_aer = best(lambda: theirs.run(qc, shots=shots, seed_simulator=1).result(), repeats)  # noqa: B023
        print(f"{n:>6} {shots:>6} {'statevector':>15} {t_mine:>10.3f} {t_aer:>9.3f} {t_mine / t_aer:>6.2f}", flush=True)
        if n <= 14:
            dm = Aer(method="density_matrix", noise_model=model)
            mine_dm = aerdask.AerSimulator(method="density_matrix", noise_model=model)
            t_dm = best(lambda: dm.run(qc, shots=shots, seed_simulator=1).result(), repeats)  # noqa: B023
            t_my_dm = best(lambda: mine_dm.run(qc, shots=shots, seed_simulator=1).result(), repeats)  # noqa: B023
            print(f"{n:>6} {shots:>6} {'density_matrix':>15} {t_my_dm:>10.3f} {t_dm:>9.3f} {t_my_dm / t_dm:>6.2f}")


if __name__ == "__main__":
    main()
