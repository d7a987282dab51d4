"""The kernels' Python source (no JIT) against their compiled code, and when each runs."""

import subprocess
import sys
import textwrap
from pathlib import Path

import dask
import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.random import random_circuit
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp

from aerdask import AerSimulator
from aerdask.executors import local
from aerdask.noise import NoiseModel
from aerdask_kernels import readiness
from aerdask_kernels._jit import interpreted
from aerdask_kernels.execute import run_program
from aerdask_kernels.warmup import run_compiled

from .clusters import wait_until
from .conftest import random_u_layer
from .noise_cases import amplitude_damping, depolarizing


def _mid_circuit(num_qubits: int, seed: int) -> QuantumCircuit:
    """A seeded random circuit with a mid-circuit measurement, a condition and a reset."""
    rng = np.random.default_rng(seed)
    qc = random_u_layer(num_qubits, rng).compose(random_circuit(num_qubits, 6, max_operands=3, seed=seed))
    qc.add_register(*QuantumCircuit(num_qubits, num_qubits).cregs)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(num_qubits - 1)
    qc.reset(1 % num_qubits)
    qc.compose(random_circuit(num_qubits, 4, max_operands=2, seed=seed + 1), inplace=True)
    qc.save_statevector(label="sv", pershot=True)
    qc.save_probabilities(label="p")
    qc.save_expectation_value(SparsePauliOp("Z" * num_qubits), range(num_qubits), label="z")
    qc.measure(range(num_qubits), range(num_qubits))
    return qc


def _program(circuit: QuantumCircuit, **options):
    return AerSimulator().run(circuit, **options).qobj()


def _assert_identical(python: list[dict], compiled: list[dict]) -> None:
    assert len(python) == len(compiled)
    for a, b in zip(python, compiled, strict=True):
        assert a["kernels"] == "python" and b["kernels"] == "compiled"
        for key in ("outcomes", "counts", "memory"):
            np.testing.assert_array_equal(a[key], b[key])
        _assert_same(a["saves"], b["saves"])


def _assert_same(a, b) -> None:
    """Equal bit for bit (the same statements ran), through dicts and lists (np.float64 == float)."""
    assert isinstance(a, dict | list | tuple | np.ndarray) == isinstance(b, dict | list | tuple | np.ndarray)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("num_qubits,seed", [(1, 1), (2, 6), (3, 2), (5, 3), (8, 4), (10, 5)])
def test_python_kernels_give_the_compiled_statevectors_and_counts(num_qubits, seed):
    program = _program(_mid_circuit(num_qubits, seed), shots=300, seed_simulator=seed, memory=True)
    with interpreted():
        python = run_program(program)
    _assert_identical(python, run_compiled(program))


def test_python_kernels_give_the_compiled_results_for_parameter_sweeps_and_noise():
    from qiskit.circuit import Parameter

    theta = Parameter("t")
    qc = QuantumCircuit(4)
    qc.ry(2 * theta + 0.3, 0)
    qc.h(range(1, 4))
    qc.cx(0, 1)
    qc.rzz(theta, 2, 3)
    qc.measure_all()
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing(0.05, 2), ["cx"])
    noise.add_all_qubit_quantum_error(amplitude_damping(0.1), ["h"])
    bound = qc.assign_parameters([0.4])
    for program in (
        AerSimulator().run([qc], parameter_binds=[{theta: [0.1, 0.7, 1.9]}], seed_simulator=3).qobj(),
        AerSimulator(noise_model=noise, method="statevector").run(bound, shots=500, seed_simulator=4).qobj(),
        AerSimulator(noise_model=noise, method="density_matrix").run(bound, shots=500, seed_simulator=5).qobj(),
    ):
        with interpreted():
            python = run_program(program)
        _assert_identical(python, run_compiled(program))


def test_a_small_job_runs_on_python_kernels_until_compiled_ones_are_ready(bell, monkeypatch):
    monkeypatch.setattr(readiness, "_ready", set())
    program = _program(bell, shots=100, seed_simulator=1)
    with readiness.kernels_for(program) as python:
        assert python
    readiness.ensure(readiness.units_for(program))
    with readiness.kernels_for(program) as python:
        assert not python
    result = AerSimulator().run(bell, shots=100, seed_simulator=1).result()
    assert result.results[0].metadata["kernels"] == "compiled"


