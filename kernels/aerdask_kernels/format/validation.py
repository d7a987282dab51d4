"""``validate()`` of programs and experiments: every field, every row, every index.

Rows are screened all at once in compiled code (numpy calls per experiment cost
0.1 s per 1000 circuits); only the rows the screen flags get the slower Python
check that names the problem.
"""

from __future__ import annotations

import numpy as np

from .._jit import njit
from ..density import STATEVECTOR_SAVES
from ..opcodes import (
    CHAN_COUNT,
    CHAN_MOFF,
    CHANNEL_KRAUS,
    CHANNEL_MIXTURE,
    CMP_CODES,
    COL_ARG,
    COL_ARG2,
    COL_CVAL,
    COL_MOFF,
    COL_NCTRL,
    COL_NTARG,
    COL_OPCODE,
    COL_QOFF,
    DENSITY_MATRIX,
    EXTENDED_STABILIZER,
    MAX_CMP,
    MAX_OPCODE,
    METHODS,
    N_COLS,
    OP_BRANCH,
    OP_CHANNEL,
    OP_CLASSICAL,
    OP_DIAG,
    OP_JUMP,
    OP_MATRIX,
    OP_MEASURE,
    OP_RESET,
    OP_SAVE,
    OP_SET_STATE,
    OP_STANDARD,
    OPCODE_NAMES,
    SAVE_KINDS,
    SAVE_SUBTYPES,
    SET_AMPLITUDES,
    SET_CHAIN,
    SET_DENSITY,
    SET_OPERATOR,
    STABILIZER,
    SUPEROP,
    UNITARY,
)
from ..opcodes import MATRIX_PRODUCT_STATE as MPS
from .chain import chain_defect
from .classical import check_program
from .expressions import CHECK_MESSAGES, check_expressions
from .standard import STANDARD_ARITY
from .value_checks import UNITARY_ATOL, check_channels, check_row_values, row_defect

__all__ = ["QobjValidationError", "validate_experiment", "suspect_rows", "validate_row", "MAX_SHOTS"]

MAX_SHOTS = 2**63 - 1

_I64, _F64, _C128 = np.dtype(np.int64), np.dtype(np.float64), np.dtype(np.complex128)
#: Array fields: (name, dtype, ndim).
_ARRAYS = (
    ("ops", _I64, 2),
    ("qubits", _I64, 1),
    ("matrices", _C128, 1),
    ("params", _F64, 1),
    ("final_qubits", _I64, 1),
    ("final_clbits", _I64, 1),
    ("indices", _I64, 1),
    ("values", _F64, 2),
    ("param_expr", _I64, 1),
    ("expr_code", _I64, 2),
    ("expr_start", _I64, 1),
    ("expr_consts", _F64, 1),
    ("channels", _I64, 2),
    ("chan_matrices", _C128, 1),
    ("chan_probs", _F64, 1),
    ("readout", _F64, 2),
    ("final_readout", _I64, 1),
)


class QobjValidationError(ValueError):
    """A program (qobj) is malformed; the message names the experiment and the field."""


