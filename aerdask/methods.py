"""Which simulation method each experiment runs, and what each method refuses.

``method="statevector"`` simulates a noisy circuit's shots as trajectories;
``"density_matrix"`` evolves the mixed state exactly (``4**n`` entries, see
:mod:`aerdask_kernels.density`) and samples every shot from it; ``"stabilizer"`` holds
a Clifford tableau (thousands of qubits, Clifford gates and Pauli noise only);
``"unitary"`` and ``"superop"`` build the circuit's operator (no measurements; the
unitary takes no resets or noise either); ``"matrix_product_state"`` holds a chain of
tensors whose bonds, not the width, bound its memory; ``"extended_stabilizer"`` a sum of
stabilizer states (Clifford+T circuits of up to 63 qubits, Pauli noise), as Aer's methods do.

``"automatic"`` picks per circuit as Aer's automatic method does: the method a
method-only instruction names (``save_unitary``, ``set_unitary``, ``save_superop``,
``save_stabilizer``...); else the density matrix when the job's noise model has quantum
errors, the circuit has more shots than ``2**num_qubits`` and its shots can all be
sampled from the final state (no mid-circuit measurement, reset or condition); else the
stabilizer when every gate is a Clifford and the noise is Pauli noise; else the statevector
when this machine's memory holds it (Aer's rule; a cluster's sharded statevector is asked for by
name), else the matrix product state.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import psutil

from aerdask_kernels.cpu.extended import MAX_SAVED_QUBITS as MAX_EXTENDED_SAVED_QUBITS
from aerdask_kernels.cpu.extended import NotExtendedError, matrix_actions, row_actions
from aerdask_kernels.cpu.mps import MAX_CONTRACTED_QUBITS
from aerdask_kernels.cpu.stabilizer import non_clifford
from aerdask_kernels.density import STATEVECTOR_SAVES
from aerdask_kernels.format.program import Experiment
from aerdask_kernels.format.validation import (
    EXTENDED_SAVES,
    MAX_EXTENDED_QUBITS,
    MAX_MPS_QUBITS,
    METHOD_ONLY_SAVES,
    METHOD_REFUSED_ROWS,
    METHOD_SAVES,
)
from aerdask_kernels.opcodes import (
    CHAN_COUNT,
    CHAN_KIND,
    CHAN_MOFF,
    CHANNEL_KRAUS,
    COL_ARG,
    COL_ARG2,
    COL_MOFF,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    DENSITY_MATRIX,
    EXTENDED_STABILIZER,
    MATRIX_PRODUCT_STATE,
    OP_BRANCH,
    OP_CHANNEL,
    OP_CLASSICAL,
    OP_DIAG,
    OP_MATRIX,
    OP_MEASURE,
    OP_RESET,
    OP_SET_STATE,
    OP_STANDARD,
    SET_CHAIN,
    SET_DENSITY,
    SET_OPERATOR,
    STABILIZER,
    STATEVECTOR,
    SUPEROP,
    UNITARY,
)

from .errors import UnsupportedInstructionError

__all__ = ["with_method", "METHODS"]

#: The ``method`` option's values.
METHODS = ("automatic", STATEVECTOR, DENSITY_MATRIX, STABILIZER, UNITARY, SUPEROP, MATRIX_PRODUCT_STATE)
METHODS += (EXTENDED_STABILIZER,)

# Rows after which shots no longer share one final state (Aer's circuits that cannot "sample").
_NOT_SAMPLED = (OP_MEASURE, OP_RESET, OP_BRANCH, OP_CLASSICAL, OP_SET_STATE)

#: The label of ``save_state`` under each method (Aer's: the method's state).
_STATE_KIND = {STATEVECTOR: "statevector", DENSITY_MATRIX: "density_matrix", STABILIZER: "stabilizer"}
_STATE_KIND |= {UNITARY: "unitary", SUPEROP: "superop", MATRIX_PRODUCT_STATE: "matrix_product_state"}
_STATE_KIND[EXTENDED_STABILIZER] = "statevector"
_ROW_NAMES = {OP_MEASURE: "measurements", OP_RESET: "resets", OP_CHANNEL: "noise"}


def with_method(exp: Experiment, method: str, noise=None) -> Experiment:
    """``exp`` set to run with ``method`` (``"automatic"`` resolved as the module docs say).

    ``save_state`` saves the method's state, under the method's name by default, as in Aer.

    Raises:
        UnsupportedInstructionError: for an instruction, save or noise the method cannot run
            (a save that reads amplitudes under the density matrix, a measurement under the
            unitary, a T gate under the stabilizer...), naming it and what the method offers.
    """
    if method == "automatic":
        method = _automatic(exp, noise)
    if _sets(exp, SET_OPERATOR) and method != UNITARY:
        _refuse(exp, method, "set_unitary", "it sets the unitary method's operator; use method='unitary'")
    if _sets(exp, SET_DENSITY) and method != DENSITY_MATRIX:
        why = "it sets the density_matrix method's state; use method='density_matrix'"
        _refuse(exp, method, "set_density_matrix", why)
    if _sets(exp, SET_CHAIN) and method != MATRIX_PRODUCT_STATE:
        _refuse(
            exp,
            method,
            "set_matrix_product_state",
            "it sets the matrix_product_state method's state; use method='matrix_product_state'",
        )
    _check_rows(exp, method)
    if method == STABILIZER:
        reason = non_clifford(exp) or _non_pauli_noise(exp)
        if reason:
            _refuse(exp, method, reason, "the stabilizer method runs Clifford gates and Pauli noise only")
    if method == EXTENDED_STABILIZER:
        reason = _not_extended(exp)
        if reason:
            _refuse(
                exp,
                method,
                reason,
                "the extended_stabilizer method runs Clifford gates, t, tdg, p/u1/rz, ccx, ccz and Pauli noise "
                "(transpile to its basis: AerSimulator(method='extended_stabilizer').target)",
            )
    saves = []
    for spec in exp.saves:
        if spec.get("state"):
            label = _STATE_KIND[method] if spec["label"] == "statevector" else spec["label"]  # the default
            spec = {**spec, "kind": _STATE_KIND[method], "label": label}
        _check_save(exp, method, spec)
        saves.append(spec)
    if method == STATEVECTOR and saves == exp.saves:
        return exp
    return exp.replace(method=method, saves=saves)


def _automatic(exp: Experiment, noise) -> str:
    for spec in exp.saves:
        if spec["kind"] in METHOD_ONLY_SAVES:
            return METHOD_ONLY_SAVES[spec["kind"]]
    if _sets(exp, SET_OPERATOR):
        return UNITARY
    if _sets(exp, SET_CHAIN):
        return MATRIX_PRODUCT_STATE
    if _sets(exp, SET_DENSITY):
        return DENSITY_MATRIX
    if _density_pays(exp, noise):  # Aer's order: many noisy shots of a small circuit first
        return DENSITY_MATRIX
    if exp.num_qubits and _clifford_pays(exp):
        return STABILIZER
    return STATEVECTOR if exp.num_qubits <= _statevector_qubits() else MATRIX_PRODUCT_STATE


@functools.cache
def _statevector_qubits() -> int:
    """The widest statevector this machine's memory holds (16 bytes an amplitude); read once per process."""
    return int(math.log2(psutil.virtual_memory().total / 16))


