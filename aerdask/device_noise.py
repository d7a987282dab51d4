"""A device's noise from its ``Target``: Aer's ``NoiseModel.from_backend`` without qiskit-aer.

Per instruction and qubits that the target gives properties for (measurements
excepted), as Aer's basic device model builds it:

* thermal relaxation during the instruction's ``duration`` (s), from each qubit's
  ``t1`` and ``t2`` (s; ``t2`` capped at ``2 * t1``), at zero temperature;
* then a depolarizing error sized so that the two together have the reported
  ``error`` as average gate infidelity (capped at the largest physical value);
* a symmetric readout error ``[[1 - e, e], [e, 1 - e]]`` per qubit from
  ``target["measure"][(q,)].error``.

Aer composes the two quantum errors into one; here they stay two channels in a
row (the same map): the depolarizing one is a mixture that trajectories draw up
front, and a composed one would be a Kraus set of both sizes multiplied.
"""

from __future__ import annotations

import math

import numpy as np
from qiskit.quantum_info import Choi, Kraus, average_gate_fidelity

from .errors import AerdaskInputError

__all__ = ["device_errors", "depolarizing", "thermal_relaxation"]

_PAULIS = (
    np.eye(2, dtype=complex),
    np.array([[0, 1], [1, 0]], dtype=complex),
    np.array([[0, -1j], [1j, 0]], dtype=complex),
    np.diag([1, -1]).astype(complex),
)


def depolarizing(param: float, num_qubits: int) -> Kraus:
    """``rho -> (1 - param) rho + param I / 2**n`` as a Pauli mixture (Aer's ``depolarizing_error``)."""
    paulis = [np.eye(1, dtype=complex)]
    for _ in range(num_qubits):
        paulis = [np.kron(a, b) for a in paulis for b in _PAULIS]
    count = len(paulis)
    weights = [1 - param + param / count] + [param / count] * (count - 1)
    return Kraus([math.sqrt(max(w, 0.0)) * p for w, p in zip(weights, paulis, strict=True)])


def thermal_relaxation(t1: float, t2: float, time: float) -> Kraus:
    """Amplitude damping and dephasing over ``time`` (s) towards ``|0>`` (Aer's ``thermal_relaxation_error``).

    Raises:
        AerdaskInputError: for ``t2 > 2 * t1`` (not a physical channel) or a negative value.
    """
    if t1 <= 0 or t2 <= 0 or time < 0 or t2 > 2 * t1 * (1 + 1e-12):
        raise AerdaskInputError(f"thermal relaxation needs 0 < t2 <= 2 * t1 and time >= 0, got {t1=} {t2=} {time=}")
    p_reset = 1 - math.exp(-time / t1)
    exp_t2 = math.exp(-time / t2)
    choi = np.array([[1, 0, 0, exp_t2], [0, 0, 0, 0], [0, 0, p_reset, 0], [exp_t2, 0, 0, 1 - p_reset]])
    return Kraus(Choi(choi))


def _relaxation(target, qubits: tuple[int, ...], duration: float) -> Kraus | None:
    """The tensor product of the qubits' relaxations over ``duration``, or ``None`` if none relaxes."""
    channel, relaxes = None, False
    for q in qubits:  # qubits[0] is the least significant: the last tensor factor
        props = target.qubit_properties[q] if target.qubit_properties else None
        t1 = getattr(props, "t1", None) or math.inf
        t2 = min(getattr(props, "t2", None) or math.inf, 2 * t1)
        relaxes = relaxes or math.isfinite(t2)
        one = thermal_relaxation(t1, t2, duration)
        channel = one if channel is None else one.tensor(channel)
    return channel if relaxes else None


def _depolarizing_param(error: float, num_qubits: int, relax: Kraus | None) -> float | None:
    """The depolarizing parameter that, after ``relax``, gives average infidelity ``error``."""
    dim = 2**num_qubits
    error = min(error, dim / (dim + 1))  # the largest physical average infidelity
    relax_fid = average_gate_fidelity(relax) if relax is not None else 1.0
    if error <= 1 - relax_fid:
        return None  # relaxation alone accounts for the error
    param = dim * (error - (1 - relax_fid)) / (dim * relax_fid - 1)
    return min(param, 4**num_qubits / (4**num_qubits - 1))


def device_errors(target, gate_error: bool = True, thermal: bool = True):
    """Per ``(instruction, qubits)`` of ``target``, its quantum errors in the order they apply.

    Yields:
        ``(name, qubits, [channels])``, channels as ``qiskit.quantum_info.Kraus``.
    """
    for name in target.operation_names:
        if name == "measure":
            continue
        for qargs, props in (target[name] or {}).items():
            if props is None or qargs is None:
                continue
            relax = None
            if thermal and props.duration:
                relax = _relaxation(target, tuple(qargs), props.duration)
            channels = [relax] if relax is not None else []
            if gate_error and props.error:
                param = _depolarizing_param(props.error, len(qargs), relax)
                if param is not None and param > 0:
                    channels.insert(0, depolarizing(param, len(qargs)))  # Aer: depolarizing, then relaxation
            if channels:
                yield name, tuple(qargs), channels


def readout_errors(target):
    """Per qubit with a measurement error ``e``: ``(qubit, [[1 - e, e], [e, 1 - e]])``."""
    if "measure" not in target.operation_names:
        return
    for qargs, props in (target["measure"] or {}).items():
        if props is not None and qargs is not None and props.error:
            e = float(props.error)
            yield qargs[0], np.array([[1 - e, e], [e, 1 - e]])
