"""How far the greedy stage planner is from the fewest passes, on cases small enough to search.

Run: ``python benchmarks/staging.py``. For each circuit, both levels of
:mod:`aerdask_kernels.passes.staging`: cache blocks (``capacity`` local qubits, qubit 0
always local, each block gathers the rest) and shards (``capacity`` local qubits,
a relabel per change, counted as a pass). Prints the greedy plan's passes, the
fewest any plan needs (breadth-first search over every local set), and a summary.
Then the plans of the 24-qubit suite circuits at both levels.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from qiskit.circuit.random import random_circuit

sys.path.insert(0, str(Path(__file__).parent))
from suite import CIRCUITS  # noqa: E402

import aerdask  # noqa: E402
from aerdask_kernels.opcodes import COL_OPCODE, OP_DIAG, OP_MATRIX  # noqa: E402
from aerdask_kernels.passes.blocking import BLOCK_FREE_SLOTS, BLOCK_LOW_QUBITS, BLOCK_QUBITS, stage_gate  # noqa: E402
from aerdask_kernels.passes.prepare import prepare_point  # noqa: E402
from aerdask_kernels.passes.staging import fewest_passes, plan_stages  # noqa: E402


def gates_of(qc):
    program = aerdask.AerSimulator().compile([qc], shots=1)
    exp = prepare_point(program.experiments[0], 0, True)
    rows = [pc for pc in range(exp.ops.shape[0]) if exp.ops[pc, COL_OPCODE] in (OP_MATRIX, OP_DIAG)]
    return [stage_gate(exp.ops, exp.qubits, pc) for pc in rows]


def small_cases(sizes, seeds):
    for n in sizes:
        for seed in seeds:
            yield f"random{n} s{seed}", random_circuit(n, 6, max_operands=2, seed=seed)
        for name in ("qft", "qv", "ghz"):
            yield f"{name}{n}", CIRCUITS[name](n)


def compare(sizes, seeds, capacity):
    gaps = {"blocks": [], "shards": []}
    print(f"capacity {capacity} local qubits; passes: greedy / fewest")
    for label, qc in small_cases(sizes, seeds):
        gates = gates_of(qc)
        n = qc.num_qubits
        cells = []
        for level, fixed, relabel in (("blocks", frozenset({0}), False), ("shards", frozenset(range(capacity)), True)):
            start = time.perf_counter()
            greedy = plan_stages(gates, capacity, fixed, relabel=relabel, num_qubits=n).passes
            best = fewest_passes(gates, capacity, n, fixed, relabel=relabel)
            gaps[level].append((greedy, best))
            cells.append(f"{level} {greedy}/{best} ({time.perf_counter() - start:.1f} s)")
        print(f"  {label:<14} {len(gates):3d} gates  " + "  ".join(cells), flush=True)
    for level, pairs in gaps.items():
        ratios = [g / b for g, b in pairs]
        optimal = sum(g == b for g, b in pairs)
        print(
            f"{level}: greedy optimal in {optimal}/{len(pairs)} cases;"
            f" greedy/fewest mean {statistics.mean(ratios):.3f},"
            f" worst {max(ratios):.3f} ({max(g - b for g, b in pairs)} passes)"
        )


def suite_plans(num_qubits, shard_qubits):
    print(f"\n{num_qubits}-qubit suite circuits: planned passes")
    for name, make in CIRCUITS.items():
        gates = gates_of(make(num_qubits))
        low = frozenset(range(BLOCK_LOW_QUBITS))
        blocks = plan_stages(gates, BLOCK_QUBITS, low, num_qubits=num_qubits, reserve=BLOCK_FREE_SLOTS)
        shards = plan_stages(gates, shard_qubits, frozenset(range(shard_qubits)), relabel=True, num_qubits=num_qubits)
        print(
            f"  {name:<7} {len(gates):4d} gate rows; cache blocks of {BLOCK_QUBITS}: {blocks.passes} passes;"
            f" {2 ** (num_qubits - shard_qubits)} shards of {shard_qubits}: {len(shards.stages)} stages +"
            f" {shards.relabels} exchanges"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 7, 8])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--suite-qubits", type=int, default=24)
    args = parser.parse_args(argv)
    compare(args.sizes, range(args.seeds), args.capacity)
    suite_plans(args.suite_qubits, args.suite_qubits - 3)


if __name__ == "__main__":
    main()