def _clifford_pays(exp: Experiment) -> bool:
    if any(spec["kind"] not in METHOD_SAVES[STABILIZER] and not spec.get("state") for spec in exp.saves):
        return False
    if exp.parameterized or (exp.ops[:, COL_OPCODE] == OP_SET_STATE).any():
        return False
    return non_clifford(exp) is None and _non_pauli_noise(exp) is None


def _not_extended(exp: Experiment) -> str | None:
    """Why ``exp`` cannot run as a sum of stabilizer states, or ``None`` (in Python, on the client)."""
    reason = _non_pauli_noise(exp)
    if reason:
        return reason
    if exp.num_qubits > MAX_EXTENDED_QUBITS:
        return f"{exp.num_qubits} qubits (at most {MAX_EXTENDED_QUBITS}: its bit strings are words)"
    codes = exp.ops[:, COL_OPCODE]
    seen: set = set()
    for pc in np.flatnonzero(np.isin(codes, (OP_STANDARD, OP_MATRIX, OP_DIAG))).tolist():
        row = exp.ops[pc]
        key = (int(row[COL_OPCODE]), int(row[COL_MOFF]), int(row[COL_NCTRL] + row[COL_NTARG]))
        if row[COL_OPCODE] == OP_STANDARD and key in seen:
            continue
        try:
            if (
                row[COL_OPCODE] == OP_STANDARD
                and exp.param_expr.size
                and (exp.param_expr[row[COL_ARG] : row[COL_ARG] + row[COL_ARG2]] >= 0).any()
            ):
                row_actions(exp.replace(params=np.zeros_like(exp.params)), pc, exp.matrices)  # the name only
            else:
                row_actions(exp, pc, exp.matrices)
        except NotExtendedError as exc:
            return str(exc)
        if row[COL_OPCODE] == OP_STANDARD:
            seen.add(key)
    if exp.channels.size:
        for pc in np.flatnonzero(codes == OP_CHANNEL).tolist():
            channel = exp.channels[exp.ops[pc, COL_ARG]]
            k = int(exp.ops[pc, COL_NTARG])
            size = 1 << (2 * k)
            for j in range(int(channel[CHAN_COUNT])):
                start = int(channel[CHAN_MOFF]) + j * size
                matrix = exp.chan_matrices[start : start + size].reshape(1 << k, 1 << k)
                try:
                    matrix_actions(matrix, list(range(k)))
                except NotExtendedError:
                    return "a noise operator that is not a product of Paulis"
    if any(s["kind"] in EXTENDED_SAVES for s in exp.saves) and exp.num_qubits > MAX_EXTENDED_SAVED_QUBITS:
        return (
            f"a save of {exp.num_qubits} qubits' amplitudes (it enumerates them: at most {MAX_EXTENDED_SAVED_QUBITS})"
        )
    return None


