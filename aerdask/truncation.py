"""Idle-qubit truncation: qubits that nothing touches are not simulated (Aer's ``enable_truncation``).

A 50-qubit circuit whose gates and measurements touch two qubits needs a 2-qubit
state, not a 50-qubit one. The compiled experiment is relabelled onto its active
qubits before the memory check and the run; clbits, and so the result's bit layout,
are unchanged. Which qubits were kept is reported in the result metadata
(``active_input_qubits``), as Aer does.
"""

from __future__ import annotations

import numpy as np

from aerdask_kernels.format.program import Experiment
from aerdask_kernels.opcodes import (
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    OP_BRANCH,
    OP_CHANNEL,
    OP_CLASSICAL,
    OP_DIAG,
    OP_MATRIX,
    OP_MEASURE,
    OP_RESET,
    OP_SET_STATE,
    OP_STANDARD,
)

__all__ = ["truncate", "WHOLE_STATE_SAVES"]

#: Save kinds that read every amplitude: a circuit with one of them keeps all its qubits.
WHOLE_STATE_SAVES = frozenset(["statevector", "statevector_dict", "amplitudes", "amplitudes_sq"])
_QUANTUM_OPS = np.array([OP_MATRIX, OP_DIAG, OP_STANDARD, OP_MEASURE, OP_RESET, OP_SET_STATE, OP_CHANNEL])


def _quantum_positions(exp: Experiment) -> np.ndarray:
    """Positions in ``exp.qubits`` that hold qubits (BRANCH and CLASSICAL rows hold clbits there)."""
    ops = exp.ops
    rows = ops[np.isin(ops[:, COL_OPCODE], _QUANTUM_OPS)]
    widths = rows[:, COL_NCTRL] + rows[:, COL_NTARG]
    if widths.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(rows[:, COL_QOFF] - (np.cumsum(widths) - widths), widths)
    return starts + np.arange(int(widths.sum()))


def truncate(exp: Experiment) -> Experiment:
    """``exp`` on its active qubits only; the same object when every qubit is active.

    A qubit is active when a gate, measurement or reset acts on it, a save reads it,
    or a save reads the whole state. The kept qubits, in increasing order, become
    ``0..k-1``; ``header["active_input_qubits"]`` lists them.
    """
    n = exp.num_qubits
    if n <= 1 or any(save["kind"] in WHOLE_STATE_SAVES for save in exp.saves):
        return exp
    opcodes = exp.ops[:, COL_OPCODE]
    if (opcodes == OP_BRANCH).any() or (opcodes == OP_CLASSICAL).any():
        positions = _quantum_positions(exp)  # some entries of ``qubits`` are clbits
    else:
        positions = slice(None)  # every entry is a qubit: the cheap, common case
    used = np.bincount(exp.qubits[positions], minlength=n).astype(np.bool_)
    used[exp.final_qubits] = True
    for save in exp.saves:
        used[save["qubits"]] = True
    if used.all():
        return exp
    if not used.any():
        used[0] = True  # a state needs one qubit
    new_label = np.cumsum(used) - 1
    qubits = exp.qubits.copy()
    qubits[positions] = new_label[exp.qubits[positions]]
    saves = [{**save, "qubits": new_label[save["qubits"]].tolist()} for save in exp.saves]
    active = np.flatnonzero(used).tolist()
    return exp.replace(
        num_qubits=len(active),
        qubits=qubits,
        final_qubits=new_label[exp.final_qubits],
        saves=saves,
        header={**exp.header, "active_input_qubits": active},
    )