@njit
def suspect_rows(ops, qubits, matrices, n_params, num_qubits, num_clbits, n_bits, n_saves, n_classical, arity):
    """Flag every row :func:`validate_row` would reject (and maybe more), in one compiled pass.

    Args:
        ops: int64, shape ``(n, 8)``.
        qubits: int64; the indices ``ops`` points into.
        matrices: complex128; what MATRIX, DIAG and SET_STATE rows point into (their values
            are checked too: :func:`.value_checks.row_defect`).
        n_params: Length of ``params``.
        num_qubits: Width of the state.
        num_clbits: Number of classical bits (what MEASURE rows write).
        n_bits: Clbits plus the extra bits of classical variables (what BRANCH and
            CLASSICAL rows read and write).
        n_saves: Number of save specs.
        n_classical: Number of classical expression programs.
        arity: int64, shape ``(codes, 2)``; qubits and parameters of each standard
            gate code (``-1`` for an unused code).

    Returns:
        bool, shape ``(n,)``.
    """
    n = ops.shape[0]
    n_matrices = matrices.size
    bad = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        op, qoff, nctrl, ntarg = ops[r, COL_OPCODE], ops[r, COL_QOFF], ops[r, COL_NCTRL], ops[r, COL_NTARG]
        moff, cval, arg, arg2 = ops[r, COL_MOFF], ops[r, COL_CVAL], ops[r, COL_ARG], ops[r, COL_ARG2]
        if op < OP_MATRIX or op > MAX_OPCODE or min(qoff, nctrl, ntarg, moff) < 0 or ntarg > 62:
            bad[r] = True
            continue
        nq = nctrl + ntarg
        if qoff + nq > qubits.size:
            bad[r] = True
            continue
        classical = op == OP_BRANCH or op == OP_CLASSICAL
        bound = n_bits if classical else num_qubits
        quantum = op == OP_MATRIX or op == OP_DIAG or op == OP_MEASURE or op == OP_RESET or op == OP_STANDARD
        quantum = quantum or op == OP_SET_STATE or op == OP_CHANNEL
        if op == OP_CHANNEL or (op == OP_MEASURE and arg2 != 0):
            bad[r] = True  # noise rows are checked against the channel tables in Python
        for i in range(nq):
            q = qubits[qoff + i]
            if q < 0 or q >= bound:
                bad[r] = True
            for j in range(i):
                if quantum and qubits[qoff + j] == q:
                    bad[r] = True
        if (op == OP_MATRIX or op == OP_DIAG) and ntarg > 30:
            bad[r] = True
        elif op == OP_MATRIX or op == OP_DIAG:
            size = (1 << (2 * ntarg)) if op == OP_MATRIX else (1 << ntarg)
            if moff + size > n_matrices or cval < 0 or cval >= (1 << min(nctrl, 62)):
                bad[r] = True
            if op == OP_MATRIX and ntarg < 1:
                bad[r] = True
            if not bad[r]:
                defect = row_defect(op, ntarg, moff, matrices)
                bad[r] = defect > UNITARY_ATOL or defect < 0  # the values too (wide ones: in Python)
        elif op == OP_STANDARD:
            if moff >= arity.shape[0] or arity[moff, 0] != ntarg or arity[moff, 1] != arg2:
                bad[r] = True
            elif nctrl != 0 or cval != 0 or arg < 0 or arg + arg2 > n_params:
                bad[r] = True
        elif op == OP_MEASURE or op == OP_RESET:
            if nctrl != 0 or ntarg != 1 or (op == OP_MEASURE and (arg < 0 or arg >= num_clbits)):
                bad[r] = True
        elif op == OP_SAVE:
            bad[r] = bad[r] or arg < 0 or arg >= n_saves
        elif op == OP_CLASSICAL:
            bad[r] = bad[r] or arg < 0 or arg >= n_classical or nctrl != 0 or ntarg < 1
        elif op == OP_SET_STATE:
            # An operator or a chain (ARG 1, 2) is checked in Python; so is a state past 62 qubits.
            bad[r] = bad[r] or nctrl != 0 or ntarg != num_qubits or arg != 0 or ntarg > 62
            bad[r] = bad[r] or moff + (1 << ntarg) > n_matrices
            if not bad[r]:
                bad[r] = row_defect(op, ntarg, moff, matrices) > UNITARY_ATOL
        else:  # JUMP, BRANCH
            bad[r] = bad[r] or arg < 0 or arg > n
            if op == OP_BRANCH and (ntarg > 62 or arg2 < 0 or arg2 > MAX_CMP):
                bad[r] = True
    return bad


@njit
def _in_range(arr, low, high):
    for i in range(arr.size):
        if arr[i] < low or arr[i] >= high:
            return False
    return True


@njit
def fields_ok(final_qubits, final_clbits, num_qubits, num_clbits, indices, values, param_expr, n_expr):
    """Whether the index fields are in range and the values finite (one compiled call per experiment)."""
    if not (_in_range(final_qubits, 0, num_qubits) and _in_range(final_clbits, 0, num_clbits)):
        return False
    if not (_in_range(indices, 0, 2**62) and _in_range(param_expr, -1, n_expr)):
        return False
    for v in values.ravel():
        if not np.isfinite(v):
            return False
    return True


def _check_indices(arr, bound, what, fail) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= bound):
        fail(f"{what} holds index {int(arr.max()) if arr.max() >= bound else int(arr.min())}, allowed 0..{bound - 1}")


