"""Shared fixtures: seeded rng, executors, and the Statevector oracle helpers."""

from __future__ import annotations

import ast
import concurrent.futures
import os
import subprocess
import sys
import threading

# GPU tests run on numba-cuda's simulator unless asked to use a real GPU. It must be chosen
# before numba.cuda is first imported, and the workers of the test clusters inherit it.
if os.environ.get("AERDASK_TEST_REAL_GPU", "0") == "0":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

from aerdask import AerSimulator

from .clusters import CliCluster, local_client


def _serialise_ast_parse() -> None:
    """One thread at a time in ``ast.parse`` (CPython gh-106905; CI runs 3.11).

    CPython's AST conversion keeps its recursion depth in interpreter-wide state (CPython
    gh-106905): when pytest parses a failing test's source while another thread formats a
    traceback (Python 3.11's ``traceback`` parses source lines for its carets; Dask logs
    tracebacks from its threads), the parse fails with "AST constructor recursion depth
    mismatch" and pytest ends the whole run with an INTERNALERROR instead of reporting the
    failure. A re-entrant lock: a finalizer run by the garbage collector mid-parse may parse
    on the same thread.
    """
    lock = threading.RLock()
    parse = ast.parse

    def locked_parse(*args, **kwargs):
        with lock:
            return parse(*args, **kwargs)

    ast.parse = locked_parse


_serialise_ast_parse()


def pytest_sessionstart(session):
    """Fill Numba's cache before any test runs: each precision's kernels in a process of its own.

    On a new machine (CI) the kernels take about 110 s of one core to compile. Without this,
    every process that needs them first (the test process, each worker of a test cluster,
    each CLI run) compiles them at the same time on two cores: the first modules ran 330 s
    cold against 96 s warm. Two processes, one per precision, fill the cache in about 65 s
    (they share few specialisations, so their index files rarely race; a lost entry would only
    be compiled again where it is needed). With a warm cache this takes about a second. Not in
    the test process: it keeps its kernels unloaded, as the first-run tests expect.
    """
    code = "import sys; from aerdask_kernels import readiness, warmup\n"
    code += "for path in (readiness.SMALL, readiness.LARGE): warmup.build_unit((path, sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, precision]) for precision in ("double", "single")]
    for proc in procs:
        assert proc.wait(900) == 0, "compiling the kernels failed: see the output above"


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


@pytest.fixture
def bell():
    """A measured Bell circuit named ``bell``."""
    qc = QuantumCircuit(2, 2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


@pytest.fixture(scope="session")
def backend():
    return AerSimulator()


@pytest.fixture(scope="session")
def local_cluster_client():
    """``LocalCluster(processes=True)``: two worker processes with one thread each."""
    with local_client(n_workers=2) as client:
        yield client


@pytest.fixture(scope="session")
def cli_cluster(tmp_path_factory):
    """``dask scheduler`` plus two ``dask worker --preload aerdask_worker`` processes."""
    cluster = CliCluster(tmp_path_factory.mktemp("cli-cluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def cli_cluster_client(cli_cluster):
    from distributed import Client

    with Client(cli_cluster.address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


EXECUTORS = [
    "default",
    "thread_pool",
    pytest.param("local_cluster", marks=pytest.mark.cluster),
    pytest.param("cli_cluster", marks=pytest.mark.cluster),
]


@pytest.fixture(params=EXECUTORS)
def executor(request):
    """Each executor kind the job tests run on; every kind has two threads in all."""
    if request.param == "default":
        yield None
    elif request.param == "thread_pool":
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        yield pool
        pool.shutdown(wait=True, cancel_futures=True)
    else:
        yield request.getfixturevalue(f"{request.param}_client")


def _aerdask_keys(client) -> list[str]:
    keys = lambda dask_scheduler: sorted(str(k) for k in dask_scheduler.tasks if str(k).startswith("aerdask-"))  # noqa: E731
    return client.run_on_scheduler(keys, callback_timeout=10)


@pytest.fixture(autouse=True)
def cluster_left_clean(request):
    """After a test on a shared cluster: no task, result or shard of it is left there.

    Checked once the test's objects are gone (a job holds its futures while it lives);
    the scheduler forgets released keys within moments, so this waits a little.
    """
    yield
    from .clusters import wait_until

    # funcargs is None in the teardown pytest runs after an INTERNALERROR.
    funcargs = getattr(request.node, "funcargs", None) or {}
    clients = [v for v in funcargs.values() if type(v).__name__ == "Client"]
    clients = [c for c in clients if c.status == "running"]
    if not clients:
        return
    import gc

    gc.collect()
    for client in clients:
        if not wait_until(lambda c=client: not _aerdask_keys(c), timeout=20, interval=0.2):
            pytest.fail(f"the test left aerdask tasks on the shared cluster: {_aerdask_keys(client)[:10]}")


@pytest.fixture
def qiskit_aer_in_process():
    """For a test that imports qiskit-aer here: put aerdask's ``QuantumCircuit.save_*`` methods back after.

    Importing qiskit-aer replaces them with Aer's, which differ in small ways (amplitude labels)
    that later tests would trip on.
    """
    from aerdask.library import save

    before = {name: QuantumCircuit.__dict__.get(name) for name in save._METHODS}
    yield
    for name, method in before.items():
        if method is None:
            if name in QuantumCircuit.__dict__:
                delattr(QuantumCircuit, name)
        else:
            setattr(QuantumCircuit, name, method)


def random_u_layer(num_qubits: int, rng) -> QuantumCircuit:
    """A layer of random ``u`` gates, so that phase bugs show in amplitudes."""
    qc = QuantumCircuit(num_qubits)
    for q in range(num_qubits):
        qc.u(*rng.uniform(0, 2 * np.pi, 3), q)
    return qc


def simulate_statevector(circuit: QuantumCircuit, **options) -> np.ndarray:
    """aerdask's final statevector of ``circuit`` (a ``save_statevector`` is appended)."""
    qc = circuit.copy()
    qc.save_statevector()
    return np.asarray(AerSimulator().run(qc, **options).result().get_statevector().data)


def reference_statevector(circuit: QuantumCircuit) -> np.ndarray:
    return Statevector(circuit).data


def compiled(circuit: QuantumCircuit, fusion: bool = True):
    """``circuit`` as a worker runs it: compiled, its matrices built and (with ``fusion``) fused."""
    from aerdask.compiler import compile_circuit
    from aerdask_kernels.passes.prepare import prepare_point

    return prepare_point(compile_circuit(circuit), 0, fusion)
