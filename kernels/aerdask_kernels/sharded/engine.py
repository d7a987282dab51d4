"""A sharded run: the walk of :mod:`.execute` over a state split across workers.

The state of one experiment is split into ``2**k`` shards by its ``k`` highest
physical bits (:mod:`.shards`). The walk itself runs where the job was submitted,
and only decides: gates, measurements, saves and sampling become tasks on the
shards, through a :class:`ShardStore` (the Dask one is in ``aerdask``; here is
the in-process one). What comes back are small numbers (probabilities, norms,
samples), except a saved statevector.

* **Gates.** Each run of gate rows is planned by :func:`.staging.plan_stages`
  with ``relabel=True``: stages of rows whose mixed qubits are local, and
  between them the exchanges that make the next stage's qubits local. An
  exchange swaps ``m`` global bits with ``m`` local ones: each shard cuts
  itself into ``2**m`` pieces and keeps one, and each new shard is assembled
  from one piece of each of ``2**m`` old shards.
* **Measurements** sum each shard's part of the probability; a global qubit's
  outcome keeps or clears whole shards, and its reset renames shards.
* **Sampling** brings the layout back to the circuit's order, so shard ``s``
  holds one contiguous range of basis states. The one sorted draw of uniforms
  of :func:`.sampling.sample_indices` is cut at the shards' cumulative norms (a
  multinomial split of the shots over the shards), and each shard samples its
  part: the same random numbers as one process, so the same counts.
* **Saves** are reduced over the shards; a saved statevector is gathered.

The random numbers are drawn by the same walk (:class:`.runtime.walker.Walker`,
on :class:`ShardedEngine`) in the same order, so a sharded run gives the
unsharded run's counts.
"""

from __future__ import annotations

import abc

import numpy as np

from ..format.program import Program
from ..kernels.sampling import BLOCK_BITS, MAX_SORTED_SHOTS, sample_indices
from ..opcodes import COL_NTARG, COL_OPCODE, OP_MATRIX, OP_STANDARD
from ..passes.blocking import runs, stage_gate
from ..passes.staging import plan_stages
from ..runtime.engine import Engine, Runner, host_rows
from ..runtime.points import run_points
from ..runtime.saves import save_value
from .shard_ops import (
    Layout,
    shard_assemble,
    shard_block_norms,
    shard_block_sample,
    shard_collapse,
    shard_flip,
    shard_marginal,
    shard_norm,
    shard_paulis,
    shard_piece,
    shard_probability_one,
    shard_reduced,
    shard_run,
    shard_sample,
    shard_scale,
    shard_split,
    shard_start,
    shard_take,
    shard_transpose,
)

__all__ = [
    "ShardStore",
    "LocalShardStore",
    "ShardedState",
    "ShardedEngine",
    "ShardedRunner",
    "run_sharded",
    "shard_bits",
    "max_needs",
]


class ShardStore(abc.ABC):
    """Where the shards of a run live and the functions of :mod:`.shards` run on them.

    A *ref* is whatever stands for a value there (a Dask future, or the value itself);
    refs may be passed, also inside lists, as arguments of :meth:`submit`.
    """

    @abc.abstractmethod
    def places(self, shards: int) -> list:
        """Where each of ``shards`` shards lives (tokens passed back as ``where``)."""

    @abc.abstractmethod
    def put(self, value, where=None):
        """A ref to ``value`` (on place ``where``, or where it is needed)."""

    @abc.abstractmethod
    def submit(self, fn, *args, where=None):
        """A ref to ``fn(*args)``, computed on place ``where`` (refs in ``args`` resolved)."""

    @abc.abstractmethod
    def gather(self, refs: list) -> list:
        """The values of ``refs``, brought here.

        Raises:
            JobCancelledError: if the run's cancel flag was set while waiting.
        """

    def wait(self, refs: list) -> None:  # noqa: B027  (optional: an eager store has nothing to wait for)
        """Block until ``refs`` are computed, without bringing them here."""

    def close(self) -> None:  # noqa: B027  (optional: the in-process store holds nothing)
        """Release what the run still holds."""


