"""Dask figures: per-task overhead, cold vs warm first task, batch throughput vs the thread pool.

Run: ``python benchmarks/dask_overhead.py``. Everything runs in one process on this
machine, on ``LocalCluster(processes=True)`` workers with one thread each.
"""

from __future__ import annotations

import os
import time

from distributed import Client, LocalCluster
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit

from aerdask import AerSimulator
from aerdask_worker import AerdaskWorkerPlugin


def cluster(n_workers=2):
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )


def tiny(n):
    out = []
    for i in range(n):
        qc = QuantumCircuit(1, 1, name=f"t{i}")
        qc.h(0)
        qc.measure(0, 0)
        out.append(qc)
    return out


def batch(n, num_qubits=12, seed=0):
    out = []
    for i in range(n):
        qc = random_circuit(num_qubits, 10, max_operands=2, seed=seed + i)
        qc.measure_all()
        out.append(qc)
    return out


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def per_task_overhead(client, n=400):
    backend = AerSimulator(executor=client)
    circuits = tiny(n)
    backend.run(circuits, max_job_size=n).result()  # warm
    one = min(timed(lambda: backend.run(circuits, max_job_size=n).result()) for _ in range(3))
    many = min(timed(lambda: backend.run(circuits, max_job_size=1).result()) for _ in range(3))
    # Two workers run tasks side by side, so the wall-clock cost per task is half the serial one.
    return (many - one) / n, one, many


def first_task_latency(warm: bool, cache: bool):
    # Worker processes inherit this process's environment when they are spawned.
    os.environ["AERDASK_NUMBA_CACHE"] = "1" if cache else "0"
    with cluster(1) as c, Client(c) as client:
        start = time.perf_counter()
        client.register_plugin(AerdaskWorkerPlugin(warm=warm))
        setup = time.perf_counter() - start
        client._aerdask_ready = True  # the plugin is in place; skip the checks the backend would add
        qc = batch(1, num_qubits=10)[0]
        latency = timed(lambda: AerSimulator(executor=client).run(qc).result())
        second = timed(lambda: AerSimulator(executor=client).run(qc).result())
    return setup, latency, second


def throughput(circuits, **options):
    backend = AerSimulator(**options)
    backend.run(circuits[:20], shots=1000).result()  # warm
    elapsed = min(timed(lambda: backend.run(circuits, shots=1000, seed_simulator=1).result()) for _ in range(2))
    return len(circuits) / elapsed


def main():
    print(f"cpus: {os.cpu_count()}")
    with cluster(2) as c, Client(c) as client:
        AerSimulator(executor=client).run(tiny(1)).result()
        per_task, one, many = per_task_overhead(client)
        print(
            f"per-task overhead (2 workers): {per_task * 1e3:.2f} ms  "
            f"(400 tiny: 1 task {one:.3f} s, 400 tasks {many:.3f} s)"
        )
        circuits = batch(1000)
        dask_rate = throughput(circuits, executor=client)
        dask_rate_10 = throughput(circuits, executor=client, max_job_size=10)
    with cluster(1) as c, Client(c) as client:
        one_worker = throughput(circuits, executor=client)
    pool_unsplit = throughput(circuits)
    pool_split = throughput(circuits, max_job_size=250)
    print("1000 random 12-qubit circuits, 1000 shots each (circuits/s):")
    print(f"  thread pool, one task (default):   {pool_unsplit:8.1f}")
    print(f"  thread pool, max_job_size=250:     {pool_split:8.1f}")
    print(f"  Dask 2 workers x 1 thread (auto):  {dask_rate:8.1f}  ratio vs pool split {dask_rate / pool_split:.2f}")
    print(f"  Dask 2 workers, max_job_size=10:   {dask_rate_10:8.1f}")
    print(f"  Dask 1 worker (auto):              {one_worker:8.1f}  2 workers / 1 worker {dask_rate / one_worker:.2f}")
    for warm, cache in ((False, False), (False, True), (True, False), (True, True)):
        setup, first, second = first_task_latency(warm, cache)
        print(
            f"fresh worker, warm-up={'on ' if warm else 'off'} cache={'on ' if cache else 'off'}: "
            f"plugin setup {setup:.2f} s, first job {first:.3f} s, second job {second:.3f} s"
        )


if __name__ == "__main__":
    main()
