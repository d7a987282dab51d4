"""Noisy circuits at fused speed between errors: a second, fused copy of the rows with checkpoints.

A noise model puts a CHANNEL row after nearly every gate, and a CHANNEL row ends
every fused block and every cache-blocked run, so trajectories would run gate by
gate. Yet most shots pass most CHANNEL rows without an error (their identity).
:class:`Checkpoints` keeps a second program: the same rows with all CHANNEL rows
removed but every ``stride``-th, fused and planned as usual. The kept rows are the
*checkpoints*: a walk may leave or join the fast copy there, as the state at a
checkpoint is the same in both copies.

To run from ``pc`` to the next row where an error was drawn (``stop``), the walker
runs the exact rows to the first checkpoint, the fast copy from there to the last
checkpoint before ``stop``, and the exact rows again up to ``stop``: per error at
most ``2 * stride`` CHANNEL rows' worth of gates run unfused.

Only straight-line programs of gates and channels get a fast copy (what remains
after the final measurements are taken out); others run the exact rows alone.
"""

from __future__ import annotations

import numpy as np

from .. import settings
from ..opcodes import COL_OPCODE, OP_CHANNEL, OP_DIAG, OP_MATRIX
from .blocking import plan_blocks
from .fusion import fuse_rows
from .precision import in_precision

__all__ = ["Checkpoints", "Level", "CHECKPOINT_STRIDE"]

#: CHANNEL rows between two checkpoints of the finest fused copy (``aerdask.kernels.checkpoint-stride``);
#: each coarser copy keeps every ``LEVEL_FACTOR``-th checkpoint of the one below.
CHECKPOINT_STRIDE = settings.get_int("kernels.checkpoint-stride")
LEVEL_FACTOR = 4


class Level:
    """One fused copy of a noisy experiment and where its checkpoints are in both programs.

    Attributes:
        ops, qubits, matrices: The copy's rows (fused; checkpoints are CHANNEL rows).
        plan: Its cache-blocking plan, as :func:`.interpreter.run_segment` takes it.
        exact: int64; each checkpoint's row in the exact program, then ``len(exact ops)``.
        fast: int64; the same checkpoints' rows in this copy, then ``len(ops)``.
    """

    def __init__(self, exp, keep_rows: np.ndarray, dtype, blocking_qubits: int):
        ops = exp.ops
        keep = (ops[:, COL_OPCODE] != OP_CHANNEL) | np.isin(np.arange(ops.shape[0]), keep_rows)
        self.ops, self.qubits, matrices = fuse_rows(np.ascontiguousarray(ops[keep]), exp.qubits, exp.matrices)
        self.matrices = in_precision(matrices, dtype)
        p = plan_blocks(exp.replace(ops=self.ops, qubits=self.qubits, matrices=matrices), blocking_qubits)
        self.plan = (p.entry, p.runs, p.steps, p.pool, p.positions)
        rows = np.flatnonzero(self.ops[:, COL_OPCODE] == OP_CHANNEL)
        if rows.size != keep_rows.size:  # fusion keeps every non-gate row; anything else is a bug
            raise AssertionError(f"checkpoints: {keep_rows.size} kept, {rows.size} after fusion")
        self.exact = np.append(keep_rows, ops.shape[0])
        self.fast = np.append(rows, self.ops.shape[0])

    def span(self, pc: int, stop: int) -> tuple[int, int] | None:
        """The checkpoints ``(first, last)`` to cross in this copy going from ``pc`` to ``stop``.

        ``None`` when no two of its checkpoints lie in ``[pc, stop]``.
        """
        first = int(np.searchsorted(self.exact, pc))
        last = int(np.searchsorted(self.exact, stop, side="right")) - 1
        return (first, last) if last > first else None


class Checkpoints:
    """The fused copies of a noisy experiment, finest first (see the module docs)."""

    def __init__(self, levels: list[Level]):
        self.levels = levels

    @classmethod
    def build(cls, exp, dtype, blocking_qubits: int = -1, stride: int | None = None) -> Checkpoints | None:
        """The fused copies of a prepared experiment, or ``None`` where they would not help.

        Args:
            exp: The prepared (fused) experiment.
            dtype: The state's dtype.
            blocking_qubits: As the program option.
            stride: CHANNEL rows between checkpoints of the finest copy (default
                :data:`CHECKPOINT_STRIDE`); each coarser copy has ``LEVEL_FACTOR`` times fewer.
        """
        stride = CHECKPOINT_STRIDE if stride is None else stride
        opcodes = exp.ops[:, COL_OPCODE]
        channels = np.flatnonzero(opcodes == OP_CHANNEL)
        if stride <= 0 or channels.size <= stride:
            return None
        if not np.isin(opcodes, (OP_MATRIX, OP_DIAG, OP_CHANNEL)).all():
            return None  # measurements, resets, saves or control flow: the exact rows only
        levels = []
        while channels.size > stride:
            levels.append(Level(exp, channels[stride - 1 :: stride], dtype, blocking_qubits))
            stride *= LEVEL_FACTOR
        return cls(levels)
