"""Basis-state indices from outcome bits, and counts of shots drawn in batches: for engines that draw bits."""

from __future__ import annotations

import numpy as np

__all__ = ["basis_indices", "tally_batches"]


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


def tally_batches(batches, memory: bool, to_indices) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Counts of shots drawn in batches of outcome rows (bits or packed words), as ``Engine.sample`` returns them.

    Args:
        batches: Iterable of 2-D arrays, one row per shot (a billion shots are never held at once).
        memory: Also return every shot's index, in the order drawn.
        to_indices: Maps the distinct rows (stacked, in the batches' dtype) to their basis indices.

    Returns:
        ``(indices, counts, per_shot)``: the distinct indices ascending, how often each, and with
        ``memory`` each shot's index (else ``None``).
    """
    found: dict[bytes, int] = {}  # a row's bytes -> its number
    rows, totals, numbers = [], [], []
    for batch in batches:
        seen, inverse, counts = np.unique(batch, axis=0, return_inverse=True, return_counts=True)
        ids = np.empty(seen.shape[0], dtype=np.int64)
        for i, row in enumerate(seen):
            key = row.tobytes()
            if key not in found:
                found[key] = len(rows)
                rows.append(row)
                totals.append(0)
            ids[i] = found[key]
            totals[ids[i]] += int(counts[i])
        if memory:
            numbers.append(ids[inverse.ravel()])
    indices = to_indices(np.array(rows))
    order = np.argsort(indices, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    per_shot = indices[order][rank[np.concatenate(numbers)]] if memory else None
    return indices[order], np.array(totals, dtype=np.int64)[order], per_shot
