"""The ``numba.cuda`` kernels of the GPU path: gate tiles, reductions, collapse and sampling.

Importing this module imports ``numba.cuda``; :mod:`aerdask_kernels.gpu` does so
only when a GPU program runs. Conventions are those of :mod:`aerdask_kernels.gates`
(qubit ``q`` is bit ``q`` of an index; matrices row-major with bit ``b`` of a row
belonging to target ``b``).

Why tiles: a warp reads memory well only when its 32 threads touch neighbouring
amplitudes. A gate on a low qubit pairs amplitudes a few places apart, which a
one-thread-per-pair kernel reads at about two thirds of the bandwidth (measured on an
H100: 2.18 TB/s for qubit 0 against 3.0 TB/s for a copy). :func:`tile_pass`
instead loads ``2**tile_bits`` amplitudes per thread block into shared memory, every
load covering runs of at least :data:`MIN_LOW_BITS` low bits (coalesced), applies
every gate row of a batch there, and writes the tile back: one pass over the state
per batch, whichever qubits the gates touch, as long as their targets fit the tile
(see :mod:`.tiles`). A diagonal row needs no target in the tile: it reads its
entry from the global index.

Reductions accumulate in float64 and add per-block partial sums atomically.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda, float64, from_dtype

from .tiles import CAPACITY_BITS

__all__ = [
    "THREADS",
    "tile_pass",
    "probability_one",
    "collapse",
    "flip",
    "block_norms",
    "sample_in_blocks",
    "expval_pauli",
    "marginal",
    "gather",
    "basis_state",
    "launch",
]

#: Threads per block. The reductions' shared arrays are sized for it.
THREADS = 256
#: Blocks launched at most for a grid-stride kernel (enough to fill any current GPU).
MAX_BLOCKS = 65536
#: Row kinds of a tile batch (:mod:`.tiles`).
DENSE, DIAGONAL = 0, 1
#: Columns of a tile batch's rows: kind, target count, matrix offset, control mask, control bits.
R_KIND, R_NTARG, R_MOFF, R_CMASK, R_CBITS = range(5)


def launch(size: int, threads: int = THREADS, max_blocks: int = MAX_BLOCKS) -> tuple[int, int]:
    """``(blocks, threads)`` for a grid-stride kernel over ``size`` items."""
    return max(1, min(max_blocks, (size + threads - 1) // threads)), threads


@functools.cache
def tile_pass(dtype):
    """The tile kernel for states of ``dtype`` (``np.complex64`` or ``np.complex128``).

    Kernel arguments:
        state: the statevector (device), modified in place.
        tile_bits: int; the tile holds ``2**tile_bits`` amplitudes.
        free: int64 (device), the state's bit positions outside the tile, ascending;
            tile ``t``'s base index deposits the bits of ``t`` there.
        n_free: int, how many of ``free`` are real (a tile that is the whole state has none,
            and ``free`` then holds one unused entry: no zero-size device arrays).
        offsets: int64 (device), ``2**tile_bits``; the index of local amplitude ``i``
            relative to the tile's base.
        rows: int64 (device), ``(n_rows, 5)``: kind, targets, matrix offset, control
            mask, control bits (:data:`R_KIND`...).
        targets: int64 (device), ``(n_rows, MAX)``: a dense row's targets as local bit
            positions, a diagonal row's as global ones.
        matrices: the program's matrices (device), ``state``'s dtype.

    Launched with one block per tile (or fewer: blocks stride over the tiles).
    """
    element = from_dtype(np.dtype(dtype))
    tile = 1 << CAPACITY_BITS

    @cuda.jit
    def kernel(state, tile_bits, free, n_free, offsets, rows, targets, matrices):
        buf = cuda.shared.array((2, tile), element)
        size = 1 << tile_bits
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        n_tiles = state.size >> tile_bits
        for t in range(cuda.blockIdx.x, n_tiles, cuda.gridDim.x):
            base = 0
            for k in range(n_free):
                base |= ((t >> k) & 1) << free[k]
            for i in range(tid, size, nt):
                buf[0, i] = state[base + offsets[i]]
            cuda.syncthreads()
            cur = 0
            for r in range(rows.shape[0]):
                ntarg = rows[r, R_NTARG]
                moff = rows[r, R_MOFF]
                cmask = rows[r, R_CMASK]
                cbits = rows[r, R_CBITS]
                if rows[r, R_KIND] == DENSE:
                    dim = 1 << ntarg
                    for i in range(tid, size, nt):
                        if ((base + offsets[i]) & cmask) != cbits:
                            buf[1 - cur, i] = buf[cur, i]
                            continue
                        row = 0
                        i0 = i
                        for b in range(ntarg):
                            bit = targets[r, b]
                            row |= ((i >> bit) & 1) << b
                            i0 &= ~(1 << bit)
                        acc = buf[cur, i] * 0
                        for c in range(dim):
                            j = i0
                            for b in range(ntarg):
                                if (c >> b) & 1:
                                    j |= 1 << targets[r, b]
                            acc += matrices[moff + row * dim + c] * buf[cur, j]
                        buf[1 - cur, i] = acc
                    cur = 1 - cur
                else:
                    for i in range(tid, size, nt):
                        g = base + offsets[i]
                        if (g & cmask) == cbits:
                            d = 0
                            for b in range(ntarg):
                                d |= ((g >> targets[r, b]) & 1) << b
                            buf[cur, i] = buf[cur, i] * matrices[moff + d]
                cuda.syncthreads()
            for i in range(tid, size, nt):
                state[base + offsets[i]] = buf[cur, i]
            cuda.syncthreads()  # the next tile overwrites the buffers

    return kernel


@cuda.jit(device=True)
def _block_sum(value, partial):
    """Sum ``value`` over the block's threads (shared ``partial``: ``THREADS`` float64); thread 0 gets it."""
    tid = cuda.threadIdx.x
    partial[tid] = value
    cuda.syncthreads()
    step = 1
    while step < cuda.blockDim.x:
        step <<= 1
    step >>= 1
    while step > 0:
        if tid < step and tid + step < cuda.blockDim.x:
            partial[tid] += partial[tid + step]
        cuda.syncthreads()
        step >>= 1
    return partial[0]


