"""A batch parameter sweep from a script: the expectation of Z as a function of an angle.

Run: ``python examples/sweep_rx.py [OUTPUT.jsonl] [SCHEDULER_ADDRESS]``. Runs on the local
thread pool unless a Dask scheduler address is given; interrupt it and run it again
to resume. The results are JSON lines, read back here with the json module; with
``pip install "aerdask[table]"``, ``aerdask.sweep.load(OUTPUT)`` gives them as a pandas
table (``examples/sweep_grid.py``), and ``observables=["Z"]`` would store <Z> itself.
"""

import sys

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from aerdask import AerSimulator
from aerdask.sweep import grid_points, run_sweep

theta = Parameter("theta")
circuit = QuantumCircuit(1, 1, name="rx_sweep")
circuit.rx(theta, 0)
circuit.measure(0, 0)


def main(argv):
    output = argv[1] if len(argv) > 1 else "rx_sweep.jsonl"
    executor = None
    if len(argv) > 2:
        from distributed import Client

        executor = Client(argv[2])
    names, points = grid_points(["theta=0:3.141592653589793:21"])
    summary = run_sweep(circuit, names, points, output, AerSimulator(executor=executor), shots=2000, seed=7)
    import json

    with open(output) as fh:
        rows = [json.loads(line) for line in fh]
    for row in rows[::5]:
        z = (row["counts"].get("0", 0) - row["counts"].get("1", 0)) / row["shots"]
        print(f"theta={row['theta']:.3f}  <Z>={z:+.3f}  exact={np.cos(row['theta']):+.3f}")
    print(summary)
    return rows


if __name__ == "__main__":
    main(sys.argv)
