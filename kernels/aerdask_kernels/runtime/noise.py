"""Noisy shots as trajectories that share their prefixes (Aer's shot branching).

A group of shots walks the circuit together while nothing tells them apart. At a
CHANNEL row the group splits by the operator each shot draws, and each part goes on
with the state that operator leaves:

* a *mixture* of unitaries has probabilities that do not depend on the state, so the
  draws are made up front: :meth:`Noise.next_stop` draws, for all the mixture rows
  ahead, how many shots of the group see an error there, and the interpreter runs
  straight through the rows where none does (their identity);
* *Kraus* operators are drawn from the state's norms ``||K_j psi||**2``, at the row.

Readout errors flip recorded bits per shot, after the outcome is known.
"""

from __future__ import annotations

import numpy as np

from ..kernels.gates import apply_matrix
from ..opcodes import (
    CHAN_COUNT,
    CHAN_IDENTITY,
    CHAN_KIND,
    CHAN_MOFF,
    CHAN_POFF,
    CHANNEL_MIXTURE,
    COL_ARG,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_CHANNEL,
    OP_JUMP,
)

__all__ = ["Noise", "loops_back"]


def loops_back(ops: np.ndarray) -> bool:
    """Whether a JUMP row of ``ops`` goes back (a loop: rows may run more than once per shot)."""
    jumps = np.flatnonzero(ops[:, COL_OPCODE] == OP_JUMP)
    return bool((ops[jumps, COL_ARG] <= jumps).any())


def _bits(shot_values: np.ndarray, clbits: np.ndarray) -> np.ndarray:
    """int64, ``(shots, len(clbits))``: each shot's value at ``clbits``."""
    if shot_values.dtype == object:  # past 62 clbits: Python ints
        return np.array([[(int(v) >> int(c)) & 1 for c in clbits] for v in shot_values], dtype=np.int64).reshape(
            -1, clbits.size
        )
    return (shot_values[:, None] >> clbits[None, :]) & 1


_NO_CONTROLS = np.zeros(0, dtype=np.int64)