@cuda.jit
def probability_one(state, qubit, out):
    """``out[0] += sum |a_i|**2`` over the indices with bit ``qubit`` set (``out``: float64, zeroed)."""
    partial = cuda.shared.array(THREADS, float64)
    total = 0.0
    for i in range(cuda.grid(1), state.size, cuda.gridsize(1)):
        if (i >> qubit) & 1:
            a = state[i]
            total += float64(a.real) * float64(a.real) + float64(a.imag) * float64(a.imag)
    total = _block_sum(total, partial)
    if cuda.threadIdx.x == 0:
        cuda.atomic.add(out, 0, total)


@cuda.jit
def collapse(state, qubit, outcome, scale):
    """Zero the amplitudes whose bit ``qubit`` is not ``outcome``; multiply the others by ``scale``."""
    for i in range(cuda.grid(1), state.size, cuda.gridsize(1)):
        if ((i >> qubit) & 1) == outcome:
            state[i] = state[i] * scale
        else:
            state[i] = 0


@cuda.jit
def flip(state, qubit):
    """Swap the amplitudes that differ in bit ``qubit`` (an X gate; a reset's outcome 1)."""
    low = (1 << qubit) - 1
    for k in range(cuda.grid(1), state.size >> 1, cuda.gridsize(1)):
        i0 = ((k >> qubit) << (qubit + 1)) | (k & low)
        i1 = i0 | (1 << qubit)
        a = state[i0]
        state[i0] = state[i1]
        state[i1] = a


