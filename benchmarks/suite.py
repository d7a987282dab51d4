"""The benchmark suite: aerdask against qiskit-aer and, where installed, qibojit, lightning, qulacs and qsim.

Run: ``pip install -e ".[bench]" && python benchmarks/suite.py`` (``--sizes 16 20`` for a
quick look, ``--skip-peers`` to compare with Aer only, ``--peers qsim qulacs`` for some peers).
Everything is measured in one run on this machine: min and median of the repeats after a warm-up run, ratios to Aer
and to the fastest peer *at the same precision* (aerdask double against Aer, qulacs, qibojit and
lightning; aerdask ``precision="single"`` against qsim, which has no double precision), and the
memory-bandwidth limit (an in-place read+write pass over a 2**26 complex128 array) with the CPU
and thread count. Every statevector simulator runs with ``method="statevector"`` (Aer's automatic
method would take the stabilizer for GHZ) and the peers at their best settings: qsim with gate
fusion of 2 and of 4 qubits, qulacs with and without its ``QuantumCircuitOptimizer``, the
faster kept. Per circuit, the passes over the state that aerdask's stage plan makes for its
gates, aerdask's whole time in units of one in-place pass over a state of that size, and
(``--breakdown``) where those pass-equivalents go: allocation, each stage, sampling.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
from numba import njit, prange
from qiskit import QuantumCircuit, transpile
from qiskit.circuit.library import quantum_volume
from qiskit.circuit.random import random_circuit
from qiskit.synthesis import synth_qft_full

import aerdask
from aerdask_kernels.warmup import warm_up

PORTABLE_BASIS = ["u3", "cx", "h", "cu1", "swap"]


# -- circuits ---------------------------------------------------------------------------
def qft(n):
    return synth_qft_full(n)


def random(n):
    return transpile(random_circuit(n, 10, max_operands=2, seed=1234), basis_gates=["u", "cx"], optimization_level=0)


def qv(n):
    return quantum_volume(n, seed=7).decompose()  # layers of two-qubit unitaries


def ghz(n):
    qc = QuantumCircuit(n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    return qc


CIRCUITS = {"qft": qft, "random": random, "qv": qv, "ghz": ghz}


# -- simulators: each returns a callable that simulates the final state once ----------------
def aerdask_runner(qc, precision="double"):
    # Compiled kernels, as a long-lived process has them: in a script, a small double-precision
    # job would otherwise run the kernels' Python source (the first-run path, ~50 ms for GHZ-12).
    warm_up()
    backend = aerdask.AerSimulator(method="statevector", precision=precision)
    measured = qc.measure_all(inplace=False)
    return lambda: backend.run(measured, shots=1).result()


def aerdask_single_runner(qc):
    return aerdask_runner(qc, "single")


def aer_runner(qc):
    import qiskit_aer

    backend = qiskit_aer.AerSimulator(method="statevector")
    measured = qc.measure_all(inplace=False)
    return lambda: backend.run(measured, shots=1).result()


def portable(qc):
    return transpile(qc, basis_gates=PORTABLE_BASIS, optimization_level=0)


def qibojit_runner(qc):
    import qibo
    from qiskit.qasm2 import dumps

    qibo.set_backend("qibojit")
    circuit = qibo.Circuit.from_qasm(dumps(portable(qc))).fuse()
    return lambda: circuit()


def qulacs_circuit(qc):
    import qulacs
    from qulacs import gate

    pc = portable(qc)
    circuit = qulacs.QuantumCircuit(qc.num_qubits)
    for inst in pc.data:
        q = [pc.find_bit(b).index for b in inst.qubits]
        name, params = inst.operation.name, [float(p) for p in inst.operation.params]
        if name == "h":
            circuit.add_H_gate(q[0])
        elif name == "cx":
            circuit.add_CNOT_gate(q[0], q[1])
        elif name == "swap":
            circuit.add_SWAP_gate(q[0], q[1])
        elif name == "u3":
            circuit.add_U3_gate(q[0], *params)
        elif name == "cu1":
            circuit.add_gate(gate.DenseMatrix([q[0], q[1]], np.diag([1, 1, 1, np.exp(1j * params[0])])))
    return circuit


def qulacs_runner(qc, repeats=2):
    """qulacs as given and after its optimiser (light, and blocks of 2 and 3 qubits): the fastest."""
    import qulacs
    from qulacs.circuit import QuantumCircuitOptimizer

    variants = [qulacs_circuit(qc)]
    for block in (0, 2, 3):
        circuit = qulacs_circuit(qc)
        if block:
            QuantumCircuitOptimizer().optimize(circuit, block)
        else:
            QuantumCircuitOptimizer().optimize_light(circuit)
        variants.append(circuit)
    state = qulacs.QuantumState(qc.num_qubits)

    def runner(circuit):
        def run():
            state.set_zero_state()
            circuit.update_quantum_state(state)

        return run

    return _fastest([runner(c) for c in variants], repeats)


def qsim_runner(qc, repeats=2):
    """qsim (single precision only) on every core, gate fusion of 2 and of 4 qubits: the faster."""
    import cirq
    import qsimcirq

    pc = portable(qc)
    line = cirq.LineQubit.range(qc.num_qubits)
    native = {"h": cirq.H, "cx": cirq.CNOT, "swap": cirq.SWAP}
    ops = []
    for inst in pc.data:
        q = [line[pc.find_bit(b).index] for b in inst.qubits]
        name, params = inst.operation.name, [float(p) for p in inst.operation.params]
        if name in native:
            ops.append(native[name](*q))
        elif name == "cu1":
            ops.append(cirq.CZPowGate(exponent=params[0] / np.pi)(*q))
        else:  # u3: its matrix (qsim fuses every gate into matrices anyway)
            ops.append(cirq.MatrixGate(inst.operation.to_matrix())(*q))
    circuit = cirq.Circuit(ops)

    def runner(fused):
        sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(max_fused_gate_size=fused, cpu_threads=os.cpu_count()))
        return lambda: sim.simulate(circuit)

    return _fastest([runner(2), runner(4)], repeats)


def _fastest(runs, repeats):
    """The run of ``runs`` with the smallest time (min of ``repeats`` after a warm-up)."""
    return min(runs, key=lambda run: timed(run, repeats)[0])


def lightning_runner(qc):
    import pennylane as qml

    pc = portable(qc)
    n = qc.num_qubits
    ops = []
    for inst in pc.data:
        q = [n - 1 - pc.find_bit(b).index for b in inst.qubits]  # PennyLane wires are big-endian
        name, params = inst.operation.name, [float(p) for p in inst.operation.params]
        ops.append((name, q, params))
    dev = qml.device("lightning.qubit", wires=n)
    gates = {
        "h": lambda q, p: qml.Hadamard(q[0]),
        "cx": lambda q, p: qml.CNOT(q),
        "swap": lambda q, p: qml.SWAP(q),
        "u3": lambda q, p: qml.U3(*p, wires=q[0]),
        "cu1": lambda q, p: qml.ControlledPhaseShift(p[0], wires=q),
    }

    @qml.qnode(dev)
    def circuit():
        for name, q, p in ops:
            gates[name](q, p)
        return qml.state()

    return circuit


PEERS = {"qibojit": qibojit_runner, "lightning": lightning_runner, "qulacs": qulacs_runner, "qsim": qsim_runner}
#: Each simulator's precision: ratios compare aerdask with the peers of its own precision.
PRECISION = {
    "aerdask": "double",
    "aerdask-single": "single",
    "aer": "double",
    "qibojit": "double",
    "lightning": "double",
    "qulacs": "double",
    "qsim": "single",
}
PEER_MODULES = {"qibojit": "qibojit", "lightning": "pennylane_lightning", "qulacs": "qulacs", "qsim": "qsimcirq"}


def timed(fn, repeats):
    fn()  # warm-up: JIT compilation, caches, allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


# -- the memory-bandwidth limit ------------------------------------------------------------
@njit(parallel=True, nogil=True, fastmath=True)
def _touch(a):
    # fastmath: without it the complex product checks for infinities and NaNs, and the
    # "pass" ran 1.6x slower than memory allows (17.8 ms against 11.0 ms at 24 qubits,
    # Intel Xeon), so every figure in pass units looked better than it was.
    scale = a.real.dtype.type(1.0000001)
    for i in prange(a.size):
        a[i] = a[i] * scale


def bandwidth_pass(num_qubits, precision="double"):
    a = np.ones(1 << num_qubits, dtype=np.complex64 if precision == "single" else np.complex128)
    return timed(lambda: _touch(a), 5)[0]


def one_qubit_pass(num_qubits=24, qubit=12):
    from aerdask_kernels.kernels.gates import apply_matrix

    state = np.zeros(1 << num_qubits, dtype=np.complex128)
    state[0] = 1
    h = (np.array([[1, 1], [1, -1]]) / np.sqrt(2)).astype(np.complex128).ravel()
    empty = np.zeros(0, dtype=np.int64)
    target = np.array([qubit], dtype=np.int64)
    return timed(lambda: apply_matrix(state, empty, 0, target, h), 5)[0]


# -- sections --------------------------------------------------------------------------------
def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numba
    import numpy
    import qiskit_aer

    return (
        f"CPU: {cpu}; cores: {os.cpu_count()}; numba threads: {numba.config.NUMBA_NUM_THREADS}; "
        f"numba {numba.__version__}, numpy {numpy.__version__}, qiskit-aer {qiskit_aer.__version__}"
    )


def prepared(qc, precision="double"):
    """``qc`` (measured) compiled and prepared as a worker would: (experiment, engine)."""
    from aerdask_kernels.cpu.statevector import StatevectorEngine
    from aerdask_kernels.passes.prepare import prepare_point

    program = aerdask.AerSimulator(method="statevector", precision=precision).compile(
        [qc.measure_all(inplace=False)], shots=1
    )
    exp = prepare_point(program.experiments[0], 0, True)
    dtype = np.complex64 if precision == "single" else np.complex128
    return exp, StatevectorEngine(exp, dtype, np.zeros(1, dtype=np.uint8))


def planned_passes(qc) -> int:
    """Passes over the state that aerdask's stage plan makes for ``qc`` (gates only)."""
    from aerdask_kernels.passes.blocking import plan_blocks

    exp, _ = prepared(qc)
    return plan_blocks(exp).passes(exp)


