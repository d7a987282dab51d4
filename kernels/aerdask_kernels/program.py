"""The program a worker runs: plain data, versioned, checked by ``validate()``.

A :class:`Program` (what ``AerJob.qobj()`` returns) is a list of :class:`Experiment`
plus a dict of run options. Each experiment is an opcode table over flat numpy
arrays, so it pickles small, loads without pickle (``save``/``load`` use ``.npz``
plus JSON), and is walked by compiled code without touching Python objects.

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
=========  ==========================================================================

For MATRIX and DIAG, ``ARG``/``ARG2`` are the offset and count of the gate's
parameters in ``params`` (kept for inspection; the matrix is what runs).
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import numpy as np

from ._jit import njit

__all__ = [
    "FORMAT_VERSION",
    "Experiment",
    "Program",
    "QobjValidationError",
    "OP_MATRIX",
    "OP_DIAG",
    "OP_MEASURE",
    "OP_RESET",
    "OP_SAVE",
    "OP_JUMP",
    "OP_BRANCH",
    "CMP_CODES",
    "SAVE_KINDS",
    "SAVE_SUBTYPES",
]

#: Bumped whenever the meaning of a field changes; workers refuse other versions.
FORMAT_VERSION = 1

OP_MATRIX, OP_DIAG, OP_MEASURE, OP_RESET, OP_SAVE, OP_JUMP, OP_BRANCH = range(1, 8)
OPCODE_NAMES = {1: "MATRIX", 2: "DIAG", 3: "MEASURE", 4: "RESET", 5: "SAVE", 6: "JUMP", 7: "BRANCH"}
COL_OPCODE, COL_QOFF, COL_NCTRL, COL_NTARG, COL_MOFF, COL_CVAL, COL_ARG, COL_ARG2 = range(8)
N_COLS = 8

#: Comparison codes of BRANCH rows.
CMP_CODES = {"==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}
_MAX_CMP = len(CMP_CODES) - 1  # the codes are 0.._MAX_CMP

#: Save kinds (Aer's instruction names without the ``save_`` prefix).
SAVE_KINDS = (
    "statevector",
    "statevector_dict",
    "probabilities",
    "probabilities_dict",
    "amplitudes",
    "amplitudes_sq",
    "expval",
)
SAVE_SUBTYPES = ("single", "c_single", "list", "c_list", "average", "c_average", "accum", "c_accum")

#: Run options a program carries, with their types.
OPTION_TYPES = {
    "shots": int,
    "memory": bool,
    "precision": str,
    "seed_simulator": int,
    "max_parallel_threads": int,
}

#: Run options a program may leave out, with their defaults.
OPTIONAL_OPTIONS = {
    "blocking_qubits": -1,  # cache blocks: -1 automatic, 0 off, k > 0 blocks of k qubits
}

MAX_SHOTS = 2**63 - 1
_ARRAY_FIELDS = ("ops", "qubits", "matrices", "params", "final_qubits", "final_clbits")


class QobjValidationError(ValueError):
    """A program (qobj) is malformed; the message names the experiment and the field."""


@njit
def _suspect_rows(ops, qubits, n_matrices, num_qubits, num_clbits, n_saves):
    """Screen every row at once (compiled: numpy calls per experiment cost 0.1 s per 1000 circuits).

    Returns a bool array that flags every row :meth:`Experiment._validate_row` would
    reject (and maybe more); only flagged rows get that slower check, which names the problem.
    """
    n = ops.shape[0]
    bad = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        op, qoff, nctrl, ntarg = ops[r, 0], ops[r, 1], ops[r, 2], ops[r, 3]
        moff, cval, arg, arg2 = ops[r, 4], ops[r, 5], ops[r, 6], ops[r, 7]
        if op < OP_MATRIX or op > OP_BRANCH or min(qoff, nctrl, ntarg, moff) < 0 or ntarg > 30:
            bad[r] = True
            continue
        nq = nctrl + ntarg
        if qoff + nq > qubits.size:
            bad[r] = True
            continue
        bound = num_clbits if op == OP_BRANCH else num_qubits
        quantum = op == OP_MATRIX or op == OP_DIAG or op == OP_MEASURE or op == OP_RESET
        for i in range(nq):
            q = qubits[qoff + i]
            if q < 0 or q >= bound:
                bad[r] = True
            for j in range(i):
                if quantum and qubits[qoff + j] == q:
                    bad[r] = True
        if op == OP_MATRIX or op == OP_DIAG:
            size = (1 << (2 * ntarg)) if op == OP_MATRIX else (1 << ntarg)
            if moff + size > n_matrices or cval < 0 or cval >= (1 << min(nctrl, 62)):
                bad[r] = True
            if op == OP_MATRIX and ntarg < 1:
                bad[r] = True
        elif op == OP_MEASURE or op == OP_RESET:
            if nctrl != 0 or ntarg != 1 or (op == OP_MEASURE and (arg < 0 or arg >= num_clbits)):
                bad[r] = True
        elif op == OP_SAVE:
            bad[r] = bad[r] or arg < 0 or arg >= n_saves
        else:  # JUMP, BRANCH
            bad[r] = bad[r] or arg < 0 or arg > n
            if op == OP_BRANCH and (ntarg > 62 or arg2 < 0 or arg2 > _MAX_CMP):
                bad[r] = True
    return bad


@dataclasses.dataclass
class Experiment:
    """One circuit, compiled.

    Attributes:
        name: The circuit's name, echoed in the result header.
        num_qubits: Width of the state (``2**num_qubits`` amplitudes).
        num_clbits: Number of classical bits (memory slots).
        ops: int64, shape ``(n_ops, 8)``; the opcode table described in the module docs.
        qubits: int64, shape ``(m,)``; qubit and clbit indices referenced by ``ops``.
        matrices: complex128, shape ``(p,)``; flattened row-major matrices and diagonals.
        params: float64, shape ``(r,)``; gate parameters, for inspection.
        final_qubits: int64, shape ``(f,)``; qubits measured at the end (sampled).
        final_clbits: int64, shape ``(f,)``; the clbit each final measurement writes.
        saves: One dict per SAVE op: ``kind``, ``label``, ``subtype``, ``qubits``, ``params``.
        header: JSON-able header for ``qiskit.result.Result`` (registers, name, metadata).
        seed_key: Spawn key of this experiment's ``numpy.random.SeedSequence``.
        shots: Shots of this experiment (a shot chunk may hold fewer than the job).
        index: Position of the experiment in the job's input (circuits x bind sets).

    """

    name: str
    num_qubits: int
    num_clbits: int
    ops: np.ndarray
    qubits: np.ndarray
    matrices: np.ndarray
    params: np.ndarray
    final_qubits: np.ndarray
    final_clbits: np.ndarray
    saves: list = dataclasses.field(default_factory=list)
    header: dict = dataclasses.field(default_factory=dict)
    seed_key: tuple = ()
    shots: int = 1024
    index: int = 0

    def meta(self) -> dict:
        """Everything but the arrays, as JSON-able data."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _ARRAY_FIELDS}
        out["seed_key"] = list(self.seed_key)
        return out

    def replace(self, **changes: Any) -> Experiment:
        """A shallow copy with some fields changed (arrays are shared, not copied)."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Check shapes, dtypes and every index.

        Raises:
            QobjValidationError: naming the experiment and what is wrong.

        """
        where = f"experiment {self.index} ({self.name!r})"

        def fail(msg: str) -> None:
            raise QobjValidationError(f"{where}: {msg}")

        dtypes = {
            "ops": np.int64,
            "qubits": np.int64,
            "matrices": np.complex128,
            "params": np.float64,
            "final_qubits": np.int64,
            "final_clbits": np.int64,
        }
        for field, dtype in dtypes.items():
            arr = getattr(self, field)
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype:
                fail(f"{field} must be a numpy array of {np.dtype(dtype).name}, got {type(arr).__name__}")
            if field != "ops" and arr.ndim != 1:
                fail(f"{field} must be 1-D, got shape {arr.shape}")
        if self.ops.ndim != 2 or self.ops.shape[1] != N_COLS:
            fail(f"ops must have shape (n, {N_COLS}), got {self.ops.shape}")
        if not isinstance(self.num_qubits, int) or not 0 <= self.num_qubits <= 62:
            fail(f"num_qubits must be an int in [0, 62], got {self.num_qubits!r}")
        if not isinstance(self.num_clbits, int) or self.num_clbits < 0:
            fail(f"num_clbits must be a non-negative int, got {self.num_clbits!r}")
        if not isinstance(self.shots, int) or not 1 <= self.shots <= MAX_SHOTS:
            fail(f"shots must be an int in [1, 2**63 - 1], got {self.shots!r}")
        if self.final_qubits.shape != self.final_clbits.shape:
            fail("final_qubits and final_clbits differ in length")
        self._check_indices(self.final_qubits, self.num_qubits, "final_qubits", fail)
        self._check_indices(self.final_clbits, self.num_clbits, "final_clbits", fail)
        # Screen every row at once; only suspect rows get the slow check that names the problem.
        for pc in np.flatnonzero(self._suspect_rows()):
            self._validate_row(int(pc), self.ops[pc], fail)
        for i, save in enumerate(self.saves):
            if save.get("kind") not in SAVE_KINDS:
                fail(f"save {i}: kind {save.get('kind')!r} is not one of {SAVE_KINDS}")
            if save.get("subtype") not in SAVE_SUBTYPES:
                fail(f"save {i}: subtype {save.get('subtype')!r} is not one of {SAVE_SUBTYPES}")
            self._check_indices(np.asarray(save.get("qubits", []), dtype=np.int64), self.num_qubits, f"save {i}", fail)

    def _suspect_rows(self) -> np.ndarray:
        """Rows that may break a rule of :meth:`_validate_row` (a superset of the bad ones)."""
        return _suspect_rows(
            self.ops, self.qubits, self.matrices.size, self.num_qubits, self.num_clbits, len(self.saves)
        )

    @staticmethod
    def _check_indices(arr, bound, what, fail) -> None:
        if arr.size and (arr.min() < 0 or arr.max() >= bound):
            fail(
                f"{what} holds index {int(arr.max()) if arr.max() >= bound else int(arr.min())}, allowed 0..{bound - 1}"
            )

    def _validate_row(self, pc: int, row: np.ndarray, fail) -> None:
        op, qoff, nctrl, ntarg, moff, cval, arg, arg2 = (int(v) for v in row)
        n_ops = self.ops.shape[0]
        if op not in OPCODE_NAMES:
            fail(f"op {pc}: unknown opcode {op}, allowed {sorted(OPCODE_NAMES)}")
        if min(qoff, nctrl, ntarg, moff) < 0 or qoff + nctrl + ntarg > self.qubits.size:
            fail(f"op {pc}: qubit slice [{qoff}, {qoff + nctrl + ntarg}) is outside qubits[{self.qubits.size}]")
        idx = self.qubits[qoff : qoff + nctrl + ntarg]
        if op in (OP_MATRIX, OP_DIAG, OP_MEASURE, OP_RESET):
            self._check_indices(idx, self.num_qubits, f"op {pc} qubits", fail)
            if len(set(idx.tolist())) != idx.size:
                fail(f"op {pc}: repeated qubit in {idx.tolist()}")
        if op in (OP_MATRIX, OP_DIAG):
            dim = 1 << ntarg
            size = dim * dim if op == OP_MATRIX else dim
            if moff + size > self.matrices.size:
                fail(f"op {pc}: matrix [{moff}, {moff + size}) is outside matrices[{self.matrices.size}]")
            if not 0 <= cval < (1 << nctrl):
                fail(f"op {pc}: control value {cval} does not fit {nctrl} controls")
            if op == OP_MATRIX and ntarg < 1:
                fail(f"op {pc}: MATRIX needs at least one target qubit")
        elif op in (OP_MEASURE, OP_RESET):
            if nctrl != 0 or ntarg != 1:
                fail(f"op {pc}: {OPCODE_NAMES[op]} acts on exactly one qubit")
            if op == OP_MEASURE and not 0 <= arg < self.num_clbits:
                fail(f"op {pc}: clbit {arg} outside 0..{self.num_clbits - 1}")
        elif op == OP_SAVE and not 0 <= arg < len(self.saves):
            fail(f"op {pc}: save index {arg} outside 0..{len(self.saves) - 1}")
        elif op in (OP_JUMP, OP_BRANCH) and not 0 <= arg <= n_ops:
            fail(f"op {pc}: jump target {arg} outside 0..{n_ops}")
        if op == OP_BRANCH:
            self._check_indices(idx, self.num_clbits, f"op {pc} condition clbits", fail)
            if ntarg > 62:
                fail(f"op {pc}: conditions on more than 62 clbits are not supported")
            if arg2 not in CMP_CODES.values():
                fail(f"op {pc}: comparison code {arg2} not in {sorted(CMP_CODES.values())}")