def _sets(exp: Experiment, what: int) -> bool:
    """A SET_STATE row of ``what`` (``SET_OPERATOR``, ``SET_CHAIN``, ``SET_DENSITY``: Aer's ``set_*``)."""
    rows = exp.ops[:, COL_OPCODE] == OP_SET_STATE
    return bool((exp.ops[rows, COL_ARG] == what).any())


def _non_pauli_noise(exp: Experiment) -> str | None:
    if not exp.channels.size:
        return None
    used = np.unique(exp.ops[exp.ops[:, COL_OPCODE] == OP_CHANNEL, COL_ARG])
    if (exp.channels[used, CHAN_KIND] == CHANNEL_KRAUS).any():
        return "a noise channel with Kraus operators (amplitude damping, thermal relaxation, reset errors)"
    return None


def _check_rows(exp: Experiment, method: str) -> None:
    rows = exp.ops[:, COL_OPCODE]
    for op in METHOD_REFUSED_ROWS.get(method, ()):
        if (rows == op).any() or (op == OP_MEASURE and exp.final_qubits.size):
            _refuse(exp, method, _ROW_NAMES[op], f"Aer's {method} method has none either")
    if (
        method in (STABILIZER, SUPEROP, UNITARY, EXTENDED_STABILIZER)
        and ((rows == OP_SET_STATE) & (exp.ops[:, COL_ARG] == 0)).any()
    ):
        _refuse(exp, method, "set_statevector", f"the {method} method sets no statevector")
    if method == DENSITY_MATRIX and exp.num_qubits > 31 or method == UNITARY and exp.num_qubits > 31:
        _refuse(exp, method, f"{exp.num_qubits} qubits", "it holds 4**n entries: at most 31 qubits")
    if method == SUPEROP and exp.num_qubits > 15:
        _refuse(exp, method, f"{exp.num_qubits} qubits", "it holds 16**n entries: at most 15 qubits")
    if method == MATRIX_PRODUCT_STATE and exp.num_qubits > MAX_MPS_QUBITS:
        _refuse(exp, method, f"{exp.num_qubits} qubits", f"a chain of at most {MAX_MPS_QUBITS} sites")


def _check_save(exp: Experiment, method: str, spec: dict) -> None:
    kind = spec["kind"]
    if method == MATRIX_PRODUCT_STATE and kind == "statevector" and exp.num_qubits > MAX_CONTRACTED_QUBITS:
        _refuse(
            exp,
            method,
            f"save_statevector (label {spec['label']!r}) of {exp.num_qubits} qubits",
            f"the chain is contracted into 2**n amplitudes for it: at most {MAX_CONTRACTED_QUBITS} qubits; "
            "save_matrix_product_state, save_amplitudes or save_probabilities read a wide chain",
        )
    allowed = METHOD_SAVES.get(method)
    if method == DENSITY_MATRIX and kind in STATEVECTOR_SAVES:
        _refuse(
            exp,
            method,
            f"save_{kind} (label {spec['label']!r}) reads amplitudes, which the density_matrix method has not got",
            "use save_density_matrix, save_probabilities, save_amplitudes_sq or save_expectation_value, "
            "or method='statevector'",
        )
    if (allowed is not None and kind not in allowed) or (allowed is None and kind in METHOD_ONLY_SAVES):
        offers = ", ".join(f"save_{k}" for k in allowed) if allowed else "the statevector method's saves"
        _refuse(exp, method, f"save_{kind} (label {spec['label']!r})", f"the {method} method offers {offers}")


def _refuse(exp: Experiment, method: str, what: str, why: str):
    raise UnsupportedInstructionError(f"circuit {exp.name!r} cannot run with method={method!r}: {what}; {why}")


def _density_pays(exp: Experiment, noise) -> bool:
    if noise is None or not noise.has_quantum_errors or exp.num_qubits >= 31:
        return False
    if exp.shots <= 1 << exp.num_qubits:
        return False
    if any(spec["kind"] in STATEVECTOR_SAVES and not spec.get("state") for spec in exp.saves):
        return False
    rows = exp.ops[:, COL_OPCODE]
    return not any((rows == code).any() for code in _NOT_SAMPLED)
