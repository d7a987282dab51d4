"""The opcodes of the program format, and the names of their columns.

Opcode rows (``ops``, int64, shape ``(n_ops, 8)``), columns named by ``COL_*``:

=========  ==========================================================================
opcode     meaning of the row
=========  ==========================================================================
MATRIX     apply a ``2**k`` square matrix (``matrices[MOFF:]``) to the ``NTARG``
           target qubits, when the ``NCTRL`` control qubits equal ``CVAL``.
           ``qubits[QOFF:]`` holds the controls, then the targets.
DIAG       as MATRIX but only the diagonal (``2**k`` entries) is stored; ``k`` may
           be 0, which is a (controlled) global phase.
MEASURE    measure ``qubits[QOFF]`` into clbit ``ARG``.
RESET      reset ``qubits[QOFF]`` to ``|0>``.
SAVE       save data described by ``Experiment.saves[ARG]``.
JUMP       continue at op ``ARG``.
BRANCH     unless ``value(clbits) CMP CVAL`` holds, continue at op ``ARG``; the
           clbits (little-endian) are ``qubits[QOFF:QOFF+NTARG]``, ``CMP`` is ``ARG2``.
STANDARD   Qiskit standard gate number ``MOFF`` (:mod:`.standard`) on the ``NTARG``
           qubits at ``qubits[QOFF:]`` (controls first), with parameters
           ``params[ARG:ARG+ARG2]``. Workers turn these rows into MATRIX or DIAG rows
           (binding parameter expressions first) and fuse them before running.
CLASSICAL  evaluate the classical expression ``Experiment.classical[ARG]`` on the
           clbits and write its value (little-endian) to the ``NTARG`` clbits at
           ``qubits[QOFF:]``: a ``Store``, or a condition written to a scratch clbit
           that the next BRANCH reads.
SET_STATE  replace the state by the ``2**NTARG`` amplitudes at ``matrices[MOFF:]``
           (``NTARG`` is the experiment's qubit count; Aer's ``set_statevector``); with
           ``ARG`` 1 (the unitary method only), the operator of ``4**NTARG`` entries
           (``U[i, j]`` at ``i + (j << NTARG)``) over ``sqrt(2**NTARG)``: ``set_unitary``;
           with ``ARG`` 2 (the matrix_product_state method only), a matrix product state
           laid out as :mod:`.format.chain` says: ``set_matrix_product_state``; with
           ``ARG`` 3 (the density_matrix method only), a density matrix of ``4**NTARG``
           entries (``rho[i, j]`` at ``i + (j << NTARG)``): ``set_density_matrix``.
CHANNEL    apply quantum error ``Experiment.channels[ARG]`` to the ``NTARG`` qubits at
           ``qubits[QOFF:]``: one of its operators, drawn per shot (a noise model's
           error after an instruction, or a channel instruction of the circuit).
=========  ==========================================================================

MEASURE rows with ``ARG2 > 0`` flip the recorded bit with the probabilities of
``Experiment.readout[ARG2 - 1]`` (a readout error).

For MATRIX and DIAG, ``ARG``/``ARG2`` are the offset and count of the gate's
parameters in ``params`` (kept for inspection; the matrix is what runs).
"""

from __future__ import annotations

__all__ = [
    "OP_MATRIX",
    "OP_DIAG",
    "OP_MEASURE",
    "OP_RESET",
    "OP_SAVE",
    "OP_JUMP",
    "OP_BRANCH",
    "OP_STANDARD",
    "OP_CLASSICAL",
    "OP_SET_STATE",
    "OP_CHANNEL",
    "CHANNEL_MIXTURE",
    "CHANNEL_KRAUS",
    "OPCODE_NAMES",
    "N_COLS",
    "CMP_CODES",
    "SAVE_KINDS",
    "STATEVECTOR",
    "DENSITY_MATRIX",
    "STABILIZER",
    "UNITARY",
    "SUPEROP",
    "MATRIX_PRODUCT_STATE",
    "EXTENDED_STABILIZER",
    "METHODS",
    "SET_AMPLITUDES",
    "SET_OPERATOR",
    "SET_CHAIN",
    "SET_DENSITY",
    "SAVE_SUBTYPES",
]

OP_MATRIX, OP_DIAG, OP_MEASURE, OP_RESET, OP_SAVE, OP_JUMP, OP_BRANCH, OP_STANDARD, OP_CLASSICAL, OP_SET_STATE = range(
    1, 11
)
OP_CHANNEL = 11
OPCODE_NAMES = {
    1: "MATRIX",
    2: "DIAG",
    3: "MEASURE",
    4: "RESET",
    5: "SAVE",
    6: "JUMP",
    7: "BRANCH",
    8: "STANDARD",
    9: "CLASSICAL",
    10: "SET_STATE",
    11: "CHANNEL",
}
MAX_OPCODE = OP_CHANNEL
#: Kinds of ``Experiment.channels`` rows: a mixture of unitaries with fixed probabilities (drawn
#: up front), or Kraus operators (drawn from the state's norms).
CHANNEL_MIXTURE, CHANNEL_KRAUS = 0, 1
#: Columns of ``Experiment.channels``: kind, operator count, offset into ``chan_matrices``,
#: offset into ``chan_probs`` (mixtures), index of the identity operator (-1: none).
CHAN_KIND, CHAN_COUNT, CHAN_MOFF, CHAN_POFF, CHAN_IDENTITY = range(5)
COL_OPCODE, COL_QOFF, COL_NCTRL, COL_NTARG, COL_MOFF, COL_CVAL, COL_ARG, COL_ARG2 = range(8)
N_COLS = 8

#: Comparison codes of BRANCH rows.
CMP_CODES = {"==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}
MAX_CMP = len(CMP_CODES) - 1  # the codes are 0..MAX_CMP

#: Save kinds (Aer's instruction names without the ``save_`` prefix).
SAVE_KINDS = (
    "statevector",
    "statevector_dict",
    "probabilities",
    "probabilities_dict",
    "amplitudes",
    "amplitudes_sq",
    "expval",
    "expval_var",
    "expvals",
    "density_matrix",
    "unitary",
    "superop",
    "stabilizer",
    "clifford",
    "matrix_product_state",
)
SAVE_SUBTYPES = ("single", "c_single", "list", "c_list", "average", "c_average", "accum", "c_accum")

#: The simulation methods a program's experiment may name (``Experiment.method``): see
#: :mod:`.density` (the density matrix), :mod:`.cpu.operator` (unitary and superoperator: the
#: operator as a vector of twice the bits, gates on its row bits), :mod:`.cpu.stabilizer` and
#: :mod:`.cpu.mps` (a chain of tensors) and :mod:`.cpu.extended` (a sum of stabilizer states).
STATEVECTOR, DENSITY_MATRIX, STABILIZER, UNITARY, SUPEROP, MATRIX_PRODUCT_STATE, EXTENDED_STABILIZER = (
    "statevector",
    "density_matrix",
    "stabilizer",
    "unitary",
    "superop",
    "matrix_product_state",
    "extended_stabilizer",
)
METHODS = (STATEVECTOR, DENSITY_MATRIX, STABILIZER, UNITARY, SUPEROP, MATRIX_PRODUCT_STATE, EXTENDED_STABILIZER)
#: SET_STATE ``ARG`` values: a statevector, the unitary method's operator, a matrix product state,
#: the density_matrix method's density matrix.
SET_AMPLITUDES, SET_OPERATOR, SET_CHAIN, SET_DENSITY = 0, 1, 2, 3
