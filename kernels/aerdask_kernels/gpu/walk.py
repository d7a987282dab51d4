"""The GPU engine: the state in GPU memory, walked by the one :class:`..runtime.walker.Walker`.

:class:`GpuEngine` is an :class:`..runtime.engine.Engine`, so the tree of branches,
the shots each takes and the random numbers drawn are the CPU's. The state stays on the device: what comes
back is a probability per measurement, block sums and drawn indices for sampling,
and the saves' values (a statevector save, a dict of amplitudes and a reduced density
matrix copy the state back, as their value is that size anyway or is made from it).

Gate rows run in passes planned by :mod:`.tiles` and cached per starting row;
classical jumps and branches are taken on the host between passes.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .. import readiness
from ..kernels.sampling import MAX_SORTED_SHOTS, sample_indices
from ..runtime.engine import Engine, Runner, host_rows
from ..runtime.points import run_points
from ..runtime.saves import reduced_density_matrix, save_value
from . import tiles
from .device import GPU_LOCK, import_cuda, simulated

__all__ = ["GpuEngine", "GpuRunner", "DeviceState", "run_program_gpu", "gpu_compatibility", "SAMPLE_BLOCK_BITS"]

#: Sampling sums the probability of blocks of ``2**SAMPLE_BLOCK_BITS`` amplitudes on the GPU, then
#: each drawn uniform scans its block there: what crosses the bus is a float per block and an index per shot.
SAMPLE_BLOCK_BITS = 10
#: Counts of more shots than this many per amplitude are drawn as the CPU draws them, from a
#: copy of the state on the host (block multinomials): the copy is smaller than the shots.
HOST_SAMPLING_FACTOR = 8
#: Threads per block under the simulator, which runs each thread as a Python thread, and one
#: block (every kernel strides over its items): the simulator's cost is per thread started.
_SIMULATED_THREADS = 4


def gpu_compatibility(program) -> str | None:
    """Why ``program`` cannot run on the GPU path, or ``None``.

    The GPU runs noiseless statevector experiments, unsharded, with dense gates of up
    to :data:`.tiles.MAX_TARGETS` qubits.
    """
    from ..density import DENSITY_MATRIX

    if program.typed_options.shards != 1:
        return "a sharded state (shards > 1) runs on CPU workers only"
    for exp in program.experiments:
        if exp.method == DENSITY_MATRIX:
            return f"experiment {exp.index} ({exp.name!r}) uses the density_matrix method; the GPU runs statevector"
        if exp.noisy:
            return f"experiment {exp.index} ({exp.name!r}) has noise; the GPU runs noiseless circuits"
    return None


class DeviceState:
    """A statevector in GPU memory; ``copy()`` copies it on the device (a pending branch's state)."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def copy(self) -> DeviceState:
        """A copy on the device."""
        from numba import cuda  # imported and checked by the engine that made this state

        out = cuda.device_array_like(self.array)
        out.copy_to_device(self.array)
        return DeviceState(out)

    @property
    def size(self) -> int:
        """Amplitudes."""
        return int(self.array.size)

    def to_host(self) -> np.ndarray:
        """The amplitudes, copied to the host."""
        return self.array.copy_to_host()


class GpuEngine(Engine):
    """A statevector in GPU memory (see :class:`..runtime.engine.Engine` and the module docstring)."""

    def __init__(self, exp, dtype, cancel_flag: np.ndarray):
        super().__init__(exp, dtype, cancel_flag)
        from . import kernels

        self.cuda = import_cuda()
        self.k = kernels
        self.threads = _SIMULATED_THREADS if simulated() else kernels.THREADS
        self.max_blocks = 1 if simulated() else kernels.MAX_BLOCKS
        self.tile = kernels.tile_pass(np.dtype(dtype).type)
        self.d_matrices = self.cuda.to_device(np.ascontiguousarray(self.matrices))
        self._passes: dict[int, tuple[list, int]] = {}
        self.tile_bits = tiles.TILE_BITS

    def _grid(self, size: int) -> tuple[int, int]:
        return self.k.launch(size, self.threads, self.max_blocks)

    def fresh(self) -> DeviceState:
        """``|0...0>`` on the device."""
        state = DeviceState(self.cuda.device_array(1 << self.exp.num_qubits, dtype=self.dtype))
        self.k.basis_state[self._grid(state.size)](state.array)
        return state

    def _passes_from(self, pc: int):
        """The device arrays of the passes from gate row ``pc``, planned once per row."""
        if pc not in self._passes:
            exp = self.exp
            batches, end = tiles.plan_batches(exp.ops, exp.qubits, pc, exp.num_qubits, self.tile_bits)
            to = self.cuda.to_device
            device = [
                (b.tile_bits, to(_nonempty(b.free)), b.free.size, to(b.offsets), to(b.rows), to(b.targets))
                for b in batches
            ]
            self._passes[pc] = (device, end)
        return self._passes[pc]

    def run_segment(self, state, creg, pc: int, stop: int = 0) -> int:
        """Gate rows in tiled passes on the device; jumps and branches on the host."""
        return host_rows(self, state, creg, pc, stop, self._gates)

    def _gates(self, state: DeviceState, pc: int) -> int:
        passes, end = self._passes_from(pc)
        for tile_bits, free, n_free, offsets, rows, targets in passes:
            grid = (min(1 << n_free, self.max_blocks), min(self.threads, 1 << tile_bits))
            self.tile[grid](state.array, tile_bits, free, n_free, offsets, rows, targets, self.d_matrices)
        return end

    def set_state(self, state, amplitudes: np.ndarray) -> None:
        """Copy ``amplitudes`` to the device."""
        state.array.copy_to_device(np.ascontiguousarray(amplitudes, dtype=self.dtype))

    def _reduce(self, kernel, state, *args, width: int = 1) -> np.ndarray:
        out = self.cuda.to_device(np.zeros(width, dtype=np.float64))
        kernel[self._grid(state.size)](state.array, *args, out)
        return out.copy_to_host()

    def probability_one(self, state, qubit: int) -> float:
        """Summed on the GPU."""
        return float(self._reduce(self.k.probability_one, state, qubit)[0])

    def collapse(self, state, qubit: int, outcome: int, probability: float) -> None:
        """On the device, in place."""
        scale = self.dtype(1.0 / np.sqrt(probability))
        self.k.collapse[self._grid(state.size)](state.array, qubit, outcome, scale)

    def flip(self, state, qubit: int) -> None:
        """On the device, in place."""
        self.k.flip[self._grid(state.size >> 1)](state.array, qubit)

    def expval(self, state, x_mask: int, z_mask: int, num_y: int) -> float:
        """``<state| P |state>`` of a Pauli string, summed on the GPU (see ``measure.expval_pauli``)."""
        re, im = self._reduce(self.k.expval_pauli, state, x_mask, z_mask, width=2)
        return ((1j) ** (num_y % 4) * complex(re, im)).real

    def marginal(self, state, qubits: np.ndarray) -> np.ndarray:
        """The probabilities of ``qubits``' values (float64, ``2**len(qubits)``), summed on the GPU."""
        return self._reduce(self.k.marginal, state, self.cuda.to_device(qubits), width=1 << qubits.size)

    def amplitudes(self, state, indices: np.ndarray) -> np.ndarray:
        """The amplitudes at ``indices`` (state dtype), gathered on the GPU."""
        out = self.cuda.device_array(indices.size, dtype=self.dtype)
        self.k.gather[self._grid(indices.size)](state.array, self.cuda.to_device(indices), out)
        return out.copy_to_host()

    def save_value(self, spec: dict, state, zero_threshold: float):
        """Reduced on the GPU; statevectors, amplitude dicts and density matrices copy the state back."""
        kind, walker = spec["kind"], self
        qubits = np.asarray(spec["qubits"], dtype=np.int64)
        if kind in ("expval", "expvals", "expval_var"):
            return save_value(spec, state, zero_threshold, expval=walker.expval)
        if kind in ("probabilities", "probabilities_dict"):
            probs = walker.marginal(state, qubits)
            if kind == "probabilities":
                return probs
            return {hex(int(i)): float(probs[i]) for i in np.flatnonzero(probs > zero_threshold)}
        if kind in ("amplitudes", "amplitudes_sq"):
            amps = walker.amplitudes(state, np.asarray(spec["params"], dtype=np.int64))
            if kind == "amplitudes":
                return amps.astype(np.complex128)
            return amps.real.astype(np.float64) ** 2 + amps.imag.astype(np.float64) ** 2
        if kind == "density_matrix":
            return reduced_density_matrix(state.to_host(), qubits)
        return save_value(spec, state.to_host(), zero_threshold)

    def sample(self, state, shots: int, rng, memory: bool):
        """The CPU's draws (:func:`.sampling.sample_indices`), matched against the state on the GPU."""
        size = state.size
        if not memory and shots > HOST_SAMPLING_FACTOR * size:
            # The CPU's block multinomials, on a state smaller than an eighth of the shots: copying it is cheap.
            return sample_indices(state.to_host(), shots, rng, False)
        if not memory and shots > MAX_SORTED_SHOTS:
            return self._sample_chunked(state, shots, rng)
        spacings = rng.standard_exponential(shots + 1)
        np.cumsum(spacings, out=spacings)
        cumulative = self._block_cumulative(state)
        drawn = self._draw(state, spacings[:-1] * (cumulative[-1] / spacings[-1]), cumulative)
        starts = np.flatnonzero(np.concatenate(([True], drawn[1:] != drawn[:-1])))
        counts = np.diff(np.append(starts, drawn.size))
        per_shot = drawn[rng.permutation(shots)] if memory else None
        return drawn[starts], counts, per_shot

    def _sample_chunked(self, state, shots: int, rng):
        """Counts of more than ``MAX_SORTED_SHOTS`` shots, drawn as sorted uniforms a chunk at a time.

        The partial sums of ``shots + 1`` exponentials over their total are sorted
        uniforms. Each chunk's sum is drawn first (a gamma), then the chunk's points as
        that sum times the normalised partial sums of fresh exponentials, which have
        the same joint law: no more than a chunk of uniforms is ever held.
        """
        sizes = [MAX_SORTED_SHOTS] * (shots // MAX_SORTED_SHOTS)
        if shots % MAX_SORTED_SHOTS:
            sizes.append(shots % MAX_SORTED_SHOTS)
        sums = rng.standard_gamma(np.array(sizes, dtype=np.float64))
        total = sums.sum() + rng.standard_exponential()
        cumulative = self._block_cumulative(state)
        counts: dict[int, int] = {}
        offset = 0.0
        for size, chunk_sum in zip(sizes, sums.tolist(), strict=True):
            points = np.cumsum(rng.standard_exponential(size))
            points = (offset + chunk_sum * (points / points[-1])) * (cumulative[-1] / total)
            offset += chunk_sum
            indices, hits = np.unique(self._draw(state, points, cumulative), return_counts=True)
            for index, hit in zip(indices.tolist(), hits.tolist(), strict=True):
                counts[index] = counts.get(index, 0) + hit
        indices = np.array(sorted(counts), dtype=np.int64)
        return indices, np.array([counts[i] for i in indices.tolist()], dtype=np.int64), None

    def _block_cumulative(self, state) -> np.ndarray:
        """Running sum of the probability of each sampling block (float64, one per block)."""
        bits = min(SAMPLE_BLOCK_BITS, self.exp.num_qubits)
        out = self.cuda.device_array(state.size >> bits, dtype=np.float64)
        blocks = min(out.size, self.max_blocks)
        self.k.block_norms[blocks, self.threads](state.array, bits, out)
        return np.cumsum(out.copy_to_host())

    def _draw(self, state, uniforms: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
        """The index each ascending uniform (scaled to the norm) falls on: int64, ascending."""
        bits = min(SAMPLE_BLOCK_BITS, self.exp.num_qubits)
        last = int(np.flatnonzero(np.diff(np.concatenate(([0.0], cumulative))) > 0)[-1])
        blocks = np.minimum(np.searchsorted(cumulative, uniforms, side="right"), last)
        residuals = uniforms - np.where(blocks > 0, cumulative[np.maximum(blocks - 1, 0)], 0.0)
        out = self.cuda.device_array(uniforms.size, dtype=np.int64)
        to = self.cuda.to_device
        self.k.sample_in_blocks[self._grid(uniforms.size)](state.array, bits, to(blocks), to(residuals), out)
        return out.copy_to_host()


def _nonempty(array: np.ndarray) -> np.ndarray:
    """``array``, or one zero in its place when it is empty (a kernel argument; see ``tile_pass``)."""
    return array if array.size else np.zeros(1, dtype=array.dtype)


class GpuRunner(Runner):
    """A GPU program's points, one at a time on this process's GPU (see :class:`..runtime.engine.Runner`).

    Raises on entry:
        ValueError: if the program cannot run on the GPU (:func:`gpu_compatibility`).
        GpuUnavailableError: if this process has no usable GPU.
    """

    def __init__(self, program):
        self.program = program
        self.kernels = "cuda-simulator" if simulated() else "cuda"
        self._stack = None

    def __enter__(self) -> GpuRunner:
        why = gpu_compatibility(self.program)
        if why is not None:
            raise ValueError(f"device='GPU': {why}")
        import_cuda()
        stack = contextlib.ExitStack()
        stack.enter_context(GPU_LOCK)  # one program at a time on the device
        stack.enter_context(readiness.kernels_for(self.program))  # fusion and preparation run on the CPU's
        self._stack = stack
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def engine(self, exp, dtype, cancel_flag, options) -> Engine:
        """A :class:`GpuEngine` (no CPU cache blocks: the GPU plans its own passes)."""
        return GpuEngine(exp, dtype, cancel_flag)


def run_program_gpu(program, cancel_flag: np.ndarray | None = None) -> list[dict]:
    """Run every point of ``program`` on this process's GPU (see :func:`aerdask_kernels.run_program`).

    Raises:
        GpuUnavailableError: if this process has no usable GPU.
        QobjValidationError: if the program is malformed.
        ValueError: if it cannot run on the GPU (:func:`gpu_compatibility`).
    """
    if cancel_flag is None:
        cancel_flag = np.zeros(1, dtype=np.uint8)
    program.validate()
    return run_points(program, cancel_flag, GpuRunner(program))
