"""Two jobs on two threads use both cores: the kernels release the GIL.

Run: ``python benchmarks/two_jobs.py``. Times one 22-qubit job alone, then two at
once on the default thread pool. With the GIL held the pair would take about 2x;
with it released, about 1x on a machine with two free cores.
"""

import os
import time

from qiskit.circuit.random import random_circuit

from aerdask import AerSimulator


def main(num_qubits=22, depth=12):
    qc = random_circuit(num_qubits, depth, max_operands=2, seed=5)
    qc.measure_all()
    backend = AerSimulator(max_parallel_threads=1)
    backend.run(qc, shots=1).result()  # JIT warm-up
    start = time.perf_counter()
    backend.run(qc, shots=1).result()
    one = time.perf_counter() - start
    start = time.perf_counter()
    jobs = [backend.run(qc, shots=1) for _ in range(2)]
    for job in jobs:
        job.result()
    two = time.perf_counter() - start
    print(f"cores: {os.cpu_count()}  one job: {one:.3f} s  two jobs at once: {two:.3f} s  ratio: {two / one:.2f}")


if __name__ == "__main__":
    main()