class LocalShardStore(ShardStore):
    """Shards as arrays in this process, each function run at once (tests, and one-machine runs)."""

    def places(self, shards: int) -> list:
        """One place, this process: ``None`` for every shard."""
        return [None] * shards

    def put(self, value, where=None):
        """``value`` itself."""
        return value

    def submit(self, fn, *args, where=None):
        """``fn(*args)``, computed now."""
        return fn(*args)

    def gather(self, refs: list) -> list:
        """The values themselves."""
        return list(refs)


class ShardedState:
    """A state as shard refs, where each lives, and its :class:`.shards.Layout`.

    A copy (a pending branch's) shares the refs: both are then ``shared``, and every
    task on a shared ref leaves it as it is. A stage on refs this state alone holds
    runs in place, saving a pass per shard.
    """

    def __init__(self, refs: list, places: list, layout: Layout):
        self.refs = refs
        self.places = places
        self.layout = layout
        self.shared = False

    def copy(self) -> ShardedState:
        """A state sharing these shards (a pending branch's)."""
        self.shared = True
        twin = ShardedState(list(self.refs), list(self.places), self.layout)
        twin.shared = True
        return twin

    def replace(self, refs: list) -> None:
        """New shards, made by tasks for this state alone."""
        self.refs = refs
        self.shared = False


def shard_bits(shards: int) -> int:
    """``k`` for ``2**k`` shards.

    Raises:
        ValueError: if ``shards`` is not a power of two.
    """
    if shards < 1 or shards & (shards - 1):
        raise ValueError(f"shards must be a power of two, got {shards}")
    return shards.bit_length() - 1


def max_needs(exp) -> int:
    """Most qubits one gate row of ``exp`` mixes (MATRIX and STANDARD targets): what a shard must hold."""
    ops = exp.ops
    gates = (ops[:, COL_OPCODE] == OP_MATRIX) | (
        ops[:, COL_OPCODE] == OP_STANDARD
    )  # SET_STATE rows name every qubit: not a gate
    return int(ops[gates, COL_NTARG].max()) if gates.any() else 0