def _merge(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``values`` (ascending) with their summed ``counts``; values with no shot dropped."""
    seen = counts > 0
    values, inverse = np.unique(values[seen], return_inverse=True)
    summed = np.zeros(values.size, dtype=np.int64)
    np.add.at(summed, inverse, counts[seen])  # in integers: float weights would round counts past 2**53
    return values, summed


def _apply_matrix(state: np.ndarray, targets: np.ndarray, matrix: np.ndarray) -> None:
    apply_matrix(state, _NO_CONTROLS, 0, targets, matrix)


def _norm_squared(state: np.ndarray) -> float:
    return float(np.vdot(state, state).real)


def _scale(state: np.ndarray, factor: float) -> None:
    state *= factor


def _assign(state: np.ndarray, other: np.ndarray) -> None:
    state[:] = other


class Noise:
    """The channel and readout tables of one experiment, and the draws on them.

    Args:
        exp: The (prepared) experiment.
        dtype: The state's dtype; operators are cast to it once.
        rng: The experiment's generator (draws follow the walk's order, so seeded runs repeat).
        engine: What holds the states (:class:`.engine.Engine`): its ``apply_operator``,
            ``norm_squared``, ``scale`` and ``assign``; ``None``: a numpy statevector's.
    """

    def __init__(self, exp, dtype, rng, engine=None):
        self.exp = exp
        self.rng = rng
        self._apply = engine.apply_operator if engine is not None else _apply_matrix
        self._norm = engine.norm_squared if engine is not None else _norm_squared
        self._scale = engine.scale if engine is not None else _scale
        self._assign = engine.assign if engine is not None else _assign
        self.matrices = exp.chan_matrices.astype(dtype, copy=False)
        ops = exp.ops
        rows = np.flatnonzero(ops[:, COL_OPCODE] == OP_CHANNEL)
        channels = exp.channels
        kind = channels[ops[rows, COL_ARG], CHAN_KIND] if rows.size else np.zeros(0, dtype=np.int64)
        ident = channels[ops[rows, COL_ARG], CHAN_IDENTITY] if rows.size else np.zeros(0, dtype=np.int64)
        skippable = (kind == CHANNEL_MIXTURE) & (ident >= 0)
        # Rows drawn up front (mixtures with an identity) and rows that always stop the walk.
        self.mixture_rows = rows[skippable]
        self.stop_rows = rows[~skippable]
        self.error_prob = np.array(
            [
                1.0 - exp.chan_probs[channels[c, CHAN_POFF] + channels[c, CHAN_IDENTITY]]
                for c in ops[self.mixture_rows, COL_ARG]
            ]
        )
        # A loop revisits its rows: draws made ahead for one visit must not serve the next.
        self.skip_ahead = not loops_back(ops)
        self.pending: tuple[int, int] | None = None  # (row, shots that see an error there), drawn ahead

    def next_stop(self, pc: int, shots: int) -> int:
        """The first row at or after ``pc`` where the walk of ``shots`` shots must stop for noise.

        Mixture rows before it apply their identity to every one of the shots; at a mixture
        row it returns, the number of shots that see an error is already drawn.
        """
        self.pending = None
        if not self.skip_ahead:
            return pc
        n_ops = self.exp.ops.shape[0]
        stop = self.stop_rows[np.searchsorted(self.stop_rows, pc) :]
        limit = int(stop[0]) if stop.size else n_ops
        lo, hi = np.searchsorted(self.mixture_rows, [pc, limit])
        if hi > lo:
            errors = self.rng.binomial(shots, self.error_prob[lo:hi])
            hit = np.flatnonzero(errors)
            if hit.size:
                row = int(self.mixture_rows[lo + hit[0]])
                self.pending = (row, int(errors[hit[0]]))
                return row
        return limit

    def split(self, pc: int, state: np.ndarray, shots: int, reserve) -> list[tuple[int, int, np.ndarray | None]]:
        """The groups the ``shots`` shots at CHANNEL row ``pc`` split into, largest first.

        Each group is ``(shots, operator, state)``: ``operator`` indexes the channel's
        operators (``-1``: a mixture's identity). The last group (the smallest, which the
        walk goes on with) takes ``state``, changed in place. Each other group gets a state
        of its own when ``reserve()`` returns True, else ``None`` (the walker recomputes
        it later from its path: see :meth:`apply`). The draws do not depend on ``reserve``.
        """
        exp = self.exp
        channel = exp.channels[exp.ops[pc, COL_ARG]]
        count, moff = int(channel[CHAN_COUNT]), int(channel[CHAN_MOFF])
        qoff, k = exp.ops[pc, COL_QOFF], exp.ops[pc, COL_NTARG]
        targets = exp.qubits[qoff : qoff + k]
        size = 1 << (2 * k)
        operators = [self.matrices[moff + j * size : moff + (j + 1) * size] for j in range(count)]
        if channel[CHAN_KIND] == CHANNEL_MIXTURE:
            return self._split_mixture(pc, channel, operators, targets, state, shots, reserve)
        return self._split_kraus(operators, targets, state, shots, reserve)

    def apply(self, pc: int, operator: int, state: np.ndarray) -> None:
        """Apply operator ``operator`` of CHANNEL row ``pc`` to ``state`` as a split does (Kraus: renormalised)."""
        exp = self.exp
        channel = exp.channels[exp.ops[pc, COL_ARG]]
        qoff, k = exp.ops[pc, COL_QOFF], exp.ops[pc, COL_NTARG]
        size = 1 << (2 * k)
        moff = int(channel[CHAN_MOFF]) + operator * size
        self._apply(state, exp.qubits[qoff : qoff + k], self.matrices[moff : moff + size])
        if channel[CHAN_KIND] != CHANNEL_MIXTURE:
            self._scale(state, 1.0 / np.sqrt(self._norm(state)))

    def _split_mixture(self, pc, channel, operators, targets, state, shots, reserve):
        probs = self.exp.chan_probs[channel[CHAN_POFF] : channel[CHAN_POFF] + channel[CHAN_COUNT]]
        identity = int(channel[CHAN_IDENTITY])
        if self.pending is not None and self.pending[0] == pc and identity >= 0:
            errors = self.pending[1]  # drawn by next_stop: how many see any error; now which one
            others = np.delete(np.arange(probs.size), identity)
            weights = probs[others] / probs[others].sum()
            counts = np.zeros(probs.size, dtype=np.int64)
            counts[others] = self.rng.multinomial(errors, weights)
            counts[identity] = shots - errors
        else:
            counts = self.rng.multinomial(shots, probs / probs.sum())
        self.pending = None
        chosen = [j for j in np.argsort(-counts, kind="stable").tolist() if counts[j] > 0]
        groups = []
        for j in chosen[:-1]:  # copies of the state before the last group changes it in place
            target = None
            if reserve():
                target = state.copy()
                if j != identity:
                    self._apply(target, targets, operators[j])
            groups.append((int(counts[j]), -1 if j == identity else j, target))
        last = chosen[-1]
        if last != identity:
            self._apply(state, targets, operators[last])
        return [*groups, (int(counts[last]), -1 if last == identity else last, state)]

    def _split_kraus(self, operators, targets, state, shots, reserve):
        outs, norms = [], []
        for op in operators:  # each operator's output, for its norm: the scratch admission counts
            out = state.copy()
            self._apply(out, targets, op)
            outs.append(out)
            norms.append(self._norm(out))
        norms = np.array(norms)
        counts = self.rng.multinomial(shots, norms / norms.sum())
        chosen = [j for j in np.argsort(-counts, kind="stable").tolist() if counts[j] > 0]
        groups = []
        for j in chosen[:-1]:
            target = None
            if reserve():
                target = outs[j]
                self._scale(target, 1.0 / np.sqrt(norms[j]))
            groups.append((int(counts[j]), j, target))
        last = chosen[-1]
        self._assign(state, outs[last])
        self._scale(state, 1.0 / np.sqrt(norms[last]))
        return [*groups, (int(counts[last]), last, state)]

    # -- readout -------------------------------------------------------------------
    def _final_readout_counts(self, values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`final_readout` on counts: binomial flips per value and bit, multinomial per group.

        Memory grows with the distinct values (at most ``min(shots, 2**clbits)``), not with
        the shots: ``10**12`` shots cost what a thousand do.
        """
        exp = self.exp
        noisy = exp.final_readout >= 0
        for clbit, r in zip(exp.final_clbits[noisy].tolist(), exp.final_readout[noisy].tolist(), strict=True):
            bits = ((values >> clbit) & 1).astype(np.int64)
            flips = self.rng.binomial(counts, exp.readout[r][bits])
            values, counts = _merge(
                np.concatenate((values, values ^ (1 << clbit))), np.concatenate((counts - flips, flips))
            )
        for g, (offset, dim) in enumerate(exp.readout_groups.tolist()):
            members = exp.final_clbits[exp.final_readout == -2 - g].tolist()
            measured = np.zeros(values.shape, dtype=np.int64)
            for b, clbit in enumerate(members):
                measured |= ((values >> clbit) & 1).astype(np.int64) << b
            matrix = exp.group_matrices[offset : offset + dim * dim].reshape(dim, dim)
            draws = self.rng.multinomial(counts, matrix[measured])  # (values, dim): shots read as each j
            keep = values & ~sum(1 << c for c in members)
            read = np.zeros(dim, dtype=values.dtype)
            for j in range(dim):
                read[j] = sum(((j >> b) & 1) << c for b, c in enumerate(members))
            values, counts = _merge((keep[:, None] | read[None, :]).ravel(), draws.ravel())
        return values, counts

    def flips(self, readout: int, bit: int, shots: int) -> int:
        """How many of ``shots`` shots that measured ``bit`` record the other value."""
        return int(self.rng.binomial(shots, self.exp.readout[readout, bit]))

    def final_readout(self, values: np.ndarray, counts: np.ndarray, per_shot: np.ndarray | None):
        """Apply the final measurements' readout errors to sampled clbit values, all bits at once.

        Args:
            values: The distinct clbit values (int64, or objects past 62 clbits).
            counts: int64; shots of each value.
            per_shot: Per shot, its index into ``values`` (with memory), or ``None``.

        Returns:
            ``(values, counts, per_shot)`` after the flips, ``values`` distinct again; ``per_shot``
            indexes the new ``values`` (``None`` if it was).
        """
        if per_shot is None:  # counts only: draw per distinct value, never per shot
            return (*self._final_readout_counts(values, counts), None)
        exp = self.exp
        shot_values = values[per_shot]
        noisy = exp.final_readout >= 0
        clbits, readouts = exp.final_clbits[noisy], exp.final_readout[noisy]
        bits = _bits(shot_values, clbits)
        flip = self.rng.random(bits.shape) < exp.readout[readouts[None, :], bits]
        for g, (offset, dim) in enumerate(exp.readout_groups.tolist()):
            # A correlated error: each shot's group value i is read as j with P(j | i), drawn by
            # inverting the cumulative row of i at a uniform.
            members = exp.final_clbits[exp.final_readout == -2 - g]
            group_bits = _bits(shot_values, members)
            measured = group_bits @ (1 << np.arange(members.size))
            cumulative = np.cumsum(exp.group_matrices[offset : offset + dim * dim].reshape(dim, dim), axis=1)
            read = (self.rng.random(measured.size)[:, None] >= cumulative[measured]).sum(axis=1).clip(0, dim - 1)
            changed = ((read ^ measured)[:, None] >> np.arange(members.size)[None, :]) & 1
            clbits = np.concatenate((clbits, members))
            flip = np.concatenate((flip, changed.astype(bool)), axis=1)
        if values.dtype == object:  # past 62 clbits: Python ints
            masks = [sum(1 << int(c) for c, f in zip(clbits, row, strict=True) if f) for row in flip]
            shot_values = np.array([int(v) ^ m for v, m in zip(shot_values, masks, strict=True)], dtype=object)
        else:
            shot_values = shot_values ^ np.bitwise_or.reduce(np.where(flip, 1 << clbits[None, :], 0), axis=1)
        values, inverse = np.unique(shot_values, return_inverse=True)
        counts = np.bincount(inverse, minlength=values.size).astype(np.int64)
        return values, counts, inverse if per_shot is not None else None
