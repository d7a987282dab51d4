"""GPU figures for issue 21: each gate pass against a device-to-device copy, and whole circuits GPU vs CPU.

Run on a machine with an NVIDIA GPU (``pip install -e ".[gpu]"``)::

    python benchmarks/gpu.py --qubits 28 30

Everything is measured in one run. Per size:

* **passes**: a device-to-device copy of the state, then one tile pass
  (:mod:`aerdask_kernels.gpu.tiles`) per gate: a one-qubit gate on every target qubit,
  dense two-qubit gates on (0, 1) and (3, n-1), a dense five-qubit gate on (0, 7, 13, 19, n-1)
  and a diagonal; bandwidth counts the bytes read plus written, and the table gives
  each pass's bandwidth as a fraction of the copy's (target >= 0.9).
* **circuits**: QFT, random and quantum-volume circuits run by ``AerSimulator`` with
  ``device="GPU"`` and ``device="CPU"`` (all the machine's cores), the min of the
  repeats after a warm-up run; the ratio is CPU time / GPU time (target >= 20).

``--simulate`` runs the same code on numba-cuda's simulator at a few qubits: a check
that the script works, not a measurement.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _timed(fn, repeats: int, sync) -> float:
    """Min seconds of ``fn()`` over ``repeats`` runs after one warm-up, the GPU synchronised around each."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _gate_rows(num_qubits: int, gates: list[tuple[str, list[int]]], dtype):
    """An ops table (one MATRIX/DIAG row per gate, random unitaries) with its qubits and matrices."""
    from aerdask_kernels.opcodes import N_COLS, OP_DIAG, OP_MATRIX

    rng = np.random.default_rng(1)
    ops = np.zeros((len(gates), N_COLS), dtype=np.int64)
    qubits, matrices = [], []
    for r, (kind, targets) in enumerate(gates):
        dim = 1 << len(targets)
        if kind == "diag":
            entries = np.exp(1j * rng.uniform(0, 2 * np.pi, dim))
            ops[r, :5] = (OP_DIAG, len(qubits), 0, len(targets), sum(m.size for m in matrices))
        else:
            q, _ = np.linalg.qr(rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim)))
            entries = q.reshape(-1)
            ops[r, :5] = (OP_MATRIX, len(qubits), 0, len(targets), sum(m.size for m in matrices))
        qubits.extend(targets)
        matrices.append(entries.astype(dtype))
    return ops, np.array(qubits, dtype=np.int64), np.concatenate(matrices)


def passes_table(num_qubits: int, repeats: int, threads: int, max_blocks: int) -> list[tuple[str, float, float]]:
    """``[(pass, seconds, bandwidth in B/s)]``: the copy first, then each gate's tile pass."""
    from numba import cuda

    from aerdask_kernels.gpu import kernels, tiles

    dtype = np.complex128
    state = cuda.device_array(1 << num_qubits, dtype=dtype)
    kernels.basis_state[kernels.launch(state.size, threads, max_blocks)](state)
    other = cuda.device_array_like(state)
    moved = 2 * state.size * np.dtype(dtype).itemsize  # read + write
    rows = [("copy", _timed(lambda: other.copy_to_device(state), repeats, cuda.synchronize))]
    n = num_qubits
    gates = [("dense", [t]) for t in range(n)]
    gates += [("dense", [0, 1]), ("dense", [3, n - 1]), ("dense", sorted({0, 7 % n, 13 % n, 19 % n, n - 1}))]
    gates += [("diag", [0, n // 2, n - 1])]
    tile = kernels.tile_pass(dtype)
    for kind, targets in gates:
        ops, qubits, matrices = _gate_rows(n, [(kind, targets)], dtype)
        (batch,), _ = tiles.plan_batches(ops, qubits, 0, n)
        to = cuda.to_device
        free = to(batch.free if batch.free.size else np.zeros(1, dtype=np.int64))
        args = (batch.tile_bits, free, batch.free.size, to(batch.offsets), to(batch.rows), to(batch.targets))
        args = (*args, to(matrices))
        grid = (min(1 << batch.free.size, max_blocks), min(threads, 1 << batch.tile_bits))

        def run(args=args, grid=grid):
            tile[grid](state, *args)

        rows.append((f"{kind} {targets}", _timed(run, repeats, cuda.synchronize)))
    return [(name, seconds, moved / seconds) for name, seconds in rows]


def circuits_table(num_qubits: int, repeats: int) -> list[tuple[str, float, float]]:
    """``[(circuit, gpu seconds, cpu seconds)]`` through ``AerSimulator``."""
    sys.path.insert(0, os.path.dirname(__file__))
    from suite import CIRCUITS

    from aerdask import AerSimulator

    gpu, cpu = AerSimulator(device="GPU"), AerSimulator(device="CPU")
    out = []
    for name in ("qft", "random", "qv"):
        qc = CIRCUITS[name](num_qubits)
        qc.measure_all()

        def run(backend, qc=qc):
            backend.run(qc, shots=1000, seed_simulator=1).result()

        out.append(
            (name, _timed(lambda: run(gpu), repeats, lambda: None), _timed(lambda: run(cpu), repeats, lambda: None))
        )
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=[28, 30])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-circuits", action="store_true")
    parser.add_argument("--simulate", action="store_true", help="numba-cuda's simulator at a few qubits (a smoke test)")
    args = parser.parse_args(argv)
    if args.simulate:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        sys.setswitchinterval(5e-5)
    from aerdask_kernels.gpu import devices, kernels

    found = devices()
    if not found:
        from aerdask_kernels.gpu import unavailable_reason

        raise SystemExit(f"no GPU: {unavailable_reason()}")
    print(f"GPU: {found[0]['name']}, {found[0]['memory'] / 2**30:.1f} GiB; CPU cores: {os.cpu_count()}")
    threads, max_blocks = (4, 1) if args.simulate else (kernels.THREADS, kernels.MAX_BLOCKS)
    for n in args.qubits:
        table = passes_table(n, args.repeats, threads, max_blocks)
        copy = table[0][2]
        print(f"\n## {n} qubits, complex128: passes (bytes read + written)\n")
        print("| pass | ms | TB/s | of copy |\n|---|---|---|---|")
        for name, seconds, bandwidth in table:
            print(f"| {name} | {seconds * 1e3:.2f} | {bandwidth / 1e12:.2f} | {bandwidth / copy:.2f} |")
        if not args.skip_circuits:
            print(f"\n## {n} qubits: circuits, 1000 shots (min of {args.repeats})\n")
            print("| circuit | GPU s | CPU s | CPU / GPU |\n|---|---|---|---|")
            for name, gpu, cpu in circuits_table(n, args.repeats):
                print(f"| {name} | {gpu:.3f} | {cpu:.3f} | {cpu / gpu:.1f}x |")


if __name__ == "__main__":
    main()
