"""How batches and sweeps scale with Dask workers, and what the client costs per job.

Run: ``python benchmarks/scaling.py`` (``--workers 1 2 4 8``, ``--points 1000``, ``--repeats 2``).

Two workloads, each measured on the local thread pool and on clusters of single-thread
workers whose scheduler runs in its own process (``dask scheduler`` / ``dask worker``
processes on 127.0.0.1, as on a real cluster):

* ``batch``: 1000 distinct random 12-qubit circuits transpiled to u+cx, 1000 shots each;
* ``sweep``: a 1000-point ``parameter_binds`` sweep of one parameterized 12-qubit
  circuit of about the same size, 1000 shots per point.

For each it prints seconds per job (min of the repeats after a warm-up), the speed-up
over one worker, the client process's CPU seconds per job (compile, submit, gather and
building the ``Result``; the scheduler is in another process), the workers' CPU seconds
per job, and the bound on the speed-up the client implies:
``(client + worker CPU) / client CPU``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ParameterVector
from qiskit.circuit.random import random_circuit

from aerdask import AerSimulator

QUBITS = 12
SHOTS = 1000


def batch_circuits(n: int) -> list[QuantumCircuit]:
    circuits = []
    for i in range(n):
        qc = random_circuit(QUBITS, 10, max_operands=2, seed=i)
        qc.measure_all()
        circuits.append(qc)
    return transpile(circuits, basis_gates=["u", "cx"], optimization_level=0)


def sweep_circuit(layers: int = 10) -> QuantumCircuit:
    """About 255 instructions: layers of ry and rz on every qubit, then a ladder of cx."""
    theta = ParameterVector("theta", 2 * QUBITS)
    qc = QuantumCircuit(QUBITS, name="sweep")
    for layer in range(layers):
        for q in range(QUBITS):
            qc.ry(theta[q] * (layer + 1), q)
            qc.rz(theta[QUBITS + q] + 0.1 * layer, q)
        for q in range(0, QUBITS - 1, 2 if layer % 2 else 1):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc


class Cluster:
    """A ``dask scheduler`` and ``n`` single-thread ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, n_workers: int):
        self.dir = Path(tempfile.mkdtemp(prefix="aerdask-scaling-"))
        dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
        self.scheduler_file = self.dir / "scheduler.json"
        common = ["--dashboard-address", "127.0.0.1:0"]
        self.procs = [
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(self.scheduler_file)]
                + common,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        for i in range(n_workers):
            self.procs.append(
                subprocess.Popen(
                    [dask, "worker", self.address, "--nthreads", "1", "--name", f"w{i}", "--host", "127.0.0.1"]
                    + common
                    + ["--preload", "aerdask_worker", "--memory-limit", "4GiB"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def worker_cpu(self) -> float:
        """CPU seconds of the worker processes and their children (the nannies' workers)."""
        total = 0.0
        for proc in self.procs[1:]:
            try:
                p = psutil.Process(proc.pid)
                for q in [p, *p.children(recursive=True)]:
                    t = q.cpu_times()
                    total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(job_fn, repeats: int, worker_cpu=None, clock=time.process_time) -> tuple[float, float, float]:
    """Seconds per job (the least of the repeats), and the median client and worker CPU per job.

    ``clock`` measures the client: the whole process on a cluster (compile, submit,
    the Dask client's I/O thread, gathering, the ``Result``), the calling thread on
    the local pool (whose workers are threads of the same process).
    """
    job_fn()  # warm-up: compiles, registers the plugin, fills caches
    runs = []
    for _ in range(repeats):
        cpu0, wall0, w0 = clock(), time.perf_counter(), worker_cpu() if worker_cpu else 0.0
        job_fn()
        wall, cpu = time.perf_counter() - wall0, clock() - cpu0
        runs.append((wall, cpu, (worker_cpu() - w0) if worker_cpu else 0.0))
    return min(r[0] for r in runs), float(np.median([r[1] for r in runs])), float(np.median([r[2] for r in runs]))


def workloads(points: int):
    batch = batch_circuits(points)
    circuit = sweep_circuit()
    rng = np.random.default_rng(7)
    values = rng.uniform(0, 2 * np.pi, (points, circuit.num_parameters))
    binds = [{p: values[:, j] for j, p in enumerate(circuit.parameters)}]
    print(f"batch: {points} circuits, {np.mean([len(c.data) for c in batch]):.0f} instructions each")
    print(
        f"sweep: {points} points of one circuit, {len(circuit.data)} instructions, {circuit.num_parameters} parameters"
    )
    return {
        "batch": lambda backend: backend.run(batch, shots=SHOTS, seed_simulator=1).result(),
        "sweep": lambda backend: backend.run(circuit, parameter_binds=binds, shots=SHOTS, seed_simulator=1).result(),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", choices=["batch", "sweep"], nargs="+", default=["batch", "sweep"])
    args = parser.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    jobs = {k: v for k, v in workloads(args.points).items() if k in args.only}
    rows = {name: [] for name in jobs}
    for name, fn in jobs.items():
        wall, cpu, _ = measure(lambda fn=fn: fn(AerSimulator()), args.repeats, clock=time.thread_time)
        rows[name].append(("local pool (client: calling thread)", wall, cpu, None))
    from distributed import Client

    for n in args.workers:
        cluster = Cluster(n)
        try:
            with Client(cluster.address, timeout=60) as client:
                client.wait_for_workers(n, timeout=120)
                backend = AerSimulator(executor=client)
                for name, fn in jobs.items():
                    wall, cpu, wcpu = measure(lambda fn=fn, b=backend: fn(b), args.repeats, cluster.worker_cpu)
                    rows[name].append((f"{n} worker{'s' if n > 1 else ''} x 1 thread", wall, cpu, wcpu))
        finally:
            cluster.close()
    for name, table in rows.items():
        print(f"\n{name}: seconds per job (min of {args.repeats}); client and worker CPU per job (median)")
        print("| executor | s | vs 1 worker | client CPU s | worker CPU s | bound (client+worker)/client |")
        print("|---|---|---|---|---|---|")
        one = next((wall for label, wall, _, _ in table if label.startswith("1 worker")), None)
        for label, wall, cpu, wcpu in table:
            speed = f"{one / wall:.2f}x" if one and not label.startswith("local") else ""
            bound = f"{(cpu + wcpu) / cpu:.1f}x" if wcpu else ""
            worker = f"{wcpu:.2f}" if wcpu else ""
            print(f"| {label} | {wall:.3f} | {speed} | {cpu:.3f} | {worker} | {bound} |")


if __name__ == "__main__":
    main()