@pytest.mark.parametrize("setting", ["auto", True, False])
def test_a_script_compiles_in_the_background_after_seconds_of_python_kernels(bell, monkeypatch, setting):
    started = []
    monkeypatch.setattr(readiness, "_ready", set())
    monkeypatch.setattr(readiness, "start_background", lambda units=None: started.append(units))
    monkeypatch.setattr(readiness, "_interpreted_seconds", 0.0)
    program = _program(bell, shots=100, seed_simulator=1)
    with dask.config.set({"aerdask.kernels.background-compile": setting}):
        with readiness.kernels_for(program) as python:
            assert python
        assert len(started) == (1 if setting is True else 0)  # auto: a short script never compiles
        monkeypatch.setattr(readiness, "_interpreted_seconds", readiness.INTERPRETED_SECONDS_BEFORE_COMPILE)
        with readiness.kernels_for(program) as python:
            assert python  # this job still runs as Python; the build goes on beside it
        assert len(started) == {"auto": 1, True: 2, False: 0}[setting]


def test_a_loop_of_small_jobs_in_a_script_ends_on_compiled_kernels():
    # A script's loop of small jobs (an optimiser calling the simulator): Python kernels first,
    # compiled ones once the background build (from the cache the session filled) is ready.
    script = textwrap.dedent(
        """
        import time
        from qiskit import QuantumCircuit
        from aerdask import AerSimulator
        qc = QuantumCircuit(10)
        qc.h(0)
        for q in range(9):
            qc.cx(q, q + 1)
        qc.measure_all()
        backend, seen, start = AerSimulator(), [], time.monotonic()
        while time.monotonic() - start < 120 and "compiled" not in seen:
            seen.append(backend.run(qc, shots=10, seed_simulator=1).result().results[0].metadata["kernels"])
        print(seen[0], seen[-1], sum(k == "python" for k in seen))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    first, last, python_jobs = out.stdout.split()
    assert (first, last) == ("python", "compiled") and int(python_jobs) > 1


def test_a_script_that_exits_while_its_kernels_compile_exits_cleanly(tmp_path):
    script = textwrap.dedent(
        """
        from qiskit import QuantumCircuit
        from aerdask import AerSimulator
        from aerdask_kernels import readiness
        qc = QuantumCircuit(2)
        qc.h(0)
        qc.measure_all()
        readiness._interpreted_seconds = readiness.INTERPRETED_SECONDS_BEFORE_COMPILE  # the fault's point
        assert AerSimulator().run(qc).result().results[0].metadata["kernels"] == "python"
        assert readiness._background.is_alive()  # compiling (an empty cache: for a minute) as the script ends
        print("ok")
        """
    )
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "ok", "")


def test_large_or_long_jobs_run_compiled(monkeypatch):
    monkeypatch.setattr(readiness, "_ready", set())
    wide = QuantumCircuit(14)
    wide.h(range(14))
    wide.measure_all()
    assert readiness.needs_compiled(_program(wide))
    narrow = QuantumCircuit(2)
    narrow.h(0)
    narrow.measure_all()
    assert not readiness.needs_compiled(_program(narrow))
    assert readiness.needs_compiled(
        _program(narrow, precision="single")
    )  # Python would round otherwise  # Python would round otherwise
    many = [random_circuit(10, 20, seed=s, measure=True) for s in range(20)]
    program = _program(many, shots=2000)
    assert readiness.work(program) > readiness.settings.get_int("kernels.interpret-max-work")
    with readiness.kernels_for(program) as python:
        assert not python
    with dask.config.set({"aerdask.kernels.interpret-max-work": 0}):  # never interpret
        with readiness.kernels_for(_program(many[0])) as python:
            assert not python


def test_a_job_waiting_on_a_compile_says_so(monkeypatch):
    from .test_dask import forever_circuit

    monkeypatch.setattr(local, "waiting", lambda: 5.0)  # a compile that has run for 5 s
    job = AerSimulator().run(forever_circuit())
    try:
        assert wait_until(lambda: job.status() is JobStatus.RUNNING)
        assert job.waiting_on() == readiness.COMPILING_NOTE
        assert readiness.COMPILING_NOTE in job._repr_html_()
    finally:
        job.cancel()
    assert job.waiting_on() is None


def test_the_main_job_in_a_fresh_process_loads_no_numba(tmp_path):
    # The README's first command on an empty cache: Python kernels, no Numba, no compile.
    script = textwrap.dedent(
        """
        import runpy, sys
        import aerdask
        assert "numba" not in sys.modules, "import aerdask loaded numba"
        counts = runpy.run_path("examples/bell.py", run_name="not_main")["main"](["bell.py"])
        assert sorted(counts) == ["00", "11"], counts
        assert "numba" not in sys.modules, "the Bell job loaded numba"
        print("ok")
        """
    )
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, cwd=root)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
