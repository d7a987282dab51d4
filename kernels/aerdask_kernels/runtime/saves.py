"""Saves: what a save instruction records on one branch, and how branches add up (Aer's subtypes).

:func:`save_value` computes a save on a statevector held as a numpy array; an engine
whose state lives elsewhere computes the same quantities its own way and may pass its
own ``expval`` here (see :meth:`.engine.Engine.save_value`). :class:`SaveCollector`
merges the branches' values: ``single`` keeps the first, ``list`` repeats per shot,
``average`` and ``accum`` are shot-weighted sums.
"""

from __future__ import annotations

import numpy as np

from ..kernels.measure import expval_pauli, marginal_probabilities

__all__ = ["ZERO_THRESHOLD", "SaveCollector", "save_value", "reduced_density_matrix", "expectation"]

#: Amplitudes and probabilities below this are left out of ``*_dict`` saves (Aer's ``zero_threshold``).
ZERO_THRESHOLD = 1e-10


class SaveCollector:
    """Accumulates the values of a walk's save instructions over its branches, by Aer's subtypes.

    Args:
        exp: The experiment; ``exp.saves`` holds the specs its SAVE rows index.
        value: ``value(spec, state)``, one branch's value of save ``spec`` (the engine's
            :meth:`.engine.Engine.save_value`, its zero threshold bound).
    """

    def __init__(self, exp, value):
        self.exp = exp
        self.data: dict[str, object] = {}
        self.value = value

    def record(self, index: int, state, creg, shots: int) -> None:
        """Add save ``index``'s value on ``state`` for ``shots`` shots (``creg``: the branch's clbits)."""
        spec = self.exp.saves[index]
        value = self.value(spec, state)
        subtype, label = spec["subtype"], spec["label"]
        if subtype.startswith("c_"):
            key = hex(sum(1 << int(b) for b in np.flatnonzero(creg[: self.exp.num_clbits])))
            slot = self.data.setdefault(label, {})
            _accumulate(slot, key, subtype[2:], value, shots)
        else:
            _accumulate(self.data, label, subtype, value, shots)

    def weights(self) -> dict:
        """Shots behind each averaged value: ``{label: n}`` or ``{label: {key: n}}``."""
        out = {}
        for spec in self.exp.saves:
            label, subtype = spec["label"], spec["subtype"]
            if label in self.data and subtype in ("average", "accum"):
                out[label] = self.data[label][1]
            elif label in self.data and subtype in ("c_average", "c_accum"):
                out[label] = {k: v[1] for k, v in self.data[label].items()}
        return out

    def finish(self) -> dict:
        """``{label: value}``: averages divided by their shots, accumulations summed."""
        out = {}
        for spec in self.exp.saves:
            label, subtype = spec["label"], spec["subtype"]
            if label not in self.data:
                continue
            value = self.data[label]
            if subtype == "average":
                value = _divide(*value)
            elif subtype == "c_average":
                value = {k: _divide(*v) for k, v in value.items()}
            elif subtype == "accum":
                value = value[0]
            elif subtype == "c_accum":
                value = {k: v[0] for k, v in value.items()}
            out[label] = value
        return out


def _divide(total, shots: int):
    if isinstance(total, dict):
        return {k: v / shots for k, v in total.items()}
    return total / shots


def _accumulate(slot: dict, key: str, subtype: str, value, shots: int) -> None:
    if subtype == "single":
        slot.setdefault(key, value)  # the first branch (all outcomes 0 first) wins, as one shot would
    elif subtype == "list":
        slot.setdefault(key, []).extend([value] * shots)
    else:  # average / accum: weighted sums, divided by the shots at the end
        if isinstance(value, dict):
            value = {k: v * shots for k, v in value.items()}
        else:
            value = value * shots
        if key in slot:
            old, n = slot[key]
            if isinstance(value, dict):
                for k, v in value.items():
                    old[k] = old.get(k, 0) + v
                slot[key] = (old, n + shots)
            else:
                slot[key] = (old + value, n + shots)
        else:
            slot[key] = (value, shots)