def breakdown(qc, precision="double", repeats=3):
    """Where aerdask's time on ``qc`` goes, in seconds: ``{part: seconds}``, min over ``repeats``.

    The parts: ``compile`` (the client: circuit to program), ``prepare`` (the worker: matrices,
    fusion, the stage plan), ``allocate`` (the state), ``stage k`` (each planned step: a cache
    block of many gates, or a gate run alone; the first one on a new state, as a job runs it:
    it builds ``|0...0>`` itself where it can, and takes the page faults) and ``sample``.
    """
    from aerdask_kernels.kernels.interpreter import run_blocks

    measured = qc.measure_all(inplace=False)
    backend = aerdask.AerSimulator(method="statevector", precision=precision)
    best: dict = {}

    def keep(part, seconds):
        best[part] = min(best.get(part, np.inf), seconds)

    for _ in range(repeats + 1):  # the first round compiles the kernels, and is dropped below
        start = time.perf_counter()
        backend.compile([measured], shots=1)
        keep("compile", time.perf_counter() - start)
        start = time.perf_counter()
        exp, engine = prepared(qc, precision)
        keep("prepare", time.perf_counter() - start)
        start = time.perf_counter()
        state = engine.fresh()
        keep("allocate", time.perf_counter() - start)
        entry, runs, steps, pool, positions = engine.rows.plan
        if engine.rows.zero_plan is not None:  # fresh() left the state unwritten: the first step builds it
            steps = engine.rows.zero_plan[2]
        ops, qubits, matrices = exp.ops, exp.qubits, engine.matrices
        for first, end, _, threads in runs.tolist():
            for step in range(first, end):
                run = np.array([step, step + 1, 0, threads], dtype=np.int64)
                start = time.perf_counter()
                run_blocks(state, ops, qubits, matrices, engine.cancel_flag, run, steps, pool, positions)
                keep(f"stage {step}", time.perf_counter() - start)
        rng = np.random.default_rng(1)
        start = time.perf_counter()
        engine.sample(state, 1, rng, False)
        keep("sample", time.perf_counter() - start)
    return best