#: How far a set density matrix may be from Hermitian with trace 1 (float rounding of its entries).
DENSITY_ATOL = 1e-8


def density_defect(entries: np.ndarray, num_qubits: int) -> str | None:
    """What keeps ``entries`` (``rho[i, j]`` at ``i + (j << n)``) from a density matrix, or ``None``.

    Checks Hermiticity and the trace; positivity is the compiler's (an eigensolve per circuit).
    """
    rho = entries.reshape((1 << num_qubits, 1 << num_qubits), order="F")
    if not np.all(np.isfinite(rho)):
        return "entries that are not finite"
    if np.abs(rho - rho.conj().T).max() > DENSITY_ATOL:
        return "it is not Hermitian"
    trace = np.trace(rho)
    if abs(trace - 1) > DENSITY_ATOL:
        return f"its trace is {trace:.6g}, not 1"
    return None


def validate_row(exp, pc: int, row: np.ndarray, fail) -> None:
    """Check row ``pc`` of ``exp`` and call ``fail(message)`` for the first rule it breaks."""
    op, qoff, nctrl, ntarg, moff, cval, arg, arg2 = (int(v) for v in row)
    n_ops = exp.ops.shape[0]
    if op not in OPCODE_NAMES:
        fail(f"op {pc}: unknown opcode {op}, allowed {sorted(OPCODE_NAMES)}")
    if min(qoff, nctrl, ntarg, moff) < 0 or qoff + nctrl + ntarg > exp.qubits.size:
        fail(f"op {pc}: qubit slice [{qoff}, {qoff + nctrl + ntarg}) is outside qubits[{exp.qubits.size}]")
    idx = exp.qubits[qoff : qoff + nctrl + ntarg]
    if op in (OP_MATRIX, OP_DIAG, OP_MEASURE, OP_RESET, OP_STANDARD, OP_SET_STATE, OP_CHANNEL):
        _check_indices(idx, exp.num_qubits, f"op {pc} qubits", fail)
        if len(set(idx.tolist())) != idx.size:
            fail(f"op {pc}: repeated qubit in {idx.tolist()}")
    if op in (OP_MATRIX, OP_DIAG):
        dim = 1 << ntarg
        size = dim * dim if op == OP_MATRIX else dim
        if moff + size > exp.matrices.size:
            fail(f"op {pc}: matrix [{moff}, {moff + size}) is outside matrices[{exp.matrices.size}]")
        if not 0 <= cval < (1 << nctrl):
            fail(f"op {pc}: control value {cval} does not fit {nctrl} controls")
        if op == OP_MATRIX and ntarg < 1:
            fail(f"op {pc}: MATRIX needs at least one target qubit")
    elif op == OP_STANDARD:
        if moff >= STANDARD_ARITY.shape[0] or STANDARD_ARITY[moff, 0] < 0:
            fail(f"op {pc}: {moff} is not a standard gate code")
        want_q, want_p = (int(v) for v in STANDARD_ARITY[moff])
        if (nctrl, cval, ntarg, arg2) != (0, 0, want_q, want_p):
            fail(
                f"op {pc}: standard gate {moff} takes {want_q} qubits (no separate controls) and "
                f"{want_p} parameters, got nctrl={nctrl}, cval={cval}, ntarg={ntarg}, params={arg2}"
            )
        if arg < 0 or arg + arg2 > exp.params.size:
            fail(f"op {pc}: parameters [{arg}, {arg + arg2}) are outside params[{exp.params.size}]")
    elif op in (OP_MEASURE, OP_RESET):
        if nctrl != 0 or ntarg != 1:
            fail(f"op {pc}: {OPCODE_NAMES[op]} acts on exactly one qubit")
        if op == OP_MEASURE and not 0 <= arg < exp.num_clbits:
            fail(f"op {pc}: clbit {arg} outside 0..{exp.num_clbits - 1}")
        if op == OP_MEASURE and not 0 <= arg2 <= exp.readout.shape[0]:
            fail(f"op {pc}: readout error {arg2 - 1} outside -1..{exp.readout.shape[0] - 1}")
    elif op == OP_CHANNEL:
        if not 0 <= arg < exp.channels.shape[0]:
            fail(f"op {pc}: channel {arg} outside 0..{exp.channels.shape[0] - 1}")
        if nctrl != 0 or ntarg < 1:
            fail(f"op {pc}: CHANNEL acts on one or more qubits, without controls")
    elif op == OP_SAVE and not 0 <= arg < len(exp.saves):
        fail(f"op {pc}: save index {arg} outside 0..{len(exp.saves) - 1}")
    elif op in (OP_JUMP, OP_BRANCH) and not 0 <= arg <= n_ops:
        fail(f"op {pc}: jump target {arg} outside 0..{n_ops}")
    elif op == OP_CLASSICAL:
        if not 0 <= arg < len(exp.classical):
            fail(f"op {pc}: classical program {arg} outside 0..{len(exp.classical) - 1}")
        if nctrl != 0 or not 1 <= ntarg <= 62:
            fail(f"op {pc}: CLASSICAL writes 1..62 clbits and has no controls")
    elif op == OP_SET_STATE:
        if nctrl != 0 or ntarg != exp.num_qubits:
            fail(f"op {pc}: SET_STATE sets all {exp.num_qubits} qubits, got {ntarg} (controls {nctrl})")
        only = {SET_OPERATOR: UNITARY, SET_CHAIN: MPS, SET_DENSITY: DENSITY_MATRIX}
        if arg not in (SET_AMPLITUDES, *only) or any((arg == a) != (exp.method == m) for a, m in only.items()):
            fail(
                f"op {pc}: SET_STATE arg {arg}: 1 (an operator) with the unitary method only, 2 (a matrix "
                "product state) with the matrix_product_state method only, 3 (a density matrix) with the "
                "density_matrix method only, else 0 (a state)"
            )
        if arg == 2:
            problem = chain_defect(exp.matrices, moff, ntarg)
            if problem:
                fail(f"op {pc}: SET_STATE of a matrix product state: {problem}")
            return
        # An operator (4**n entries, scaled to norm 1) or a density matrix (4**n entries).
        bits = 2 * ntarg if arg in (SET_OPERATOR, SET_DENSITY) else ntarg
        if bits > 62 or moff + (1 << bits) > exp.matrices.size:
            fail(f"op {pc}: state [{moff}, {moff + (1 << bits)}) is outside matrices[{exp.matrices.size}]")
        if arg == SET_DENSITY:
            problem = density_defect(exp.matrices[moff : moff + (1 << bits)], ntarg)
            if problem:
                fail(f"op {pc}: SET_STATE of a density matrix: {problem}")

    n_bits = exp.num_clbits + exp.num_vars
    if op in (OP_BRANCH, OP_CLASSICAL):
        _check_indices(idx, n_bits, f"op {pc} clbits", fail)
    if op == OP_BRANCH:
        if ntarg > 62:
            fail(f"op {pc}: conditions on more than 62 clbits are not supported")
        if arg2 not in CMP_CODES.values():
            fail(f"op {pc}: comparison code {arg2} not in {sorted(CMP_CODES.values())}")


