"""Which gate rows run together in one GPU pass, and the tile each pass loads.

numpy only (no ``numba.cuda``): the plan is made on the host and tested without a GPU.

A pass loads tiles of ``2**tile_bits`` amplitudes: the bits at a set of positions
``P`` vary inside a tile, the others pick the tile. A dense row can run in a pass
when its targets are in ``P``; a diagonal row always can (it reads its entry from
the global index), as can any row's controls. :func:`plan_batches` walks the
consecutive gate rows from an op and cuts them greedily into batches whose targets
fit, with at least :data:`MIN_LOW_BITS` low bits in ``P`` so that each warp reads
runs of neighbouring amplitudes. ``P`` is completed with the lowest bits left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..opcodes import COL_CVAL, COL_MOFF, COL_NCTRL, COL_NTARG, COL_OPCODE, COL_QOFF, OP_DIAG, OP_MATRIX

__all__ = ["CAPACITY_BITS", "TILE_BITS", "MIN_LOW_BITS", "MAX_TARGETS", "Batch", "plan_batches", "tile_positions"]

#: The kernel's shared buffers hold ``2**CAPACITY_BITS`` amplitudes each (32 KiB for both in complex128).
CAPACITY_BITS = 10
#: A tile holds ``2**TILE_BITS`` amplitudes (tests lower it to get many tiles from a small state).
TILE_BITS = CAPACITY_BITS
#: Low bits every tile keeps when it can (32 neighbouring amplitudes: a warp's coalesced read).
MIN_LOW_BITS = 5
#: Most targets of a dense row on the GPU (a tile must hold them).
MAX_TARGETS = CAPACITY_BITS


@dataclass(frozen=True)
class Batch:
    """One pass: gate rows applied to every tile in turn.

    Attributes:
        rows: int64, ``(n, 5)``: kind (0 dense, 1 diagonal), target count, matrix
            offset, control mask, control bits (see :mod:`.kernels`).
        targets: int64, ``(n, MAX_TARGETS)``: dense targets as positions in the tile
            (bit ``b`` of the local index is ``positions[b]``), diagonal ones as qubits.
        tile_bits: Bits of a tile (``min(TILE_BITS, num_qubits)``).
        free: int64: the qubits outside the tile, ascending.
        offsets: int64, ``2**tile_bits``: each local index's offset from its tile's base.
        pcs: The program rows it applies, in order.
    """

    rows: np.ndarray
    targets: np.ndarray
    tile_bits: int
    free: np.ndarray
    offsets: np.ndarray
    pcs: tuple[int, ...]


def tile_positions(targets: set[int], tile_bits: int) -> list[int]:
    """``targets`` completed with the lowest other qubits to ``tile_bits`` positions, ascending."""
    positions = set(targets)
    bit = 0
    while len(positions) < tile_bits:
        positions.add(bit)
        bit += 1
    return sorted(positions)


def _row_targets(ops: np.ndarray, qubits: np.ndarray, pc: int) -> list[int]:
    qoff, nctrl, ntarg = int(ops[pc, COL_QOFF]), int(ops[pc, COL_NCTRL]), int(ops[pc, COL_NTARG])
    return [int(q) for q in qubits[qoff + nctrl : qoff + nctrl + ntarg]]


def _controls(ops: np.ndarray, qubits: np.ndarray, pc: int) -> tuple[int, int]:
    qoff, nctrl, cval = int(ops[pc, COL_QOFF]), int(ops[pc, COL_NCTRL]), int(ops[pc, COL_CVAL])
    mask = bits = 0
    for j, q in enumerate(qubits[qoff : qoff + nctrl].tolist()):
        mask |= 1 << q
        if (cval >> j) & 1:
            bits |= 1 << q
    return mask, bits


def _batch(ops, qubits, pcs: list[int], dense_targets: set[int], num_qubits: int, tile_bits: int) -> Batch:
    positions = tile_positions(dense_targets, tile_bits)
    where = {q: b for b, q in enumerate(positions)}
    rows = np.zeros((len(pcs), 5), dtype=np.int64)
    targets = np.zeros((len(pcs), MAX_TARGETS), dtype=np.int64)
    for r, pc in enumerate(pcs):
        tq = _row_targets(ops, qubits, pc)
        dense = ops[pc, COL_OPCODE] == OP_MATRIX
        cmask, cbits = _controls(ops, qubits, pc)
        rows[r] = (0 if dense else 1, len(tq), ops[pc, COL_MOFF], cmask, cbits)
        targets[r, : len(tq)] = [where[q] for q in tq] if dense else tq
    local = np.arange(1 << tile_bits, dtype=np.int64)
    offsets = np.zeros_like(local)
    for b, q in enumerate(positions):
        offsets |= ((local >> b) & 1) << q
    free = np.array([q for q in range(num_qubits) if q not in where], dtype=np.int64)
    return Batch(rows, targets, tile_bits, free, offsets, tuple(pcs))


def plan_batches(
    ops: np.ndarray, qubits: np.ndarray, pc: int, num_qubits: int, tile_bits: int | None = None
) -> tuple[list[Batch], int]:
    """The passes for the gate rows from ``pc`` to the first other row.

    Args:
        ops: int64, ``(n_ops, 8)``: the experiment's opcode table.
        qubits: int64: the indices the rows reference.
        pc: First row; a MATRIX or DIAG row.
        num_qubits: The state's qubits.
        tile_bits: Bits of a tile, at most :data:`CAPACITY_BITS` (the kernel's shared
            buffers); default :data:`TILE_BITS`.

    Returns:
        ``(batches, end)``: the passes in order, and the first row after them.

    Raises:
        ValueError: for a dense row with more targets than a tile holds (:data:`MAX_TARGETS`).
    """
    tile_bits = min(TILE_BITS if tile_bits is None else tile_bits, CAPACITY_BITS, num_qubits)
    low = set(range(min(MIN_LOW_BITS, tile_bits)))
    batches: list[Batch] = []
    pcs: list[int] = []
    dense: set[int] = set()
    end = pc
    while end < ops.shape[0] and ops[end, COL_OPCODE] in (OP_MATRIX, OP_DIAG):
        if ops[end, COL_OPCODE] == OP_MATRIX:
            tq = set(_row_targets(ops, qubits, end))
            if len(tq) > tile_bits:
                raise ValueError(
                    f"op {end}: a {len(tq)}-qubit matrix; the GPU runs dense gates of up to {tile_bits} qubits"
                )
            # With others in the batch, keep the low bits coalesced; alone, a row takes what it needs.
            if pcs and len(dense | tq | low) > tile_bits:
                batches.append(_batch(ops, qubits, pcs, dense, num_qubits, tile_bits))
                pcs, dense = [], set()
            dense |= tq
        pcs.append(end)
        end += 1
    if pcs:
        batches.append(_batch(ops, qubits, pcs, dense, num_qubits, tile_bits))
    return batches, end