def circuits_table(sizes, peers, repeats, names, show_breakdown=False):
    rows = []
    one_pass = {n: {p: bandwidth_pass(n, p) for p in ("double", "single")} for n in sizes}
    for name in names:
        make = CIRCUITS[name]
        for n in sizes:
            qc = make(n)
            reps = 1 if n >= 26 else repeats
            res = {
                "aerdask": timed(aerdask_runner(qc), reps),
                "aerdask-single": timed(aerdask_single_runner(qc), reps),
                "aer": timed(aer_runner(qc), reps),
            }
            for peer in peers:
                try:
                    res[peer] = timed(PEERS[peer](qc), reps)
                except Exception as exc:  # a peer that cannot run a circuit is reported, not fatal
                    print(f"  {peer} failed on {name}{n}: {type(exc).__name__}: {exc}", file=sys.stderr)
            passes = {
                "planned": planned_passes(qc),
                "double": res["aerdask"][0] / one_pass[n]["double"],
                "single": res["aerdask-single"][0] / one_pass[n]["single"],
            }
            rows.append((f"{name}{n}", res, passes))
            print(format_row(rows[-1]), flush=True)
            if show_breakdown:
                print(format_breakdown(breakdown(qc), one_pass[n]["double"]), flush=True)
    return rows


def fastest_peer(res, precision):
    """(seconds, name) of the fastest peer at ``precision``, or None."""
    times = [(v[0], k) for k, v in res.items() if not k.startswith("aerdask") and PRECISION[k] == precision]
    return min(times) if times else None


