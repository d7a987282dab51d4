"""The main job: a Bell-state circuit on the default local executor, counts printed.

Run: ``python examples/bell.py`` (no cluster needed). Pass a Dask scheduler address
as the first argument to run the same job on a cluster instead.
"""

import sys

from qiskit import QuantumCircuit

from aerdask import AerSimulator


def bell_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def main(argv: list[str]) -> dict:
    executor = None
    if len(argv) > 1:
        from distributed import Client

        executor = Client(argv[1])
    backend = AerSimulator(executor=executor)
    job = backend.run(bell_circuit(), shots=1024, seed_simulator=1234)
    counts = job.result().get_counts()
    print(f"job {job.job_id()} {job.status().name}: {counts}")
    return counts


if __name__ == "__main__":
    main(sys.argv)
