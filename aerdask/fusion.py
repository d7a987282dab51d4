"""Gate fusion: fewer passes over the state.

Two blocks are kept open while gates stream in, and their qubit sets never
overlap, so they commute and may be emitted in any order:

* a dense block on at most two qubits. Gates whose qubits lie inside it are
  multiplied in, and a one-qubit block grows into the two-qubit gate that follows
  it. Two one-qubit gates on different qubits are *not* merged: a dense two-qubit
  pass costs about three one-qubit passes here, so that would be slower.
* a diagonal block on up to :data:`MAX_DIAGONAL_QUBITS` qubits. Diagonal gates
  (``rz``, ``p``, ``cz``, ``cp``, ``rzz``, ``mcphase``...) commute with each other,
  and a diagonal pass costs about one memory pass whatever its width, so a QFT's
  ladders of controlled phases become a few passes.

A gate that overlaps an open block it cannot join closes that block first. Wider
gates are emitted as they are.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .gate_forms import GateForm

__all__ = ["Fuser", "MAX_DIAGONAL_QUBITS", "MAX_DENSE_QUBITS"]

MAX_DIAGONAL_QUBITS = 10
MAX_DENSE_QUBITS = 2


@dataclasses.dataclass
class _Block:
    qubits: list[int]  # bit b of a row/column index (or diagonal index) is qubits[b]
    data: np.ndarray  # dense matrix or diagonal


@functools.lru_cache(maxsize=4096)
def _layout(qubits: tuple[int, ...], onto: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Index maps for embedding: the inner index of every outer index, and which pairs agree outside.

    Cached: a batch meets the same few qubit layouts again and again.
    """
    idx = np.arange(1 << len(onto))
    positions = [onto.index(q) for q in qubits]
    inner = np.zeros_like(idx)
    for b, p in enumerate(positions):
        inner |= ((idx >> p) & 1) << b
    outer = idx & ~sum(1 << p for p in positions)
    return inner, outer[:, None] == outer[None, :]


def embed_diagonal(diag: np.ndarray, qubits: list[int], onto: list[int]) -> np.ndarray:
    """The diagonal on ``qubits`` as a diagonal on the superset ``onto``."""
    if qubits == onto:
        return diag
    return diag[_layout(tuple(qubits), tuple(onto))[0]]


def embed_matrix(matrix: np.ndarray, qubits: list[int], onto: list[int]) -> np.ndarray:
    """The matrix on ``qubits`` as a matrix on the superset ``onto`` (identity elsewhere)."""
    if qubits == onto:
        return matrix
    inner, same = _layout(tuple(qubits), tuple(onto))
    # Entry (r, c) is matrix[inner r, inner c] when r and c agree outside ``qubits``.
    return np.where(same, matrix[inner[:, None], inner[None, :]], 0)


def uncontrolled(qubits: list[int], form: GateForm) -> np.ndarray:
    """The gate's form as a matrix (or diagonal) on all its qubits, controls included."""
    return form.data if form.nctrl == 0 else _uncontrolled(form)


@functools.lru_cache(maxsize=1024)
def _uncontrolled(form: GateForm) -> np.ndarray:
    # Cached by form identity: the forms of repeated gates (cx, cz, cp(pi/2)...) are shared.
    nc = form.nctrl
    qubits = range(nc + int(np.log2(form.data.shape[0])))
    k = len(qubits) - nc
    active = [form.ctrl_val | (t << nc) for t in range(1 << k)]
    if form.diagonal:
        full = np.ones(1 << len(qubits), dtype=np.complex128)
        full[active] = form.data
        return full
    full = np.eye(1 << len(qubits), dtype=np.complex128)
    full[np.ix_(active, active)] = form.data
    return full


class Fuser:
    """Fuses a stream of gates; calls ``emit(qubits, form)`` for each fused gate.

    Args:
        emit: Receives the qubits (controls first) and a :class:`GateForm`.
    """

    def __init__(self, emit):
        self.emit = emit
        self.dense: _Block | None = None
        self.diag: _Block | None = None

    def flush(self) -> None:
        """Emit every open block (before anything that is not a gate)."""
        self._flush_dense()
        self._flush_diag()

    def _flush_dense(self) -> None:
        if self.dense is not None:
            block, self.dense = self.dense, None
            data = block.data
            off = data - np.diag(np.diagonal(data))
            if np.count_nonzero(off) == 0:  # e.g. rz . rz: run it as a diagonal
                self.emit(block.qubits, GateForm(0, 0, np.diagonal(data).copy(), True))
            else:
                self.emit(block.qubits, GateForm(0, 0, data, False))

    def _flush_diag(self) -> None:
        if self.diag is not None:
            block, self.diag = self.diag, None
            identity = bool(np.all(block.data == 1))
            self.emit(block.qubits, GateForm(0, 0, block.data, True, identity))

    def gate(self, qubits: list[int], form: GateForm) -> None:
        """Add a gate on ``qubits`` (controls first)."""
        if form.identity:
            return
        wanted = set(qubits)
        if form.diagonal and len(qubits) <= MAX_DIAGONAL_QUBITS:
            self._add_diagonal(qubits, uncontrolled(qubits, form), wanted)
        elif not form.diagonal and len(qubits) <= MAX_DENSE_QUBITS:
            self._add_dense(qubits, uncontrolled(qubits, form), wanted)
        else:
            if self.dense is not None and wanted & set(self.dense.qubits):
                self._flush_dense()
            if self.diag is not None and wanted & set(self.diag.qubits):
                self._flush_diag()
            self.emit(qubits, form)

    def _add_diagonal(self, qubits, diag, wanted) -> None:
        dense = self.dense
        if dense is not None and wanted <= set(dense.qubits):
            dense.data = np.diag(embed_diagonal(diag, qubits, dense.qubits)) @ dense.data
            return
        if dense is not None and wanted & set(dense.qubits):
            self._flush_dense()
        block = self.diag
        if block is not None:
            union = block.qubits + [q for q in qubits if q not in block.qubits]
            if len(union) > MAX_DIAGONAL_QUBITS:
                self._flush_diag()
            else:
                block.data = embed_diagonal(block.data, block.qubits, union) * embed_diagonal(diag, qubits, union)
                block.qubits = union
                return
        self.diag = _Block(list(qubits), np.asarray(diag, dtype=np.complex128))

    def _add_dense(self, qubits, matrix, wanted) -> None:
        if self.diag is not None and wanted & set(self.diag.qubits):
            self._flush_diag()  # it came first and does not commute with this gate
        block = self.dense
        if block is not None:
            have = set(block.qubits)
            if wanted <= have:
                block.data = embed_matrix(matrix, qubits, block.qubits) @ block.data
                return
            if len(have) == 1 and have <= wanted:  # a one-qubit block grows into this gate
                block.data = matrix @ embed_matrix(block.data, block.qubits, list(qubits))
                block.qubits = list(qubits)
                return
            self._flush_dense()
        self.dense = _Block(list(qubits), np.asarray(matrix, dtype=np.complex128))