def format_row(row):
    label, res, passes = row
    cells = "  ".join(f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in res.items())
    ratio = res["aerdask"][0] / res["aer"][0]
    peers = ""
    for ours, precision in (("aerdask", "double"), ("aerdask-single", "single")):
        fastest = fastest_peer(res, precision)
        if fastest:
            peers += f"  {precision}: {res[ours][0] / fastest[0]:.2f}x {fastest[1]}"
    measured = f"aerdask's time {passes['double']:.1f} (single {passes['single']:.1f})"
    return f"{label:<10} {cells}  | aerdask/aer {ratio:.2f}x{peers}  | passes: {passes['planned']} planned, {measured}"


def format_breakdown(parts, one_pass):
    """The parts of :func:`breakdown` in seconds and in pass-equivalents, stages summed by kind."""
    stages = {k: v for k, v in parts.items() if k.startswith("stage")}
    rest = {k: v for k, v in parts.items() if not k.startswith("stage")}
    cells = [f"{k} {v * 1e3:.1f} ms ({v / one_pass:.1f})" for k, v in rest.items()]
    per_stage = " ".join(f"{v / one_pass:.1f}" for v in stages.values())
    total = sum(parts.values())
    return (
        f"    breakdown (pass-equivalents): {'; '.join(cells)}; {len(stages)} stages "
        f"{sum(stages.values()) * 1e3:.1f} ms ({sum(stages.values()) / one_pass:.1f}): [{per_stage}]; "
        f"sum {total / one_pass:.1f}"
    )


def batch_section():
    import qiskit_aer
    from distributed import Client, LocalCluster

    circuits = []
    for i in range(1000):
        qc = random_circuit(12, 10, max_operands=2, seed=i)
        qc.measure_all()
        circuits.append(qc)
    circuits = transpile(circuits, basis_gates=["u", "cx"], optimization_level=0)  # gates every simulator has
    aer = qiskit_aer.AerSimulator()
    ours = aerdask.AerSimulator()
    t_aer = timed(lambda: aer.run(circuits, shots=1000, seed_simulator=1).result(), 2)[0]
    t_pool = timed(lambda: ours.run(circuits, shots=1000, seed_simulator=1, max_job_size=250).result(), 2)[0]
    out = {"aer": t_aer, "pool": t_pool}
    client_cpu = {}
    for workers in (1, 2):
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
            Client(cluster) as client,
        ):
            backend = aerdask.AerSimulator(executor=client)

            def run_once(b=backend):
                job = b.run(circuits, shots=1000, seed_simulator=1)
                result = job.result()
                job.unpublish()  # published jobs keep their results on the cluster
                return result

            cpu = time.process_time()
            out[f"dask{workers}"] = timed(run_once, 2)[0]
            # This process: the client (compile, submit, results) and LocalCluster's scheduler.
            client_cpu[workers] = (time.process_time() - cpu) / 3  # timed() ran it 3 times
    print(
        "batch 1000 x 12q, 1000 shots (s): "
        + "  ".join(f"{k} {v:.2f}" for k, v in out.items())
        + f"  | throughput pool/aer {out['aer'] / out['pool']:.2f}x, dask2/pool {out['pool'] / out['dask2']:.2f}x,"
        f" dask2/dask1 {out['dask1'] / out['dask2']:.2f}x; CPU of the client process (with the scheduler) per run:"
        f" {client_cpu[1]:.2f} s with 1 worker, {client_cpu[2]:.2f} s with 2"
    )


