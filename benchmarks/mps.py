"""The matrix_product_state method against Aer's, side by side in one run; and a sweep on Dask.

Two circuits (issue 34's anchors), each measured with ``--shots`` shots (1000):

* ``qaoa``: ``--qaoa-qubits`` (100) qubits in a ring, ``--depth`` (4) layers of ZZ phases
  (RZZ on every ring edge) and X mixers (RX), from ``|+>``, bond limit ``--bond`` (64);
* ``brickwork``: ``--brick-qubits`` (50) qubits on a line, ``--brick-depth`` (8) layers of
  seeded random two-qubit unitaries on alternating pairs, bond limit ``--bond``.

Times are whole ``run().result()`` calls, min of ``--repeat`` after one warm-up, Aer and
aerdask alternating in the same process. Then ``--points`` (200) parameter points of the
QAOA circuit as one job, on the thread pool and on a ``LocalCluster(processes=True)`` of
``--workers`` (2) workers with one thread each.

    python benchmarks/mps.py [--shots 1000 --bond 64 --points 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import random_unitary


def qaoa(n: int, depth: int, gamma=0.4, beta=0.7) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(range(n))
    for _ in range(depth):
        for q in range(n):
            qc.rzz(gamma, q, (q + 1) % n)
        qc.rx(beta, range(n))
    qc.measure_all()
    return qc


def brickwork(n: int, depth: int, seed: int = 11) -> QuantumCircuit:
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n)
    for layer in range(depth):
        for q in range(layer % 2, n - 1, 2):
            qc.unitary(random_unitary(4, seed=int(rng.integers(1 << 30))), [q, q + 1])
    qc.measure_all()
    return qc


def best_of(fn, repeat: int) -> float:
    fn()  # warm-up: compiles, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qaoa-qubits", type=int, default=100)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--brick-qubits", type=int, default=50)
    parser.add_argument("--brick-depth", type=int, default=8)
    parser.add_argument("--bond", type=int, default=64)
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from qiskit_aer import AerSimulator as AerSim

    from aerdask import AerSimulator

    options = {"method": "matrix_product_state", "matrix_product_state_max_bond_dimension": args.bond}
    ours, theirs = AerSimulator(**options), AerSim(**options)
    circuits = {
        f"qaoa {args.qaoa_qubits}q depth {args.depth}": qaoa(args.qaoa_qubits, args.depth),
        f"brickwork {args.brick_qubits}q depth {args.brick_depth}": brickwork(args.brick_qubits, args.brick_depth),
    }
    print(f"bond limit {args.bond}, {args.shots} shots, min of {args.repeat}")
    for name, qc in circuits.items():
        t_ours = best_of(lambda qc=qc: ours.run(qc, shots=args.shots, seed_simulator=1).result(), args.repeat)
        t_aer = best_of(lambda qc=qc: theirs.run(qc, shots=args.shots, seed_simulator=1).result(), args.repeat)
        print(f"{name:28} aerdask {t_ours:8.3f} s   qiskit-aer {t_aer:8.3f} s   ratio {t_ours / t_aer:5.2f}x")

    gamma, beta = Parameter("gamma"), Parameter("beta")
    sweep = qaoa(args.qaoa_qubits, args.depth, gamma, beta)
    values = np.random.default_rng(3).uniform(0, np.pi, (args.points, 2))
    binds = {gamma: values[:, 0].tolist(), beta: values[:, 1].tolist()}

    def batch(executor, points: int) -> float:
        sim = AerSimulator(executor=executor, **options)
        some = {p: v[:points] for p, v in binds.items()}
        start = time.perf_counter()
        result = sim.run([sweep], parameter_binds=[some], shots=args.shots, seed_simulator=1).result()
        assert result.success and len(result.results) == points
        return time.perf_counter() - start

    from concurrent.futures import ThreadPoolExecutor

    from distributed import Client, LocalCluster

    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        batch(pool, args.workers)  # warm-up
        t_pool = batch(pool, args.points)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True) as cluster, Client(cluster) as c:
        batch(c, args.workers)  # warm-up: each worker compiles
        t_dask = batch(c, args.points)
    print(
        f"{args.points} points of the qaoa circuit: thread pool ({args.workers} threads) {t_pool:.2f} s, "
        f"LocalCluster ({args.workers} workers x 1 thread) {t_dask:.2f} s"
    )


if __name__ == "__main__":
    main()
