"""A 2-D parameter grid stored as a table, then drawn as a heat map.

Run: ``pip install -e ".[table,plot]" && python examples/sweep_grid.py [OUTPUT.parquet]``.
The sweep stores the expectation value of ZZ at every point (exactly, as the
estimator computes it) in a Parquet table; ``aerdask.sweep.load`` reads it back as a
pandas DataFrame, ``to_xarray`` gives it the grid's two dimensions, and matplotlib
draws the heat map next to the table (``OUTPUT.png``). Interrupt it and run it
again to resume.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # writes a file; no display needed
import matplotlib.pyplot as plt
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from aerdask import AerSimulator
from aerdask.sweep import grid_points, load, run_sweep, to_xarray

theta, phi = Parameter("theta"), Parameter("phi")
circuit = QuantumCircuit(2, name="zz_grid")
circuit.ry(theta, 0)
circuit.ry(phi, 1)
circuit.cz(0, 1)  # entangles, and leaves <ZZ> = cos(theta) cos(phi)


def main(argv):
    output = Path(argv[1] if len(argv) > 1 else "zz_grid.parquet")
    names, points = grid_points(["theta=0:3.141592653589793:25", "phi=0:3.141592653589793:25"])
    summary = run_sweep(circuit, names, points, output, AerSimulator(), seed=3, observables=["ZZ"])
    grid = to_xarray(load(output))["evs.ZZ"]  # dimensions (theta, phi)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    mesh = ax.pcolormesh(grid["phi"], grid["theta"], grid.values, cmap="RdBu_r", vmin=-1, vmax=1, shading="nearest")
    fig.colorbar(mesh, ax=ax, label="<ZZ>")
    ax.set_xlabel("phi")
    ax.set_ylabel("theta")
    ax.set_title("<ZZ> after ry(theta), ry(phi), cz")
    fig.tight_layout()
    picture = output.with_suffix(".png")
    fig.savefig(picture, dpi=110)
    print(f"{summary}; heat map in {picture}")
    return grid


if __name__ == "__main__":
    main(sys.argv)