def save_value(spec: dict, state: np.ndarray, zero_threshold: float = ZERO_THRESHOLD, expval=expval_pauli):
    """The value save ``spec`` records for the statevector ``state`` (one branch's).

    Args:
        spec: A save of ``Experiment.saves``: ``kind``, ``qubits``, ``params``.
        state: complex64 or complex128, ``(2**n,)``.
        zero_threshold: Amplitudes and probabilities below it are left out of ``*_dict`` values.
        expval: ``expval(state, x_mask, z_mask, num_y) -> float``, a Pauli string's expectation.

    Raises:
        ValueError: for an unknown save kind.
    """
    kind = spec["kind"]
    qubits = np.asarray(spec["qubits"], dtype=np.int64)
    if kind == "statevector":
        return state.copy()
    if kind == "statevector_dict":
        idx = np.flatnonzero(np.abs(state) > zero_threshold)
        return {hex(int(i)): complex(state[i]) for i in idx}
    if kind in ("probabilities", "probabilities_dict"):
        probs = marginal_probabilities(state, qubits)
        if kind == "probabilities":
            return probs
        return {hex(int(i)): float(probs[i]) for i in np.flatnonzero(probs > zero_threshold)}
    if kind == "density_matrix":
        return reduced_density_matrix(state, qubits)
    if kind == "expval_var":  # params: [label, coefficient in H, coefficient in H**2]
        mean = expectation([(label, c1) for label, c1, _ in spec["params"]], qubits, state, expval)
        square = expectation([(label, c2) for label, _, c2 in spec["params"]], qubits, state, expval)
        return np.array([mean, square - mean * mean], dtype=np.float64)
    if kind == "amplitudes":
        return state[np.asarray(spec["params"], dtype=np.int64)].astype(np.complex128)
    if kind == "amplitudes_sq":
        amps = state[np.asarray(spec["params"], dtype=np.int64)]
        return (amps.real.astype(np.float64) ** 2) + (amps.imag.astype(np.float64) ** 2)
    if kind == "expval":
        return expectation(spec["params"], qubits, state, expval)
    if kind == "expvals":  # several observables on the same qubits (the estimator's)
        return np.array([expectation(terms, qubits, state, expval) for terms in spec["params"]], dtype=np.float64)
    raise ValueError(f"unknown save kind {kind!r}")


def reduced_density_matrix(state: np.ndarray, qubits: np.ndarray) -> np.ndarray:
    """The density matrix of ``qubits`` (the rest traced out): complex128, ``(2**k, 2**k)``.

    ``qubits[0]`` is the least significant bit of the row index, as Qiskit orders them.
    """
    n = state.size.bit_length() - 1
    k = qubits.size
    # Axis a of the tensor is qubit n - 1 - a. Put the kept qubits last, most significant first.
    keep = [n - 1 - int(q) for q in qubits[::-1]]
    rest = [a for a in range(n) if a not in keep]
    psi = np.transpose(state.astype(np.complex128).reshape((2,) * n), rest + keep).reshape(-1, 1 << k)
    return psi.T @ psi.conj()


def expectation(terms: list, qubits: np.ndarray, state: np.ndarray, expval=expval_pauli) -> float:
    """``sum(coeff * <P>)`` over ``terms`` of ``(pauli label, coeff)`` acting on ``qubits``."""
    total = 0.0
    for label, coeff in terms:
        x_mask = z_mask = num_y = 0
        # Pauli labels are big-endian: the last character acts on the instruction's first qubit.
        for pos, char in enumerate(reversed(label)):
            bit = 1 << int(qubits[pos])
            if char in "XY":
                x_mask |= bit
            if char in "ZY":
                z_mask |= bit
            num_y += char == "Y"
        total += float(coeff) * expval(state, x_mask, z_mask, num_y)
    return total