def shots_section():
    import qiskit_aer

    qc = random(20)
    qc.measure_all()
    t_aer = timed(lambda: qiskit_aer.AerSimulator().run(qc, shots=10**6, seed_simulator=1).result(), 2)[0]
    t_ours = timed(lambda: aerdask.AerSimulator().run(qc, shots=10**6, seed_simulator=1).result(), 2)[0]
    print(f"10^6 shots at 20 qubits (s): aerdask {t_ours:.3f}  aer {t_aer:.3f}  | ratio {t_ours / t_aer:.2f}x")


_CHILD = textwrap.dedent(
    """
    import sys, time
    from qiskit.synthesis import synth_qft_full
    import aerdask
    n = int(sys.argv[1])
    qc = synth_qft_full(n); qc.measure_all()
    start = time.perf_counter()  # after the imports: the job itself, with any JIT it needs
    aerdask.AerSimulator().run(qc, shots=1).result()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork
    # and exec, so after a big run in the parent it reported the parent's peak.
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(time.perf_counter() - start, peak * 1024)
    """
)


def child(n, env=None):
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n)], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    elapsed, rss = out.stdout.split()
    return float(elapsed), int(rss)


def memory_and_startup_section(max_qubits):
    child(2)  # fills the kernel cache, so the baseline below holds no compiler memory
    base_time, base_rss = child(2)
    if max_qubits >= 26:
        _, rss = child(26)
        state = 16 << 26
        print(
            f"peak RSS, 26-qubit QFT in double precision: {rss / 2**30:.3f} GiB; state {state / 2**30:.3f} GiB; "
            f"beyond state and interpreter baseline ({base_rss / 2**20:.0f} MiB): "
            f"{(rss - base_rss - state) / state:+.1%}"
        )
    with tempfile.TemporaryDirectory() as cold_dir:
        cold, _ = child(10, {"AERDASK_NUMBA_CACHE_DIR": cold_dir})
        warm, _ = child(10, {"AERDASK_NUMBA_CACHE_DIR": cold_dir})
    print(f"first 10-qubit job in a new process (after imports): cold cache {cold:.2f} s, warm cache {warm:.2f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 20, 24, 26])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--peers", nargs="+", choices=sorted(PEERS), help="only these peers")
    parser.add_argument("--breakdown", action="store_true", help="where aerdask's time goes, per circuit")
    parser.add_argument("--circuits", nargs="+", choices=sorted(CIRCUITS), default=list(CIRCUITS))
    parser.add_argument("--only", choices=["circuits", "kernels", "batch", "shots", "memory"], nargs="+")
    args = parser.parse_args(argv)
    sections = set(args.only or ["kernels", "circuits", "batch", "shots", "memory"])
    print(machine())
    if "kernels" in sections:
        bw26 = bandwidth_pass(26)
        bw24 = bandwidth_pass(24)
        one = one_qubit_pass(24)
        print(
            f"bandwidth pass 2**26 complex128: {bw26 * 1e3:.1f} ms "
            f"({2 * 16 * 2**26 / bw26 / 1e9:.1f} GB/s read+write); 2**24: {bw24 * 1e3:.1f} ms; "
            f"one 1-qubit gate at 24 qubits: {one * 1e3:.1f} ms = {one / bw24:.2f}x the limit"
        )
    peers = []
    if not args.skip_peers:
        for peer, module in PEER_MODULES.items():
            if args.peers and peer not in args.peers:
                continue
            try:
                __import__(module)
                peers.append(peer)
            except ImportError:
                print(f"({peer} not installed: skipped)")
    if "circuits" in sections:
        print("circuit    min/median seconds per simulator")
        circuits_table(args.sizes, peers, args.repeats, args.circuits, args.breakdown)
    if "shots" in sections:
        shots_section()
    if "batch" in sections:
        batch_section()
    if "memory" in sections:
        memory_and_startup_section(max(args.sizes))


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
