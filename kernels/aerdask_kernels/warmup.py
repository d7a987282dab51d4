"""Compile every kernel ahead of the first job.

A fresh worker would otherwise pay Numba's compile time inside its first task.
The programs here are built by hand (no Qiskit on a worker) and touch every
opcode in both precisions.
"""

from __future__ import annotations

import time

import numpy as np

from . import _jit, readiness
from .format.expressions import EXPR_OPCODES
from .format.program import Experiment, Program
from .format.standard import STANDARD_GATES
from .opcodes import CMP_CODES, OP_BRANCH, OP_DIAG, OP_JUMP, OP_MATRIX, OP_MEASURE, OP_RESET, OP_SAVE, OP_STANDARD
from .run import run_program

__all__ = ["warm_up", "run_compiled", "warm_up_program", "warm_up_blocked_program", "build_unit"]


def _hadamard(k: int) -> np.ndarray:
    h = np.array([[1, 1], [1, -1]], dtype=np.complex128) / np.sqrt(2)
    out = np.ones((1, 1), dtype=np.complex128)
    for _ in range(k):
        out = np.kron(out, h)
    return out


def warm_up_program(precision: str = "double") -> Program:
    """A 4-qubit program that runs every opcode, every matrix width and every save kind.

    It has two points of a parameter ``t``: an ``ry(2 t + 0.5)`` and an ``rzz(t)``
    compile the expression evaluator, the standard-gate builder and the fuser.
    """
    mats = [_hadamard(1).ravel(), _hadamard(2).ravel(), _hadamard(3).ravel(), np.exp(1j * np.arange(2))]
    offsets = np.cumsum([0] + [m.size for m in mats])
    qubits = np.array([0, 1, 2, 0, 1, 2, 3, 1, 2, 0, 0, 1, 3, 0, 1, 2, 3], dtype=np.int64)
    ry, rzz = STANDARD_GATES["ry"][0], STANDARD_GATES["rzz"][0]
    # opcode, qoff, nctrl, ntarg, moff, cval, arg, arg2
    ops = np.array(
        [
            [OP_STANDARD, 14, 0, 1, ry, 0, 0, 1],  # ry(2 t + 0.5) q1
            [OP_STANDARD, 15, 0, 2, rzz, 0, 1, 1],  # rzz(t) q2 q3
            [OP_MATRIX, 0, 0, 1, offsets[0], 0, 0, 0],  # h q0
            [OP_MATRIX, 1, 0, 2, offsets[1], 0, 0, 0],  # 2-qubit on q1 q2
            [OP_MATRIX, 3, 0, 3, offsets[2], 0, 0, 0],  # 3-qubit on q0 q1 q2
            [OP_MATRIX, 6, 1, 1, offsets[0], 1, 0, 0],  # controlled h: q3 -> q1
            [OP_DIAG, 8, 1, 1, offsets[3], 1, 0, 0],  # controlled phase: q2 -> q0
            [OP_MEASURE, 10, 0, 1, 0, 0, 0, 0],  # measure q0 -> c0
            [OP_BRANCH, 11, 0, 1, 0, 1, 10, CMP_CODES["=="]],  # if c1 == 1 ...
            [OP_JUMP, 0, 0, 0, 0, 0, 10, 0],
            [OP_RESET, 12, 0, 1, 0, 0, 0, 0],  # reset q3
            [OP_SAVE, 0, 0, 0, 0, 0, 0, 0],
            [OP_SAVE, 0, 0, 0, 0, 0, 1, 0],
            [OP_SAVE, 0, 0, 0, 0, 0, 2, 0],
        ],
        dtype=np.int64,
    )
    saves = [
        {"kind": "statevector", "label": "sv", "subtype": "single", "qubits": [0, 1, 2, 3], "params": []},
        {"kind": "probabilities", "label": "p", "subtype": "average", "qubits": [1, 0], "params": []},
        {"kind": "expval", "label": "e", "subtype": "average", "qubits": [0, 1], "params": [["XY", 1.0]]},
    ]
    op = EXPR_OPCODES
    exp = Experiment(
        name="warm_up",
        num_qubits=4,
        num_clbits=2,
        ops=ops,
        qubits=qubits,
        matrices=np.concatenate(mats),
        params=np.zeros(2),
        final_qubits=np.array([1, 2], dtype=np.int64),
        final_clbits=np.array([1, 0], dtype=np.int64),
        saves=saves,
        shots=16,
        indices=np.array([0, 1], dtype=np.int64),
        values=np.array([[0.3], [1.2]]),
        parameters=["t"],
        param_expr=np.array([0, 1], dtype=np.int64),
        expr_code=np.array(
            [[op["const"], 0], [op["param"], 0], [op["mul"], 0], [op["const"], 1], [op["add"], 0], [op["param"], 0]],
            dtype=np.int64,
        ),
        expr_start=np.array([0, 5, 6], dtype=np.int64),
        expr_consts=np.array([2.0, 0.5]),
    )
    options = {"shots": 16, "memory": True, "precision": precision, "seed_simulator": 0, "max_parallel_threads": 0}
    return Program([exp], options)


