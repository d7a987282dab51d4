"""The seam between the walk and a way of holding a state: :class:`Engine` and :class:`Runner`.

The :class:`.walker.Walker` decides everything that does not depend on how a state is
held: the tree of branches and the shots each takes, replays past
``max_branch_copies``, noise and readout errors, classical bits, seeds and the order of
the random draws. It asks its engine for the rest, through the methods below, so a new
simulation method is an engine (and its kernels), nothing else: ``docs/architecture.md``
("Adding an engine") walks through one, and ``tests/test_engines.py`` runs every engine
through the same circuits.

A :class:`Runner` is what :func:`aerdask_kernels.run_program` picks, once per program:
it sets up what the program's engines share (compiled kernels, a GPU, a shard store),
labels the results' ``kernels`` and makes one engine per experiment point.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from .._jit import interpreted
from ..kernels.gates import apply_matrix
from ..kernels.interpreter import control_next
from ..opcodes import COL_OPCODE, OP_BRANCH, OP_CHANNEL, OP_DIAG, OP_JUMP, OP_MATRIX, OP_STANDARD
from ..passes.precision import in_precision
from .errors import JobCancelledError

__all__ = ["Engine", "Runner", "host_rows"]

_NO_CONTROLS = np.zeros(0, dtype=np.int64)


class Engine(abc.ABC):
    """One experiment point's states, and the operations the walker applies to them.

    A *state* is whatever the engine holds one branch's state in (a numpy array, a
    device array, refs to shards); the walker only passes it back. Rows are the
    experiment's opcode table (:mod:`.opcodes`); ``pc`` is a row index.

    Args:
        exp: The prepared experiment (:func:`.prepare.prepare_point`).
        dtype: ``np.complex128`` or ``np.complex64`` (``precision="single"``).
        cancel_flag: uint8, shape ``(1,)``; non-zero asks the engine to stop with
            :class:`JobCancelledError` between rows.

    Attributes:
        matrices: ``exp.matrices`` in ``dtype`` (gate matrices, and SET_STATE amplitudes).
    """

    #: Whether the walker may bound the copies it keeps for pending branches
    #: (``max_branch_copies``): False where a copy costs no memory of its own (shared shards).
    bounded_copies: ClassVar[bool] = True

    def __init__(self, exp, dtype, cancel_flag: np.ndarray):
        self.exp = exp
        self.dtype = dtype
        self.cancel_flag = cancel_flag
        self.matrices = in_precision(exp.matrices, dtype)

    @abc.abstractmethod
    def fresh(self):
        """A new state, ``|0...0>``."""

    @abc.abstractmethod
    def run_segment(self, state, creg: np.ndarray, pc: int, stop: int = 0) -> int:
        """Run rows from ``pc`` on ``state`` until one needs the walker, exactly as written.

        Gates run; JUMP and BRANCH rows (on ``creg``, int8) are taken; CHANNEL rows before
        row ``stop`` apply their identity and are passed.

        Returns:
            The first MEASURE, RESET, SAVE, CLASSICAL or SET_STATE row reached, a CHANNEL row
            at or after ``stop``, or the number of rows at the end.

        Raises:
            JobCancelledError: if the cancel flag was seen.
        """

    def advance(self, state, creg: np.ndarray, pc: int, stop: int = 0) -> int:
        """:meth:`run_segment` as the walk's forward steps run it (the default: the same).

        An engine may take a faster path that gives the same state up to rounding (the CPU
        statevector's fused copies between noise checkpoints); replays of a branch use
        :meth:`run_segment`.
        """
        return self.run_segment(state, creg, pc, stop)

    def copy(self, state):
        """An independent copy of ``state`` for a pending branch."""
        return state.copy()

    def sample_experiment(self, rng: np.random.Generator, shots: int):
        """Every shot's clbit register, or ``None`` (the default): the walker walks the branches.

        An engine with a whole-experiment sampler (the stabilizer's Pauli frames) returns an
        iterable of batches of registers (int64, or Python ints past 62 clbits) before final
        readout errors, drawing only from ``rng``; the walker counts them as it counts its
        leaves.
        """
        return None

    def apply_operator(self, state, targets: np.ndarray, matrix: np.ndarray) -> None:
        """Apply one noise operator (``matrix``: flat, ``4**k`` entries) to ``targets`` of ``state``, in place.

        The default is a numpy statevector's; an engine whose state is held otherwise overrides it.
        """
        apply_matrix(state, _NO_CONTROLS, 0, targets, matrix)

    def norm_squared(self, state) -> float:
        """``<psi|psi>`` (after a Kraus operator); the default is a numpy statevector's."""
        return float(np.vdot(state, state).real)

    def scale(self, state, factor: float) -> None:
        """Multiply ``state`` by ``factor``, in place (a Kraus outcome renormalised)."""
        state *= factor

    def assign(self, state, other) -> None:
        """Make ``state`` hold ``other``'s state (``other`` is not used afterwards)."""
        state[:] = other

    @abc.abstractmethod
    def set_state(self, state, amplitudes: np.ndarray) -> None:
        """Replace ``state`` with ``amplitudes`` (a SET_STATE row; ``dtype``, ``(2**n,)``)."""

    def set_chain(self, state, gammas: list, lambdas: list) -> None:
        """Replace ``state`` with a matrix product state (a SET_STATE row of ``ARG`` 2, :mod:`.format.chain`).

        Raises:
            ValueError: from every engine but the matrix product state's (validation keeps
                such rows to that method).
        """
        raise ValueError(f"{type(self).__name__} does not hold matrix product states")

    @abc.abstractmethod
    def probability_one(self, state, qubit: int) -> float:
        """The probability that measuring ``qubit`` gives 1 (the walker clips it to ``[0, 1]``)."""

    @abc.abstractmethod
    def collapse(self, state, qubit: int, outcome: int, probability: float) -> None:
        """Project ``qubit`` onto ``outcome`` and divide by the outcome's ``probability``, in place."""

    @abc.abstractmethod
    def flip(self, state, qubit: int) -> None:
        """Apply X to ``qubit`` (a reset whose outcome was 1), in place."""

    def complete(self, state) -> None:  # noqa: B027  (optional: a synchronous engine is always complete)
        """Block until every operation sent to ``state`` is done, raising its errors (at a leaf)."""

    @abc.abstractmethod
    def sample(self, state, shots: int, rng: np.random.Generator, memory: bool):
        """``shots`` draws of basis states from ``state``'s probabilities.

        An engine of amplitudes must draw from ``rng`` exactly as
        :func:`.sampling.sample_indices` does, so that every such engine gives a seeded run
        the same counts (the stabilizer, which holds no amplitudes, draws its own way).

        Returns:
            ``(indices, counts, per_shot)``: the basis states drawn (int64, ascending),
            how often each, and with ``memory`` each shot's index in a random order
            (else ``None``).
        """

    @abc.abstractmethod
    def save_value(self, spec: dict, state, zero_threshold: float):
        """The value save ``spec`` records for ``state`` (see :func:`.saves.save_value`)."""

    def stats(self) -> dict:
        """Extra fields of the point's result (the sharded engine's ``sharding``); none by default."""
        return {}


class Runner(abc.ABC):
    """What a program's points run on: set up once, one :class:`Engine` per point.

    Used as a context manager around the whole program; :attr:`kernels` is set on entry.
    """

    #: The results' ``kernels`` label ("compiled", "python", "cuda", ...).
    kernels: str = "compiled"

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        return None

    @abc.abstractmethod
    def engine(self, exp, dtype, cancel_flag: np.ndarray, options) -> Engine:
        """The engine of one prepared point (``options``: the program's :class:`.options.ProgramOptions`)."""


def host_rows(engine: Engine, state, creg: np.ndarray, pc: int, stop: int, gates) -> int:
    """:meth:`Engine.run_segment` for an engine that runs its gates from the host.

    Walks the rows in Python: control rows through :func:`.interpreter.control_next`
    (the same jumps and branches the compiled interpreter takes), CHANNEL rows before
    ``stop`` passed, and each run of gate rows handed to ``gates(state, pc) -> next pc``.
    """
    ops = engine.exp.ops
    qubits = engine.exp.qubits
    n_ops = ops.shape[0]
    while pc < n_ops:
        if engine.cancel_flag[0] != 0:
            raise JobCancelledError("job cancelled while running")
        op = ops[pc, COL_OPCODE]
        if op == OP_MATRIX or op == OP_DIAG or op == OP_STANDARD:  # STANDARD: an engine that reads names
            pc = gates(state, pc)
        elif op == OP_JUMP or op == OP_BRANCH:
            with interpreted():  # a few clbits: nothing worth compiling
                pc = int(control_next(ops, qubits, creg, pc))
        elif op == OP_CHANNEL and pc < stop:
            pc += 1
        else:
            return pc
    return pc
