"""Basis-state indices from outcome bits: one helper for every engine that draws bits, not indices."""

from __future__ import annotations

import numpy as np

__all__ = ["basis_indices"]


def basis_indices(bits: np.ndarray, qubits: np.ndarray, n: int) -> np.ndarray:
    """The indices with bit ``qubits[i]`` from column ``i`` of ``bits`` (uint8, ``(m, k)``), the rest 0.

    Returns:
        int64 ``(m,)`` up to 62 qubits; past that an object array of Python ints.
    """
    if n <= 62:
        return (bits.astype(np.int64) << qubits.astype(np.int64)).sum(axis=1)
    full = np.zeros((bits.shape[0], n), dtype=np.uint8)
    full[:, qubits] = bits
    packed = np.packbits(full, axis=1, bitorder="little")
    return np.array([int.from_bytes(row.tobytes(), "little") for row in packed], dtype=object)