class ShardedEngine(Engine):
    """A state as shards in a :class:`ShardStore` (see the module docs and :class:`.runtime.engine.Engine`).

    Args:
        exp: The prepared experiment (statevector, noiseless).
        dtype: ``np.complex128`` or ``np.complex64``.
        cancel_flag: uint8, shape ``(1,)``; read between shard tasks.
        store: Where the shards live.
        shards: How many (a power of two).
        blocking: Cache-block qubits for each shard's gate runs (-1: the default).
    """

    #: A branch's copy shares the shards it has not changed: copies cost no memory of their own.
    bounded_copies = False

    def __init__(self, exp, dtype, cancel_flag, store: ShardStore, shards: int, blocking: int = -1):
        super().__init__(exp, dtype, cancel_flag)
        self.store = store
        self.shards = shards
        self.num_local = exp.num_qubits - shard_bits(shards)
        self.blocking = blocking
        self.single = dtype == np.complex64
        self.program = store.put((exp.ops, exp.qubits, self.matrices))
        self.run_end = dict(runs(exp.ops))
        self.schedules: dict = {}
        self.counters = {"shards": shards, "num_local": self.num_local, "stages": 0, "exchanges": 0}
        self.counters.update(exchange_bytes=0, network_bytes=0)
        self.start_places = store.places(shards)

    def _submit_each(self, state: ShardedState, fn, *args) -> list:
        """``fn(shard, *args)`` on every shard, where it lives."""
        return [self.store.submit(fn, ref, *args, where=w) for ref, w in zip(state.refs, state.places, strict=True)]

    # -- the state ------------------------------------------------------------------
    def fresh(self) -> ShardedState:
        """``|0...0>`` as shards, each made where it lives."""
        refs = [
            self.store.submit(shard_start, s, self.num_local, self.single, where=w)
            for s, w in enumerate(self.start_places)
        ]
        return ShardedState(refs, list(self.start_places), Layout.identity(self.exp.num_qubits, self.num_local))

    def set_state(self, state: ShardedState, amplitudes: np.ndarray) -> None:
        """New shards cut from ``amplitudes``, in the circuit's order."""
        size = 1 << self.num_local
        state.layout = Layout.identity(self.exp.num_qubits, self.num_local)
        state.replace(
            [self.store.put(amplitudes[s * size : (s + 1) * size].copy(), where=w) for s, w in enumerate(state.places)]
        )

    def run_segment(self, state: ShardedState, creg, pc: int, stop: int = 0) -> int:
        """Runs of gate rows as stages on the shards; jumps and branches here."""
        return host_rows(self, state, creg, pc, stop, self._run)

    def _run(self, state: ShardedState, pc: int) -> int:
        end = self.run_end[pc]
        self._gates(state, pc, end)
        return end

    def _gates(self, state: ShardedState, start: int, end: int) -> None:
        """Rows ``start:end`` (a run), stage by stage, with the exchanges the plan puts between."""
        exp = self.exp
        key = (start, state.layout.order)
        schedule = self.schedules.get(key)
        if schedule is None:
            gates = [stage_gate(exp.ops, exp.qubits, pc) for pc in range(start, end)]
            schedule = plan_stages(gates, self.num_local, state.layout.local, True, exp.num_qubits)
            self.schedules[key] = schedule
        for stage in schedule.stages:
            if stage.local != state.layout.local:
                self.exchange(state, stage.local)
            rows = np.array(stage.rows, dtype=np.int64)
            state.replace(self._submit_each_indexed(state, shard_run, rows, state.layout, not state.shared))
            self.counters["stages"] += 1

    def _submit_each_indexed(self, state: ShardedState, fn, rows, layout, inplace: bool) -> list:
        return [
            self.store.submit(fn, ref, self.program, rows, layout, s, self.blocking, inplace, where=w)
            for s, (ref, w) in enumerate(zip(state.refs, state.places, strict=True))
        ]

    def exchange(self, state: ShardedState, local: frozenset) -> None:
        """Make ``local`` the local qubits: pairs of bits swap, shards trade pieces."""
        nl = self.num_local
        layout, pairs = state.layout.swap_for(local)
        bits = [low for low, _ in pairs]
        shifts = [high - nl for _, high in pairs]
        m = len(pairs)

        def with_bits(shard: int, v: int) -> int:  # ``shard`` with its swapped global bits set to ``v``
            for i, g in enumerate(shifts):
                shard = (shard & ~(1 << g)) | (((v >> i) & 1) << g)
            return shard

        pieces = {}
        piece_bytes = (1 << (nl - m)) * np.dtype(self.dtype).itemsize
        for t, (ref, w) in enumerate(zip(state.refs, state.places, strict=True)):
            split = self.store.submit(shard_split, ref, bits, where=w)  # one pass: every piece at once
            for v in range(1 << m):
                s = with_bits(t, v)
                pieces[t, s] = self.store.submit(shard_piece, split, v, where=w)
                if s != t:
                    self.counters["exchange_bytes"] += piece_bytes
                    self.counters["network_bytes"] += piece_bytes * (state.places[s] != w)
        state.replace(
            [
                self.store.submit(shard_assemble, [pieces[with_bits(s, v), s] for v in range(1 << m)], bits, where=w)
                for s, w in enumerate(state.places)
            ]
        )
        state.layout = layout
        self.counters["exchanges"] += 1

    def _restore(self, state: ShardedState) -> None:
        """Bring the layout back to the circuit's order (shard ``s`` holds basis states ``s * 2**L`` on)."""
        nl, n = self.num_local, self.exp.num_qubits
        if state.layout.is_identity():
            return
        if state.layout.local != frozenset(range(nl)):
            self.exchange(state, frozenset(range(nl)))
        order = state.layout.order
        if order[nl:] != tuple(range(nl, n)):  # global bits in another order: only the shards' names change
            renamed = [sum(((s >> (p - nl)) & 1) << (order[p] - nl) for p in range(nl, n)) for s in range(self.shards)]
            refs, places = [None] * self.shards, [None] * self.shards
            for s, r in enumerate(renamed):
                refs[r], places[r] = state.refs[s], state.places[s]
            state.refs, state.places = refs, places
        if order[:nl] != tuple(range(nl)):
            state.replace(self._submit_each(state, shard_transpose, order[:nl]))
        state.layout = Layout.identity(n, nl)

    def _make_local(self, state: ShardedState, qubits) -> None:
        """Exchange so that ``qubits`` are local (keeping local as many of the others as fit)."""
        need = frozenset(qubits)
        if need <= state.layout.local:
            return
        if len(need) > self.num_local:
            raise ValueError(f"a save needs {len(need)} qubits local; a shard holds {self.num_local}")
        keep = sorted(state.layout.local - need)[: self.num_local - len(need)]
        self.exchange(state, need | frozenset(keep))

    # -- measurement ------------------------------------------------------------------
    def _global_shards(self, state: ShardedState, qubit: int) -> list:
        """Each shard's value of global ``qubit``."""
        return [state.layout.global_bit(s, qubit) for s in range(self.shards)]

    def probability_one(self, state: ShardedState, qubit: int) -> float:
        """Each shard's part, summed here (a global qubit: the norms of the shards where it is 1)."""
        bit = int(state.layout.positions[qubit])
        if bit < self.num_local:
            parts = self.store.gather(self._submit_each(state, shard_probability_one, bit))
        else:
            ones = self._global_shards(state, qubit)
            refs = [
                self.store.submit(shard_norm, r, where=w)
                for r, w, o in zip(state.refs, state.places, ones, strict=True)
                if o
            ]
            parts = self.store.gather(refs)
        return float(sum(parts))

    def collapse(self, state: ShardedState, qubit: int, outcome: int, probability: float) -> None:
        """A local qubit: each shard projects; a global one: whole shards kept (rescaled) or cleared."""
        bit = int(state.layout.positions[qubit])
        if bit < self.num_local:
            state.replace(self._submit_each(state, shard_collapse, bit, outcome, probability))
        else:
            scale = 1.0 / np.sqrt(probability)
            ones = self._global_shards(state, qubit)
            state.replace(
                [
                    self.store.submit(shard_scale, r, scale if o == outcome else 0.0, where=w)
                    for r, w, o in zip(state.refs, state.places, ones, strict=True)
                ]
            )

    def flip(self, state: ShardedState, qubit: int) -> None:
        """X: on each shard for a local qubit; for a global one the shards trade names, no amplitude moves."""
        bit = int(state.layout.positions[qubit])
        if bit < self.num_local:
            state.replace(self._submit_each(state, shard_flip, bit))
        else:
            flipped = 1 << (bit - self.num_local)
            state.refs = [state.refs[s ^ flipped] for s in range(self.shards)]
            state.places = [state.places[s ^ flipped] for s in range(self.shards)]

    # -- sampling and saves ------------------------------------------------------------
    def complete(self, state: ShardedState) -> None:
        """Every stage done (and its errors raised), with or without samples."""
        self.store.wait(state.refs)

    def sample(self, state: ShardedState, shots: int, rng, memory: bool):
        """The draws of :func:`.sampling.sample_indices`, cut at the shards' norms; each shard samples its part."""
        self._restore(state)
        nl = self.num_local
        if not memory and (shots > MAX_SORTED_SHOTS or shots > 8 * (1 << self.exp.num_qubits)):
            if nl < BLOCK_BITS:
                return sample_indices(self.gather_state(state), shots, rng, False)
            return self._sample_blocked(state, shots, rng)
        norms = np.array(self.store.gather(self._submit_each(state, shard_norm)), dtype=np.float64)
        # As sample_indices: sorted uniforms scaled to the norm, in one draw.
        spacings = rng.standard_exponential(shots + 1)
        np.cumsum(spacings, out=spacings)
        uniforms = spacings[:-1] * (norms.sum() / spacings[-1])
        ends = np.cumsum(norms)
        owner = np.searchsorted(ends, uniforms, side="right")
        # Rounding can leave the last uniforms past the sum: the last shard with any weight takes them.
        owner = np.minimum(owner, int(np.flatnonzero(norms > 0)[-1]) if (norms > 0).any() else self.shards - 1)
        cuts = np.searchsorted(owner, np.arange(self.shards + 1))
        starts = ends - norms
        refs = [
            self.store.submit(
                shard_sample, state.refs[s], uniforms[cuts[s] : cuts[s + 1]] - starts[s], where=state.places[s]
            )
            for s in range(self.shards)
        ]
        drawn = np.concatenate([local + (s << nl) for s, local in enumerate(self.store.gather(refs))])
        first = np.flatnonzero(np.concatenate(([True], drawn[1:] != drawn[:-1])))
        indices = drawn[first]
        counts = np.diff(np.append(first, drawn.size))
        per_shot = drawn[rng.permutation(shots)] if memory else None
        return indices, counts, per_shot

    def _sample_blocked(self, state: ShardedState, shots: int, generator):
        """As :func:`.sampling._sample_blocked`: block weights, then each shard draws its visited blocks in turn."""
        nl = self.num_local
        weights = np.concatenate(self.store.gather(self._submit_each(state, shard_block_norms, BLOCK_BITS)))
        per_block = generator.multinomial(shots, weights / weights.sum())
        per_shard = 1 << (nl - BLOCK_BITS)
        indices, counts, rng = [], [], generator
        for s in range(self.shards):
            part = per_block[s * per_shard : (s + 1) * per_shard]
            blocks = np.flatnonzero(part)
            if not blocks.size:
                continue
            ref = self.store.submit(
                shard_block_sample, state.refs[s], BLOCK_BITS, blocks, part[blocks], rng, where=state.places[s]
            )
            local, count, rng = self.store.gather([ref])[0]
            indices.append(local + (s << nl))
            counts.append(count)
        generator.bit_generator.state = rng.bit_generator.state  # the draws went on in the shards' copies
        return np.concatenate(indices), np.concatenate(counts), None

    def save_value(self, spec: dict, state: ShardedState, zero_threshold: float):
        """Reduced over the shards; a statevector save gathers the state."""
        walker, kind = self, spec["kind"]
        qubits = [int(q) for q in spec["qubits"]]
        if kind in ("statevector", "statevector_dict"):
            return save_value(spec, walker.gather_state(state), zero_threshold)
        if kind in ("amplitudes", "amplitudes_sq"):
            amps = walker.amplitudes(state, [int(i) for i in spec["params"]])
            return amps if kind == "amplitudes" else amps.real**2 + amps.imag**2
        if kind in ("probabilities", "probabilities_dict"):
            probs = walker.marginal(state, qubits)
            if kind == "probabilities":
                return probs
            return {hex(int(i)): float(probs[i]) for i in np.flatnonzero(probs > zero_threshold)}
        if kind == "density_matrix":
            return walker.reduced(state, qubits)
        # Expectation values: the terms' masks first, then all of them in one round over the shards.
        masks: list = []
        save_value(spec, state, zero_threshold, expval=lambda _s, x, z, y: masks.append((x, z, y)) or 0.0)
        values = dict(zip(masks, walker.paulis(state, masks), strict=True))
        return save_value(spec, state, zero_threshold, expval=lambda _s, x, z, y: values[(x, z, y)])

    def stats(self) -> dict:
        """``sharding``: see :func:`run_sharded_experiment`."""
        return {"sharding": dict(self.counters)}

    def gather_state(self, state: ShardedState) -> np.ndarray:
        """The whole state, in the circuit's order, brought here."""
        return state.layout.to_logical(np.concatenate(self.store.gather(state.refs)))

    def amplitudes(self, state: ShardedState, indices: list) -> np.ndarray:
        """The amplitudes at the circuit's basis-state ``indices`` (complex128)."""
        nl = self.num_local
        physical = np.array([state.layout.physical_index(i) for i in indices], dtype=np.int64)
        out = np.zeros(physical.size, dtype=np.complex128)
        shard = physical >> nl
        wanted = [s for s in range(self.shards) if (shard == s).any()]
        refs = [
            self.store.submit(shard_take, state.refs[s], physical[shard == s] & ((1 << nl) - 1), where=state.places[s])
            for s in wanted
        ]
        for s, values in zip(wanted, self.store.gather(refs), strict=True):
            out[shard == s] = values
        return out

    def marginal(self, state: ShardedState, qubits: list) -> np.ndarray:
        """Probabilities of the outcomes of ``qubits`` (bit ``b`` of the index: ``qubits[b]``)."""
        nl, pos = self.num_local, state.layout.positions
        local = [b for b, q in enumerate(qubits) if pos[q] < nl]
        parts = self.store.gather(
            self._submit_each(state, shard_marginal, np.array([pos[qubits[b]] for b in local], dtype=np.int64))
        )
        j = np.arange(1 << len(local))
        spread = np.zeros(j.size, dtype=np.int64)
        for i, b in enumerate(local):
            spread |= ((j >> i) & 1) << b
        out = np.zeros(1 << len(qubits), dtype=np.float64)
        for s, part in enumerate(parts):
            fixed = sum(state.layout.global_bit(s, q) << b for b, q in enumerate(qubits) if pos[q] >= nl)
            out[spread + fixed] += part
        return out

    def reduced(self, state: ShardedState, qubits: list) -> np.ndarray:
        """The reduced density matrix of ``qubits``: each shard's part, summed (the global bits traced out)."""
        self._make_local(state, qubits)
        pos = state.layout.positions
        bits = np.array([pos[q] for q in qubits], dtype=np.int64)
        return sum(self.store.gather(self._submit_each(state, shard_reduced, bits)))

    def paulis(self, state: ShardedState, masks: list) -> list:
        """``<state| P |state>`` per ``(x_mask, z_mask, num_y)`` of circuit qubits."""
        if not masks:
            return []
        flipped = [q for q in range(self.exp.num_qubits) if any((x >> q) & 1 for x, _, _ in masks)]
        self._make_local(state, flipped)
        nl, pos = self.num_local, state.layout.positions
        to_bits = lambda mask: sum(1 << int(pos[q]) for q in range(self.exp.num_qubits) if (mask >> q) & 1)  # noqa: E731
        physical = [(to_bits(x), to_bits(z), y) for x, z, y in masks]
        local = [(x, z & ((1 << nl) - 1), y) for x, z, y in physical]
        parts = self.store.gather(self._submit_each(state, shard_paulis, local))
        totals = np.zeros(len(masks))
        for s, part in enumerate(parts):
            signs = np.array([-1.0 if bin((s << nl) & z).count("1") % 2 else 1.0 for _, z, _ in physical])
            totals += signs * part
        return totals.tolist()


