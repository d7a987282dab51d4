"""Start-up: the README's main job in a fresh process, and a fresh Dask worker's first tasks.

Run: ``python benchmarks/startup.py [--repeat 3] [--worker] [--cold-worker] [--compiled]``
(qiskit-aer must be installed for its rows; it is a benchmark-only dependency).

* **Bell job**: ``python examples/bell.py`` as a whole process, with an empty Numba cache
  (``cold``) and again with the cache that run left (``warm``), side by side with the
  same circuit on qiskit-aer. ``--compiled`` adds aerdask with Python kernels switched
  off (``aerdask.kernels.interpret-max-work: 0``): the start-up before this benchmark's
  issue.
* **Fresh worker** (``--worker``): a ``dask scheduler`` on 127.0.0.1 and a client
  connected to it; then ``dask worker --preload aerdask_worker`` is launched, and a
  10-qubit job and a 24-qubit job are submitted at once. Reported: seconds from the
  worker's launch to its registration and to each job's result. The worker's Numba
  cache is the warm one of this machine, or empty with ``--cold-worker``.

Every figure is the minimum (and median) over ``--repeat`` runs; all rows of one run
come from this machine, so compare their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

AER_BELL = """
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator
qc = QuantumCircuit(2, 2, name="bell")
qc.h(0)
qc.cx(0, 1)
qc.measure([0, 1], [0, 1])
print(AerSimulator().run(qc, shots=1024, seed_simulator=1234).result().get_counts())
"""


def _timed(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _env(cache: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_CACHE_DIR", "DASK_AERDASK__"))}
    env.update(NUMBA_CACHE_DIR=str(cache), XDG_CACHE_HOME=str(cache), **extra)
    return env


def bell_rows(repeat: int, compiled: bool) -> list[tuple[str, list[float], list[float]]]:
    """(label, cold seconds, warm seconds) per row."""
    variants = [("aerdask", {})]
    if compiled:
        variants.append(("aerdask, compiled kernels only", {"DASK_AERDASK__KERNELS__INTERPRET_MAX_WORK": "0"}))
    rows = []
    for label, extra in variants:
        cold, warm = [], []
        for _ in range(repeat):
            cache = Path(tempfile.mkdtemp(prefix="aerdask-startup-"))
            try:
                cold.append(_timed([PYTHON, "examples/bell.py"], _env(cache, **extra)))
                warm.append(_timed([PYTHON, "examples/bell.py"], _env(cache, **extra)))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        rows.append((label, cold, warm))
    aer = []
    for _ in range(repeat):
        try:
            aer.append(_timed([PYTHON, "-c", AER_BELL], dict(os.environ)))
        except subprocess.CalledProcessError:
            print("qiskit-aer is not installed: its row is left out", file=sys.stderr)
            return rows
    rows.append(("qiskit-aer (no JIT: cold = warm)", aer, aer))
    return rows


def _qft(n: int):
    from qiskit import QuantumCircuit
    from qiskit.synthesis import synth_qft_full

    qc = QuantumCircuit(n)
    qc.h(range(n))
    qc.compose(synth_qft_full(n), inplace=True)
    qc.measure_all()
    qc.name = f"qft{n}"
    return qc


def worker_run(cache: Path) -> dict:
    """Seconds from a fresh worker's launch to its registration and to each job's result."""
    from distributed import Client

    from aerdask import AerSimulator

    workdir = Path(tempfile.mkdtemp(prefix="aerdask-worker-"))
    scheduler_file = workdir / "scheduler.json"
    dask = [PYTHON, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(
        [*dask, "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0"]
        + ["--scheduler-file", str(scheduler_file)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        for _ in range(600):
            if scheduler_file.exists() and scheduler_file.stat().st_size:
                break
            time.sleep(0.05)
        address = json.loads(scheduler_file.read_text())["address"]
        client = Client(address, timeout=30)
        small, large = _qft(10), _qft(24)
        launch = time.perf_counter()
        worker = subprocess.Popen(
            [PYTHON, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nthreads", "2"]
            + ["--memory-limit", "0", "--dashboard-address", "127.0.0.1:0", "--preload", "aerdask_worker"],
            cwd=workdir,
            env=_env(cache),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client.wait_for_workers(1, timeout=120)
        joined = time.perf_counter() - launch
        backend = AerSimulator(executor=client)
        jobs = {"10-qubit QFT": backend.run(small, shots=1000, seed_simulator=1)}
        jobs["24-qubit QFT"] = backend.run(large, shots=1000, seed_simulator=1)
        times = {"registered": joined}
        pending = dict(jobs)
        while pending:
            for name, job in list(pending.items()):
                if job.in_final_state():
                    job.result()
                    times[name] = time.perf_counter() - launch
                    del pending[name]
            time.sleep(0.01)
        client.close()
        return times
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _fmt(values: list[float]) -> str:
    return f"{min(values):6.2f} s (median {statistics.median(values):.2f})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help="time a fresh Dask worker's first tasks")
    parser.add_argument("--cold-worker", action="store_true", help="the worker starts with an empty Numba cache")
    parser.add_argument("--compiled", action="store_true", help="add aerdask with compiled kernels only")
    args = parser.parse_args(argv)

    print(f"Bell job, whole process ({args.repeat} runs; cold = empty Numba cache)")
    for label, cold, warm in bell_rows(args.repeat, args.compiled):
        print(f"  {label:34s} cold {_fmt(cold)}   warm {_fmt(warm)}")

    if args.worker or args.cold_worker:
        from aerdask_kernels._jit import _cache_root

        runs = []
        for _ in range(args.repeat):
            cache = Path(tempfile.mkdtemp(prefix="aerdask-wcache-")) if args.cold_worker else _cache_root().parent
            try:
                runs.append(worker_run(cache))
            finally:
                if args.cold_worker:
                    shutil.rmtree(cache, ignore_errors=True)
        kind = "empty" if args.cold_worker else "warm"
        print(f"Fresh worker (--preload aerdask_worker, 2 threads, {kind} Numba cache), seconds from its launch")
        for key in runs[0]:
            print(f"  {key:34s} {_fmt([r[key] for r in runs])}")


if __name__ == "__main__":
    main()