def _check_arrays(exp, fail) -> None:
    fields = exp.__dict__
    for field, dtype, ndim in _ARRAYS:
        arr = fields.get(field)
        if type(arr) is not np.ndarray or arr.dtype != dtype:
            got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
            fail(f"{field} must be a numpy array of {dtype.name}, got {got}")
        if arr.ndim != ndim:
            fail(f"{field} must be {ndim}-D, got shape {arr.shape}")
    if exp.ops.shape[1] != N_COLS:
        fail(f"ops must have shape (n, {N_COLS}), got {exp.ops.shape}")


def _check_points(exp, fail, slow: bool = True) -> None:
    """The parameter fields: points, their indices, the expression table and the slots that use it.

    ``slow`` also runs the checks that :func:`fields_ok` already passed.
    """
    n_points, width = exp.values.shape
    if n_points < 1:
        fail("values must hold at least one point (shape (points, parameters))")
    if width != len(exp.parameters) or not all(isinstance(p, str) for p in exp.parameters):
        fail(f"values has {width} columns but parameters names {len(exp.parameters)}: {list(exp.parameters)}")
    if exp.indices.shape != (n_points,):
        fail(f"indices must have one entry per point ({n_points}), got shape {exp.indices.shape}")
    if exp.expr_code.shape[1:] != (2,):
        fail(f"expr_code must have shape (n, 2), got {exp.expr_code.shape}")
    if exp.param_expr.size not in (0, exp.params.size):
        fail(f"param_expr must be empty or as long as params ({exp.params.size}), got {exp.param_expr.size}")
    if exp.expr_code.size or exp.expr_start.size:
        where, reason = check_expressions(exp.expr_code, exp.expr_start, exp.expr_consts.size, width)
        if where >= 0 or reason:
            fail(f"expression {where}: {CHECK_MESSAGES[reason]}")
    if slow:
        if exp.indices.size and exp.indices.min() < 0:
            fail(f"indices must be non-negative, got {int(exp.indices.min())}")
        if not np.isfinite(exp.values).all():
            point, column = np.argwhere(~np.isfinite(exp.values))[0]
            fail(f"value of parameter {exp.parameters[column]!r} at point {point} is {exp.values[point, column]}")
        _check_indices(exp.param_expr + 1, max(exp.expr_start.size - 1, 0) + 1, "param_expr (+1)", fail)
    if not isinstance(exp.shot_chunk, int) or exp.shot_chunk < -1:
        fail(f"shot_chunk must be -1 (whole) or a chunk number >= 0, got {exp.shot_chunk!r}")