def warm_up_blocked_program(precision: str = "double") -> Program:
    """A 6-qubit program in 4-qubit cache blocks: every blocked kernel runs once."""
    mats = [_hadamard(1).ravel(), _hadamard(2).ravel(), _hadamard(3).ravel(), np.exp(1j * np.arange(2))]
    offsets = np.cumsum([0] + [m.size for m in mats])
    qubits = np.array([1, 3, 1, 2, 1, 2, 3, 3, 1, 2, 1], dtype=np.int64)
    ops = np.array(
        [
            [OP_MATRIX, 0, 0, 1, offsets[0], 0, 0, 0],  # h q1 (a low buffer bit)
            [OP_MATRIX, 1, 0, 1, offsets[0], 0, 0, 0],  # h q3 (a higher one)
            [OP_MATRIX, 2, 0, 2, offsets[1], 0, 0, 0],  # 2-qubit on q1 q2
            [OP_MATRIX, 4, 0, 3, offsets[2], 0, 0, 0],  # 3-qubit on q1 q2 q3
            [OP_MATRIX, 7, 1, 1, offsets[0], 1, 0, 0],  # controlled h: q3 -> q1
            [OP_DIAG, 9, 1, 1, offsets[3], 1, 0, 0],  # controlled phase: q2 -> q1
        ],
        dtype=np.int64,
    )
    exp = Experiment(
        name="warm_up_blocked",
        num_qubits=6,
        num_clbits=1,
        ops=ops,
        qubits=qubits,
        matrices=np.concatenate(mats),
        params=np.zeros(0),
        final_qubits=np.array([1], dtype=np.int64),
        final_clbits=np.array([0], dtype=np.int64),
        shots=4,
    )
    options = {"shots": 4, "memory": False, "precision": precision, "seed_simulator": 0, "max_parallel_threads": 0}
    return Program([exp], {**options, "blocking_qubits": 4})


def run_compiled(program: Program) -> list[dict]:
    """Run ``program`` with compiled kernels, whatever :mod:`.readiness` would choose."""
    with _jit.interpreted(False):
        return run_program(program)


def build_unit(unit: tuple[str, str]) -> None:
    """Compile (or load) the kernels of one readiness unit ``(path, precision)`` by running its program."""
    path, precision = unit
    if path == readiness.SMALL:
        run_compiled(warm_up_program(precision))
    else:
        run_compiled(warm_up_blocked_program(precision))
        _warm_up_chunked_sampling(precision)


def _warm_up_chunked_sampling(precision: str) -> None:
    """The sampler of large states (:func:`.sampling.sample_chunks`), which no small program reaches."""
    from .kernels.sampling import block_norms, sample_chunks

    state = np.full(64, 0.125, dtype=np.complex64 if precision == "single" else np.complex128)
    with _jit.interpreted(False):
        prefix = np.cumsum(block_norms(state, 3))
        sample_chunks(state, np.array([0.25, 0.5]), prefix, 3)


readiness.set_builder(build_unit)


def warm_up() -> float:
    """Compile (or load from cache) every kernel in both precisions.

    Returns:
        Seconds it took.
    """
    start = time.perf_counter()
    readiness.ensure([(path, p) for p in readiness.PRECISIONS for path in (readiness.SMALL, readiness.LARGE)])
    return time.perf_counter() - start