@cuda.jit
def block_norms(state, block_bits, out):
    """``out[b]`` = the probability of amplitudes ``[b << block_bits, (b + 1) << block_bits)``.

    One thread block per state block at a time (blocks stride over them).
    """
    partial = cuda.shared.array(THREADS, float64)
    size = 1 << block_bits
    for b in range(cuda.blockIdx.x, out.size, cuda.gridDim.x):
        total = 0.0
        for i in range(cuda.threadIdx.x, size, cuda.blockDim.x):
            a = state[(b << block_bits) + i]
            total += float64(a.real) * float64(a.real) + float64(a.imag) * float64(a.imag)
        total = _block_sum(total, partial)
        if cuda.threadIdx.x == 0:
            out[b] = total
        cuda.syncthreads()


@cuda.jit
def sample_in_blocks(state, block_bits, blocks, residuals, out):
    """The index drawn by each uniform: the first amplitude of its block where the running sum passes it.

    ``blocks[k]``: the uniform's block; ``residuals[k]``: the uniform less the probability
    before that block. Past the block's sum (rounding), the block's last non-zero amplitude.
    """
    size = 1 << block_bits
    for k in range(cuda.grid(1), blocks.size, cuda.gridsize(1)):
        start = blocks[k] << block_bits
        cumulative = 0.0
        last = start
        found = -1
        for i in range(start, start + size):
            a = state[i]
            p = float64(a.real) * float64(a.real) + float64(a.imag) * float64(a.imag)
            if p > 0.0:
                last = i
            cumulative += p
            if residuals[k] < cumulative:
                found = i
                break
        out[k] = found if found >= 0 else last


@cuda.jit
def expval_pauli(state, x_mask, z_mask, out):
    """``out[0] + 1j * out[1] += sum_i conj(a[i ^ x]) a[i] (-1)**popcount(i & z)`` (zeroed float64 ``out``)."""
    partial = cuda.shared.array(THREADS, float64)
    re = 0.0
    im = 0.0
    for i in range(cuda.grid(1), state.size, cuda.gridsize(1)):
        a = state[i]
        b = state[i ^ x_mask]
        term_re = float64(b.real) * float64(a.real) + float64(b.imag) * float64(a.imag)
        term_im = float64(b.real) * float64(a.imag) - float64(b.imag) * float64(a.real)
        if cuda.popc(i & z_mask) & 1:
            term_re = -term_re
            term_im = -term_im
        re += term_re
        im += term_im
    re = _block_sum(re, partial)
    cuda.syncthreads()
    im = _block_sum(im, partial)
    if cuda.threadIdx.x == 0:
        cuda.atomic.add(out, 0, re)
        cuda.atomic.add(out, 1, im)


@cuda.jit
def marginal(state, qubits, out):
    """``out[v] += P(qubits read v)`` (``qubits[0]`` is bit 0 of ``v``; ``out``: float64, zeroed).

    With at most ``THREADS`` outcomes, a block sums into shared memory first, so a
    few outcomes do not serialise every thread on one global address.
    """
    bins = cuda.shared.array(THREADS, float64)
    local = out.size <= THREADS
    if local:
        for v in range(cuda.threadIdx.x, out.size, cuda.blockDim.x):
            bins[v] = 0.0
        cuda.syncthreads()
    for i in range(cuda.grid(1), state.size, cuda.gridsize(1)):
        v = 0
        for b in range(qubits.size):
            v |= ((i >> qubits[b]) & 1) << b
        a = state[i]
        p = float64(a.real) * float64(a.real) + float64(a.imag) * float64(a.imag)
        if local:
            cuda.atomic.add(bins, v, p)
        else:
            cuda.atomic.add(out, v, p)
    if local:
        cuda.syncthreads()
        for v in range(cuda.threadIdx.x, out.size, cuda.blockDim.x):
            cuda.atomic.add(out, v, bins[v])


@cuda.jit
def gather(state, indices, out):
    """``out[k] = state[indices[k]]``."""
    for k in range(cuda.grid(1), indices.size, cuda.gridsize(1)):
        out[k] = state[indices[k]]


@cuda.jit
def basis_state(state):
    """``|0...0>``: amplitude 0 is 1, the rest 0."""
    for i in range(cuda.grid(1), state.size, cuda.gridsize(1)):
        state[i] = 1 if i == 0 else 0