def _check_saves(exp, fail) -> None:
    for i, save in enumerate(exp.saves):
        if save.get("kind") not in SAVE_KINDS:
            fail(f"save {i}: kind {save.get('kind')!r} is not one of {SAVE_KINDS}")
        if save.get("subtype") not in SAVE_SUBTYPES:
            fail(f"save {i}: subtype {save.get('subtype')!r} is not one of {SAVE_SUBTYPES}")
        _check_indices(np.asarray(save.get("qubits", []), dtype=np.int64), exp.num_qubits, f"save {i}", fail)


#: Aer's MPS saves (and the estimator's ``expvals``).
MPS_SAVES = ("matrix_product_state", "statevector", "amplitudes", "amplitudes_sq", "probabilities")
MPS_SAVES += ("probabilities_dict", "density_matrix", "expval", "expval_var", "expvals")
#: Aer's extended stabilizer saves.
EXTENDED_SAVES = ("statevector", "amplitudes_sq")
#: Save kinds offered by one method only, and the method they choose (Aer's).
METHOD_ONLY_SAVES = {
    "unitary": UNITARY,
    "superop": SUPEROP,
    "stabilizer": STABILIZER,
    "clifford": STABILIZER,
    "matrix_product_state": MPS,
}
#: The save kinds each method offers, as Aer's methods do. A method not listed offers every
#: kind but those of :data:`METHOD_ONLY_SAVES`, and the density matrix none of
#: ``STATEVECTOR_SAVES`` (it has no amplitudes).
METHOD_SAVES = {
    STABILIZER: ("stabilizer", "clifford", "probabilities", "probabilities_dict", "amplitudes_sq")
    + ("expval", "expval_var", "expvals"),
    UNITARY: ("unitary",),
    SUPEROP: ("superop",),
    MPS: MPS_SAVES,
    EXTENDED_STABILIZER: EXTENDED_SAVES,
}
#: Opcodes a method cannot run (Aer's operator methods: an operator has no measurements, and a
#: unitary no resets or noise).
METHOD_REFUSED_ROWS = {UNITARY: (OP_MEASURE, OP_RESET, OP_CHANNEL), SUPEROP: (OP_MEASURE,)}
#: The widest extended stabilizer experiment (its terms' bit strings are 64-bit words).
MAX_EXTENDED_QUBITS = 63
#: The widest experiment of each method: its state's entries stay below 2**62 (a unitary holds
#: 4**n, a superoperator 16**n).
_MAX_QUBITS = {DENSITY_MATRIX: 31, UNITARY: 31, SUPEROP: 15}
#: The widest stabilizer experiment (its tableau: 2 GiB of bits).
MAX_STABILIZER_QUBITS = 1 << 16
#: The widest matrix product state (a chain of so many sites; its bonds bound its memory).
MAX_MPS_QUBITS = 1 << 16


