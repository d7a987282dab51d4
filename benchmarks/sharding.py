"""Sharded runs on one machine: time against the unsharded run, bytes moved against the plan, exchange rate.

Run: ``python benchmarks/sharding.py [--qubits 24] [--shards 2 4 8] [--repeats 3]``.

* The unsharded run uses the local thread pool (every core, one process). Each
  sharded run uses a ``LocalCluster(processes=True)`` of one-thread workers, one per
  shard up to ``--workers`` (default: one per core, so the cluster has the pool's
  cores; more processes would only share them), warmed by one run first. Times are the best of
  ``--repeats``, measured side by side in one run.
* Bytes moved are what the workers fetched from each other (Dask's transfer log),
  against the plan's ``network_bytes`` (pieces whose shards sit on different workers).
* The exchange rate times bare exchanges of the lowest global qubit with the highest
  local one (each shard sends half of itself, one contiguous half, to its partner)
  on the same workers.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from distributed import Client, LocalCluster
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit
from qiskit.synthesis.qft import synth_qft_full

from aerdask import AerSimulator
from aerdask.compiler import compile_circuit
from aerdask.executors.dask import DaskAdapter
from aerdask_kernels.passes.prepare import prepare_point
from aerdask_kernels.sharded import ShardedEngine


def circuits(n: int) -> dict:
    rng = np.random.default_rng(1)
    layer = QuantumCircuit(n)
    for q in range(n):
        layer.u(*rng.uniform(0, 2 * np.pi, 3), q)
    qft = layer.compose(synth_qft_full(n))
    rand = layer.compose(random_circuit(n, 10, max_operands=2, seed=2))
    for qc in (qft, rand):
        qc.measure_all()
    return {"qft": qft, "random": rand}


def best(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def received(client) -> int:
    return sum(client.run(lambda dask_worker: sum(e["total"] for e in dask_worker.transfer_incoming_log)).values())


def exchange_rate(client, n: int, shards: int, rounds: int = 6) -> tuple[float, float]:
    """Seconds per exchange of one global qubit, and the bytes per second it moves between workers."""
    program = AerSimulator(enable_truncation=False).compile(QuantumCircuit(n))
    exp = prepare_point(program.experiments[0], 0, True)
    adapter = DaskAdapter(client)
    flag = np.zeros(1, dtype=np.uint8)
    walker = ShardedEngine(exp, np.complex128, flag, adapter.shard_store("bench-exchange", program, flag), shards)
    state = walker.fresh()
    walker.store.wait(state.refs)
    nl = walker.num_local
    sets = [frozenset(range(nl - 1)) | {nl}, frozenset(range(nl))]  # bits nl - 1 and nl swap, back and forth
    times = []
    for r in range(rounds):
        start = time.perf_counter()
        walker.exchange(state, sets[r % 2])
        walker.store.wait(state.refs)
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    moved = walker.counters["network_bytes"] / rounds
    return seconds, moved / seconds


def plan(n: int, shards: int) -> dict:
    """The stage plan of an ``n``-qubit QFT (with its final swaps) on ``shards`` shards: no state is made."""
    from aerdask_kernels.passes.blocking import runs, stage_gate
    from aerdask_kernels.passes.staging import plan_stages
    from aerdask_kernels.sharded.shard_ops import Layout

    qc = synth_qft_full(n)
    exp = prepare_point(compile_circuit(qc), 0, True)  # compiled without admission: no state is made
    nl = n - shards.bit_length() + 1
    layout = Layout.identity(n, nl)
    stages = exchanges = moved = 0
    for start, end in runs(exp.ops):
        gates = [stage_gate(exp.ops, exp.qubits, pc) for pc in range(start, end)]
        for stage in plan_stages(gates, nl, layout.local, True, n).stages:
            if stage.local != layout.local:
                layout, pairs = layout.swap_for(stage.local)
                exchanges += 1
                moved += 1 - 0.5 ** len(pairs)  # the part of each shard that leaves it
            stages += 1
    if not layout.is_identity():  # sampling brings the circuit's order back
        _, pairs = layout.swap_for(frozenset(range(nl)))
        exchanges += bool(pairs)
        moved += 1 - 0.5 ** len(pairs)
    return {"rows": int(exp.ops.shape[0]), "stages": stages, "exchanges": exchanges, "shards_moved": moved}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, default=24)
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="most workers (default: one per core)")
    parser.add_argument("--plan", type=int, nargs=2, metavar=("QUBITS", "SHARDS"), help="print a QFT's plan only")
    args = parser.parse_args()
    if args.plan:
        print(f"QFT-{args.plan[0]} on {args.plan[1]} shards:", plan(*args.plan))
        return
    n = args.qubits
    print(f"# {os.cpu_count()} cores; {n} qubits, complex128 ({16 << n >> 20} MiB state); best of {args.repeats}")
    whole = {}
    for name, qc in circuits(n).items():
        sim = AerSimulator(seed_simulator=3)
        sim.run(qc).result()
        whole[name] = best(lambda sim=sim, qc=qc: sim.run(qc).result(), args.repeats)
        print(f"{name}: unsharded (thread pool): {whole[name][0]:.3f} s")
    for shards in args.shards:
        workers = min(shards, args.workers)
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
            ) as cluster,
            Client(cluster) as client,
        ):
            for name, qc in circuits(n).items():
                sim = AerSimulator(seed_simulator=3, shards=shards, executor=client)
                sim.run(qc).result()  # the workers compile their kernels
                before = received(client)
                seconds, result = best(lambda sim=sim, qc=qc: sim.run(qc).result(), args.repeats)
                moved = (received(client) - before) / args.repeats
                stats = result.results[0].metadata["sharding"]
                same = result.get_counts() == whole[name][1].get_counts()
                print(
                    f"{name}: {shards} shards on {workers} workers: {seconds:.3f} s = "
                    f"{seconds / whole[name][0]:.2f}x unsharded; {stats['stages']} stages, "
                    f"{stats['exchanges']} exchanges; moved {moved / 2**20:.1f} MiB between workers, "
                    f"planned {stats['network_bytes'] / 2**20:.1f} MiB; same counts: {same}"
                )
            per, rate = exchange_rate(client, n, shards)
            print(
                f"exchange of one global qubit, {shards} shards: {per * 1e3:.0f} ms, "
                f"{rate / 1e9:.2f} GB/s between workers"
            )


if __name__ == "__main__":
    main()
