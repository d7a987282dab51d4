"""Sampling final measurements: every shot in one pass over the state.

Shots are drawn as sorted uniforms (exponential spacings, no sort) and matched
against the running cumulative probability, so no probability array the size of
the state is ever made: peak memory stays the state plus ``O(shots)``. A large
state is read once, by all threads: the probability of each chunk of consecutive
amplitudes (their sum is the norm the uniforms are scaled to), then only the
chunks a uniform falls in are scanned, each by one thread. A single-threaded
norm and scan took 68-75 ms for one shot at 24 qubits (Intel Xeon, 2 cores; 12 ms
this way), more than any other part of a job past its gates. For more shots than that is sensible
(counts only), a multinomial draw over block weights, then one per visited block.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit, prange
from .gates import PARALLEL_MIN_SIZE

__all__ = ["sample_indices", "norm_squared", "sample_sorted", "sample_chunks", "block_norms"]

#: Above this many shots (or 8 per amplitude), counts come from block multinomials.
MAX_SORTED_SHOTS = 1 << 24
BLOCK_BITS = 12
#: A large state's chunks for :func:`sample_chunks`: ``2**CHUNK_BITS`` amplitudes, 64 KiB of complex64.
CHUNK_BITS = 13


@njit(parallel=True)
def norm_squared(state):
    """Sum of ``|amplitude|**2`` (float64)."""
    total = 0.0
    if state.size < PARALLEL_MIN_SIZE:
        for i in range(state.size):
            total += state[i].real ** 2 + state[i].imag ** 2
    else:
        for i in prange(state.size):
            total += state[i].real ** 2 + state[i].imag ** 2
    return total


@njit
def sample_sorted(state, uniforms):
    """Basis-state index of each sorted uniform (float64, ascending, scaled to the norm).

    Returns:
        int64, shape ``uniforms.shape``: ascending indices.
    """
    out = np.empty(uniforms.size, dtype=np.int64)
    cumulative = 0.0
    j = 0
    last = 0
    for i in range(state.size):
        a = state[i]
        p = a.real * a.real + a.imag * a.imag
        if p > 0.0:
            last = i
        cumulative += p
        while j < uniforms.size and uniforms[j] < cumulative:
            out[j] = i
            j += 1
        if j == uniforms.size:
            break
    while j < uniforms.size:  # rounding left the last uniforms above the sum
        out[j] = last
        j += 1
    return out


@njit
def _scan(state, start, end, uniforms, first, last, cumulative, out):
    """Match ``uniforms[first:last]`` against the cumulative sum over ``state[start:end]``.

    ``cumulative`` is the probability before ``start``. Uniforms that rounding leaves
    above the chunk's sum take its last index of non-zero probability.
    """
    j = first
    nonzero = start
    for i in range(start, end):
        a = state[i]
        p = a.real * a.real + a.imag * a.imag
        if p > 0.0:
            nonzero = i
        cumulative += p
        while j < last and uniforms[j] < cumulative:
            out[j] = i
            j += 1
        if j == last:
            return
    while j < last:
        out[j] = nonzero
        j += 1


@njit(parallel=True)
def sample_chunks(state, uniforms, prefix, chunk_bits):
    """:func:`sample_sorted` from chunk probabilities: only the chunks a uniform falls in are read.

    Args:
        state: The statevector, ``prefix.size << chunk_bits`` amplitudes.
        uniforms: float64, ascending, scaled to ``prefix[-1]``.
        prefix: float64; the cumulative probability of the chunks (of :func:`block_norms`).
        chunk_bits: ``log2`` of a chunk's length.

    Returns:
        int64, shape ``uniforms.shape``: ascending indices.
    """
    out = np.empty(uniforms.size, dtype=np.int64)
    chunk = np.searchsorted(prefix, uniforms, side="right")
    # Past the total by rounding: the last chunk with any probability.
    top = prefix.size - 1
    while top > 0 and prefix[top] == prefix[top - 1]:
        top -= 1
    for j in range(uniforms.size):
        chunk[j] = min(chunk[j], top)
    # The runs of uniforms in one chunk, each scanned by one thread.
    starts = np.flatnonzero(np.concatenate((np.ones(1, dtype=np.bool_), chunk[1:] != chunk[:-1])))
    ends = np.append(starts[1:], uniforms.size)
    for r in prange(starts.size):
        c = chunk[starts[r]]
        before = prefix[c - 1] if c > 0 else 0.0
        _scan(state, c << chunk_bits, (c + 1) << chunk_bits, uniforms, starts[r], ends[r], before, out)
    return out


@njit(parallel=True, fastmath=True)
def block_norms(state, block_bits):
    """Probability of each block of ``2**block_bits`` consecutive amplitudes (float64).

    ``fastmath`` lets the sum be reassociated, so it vectorises: in order it ran at the
    latency of one addition per amplitude, slower than reading the state.
    """
    size = 1 << block_bits
    out = np.zeros(state.size >> block_bits, dtype=np.float64)
    for b in prange(out.size):
        total = 0.0
        for i in range(b * size, (b + 1) * size):
            total += state[i].real ** 2 + state[i].imag ** 2
        out[b] = total
    return out


def sample_indices(state: np.ndarray, shots: int, rng: np.random.Generator, ordered: bool):
    """Draw ``shots`` basis-state indices from ``|state|**2``.

    Args:
        state: The statevector (not modified).
        shots: Number of samples.
        rng: The experiment's generator.
        ordered: Also return every shot's index in a random order (for ``memory``).

    Returns:
        ``(indices, counts, per_shot)``: distinct int64 indices, how often each was
        drawn, and the per-shot indices in shot order (or ``None``).
    """
    if not ordered and (shots > MAX_SORTED_SHOTS or shots > 8 * state.size):
        indices, counts = _sample_blocked(state, shots, rng)
        return indices, counts, None
    spacings = rng.standard_exponential(shots + 1)
    np.cumsum(spacings, out=spacings)
    if state.size < PARALLEL_MIN_SIZE or state.size <= 1 << CHUNK_BITS:
        uniforms = spacings[:-1] * (norm_squared(state) / spacings[-1])
        drawn = sample_sorted(state, uniforms)
    else:
        prefix = np.cumsum(block_norms(state, CHUNK_BITS))
        drawn = sample_chunks(state, spacings[:-1] * (prefix[-1] / spacings[-1]), prefix, CHUNK_BITS)
    starts = np.flatnonzero(np.concatenate(([True], drawn[1:] != drawn[:-1])))
    indices = drawn[starts]
    counts = np.diff(np.append(starts, drawn.size))
    per_shot = drawn[rng.permutation(shots)] if ordered else None
    return indices, counts, per_shot


def _sample_blocked(state, shots, rng):
    block_bits = min(BLOCK_BITS, int(np.log2(state.size)))
    weights = block_norms(state, block_bits)
    per_block = rng.multinomial(shots, weights / weights.sum())
    indices, counts = [], []
    for block in np.flatnonzero(per_block):
        start = int(block) << block_bits
        amps = state[start : start + (1 << block_bits)]
        probs = amps.real.astype(np.float64) ** 2 + amps.imag.astype(np.float64) ** 2
        drawn = rng.multinomial(per_block[block], probs / probs.sum())
        hit = np.flatnonzero(drawn)
        indices.append(hit + start)
        counts.append(drawn[hit])
    return np.concatenate(indices), np.concatenate(counts)