def _check_method(exp, fail) -> None:
    method = exp.method
    if method not in METHODS:
        fail(f"method must be one of {METHODS}, got {method!r}")
    if exp.num_qubits > _MAX_QUBITS.get(method, 1 << 20):
        fail(f"a {method} of {exp.num_qubits} qubits has more than 2**62 entries (at most {_MAX_QUBITS[method]})")
    for i, save in enumerate(exp.saves):
        kind = save["kind"]
        if method == DENSITY_MATRIX and kind in STATEVECTOR_SAVES:
            fail(f"save {i} ({kind}) reads amplitudes, which the density_matrix method has not got")
        allowed = METHOD_SAVES.get(method)
        if (allowed is not None and kind not in allowed) or (allowed is None and kind in METHOD_ONLY_SAVES):
            fail(f"save {i} ({kind}) is not a save of the {method} method")
    if method == EXTENDED_STABILIZER and exp.num_qubits > MAX_EXTENDED_QUBITS:
        fail(f"an extended stabilizer experiment of {exp.num_qubits} qubits (at most {MAX_EXTENDED_QUBITS})")
    if method in (UNITARY, SUPEROP, STABILIZER, EXTENDED_STABILIZER):
        rows = exp.ops[:, COL_OPCODE]
        for op in METHOD_REFUSED_ROWS.get(method, ()):
            if (rows == op).any():
                fail(f"the {method} method cannot run {OPCODE_NAMES[op]} rows")
        if method in (UNITARY, SUPEROP) and exp.final_qubits.size:
            fail(f"the {method} method does not measure (final measurements {exp.final_qubits.tolist()})")
        if ((rows == OP_SET_STATE) & (exp.ops[:, COL_ARG] == 0)).any():
            fail(f"the {method} method takes no SET_STATE rows of a state")
    if method == MPS and exp.num_qubits > MAX_MPS_QUBITS:
        fail(f"a matrix product state of {exp.num_qubits} qubits (at most {MAX_MPS_QUBITS})")


def _check_classical(exp, fail) -> None:
    if not isinstance(exp.num_vars, int) or isinstance(exp.num_vars, bool) or not 0 <= exp.num_vars <= 1 << 16:
        fail(f"num_vars must be an int in [0, 65536], got {exp.num_vars!r}")
    if not isinstance(exp.classical, list):
        fail(f"classical must be a list of programs, got {type(exp.classical).__name__}")
    for i, program in enumerate(exp.classical):
        reason = check_program(program, exp.num_clbits + exp.num_vars)
        if reason:
            fail(f"classical program {i} {reason}")


def _check_noise(exp, fail) -> None:
    """The channel and readout tables (only experiments with noise have any)."""
    if exp.channels.shape[1:] != (5,):
        fail(f"channels must have shape (c, 5), got {exp.channels.shape}")
    for c, (kind, count, moff, poff, identity) in enumerate(exp.channels.tolist()):
        if kind not in (CHANNEL_MIXTURE, CHANNEL_KRAUS) or count < 1 or moff < 0:
            fail(f"channel {c}: kind {kind} (allowed {CHANNEL_MIXTURE}, {CHANNEL_KRAUS}), {count} operators")
        if kind == CHANNEL_MIXTURE:
            if poff < 0 or poff + count > exp.chan_probs.size:
                fail(f"channel {c}: probabilities [{poff}, {poff + count}) outside chan_probs[{exp.chan_probs.size}]")
            probs = exp.chan_probs[poff : poff + count]
            if (probs < 0).any() or (probs > 1).any() or abs(probs.sum() - 1) > 1e-6:
                fail(f"channel {c}: probabilities {probs.tolist()} must lie in [0, 1] and sum to 1")
        if not -1 <= identity < count:
            fail(f"channel {c}: identity index {identity} outside -1..{count - 1}")
    # Each row's operators must fit chan_matrices at its qubit count.
    rows = np.flatnonzero(exp.ops[:, COL_OPCODE] == OP_CHANNEL)
    for pc in rows.tolist():
        c, k = int(exp.ops[pc, COL_ARG]), int(exp.ops[pc, COL_NTARG])
        if 0 <= c < exp.channels.shape[0]:
            need = exp.channels[c, CHAN_MOFF] + exp.channels[c, CHAN_COUNT] * (1 << (2 * k))
            if k > 10 or need > exp.chan_matrices.size:
                fail(f"op {pc}: channel {c}'s operators on {k} qubits are outside chan_matrices")
    if exp.readout.shape[1:] != (2,):
        fail(f"readout must have shape (r, 2), got {exp.readout.shape}")
    if exp.readout.size and ((exp.readout < 0).any() or (exp.readout > 1).any() or not np.isfinite(exp.readout).all()):
        fail("readout flip probabilities must lie in [0, 1]")
    if exp.final_readout.size not in (0, exp.final_qubits.size):
        fail(f"final_readout must be empty or one per final measurement ({exp.final_qubits.size})")
    groups = exp.readout_groups
    # -1: no error, r >= 0: readout[r], -2 - g: correlated group g.
    _check_indices(
        exp.final_readout + 1 + groups.shape[0], exp.readout.shape[0] + 1 + groups.shape[0], "final_readout", fail
    )
    if groups.shape[1:] != (2,):
        fail(f"readout_groups must have shape (g, 2), got {groups.shape}")
    for g, (offset, dim) in enumerate(groups.tolist()):
        members = int((exp.final_readout == -2 - g).sum())
        if dim != 1 << members or offset < 0 or offset + dim * dim > exp.group_matrices.size:
            fail(f"readout group {g}: a {dim}x{dim} matrix at {offset} for {members} final measurements")
        matrix = exp.group_matrices[offset : offset + dim * dim].reshape(dim, dim)
        if not np.isfinite(matrix).all() or (matrix < 0).any() or not np.allclose(matrix.sum(axis=1), 1):
            fail(f"readout group {g}: rows must be probabilities summing to 1")