class ShardedRunner(Runner):
    """A sharded program's points, one at a time, their shards in ``store`` (see :class:`.runtime.engine.Runner`).

    The store is closed when the program ends.
    """

    def __init__(self, program, store: ShardStore):
        self.store = store
        self.shards = program.typed_options.shards

    def __exit__(self, *exc) -> None:
        self.store.close()

    def engine(self, exp, dtype, cancel_flag, options) -> Engine:
        """A :class:`ShardedEngine` on ``store``."""
        return ShardedEngine(exp, dtype, cancel_flag, self.store, self.shards, options.blocking_qubits)


def run_sharded(program: Program, store: ShardStore, cancel_flag: np.ndarray | None = None) -> list[dict]:
    """Run every point of ``program`` on ``program.options["shards"]`` shards, one point at a time.

    Each point's result is :func:`aerdask_kernels.run_experiment`'s plus ``sharding``: the
    shard count, local qubits per shard, stages run, exchanges, the bytes the exchanges
    moved between shards (``exchange_bytes``) and between places (``network_bytes``:
    shards on different workers).

    Args:
        program: A program of statevector experiments without noise.
        store: Where the shards live (closed when the program ends).
        cancel_flag: uint8, shape ``(1,)``; set element 0 to stop between shard tasks.

    Returns:
        One dict per point, as :func:`aerdask_kernels.run_program`.

    Raises:
        QobjValidationError: if the program is malformed.
        JobCancelledError: if the flag was set.
        ExperimentError: if a point failed (a shard lost with its worker among the causes).
    """
    if cancel_flag is None:
        cancel_flag = np.zeros(1, dtype=np.uint8)
    program.validate()
    return run_points(program, cancel_flag, ShardedRunner(program, store))