@dataclasses.dataclass
class Program:
    """The qobj: compiled experiments plus run options.

    Attributes:
        experiments: The compiled circuits, in input order.
        options: Run options: ``shots`` (int), ``memory`` (bool), ``precision``
            (``"double"`` or ``"single"``), ``seed_simulator`` (int) and
            ``max_parallel_threads`` (int, 0 means all cores); optionally
            ``blocking_qubits`` (int: -1 automatic, 0 no cache blocking, ``k`` blocks of
            ``k`` qubits whenever the state is wider; see :mod:`.blocking`).
        version: The program format version (:data:`FORMAT_VERSION`).
        job_id: Set by the job at submission; names the job in errors.

    """

    experiments: list
    options: dict
    version: int = FORMAT_VERSION
    job_id: str = ""

    def validate(self) -> None:
        """Check the whole program.

        Raises:
            QobjValidationError: naming the experiment or option that is wrong.

        """
        if self.version != FORMAT_VERSION:
            raise QobjValidationError(
                f"program format version {self.version!r} is not supported; "
                f"this aerdask_kernels reads version {FORMAT_VERSION}"
            )
        if not isinstance(self.experiments, list) or not self.experiments:
            raise QobjValidationError("a program needs at least one experiment")
        for key, typ in OPTION_TYPES.items():
            if key not in self.options:
                raise QobjValidationError(f"option {key!r} is missing; a program carries {sorted(OPTION_TYPES)}")
            value = self.options[key]
            if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
                raise QobjValidationError(f"option {key!r} must be {typ.__name__}, got {value!r}")
        known = set(OPTION_TYPES) | set(OPTIONAL_OPTIONS)
        unknown = set(self.options) - known
        if unknown:
            raise QobjValidationError(f"unknown program options {sorted(unknown)}; allowed {sorted(known)}")
        blocking = self.options.get("blocking_qubits", -1)
        if not isinstance(blocking, int) or isinstance(blocking, bool) or not -1 <= blocking <= 40:
            raise QobjValidationError(f"option 'blocking_qubits' must be an int in [-1, 40], got {blocking!r}")
        ranges = {"shots": (1, MAX_SHOTS), "seed_simulator": (0, 2**63 - 1), "max_parallel_threads": (0, 4096)}
        for key, (low, high) in ranges.items():
            if not low <= self.options[key] <= high:
                raise QobjValidationError(f"option {key!r} must be in [{low}, {high}], got {self.options[key]!r}")
        if self.options["precision"] not in ("double", "single"):
            raise QobjValidationError(f"precision must be 'double' or 'single', got {self.options['precision']!r}")
        for exp in self.experiments:
            if not isinstance(exp, Experiment):
                raise QobjValidationError(f"experiments must be Experiment objects, got {type(exp).__name__}")
            exp.validate()

    def replace(self, **changes: Any) -> Program:
        """A shallow copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def shots(self) -> int:
        """Total shots over all experiments."""
        return sum(exp.shots for exp in self.experiments)

    # -- pickle-free file format ------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise to ``.npz`` bytes: arrays as arrays, everything else as JSON."""
        meta = {
            "version": self.version,
            "job_id": self.job_id,
            "options": self.options,
            "experiments": [exp.meta() for exp in self.experiments],
        }
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        for i, exp in enumerate(self.experiments):
            for field in _ARRAY_FIELDS:
                arrays[f"{i}/{field}"] = getattr(exp, field)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Program:
        """Inverse of :meth:`to_bytes`; never unpickles.

        Raises:
            QobjValidationError: if the data is not a program file.

        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes().decode())
                experiments = []
                for i, m in enumerate(meta["experiments"]):
                    arrays = {field: npz[f"{i}/{field}"] for field in _ARRAY_FIELDS}
                    m["seed_key"] = tuple(m["seed_key"])
                    experiments.append(Experiment(**m, **arrays))
        except (KeyError, ValueError, OSError, TypeError) as exc:
            raise QobjValidationError(f"not an aerdask program file: {exc}") from exc
        return cls(experiments=experiments, options=meta["options"], version=meta["version"], job_id=meta["job_id"])

    def save(self, path) -> None:
        """Write the program to ``path`` (``.npz``, no pickle)."""
        with open(path, "wb") as fh:
            fh.write(self.to_bytes())

    @classmethod
    def load(cls, path) -> Program:
        """Read a program written by :meth:`save`."""
        with open(path, "rb") as fh:
            return cls.from_bytes(fh.read())