def validate_experiment(exp) -> None:
    """Check shapes, dtypes and every index of one experiment.

    Raises:
        QobjValidationError: naming the experiment and what is wrong.
    """

    def fail(msg: str) -> None:
        first = int(exp.indices[0]) if isinstance(exp.indices, np.ndarray) and exp.indices.size else "?"
        raise QobjValidationError(f"experiment {first} ({exp.name!r}): {msg}")

    _check_arrays(exp, fail)
    # A tableau is 2n x 2n bits, a chain n small tensors; every other state has 2**n entries or more.
    widest = {STABILIZER: MAX_STABILIZER_QUBITS, MPS: MAX_MPS_QUBITS, EXTENDED_STABILIZER: MAX_EXTENDED_QUBITS}
    widest = widest.get(exp.method, 62)
    if not isinstance(exp.num_qubits, int) or not 0 <= exp.num_qubits <= widest:
        fail(f"num_qubits must be an int in [0, {widest}], got {exp.num_qubits!r}")
    if not isinstance(exp.num_clbits, int) or exp.num_clbits < 0:
        fail(f"num_clbits must be a non-negative int, got {exp.num_clbits!r}")
    if not isinstance(exp.shots, int) or isinstance(exp.shots, bool) or not 1 <= exp.shots <= MAX_SHOTS:
        fail(f"shots must be an int in [1, 2**63 - 1], got {exp.shots!r}")
    if exp.final_qubits.shape != exp.final_clbits.shape:
        fail("final_qubits and final_clbits differ in length")
    n_expr = max(exp.expr_start.size - 1, 0)
    if not fields_ok(
        exp.final_qubits,
        exp.final_clbits,
        exp.num_qubits,
        exp.num_clbits,
        exp.indices,
        exp.values,
        exp.param_expr,
        n_expr,
    ):  # the slow checks name the problem
        _check_indices(exp.final_qubits, exp.num_qubits, "final_qubits", fail)
        _check_indices(exp.final_clbits, exp.num_clbits, "final_clbits", fail)
        _check_points(exp, fail)
    _check_points(exp, fail, slow=False)
    _check_classical(exp, fail)
    suspects = suspect_rows(
        exp.ops,
        exp.qubits,
        exp.matrices,
        exp.params.size,
        exp.num_qubits,
        exp.num_clbits,
        exp.num_clbits + exp.num_vars,
        len(exp.saves),
        len(exp.classical),
        STANDARD_ARITY,
    )
    if exp.channels.size or exp.readout.size or exp.final_readout.size or exp.readout_groups.size:
        _check_noise(exp, fail)
    for pc in np.flatnonzero(suspects):
        validate_row(exp, int(pc), exp.ops[pc], fail)
        check_row_values(exp, int(pc), fail)  # its indices hold: now what they point at
    if exp.channels.size:
        check_channels(exp, fail)
    _check_saves(exp, fail)
    _check_method(exp, fail)
